/* tests/test_data.c — the data layer: IDX and CSV readers on small files written here (good ones, gzip
 * and plain, and every kind of malformed one), tensor and user datasets, subset and split, and the
 * loader (coverage, shuffling reproducibility, drop_last, prefetch on/off identity, seek, augmentation,
 * errors). Reads the real Fashion-MNIST test set when /usr/share/datasets/fashion-mnist exists. */
#define _GNU_SOURCE
#include "harness.h"
#include "tmpdir.h"
#include "oom_sweep.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>


/* Whether the library reads gzip (it was built with zlib); probed in main. Without it, every gzipped
 * read must fail with a message saying so. */
static bool g_lib_zlib;

static void write_text(const char *path, const char *text) { write_file(path, text, strlen(text)); }

static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

/* A gzip file written by hand (deflate "stored" blocks: no compression, no zlib needed here), so the
 * test does not depend on how the library was built. Returns true. */
static bool write_gz(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    static const uint8_t hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    fwrite(hdr, 1, sizeof hdr, f);
    const uint8_t *p = data;
    size_t left = n;
    do {
        size_t k = left < 65535 ? left : 65535;
        uint8_t b[5] = {(uint8_t)(k == left), (uint8_t)k, (uint8_t)(k >> 8), (uint8_t)~k, (uint8_t)(~k >> 8)};
        fwrite(b, 1, 5, f);
        if (k) fwrite(p, 1, k, f);
        p += k;
        left -= k;
    } while (left);
    uint32_t crc = crc32_of(data, n), sz = (uint32_t)n;
    uint8_t t[8] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16), (uint8_t)(crc >> 24),
                    (uint8_t)sz,  (uint8_t)(sz >> 8),  (uint8_t)(sz >> 16),  (uint8_t)(sz >> 24)};
    fwrite(t, 1, 8, f);
    fclose(f);
    return true;
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

/* An IDX file in memory: header + payload (payload already big-endian). Returns its size. */
static size_t make_idx(uint8_t *buf, int code, int nd, const uint32_t *dims, const void *payload, size_t payload_n) {
    buf[0] = 0, buf[1] = 0, buf[2] = (uint8_t)code, buf[3] = (uint8_t)nd;
    for (int i = 0; i < nd; i++) {
        buf[4 + 4 * i] = (uint8_t)(dims[i] >> 24), buf[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        buf[6 + 4 * i] = (uint8_t)(dims[i] >> 8), buf[7 + 4 * i] = (uint8_t)dims[i];
    }
    if (payload_n) memcpy(buf + 4 + 4 * nd, payload, payload_n);
    return 4 + 4 * (size_t)nd + payload_n;
}

static bool shape_is(const nb_tensor *t, int nd, const int64_t *s) {
    if (!t || nb_ndim(t) != nd) return false;
    for (int i = 0; i < nd; i++)
        if (nb_shape(t)[i] != s[i]) return false;
    return true;
}

/* ---- IDX ---------------------------------------------------------------------------------------- */

static void check_idx_both(const char *name, const uint8_t *file, size_t n, nb_dtype dt, int nd, const int64_t *shape,
                           const double *expect) {
    char plain[64], gz[64];
    snprintf(plain, sizeof plain, "%s.idx", name);
    snprintf(gz, sizeof gz, "%s.idx.gz", name);
    write_file(tmp_path(plain), file, n);
    bool have_gz = write_gz(tmp_path(gz), file, n);
    for (int k = 0; k < (have_gz ? 2 : 1); k++) {
        if (k && !g_lib_zlib) {
            CHECK_NULL_WITH(nb_idx_read(tmp_path(gz)), "nb_idx_read", "without zlib");
            continue;
        }
        nb_tensor *t = nb_idx_read(tmp_path(k ? gz : plain));
        CHECK_MSG(t != NULL, "%s (%s): %s", name, k ? "gz" : "plain", nb_last_error());
        if (!t) continue;
        CHECK(nb_dtype_of(t) == dt);
        CHECK(shape_is(t, nd, shape));
        int64_t cnt = nb_numel(t);
        double *vals = malloc(sizeof(double) * (size_t)(cnt ? cnt : 1));
        CHECK(nb_copy_to(t, vals, sizeof(double) * (size_t)cnt, NB_F64) == 0);
        for (int64_t i = 0; i < cnt; i++)
            CHECK_MSG(vals[i] == expect[i], "%s[%lld] = %g, expected %g", name, (long long)i, vals[i], expect[i]);
        free(vals);
        nb_free(t);
    }
}

static void test_idx_roundtrip(void) {
    uint8_t file[1024];
    /* u8 (2, 3, 4) */
    uint8_t u8[24];
    double e[24];
    for (int i = 0; i < 24; i++) u8[i] = (uint8_t)(i * 10 + 3), e[i] = u8[i];
    size_t n = make_idx(file, 0x08, 3, (const uint32_t[]){2, 3, 4}, u8, 24);
    check_idx_both("u8", file, n, NB_U8, NB_SHAPE(2, 3, 4), e);
    /* i8 (5) with negatives */
    int8_t i8[5] = {-128, -1, 0, 1, 127};
    for (int i = 0; i < 5; i++) e[i] = i8[i];
    n = make_idx(file, 0x09, 1, (const uint32_t[]){5}, i8, 5);
    check_idx_both("i8", file, n, NB_I8, NB_SHAPE(5), e);
    /* i16 big-endian (2, 2) -> i32 */
    int16_t i16v[4] = {-2, 300, -32768, 32767};
    uint8_t be[64];
    for (int i = 0; i < 4; i++)
        be[2 * i] = (uint8_t)((uint16_t)i16v[i] >> 8), be[2 * i + 1] = (uint8_t)i16v[i], e[i] = i16v[i];
    n = make_idx(file, 0x0B, 2, (const uint32_t[]){2, 2}, be, 8);
    check_idx_both("i16", file, n, NB_I32, NB_SHAPE(2, 2), e);
    /* i32 (3) */
    int32_t i32v[3] = {-100000, 7, 2147483647};
    for (int i = 0; i < 3; i++) {
        uint32_t u = (uint32_t)i32v[i];
        be[4 * i] = (uint8_t)(u >> 24), be[4 * i + 1] = (uint8_t)(u >> 16), be[4 * i + 2] = (uint8_t)(u >> 8),
               be[4 * i + 3] = (uint8_t)u;
        e[i] = i32v[i];
    }
    n = make_idx(file, 0x0C, 1, (const uint32_t[]){3}, be, 12);
    check_idx_both("i32", file, n, NB_I32, NB_SHAPE(3), e);
    /* f32 (1, 3) */
    float f32v[3] = {1.5f, -2.25f, 1e-3f};
    for (int i = 0; i < 3; i++) {
        uint32_t u;
        memcpy(&u, &f32v[i], 4);
        be[4 * i] = (uint8_t)(u >> 24), be[4 * i + 1] = (uint8_t)(u >> 16), be[4 * i + 2] = (uint8_t)(u >> 8),
               be[4 * i + 3] = (uint8_t)u;
        e[i] = f32v[i];
    }
    n = make_idx(file, 0x0D, 2, (const uint32_t[]){1, 3}, be, 12);
    check_idx_both("f32", file, n, NB_F32, NB_SHAPE(1, 3), e);
    /* f64 (2) */
    double f64v[2] = {3.141592653589793, -1e300};
    for (int i = 0; i < 2; i++) {
        uint64_t u;
        memcpy(&u, &f64v[i], 8);
        for (int b = 0; b < 8; b++) be[8 * i + b] = (uint8_t)(u >> (56 - 8 * b));
        e[i] = f64v[i];
    }
    n = make_idx(file, 0x0E, 1, (const uint32_t[]){2}, be, 16);
    check_idx_both("f64", file, n, NB_F64, NB_SHAPE(2), e);
    /* an empty dim: (0, 28, 28) with no payload */
    n = make_idx(file, 0x08, 3, (const uint32_t[]){0, 28, 28}, NULL, 0);
    check_idx_both("empty", file, n, NB_U8, NB_SHAPE(0, 28, 28), e);
}

static void check_bad_idx(const char *name, const uint8_t *file, size_t n, const char *what) {
    const char *p = tmp_path(name);
    write_file(p, file, n);
    CHECK_NULL_WITH(nb_idx_read(p), "nb_idx_read", p, what);
}

static void check_bad_idx_gz(const char *name, const uint8_t *file, size_t n, const char *what) {
    const char *p = tmp_path(name);
    if (!write_gz(p, file, n)) return;
    CHECK_NULL_WITH(nb_idx_read(p), "nb_idx_read", p, g_lib_zlib ? what : "without zlib");
}

static void test_idx_malformed(void) {
    uint8_t file[256], pay[64] = {0};
    size_t n = make_idx(file, 0x08, 2, (const uint32_t[]){2, 3}, pay, 6);
    uint8_t bad[256];
    memcpy(bad, file, n);
    bad[0] = 0x01;
    check_bad_idx("magic.idx", bad, n, "bad magic");
    check_bad_idx_gz("magic.idx.gz", bad, n, "bad magic");
    memcpy(bad, file, n);
    bad[2] = 0x0A;
    check_bad_idx("type.idx", bad, n, "type code 0x0a");
    check_bad_idx_gz("type.idx.gz", bad, n, "type code 0x0a");
    memcpy(bad, file, n);
    bad[3] = 0;
    check_bad_idx("nd0.idx", bad, n, "0 dims");
    bad[3] = 9;
    check_bad_idx("nd9.idx", bad, n, "9 dims");
    check_bad_idx("short.idx", file, 3, "too short");
    check_bad_idx("empty.idx", file, 0, "too short");
    check_bad_idx("hdr.idx", file, 9, "truncated header");
    check_bad_idx("trunc.idx", file, n - 1, "truncated payload");
    check_bad_idx_gz("trunc.idx.gz", file, n - 1, "truncated payload");
    memcpy(bad, file, n);
    bad[n] = 0xAB;
    check_bad_idx("trail.idx", bad, n + 1, "trailing bytes");
    check_bad_idx_gz("trail.idx.gz", bad, n + 1, "trailing bytes");
    /* absurd dims: overflow of the product, and a huge (non-overflowing) claim on a tiny file */
    n = make_idx(bad, 0x0E, 4, (const uint32_t[]){0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 2}, pay, 8);
    check_bad_idx("absurd.idx", bad, n, "overflows");
    check_bad_idx_gz("absurd.idx.gz", bad, n, "overflows");
    /* a zero dim makes the tensor empty, but the other dims' product must still be sane (found by
     * fuzz_idx: strides of [4290707200, 0, 4143972357] overflow) */
    n = make_idx(bad, 0x0E, 3, (const uint32_t[]){0xFFBEFF00u, 0, 0xF7000005u}, pay, 0);
    check_bad_idx("zero-dim.idx", bad, n, "overflows");
    n = make_idx(bad, 0x0D, 2, (const uint32_t[]){0x7FFFFFFFu, 0x100u}, pay, 8);
    check_bad_idx("huge.idx", bad, n, "truncated payload");
    check_bad_idx_gz("huge.idx.gz", bad, n, "truncated payload");
    /* missing file, directory */
    CHECK_NULL_WITH(nb_idx_read(tmp_path("does-not-exist.idx")), "nb_idx_read", "does-not-exist.idx", "cannot open");
    CHECK_NULL_WITH(nb_idx_read(g_dir), "nb_idx_read", "directory");
    CHECK_NULL_WITH(nb_idx_read(NULL), "nb_idx_read", "NULL");
    /* damaged gzip: cut short, corrupted in the middle, junk after the stream, two members */
    if (!g_lib_zlib) return;
    n = make_idx(file, 0x08, 2, (const uint32_t[]){8, 8}, (uint8_t[64]){1, 2, 3}, 64);
    const char *gzp = tmp_path("ok.idx.gz");
    write_gz(gzp, file, n);
    size_t gn;
    uint8_t *gz = read_all(gzp, &gn);
    CHECK(gz && gn > 20);
    if (gz && gn > 20) {
        check_bad_idx("cut.idx.gz", gz, gn - 6, "truncated gzip");
        uint8_t *g2 = malloc(2 * gn + 16);
        memcpy(g2, gz, gn);
        g2[gn / 2] ^= 0x5A;
        g2[gn / 2 + 1] ^= 0xA5;
        const char *cp = tmp_path("corrupt.idx.gz");
        write_file(cp, g2, gn);
        nb_tensor *t = nb_idx_read(cp);
        CHECK_MSG(t == NULL, "a corrupted gzip stream was accepted");
        CHECK(strstr(nb_last_error(), cp) != NULL);
        nb_free(t);
        nb_clear_error();
        memcpy(g2, gz, gn);
        memcpy(g2 + gn, "junk", 4);
        check_bad_idx("junk.idx.gz", g2, gn + 4, "trailing garbage");
        /* two members: the header in one, the payload in the other, is one valid stream */
        const char *m1 = tmp_path("m1.gz"), *m2 = tmp_path("m2.gz");
        write_gz(m1, file, 10);
        write_gz(m2, file + 10, n - 10);
        size_t n1, n2;
        uint8_t *b1 = read_all(m1, &n1), *b2 = read_all(m2, &n2);
        uint8_t *cat = malloc(n1 + n2);
        memcpy(cat, b1, n1);
        memcpy(cat + n1, b2, n2);
        const char *mp = tmp_path("multi.idx.gz");
        write_file(mp, cat, n1 + n2);
        t = nb_idx_read(mp);
        CHECK(shape_is(t, NB_SHAPE(8, 8)));
        CHECK(t && h_get(t, NB_LIST(0, 2)) == 3);
        nb_free(t);
        free(b1), free(b2), free(cat), free(g2);
    }
    free(gz);
}

/* ---- CSV ---------------------------------------------------------------------------------------- */

static void test_csv_good(void) {
    const char *p = tmp_path("good.csv");
    write_text(p, "\xEF\xBB\xBF"
                  "a,b,c\r\n1, 2 ,3\r\n\r\n  4.5,-5e-1,nan\n7,8,9");
    nb_tensor *t = nb_csv_read(p, &(nb_csv_opts){.has_header = true});
    CHECK(shape_is(t, NB_SHAPE(3, 3)));
    CHECK(nb_dtype_of(t) == NB_F32);
    CHECK(t && h_get(t, NB_LIST(1, 0)) == 4.5);
    CHECK(t && h_get(t, NB_LIST(1, 1)) == -0.5);
    CHECK(t && isnan(h_get(t, NB_LIST(1, 2))));
    CHECK(t && h_get(t, NB_LIST(2, 2)) == 9);
    nb_free(t);
    p = tmp_path("semi.csv");
    write_text(p, "1;2\n3;4\n");
    t = nb_csv_read(p, &(nb_csv_opts){.delimiter = ';', .dtype = NB_I64});
    CHECK(shape_is(t, NB_SHAPE(2, 2)));
    CHECK(nb_dtype_of(t) == NB_I64);
    CHECK(t && h_get(t, NB_LIST(1, 1)) == 4);
    nb_free(t);
    p = tmp_path("tab.tsv");
    write_text(p, "0.25\t1e3\n");
    t = nb_csv_read(p, &(nb_csv_opts){.delimiter = '\t', .dtype = NB_F64});
    CHECK(shape_is(t, NB_SHAPE(1, 2)));
    CHECK(t && h_get(t, NB_LIST(0, 1)) == 1000);
    nb_free(t);
    t = nb_csv_read(p, &(nb_csv_opts){.delimiter = '\t'}); /* defaults otherwise */
    CHECK(t != NULL);
    nb_free(t);
    p = tmp_path("one.csv");
    write_text(p, "42");
    t = nb_csv_read(p, NULL);
    CHECK(shape_is(t, NB_SHAPE(1, 1)) && h_get(t, NB_LIST(0, 0)) == 42);
    nb_free(t);
}

static void check_bad_csv(const char *name, const char *text, const nb_csv_opts *o, const char *where,
                          const char *what) {
    const char *p = tmp_path(name);
    write_text(p, text);
    char loc[600];
    snprintf(loc, sizeof loc, "%s:%s", p, where);
    CHECK_NULL_WITH(nb_csv_read(p, o), "nb_csv_read", loc, what);
}

static void test_csv_bad(void) {
    check_bad_csv("more.csv", "1,2\n3,4,5\n", NULL, "2:5:", "too many fields");
    check_bad_csv("fewer.csv", "1,2,3\n4,5\n", NULL, "2:4:", "too few fields");
    check_bad_csv("nan.csv", "h1,h2\n1,2\n3,abc\n", &(nb_csv_opts){.has_header = true}, "3:3:", "not a number");
    check_bad_csv("junk.csv", "1,2x\n", NULL, "1:3:", "not a number: \"2x\"");
    check_bad_csv("quote.csv", "1,\"2\"\n", NULL, "1:3:", "quoted");
    check_bad_csv("emptyf.csv", "1,,3\n", NULL, "1:3:", "empty");
    check_bad_csv("trailc.csv", "1,2,\n", NULL, "1:5:", "empty");
    check_bad_csv("int.csv", "1,2.5\n", &(nb_csv_opts){.dtype = NB_I32}, "1:3:", "does not fit dtype i32");
    check_bad_csv("u8.csv", "256\n", &(nb_csv_opts){.dtype = NB_U8}, "1:1:", "does not fit");
    /* a NUL byte inside a field */
    const char *p = tmp_path("nul.csv");
    write_file(p,
               "1,2\n3,4\0"
               "5\n",
               10);
    CHECK_NULL_WITH(nb_csv_read(p, NULL), "nb_csv_read", "nul.csv:2:3:", "not a number");
    check_bad_csv("blank.csv", "\n\n  \n", NULL, "", "no data rows");
    check_bad_csv("hdronly.csv", "a,b\n", &(nb_csv_opts){.has_header = true}, "", "no data rows after the header");
    CHECK_NULL_WITH(nb_csv_read(tmp_path("missing.csv"), NULL), "nb_csv_read", "missing.csv", "cannot open");
    CHECK_NULL_WITH(nb_csv_read(tmp_path("one.csv"), &(nb_csv_opts){.delimiter = '.'}), "nb_csv_read", "delimiter");
}

/* ---- datasets ----------------------------------------------------------------------------------- */

static nb_dataset *make_tensor_ds(int64_t n, int64_t feat) {
    nb_tensor *x = nb_reshape(nb_arange(0, (double)(n * feat), 1, NB_F32), NB_SHAPE(n, feat));
    nb_tensor *y = nb_arange(0, (double)n, 1, NB_I64);
    nb_dataset *d = nb_tensor_dataset(x, y);
    nb_free(x);
    nb_free(y);
    return d;
}

static void test_tensor_dataset(void) {
    nb_dataset *d = make_tensor_ds(10, 3);
    CHECK(d && nb_dataset_len(d) == 10);
    nb_tensor *x = NULL, *y = NULL;
    CHECK(nb_dataset_get(d, 4, &x, &y) == 0);
    CHECK(shape_is(x, NB_SHAPE(3)) && h_get(x, NB_LIST(2)) == 14);
    CHECK(y && nb_ndim(y) == 0 && nb_item(y) == 4);
    nb_free(x);
    nb_free(y);
    CHECK_RC_WITH(nb_dataset_get(d, 10, &x, &y), "nb_dataset_get", "index 10", "10 samples");
    CHECK(nb_dataset_inputs(d) && shape_is(nb_dataset_inputs(d), NB_SHAPE(10, 3)));
    CHECK(nb_dataset_targets(d) != NULL);
    /* subset: a view, still in memory */
    nb_dataset *s = nb_dataset_subset(d, 2, 5);
    CHECK(s && nb_dataset_len(s) == 5);
    CHECK(nb_dataset_get(s, 0, &x, &y) == 0 && nb_item(y) == 2 && h_get(x, NB_LIST(0)) == 6);
    nb_free(x);
    nb_free(y);
    CHECK(shape_is(nb_dataset_inputs(s), NB_SHAPE(5, 3)));
    CHECK_NULL_WITH(nb_dataset_subset(d, 8, 3), "nb_dataset_subset", "out of range");
    CHECK_NULL_WITH(nb_dataset_subset(d, -1, 3), "nb_dataset_subset", "out of range");
    /* split: 80/20, disjoint, covering, seeded */
    nb_dataset *a, *b, *a2, *b2, *a3, *b3;
    CHECK(nb_dataset_split(d, 0.8, 7, &a, &b) == 0);
    CHECK(nb_dataset_split(d, 0.8, 7, &a2, &b2) == 0);
    CHECK(nb_dataset_split(d, 0.8, 8, &a3, &b3) == 0);
    CHECK(nb_dataset_len(a) == 8 && nb_dataset_len(b) == 2);
    CHECK(nb_dataset_inputs(a) == NULL);
    int seen[10] = {0}, same = 1, differ = 0;
    for (int64_t i = 0; i < 10; i++) {
        nb_tensor *x1 = NULL, *y1 = NULL, *x2 = NULL, *y2 = NULL, *x3 = NULL, *y3 = NULL;
        nb_dataset *p1 = i < 8 ? a : b, *p2 = i < 8 ? a2 : b2, *p3 = i < 8 ? a3 : b3;
        int64_t k = i < 8 ? i : i - 8;
        CHECK(nb_dataset_get(p1, k, &x1, &y1) == 0);
        CHECK(nb_dataset_get(p2, k, &x2, &y2) == 0);
        CHECK(nb_dataset_get(p3, k, &x3, &y3) == 0);
        int lab = (int)nb_item(y1);
        if (lab >= 0 && lab < 10) seen[lab]++;
        CHECK(h_get(x1, NB_LIST(0)) == 3 * lab); /* x and y stay paired */
        same &= nb_item(y2) == lab;
        differ |= nb_item(y3) != lab;
        nb_free(x1), nb_free(y1), nb_free(x2), nb_free(y2), nb_free(x3), nb_free(y3);
    }
    for (int i = 0; i < 10; i++) CHECK_MSG(seen[i] == 1, "sample %d seen %d times", i, seen[i]);
    CHECK(same);
    CHECK(differ);
    /* subset of a split, freed in any order: the parents stay alive */
    nb_dataset *sa = nb_dataset_subset(a, 1, 3);
    nb_dataset_free(a);
    CHECK(sa && nb_dataset_len(sa) == 3);
    CHECK(nb_dataset_get(sa, 2, &x, &y) == 0);
    nb_free(x), nb_free(y);
    nb_dataset *f0 = NULL, *f1 = NULL;
    CHECK_RC_WITH(nb_dataset_split(d, 1.5, 0, &f0, &f1), "nb_dataset_split", "fraction");
    CHECK(f0 == NULL && f1 == NULL);
    nb_dataset *e0, *e1;
    CHECK(nb_dataset_split(d, 0.0, 0, &e0, &e1) == 0 && nb_dataset_len(e0) == 0 && nb_dataset_len(e1) == 10);
    nb_dataset_free(e0), nb_dataset_free(e1);
    nb_dataset_free(sa), nb_dataset_free(b), nb_dataset_free(a2), nb_dataset_free(b2);
    nb_dataset_free(a3), nb_dataset_free(b3), nb_dataset_free(s), nb_dataset_free(d);
    /* bad construction */
    nb_tensor *x10 = nb_zeros(NB_SHAPE(10, 2), NB_F32), *y9 = nb_zeros(NB_SHAPE(9), NB_I64);
    CHECK_NULL_WITH(nb_tensor_dataset(x10, y9), "nb_tensor_dataset", "10 samples", "[9]");
    CHECK_NULL_WITH(nb_tensor_dataset(nb_scalar(1, NB_F32), NULL), "nb_tensor_dataset", ">= 1 dim");
    CHECK_NULL_WITH(nb_tensor_dataset(NULL, y9), "nb_tensor_dataset", "NULL");
    /* a non-contiguous x is copied: rows are still right */
    nb_tensor *xt = nb_transpose(nb_reshape(nb_arange(0, 6, 1, NB_F32), NB_SHAPE(2, 3)), 0, 1); /* (3, 2) */
    nb_dataset *dt = nb_tensor_dataset(xt, NULL);
    CHECK(dt && nb_dataset_get(dt, 1, &x, &y) == 0 && y == NULL && h_get(x, NB_LIST(1)) == 4);
    nb_free(x);
    nb_dataset_free(dt);
}

/* A user dataset: sample i is x = [i, 2i] (f32) and y = i (i64); `bad` >= 0 makes get(bad) fail;
 * `odd_shape` makes odd samples 3 long. */
typedef struct user_ds {
    int64_t n, bad;
    bool odd_shape;
    int *freed;
} user_ds;
static int64_t user_len(void *self) { return ((user_ds *)self)->n; }
static int user_get(void *self, int64_t i, nb_tensor **x, nb_tensor **y) {
    user_ds *u = self;
    if (i == u->bad) {
        nb_tensor *z = nb_zeros(NB_SHAPE(2), NB_F32);
        nb_free(nb_reshape(z, NB_SHAPE(7))); /* sets an error */
        nb_free(z);                          /* (on the prefetch thread no scope is open: free by hand) */
        return NB_ERR_ARG;
    }
    if (u->odd_shape && (i & 1))
        *x = nb_zeros(NB_SHAPE(3), NB_F32);
    else
        *x = nb_from_data((const float[]){(float)i, (float)(2 * i)}, NB_SHAPE(2), NB_F32);
    *y = nb_scalar((double)i, NB_I64);
    return 0;
}
static void user_free(void *self) { (*((user_ds *)self)->freed)++; }
static const nb_dataset_vtable user_vt = {user_len, user_get, user_free};

static void test_user_dataset(void) {
    int freed = 0;
    user_ds u = {.n = 7, .bad = -1, .freed = &freed};
    nb_dataset *d = nb_dataset_new(&user_vt, &u);
    CHECK(d && nb_dataset_len(d) == 7);
    for (int pf = 0; pf < 2; pf++) {
        nb_loader *l = nb_loader_new(d, &(nb_loader_opts){.batch_size = 3, .no_prefetch = pf});
        CHECK(nb_loader_len(l) == 3);
        int64_t k = 0, sizes[3] = {0};
        int bi = 0;
        for (nb_batch b; nb_loader_next(l, &b); bi++) {
            if (bi < 3) sizes[bi] = nb_size(b.x, 0);
            CHECK(nb_ndim(b.x) == 2 && nb_size(b.x, 1) == 2 && nb_ndim(b.y) == 1);
            for (int64_t j = 0; j < nb_size(b.x, 0); j++, k++) {
                CHECK(h_get(b.x, NB_LIST(j, 1)) == 2.0 * (double)k);
                CHECK(h_get(b.y, NB_LIST(j)) == (double)k);
            }
        }
        CHECK(nb_last_status() == NB_OK);
        CHECK(bi == 3 && sizes[0] == 3 && sizes[2] == 1 && k == 7);
        nb_loader_free(l);
    }
    /* a subset of a user dataset reads through it */
    nb_dataset *s = nb_dataset_subset(d, 5, 2);
    nb_tensor *x = NULL, *y = NULL;
    CHECK(s && nb_dataset_get(s, 1, &x, &y) == 0 && nb_item(y) == 6);
    nb_free(x), nb_free(y);
    nb_dataset_free(s);
    /* errors from get and mismatched samples, with and without prefetch */
    for (int pf = 0; pf < 2; pf++) {
        u.bad = 4;
        nb_loader *l = nb_loader_new(d, &(nb_loader_opts){.batch_size = 3, .no_prefetch = pf});
        nb_batch b;
        CHECK(nb_loader_next(l, &b));
        nb_clear_error();
        CHECK_FAILS_WITH(nb_loader_next(l, &b), "nb_reshape");
        CHECK(b.x == NULL && nb_loader_position(l) == 1);
        nb_loader_free(l);
        u.bad = -1;
        u.odd_shape = true;
        l = nb_loader_new(d, &(nb_loader_opts){.batch_size = 3, .no_prefetch = pf});
        CHECK_FAILS_WITH(nb_loader_next(l, &b), "nb_loader_next", "sample 1's input", "does not match", "[3]", "[2]");
        nb_loader_free(l);
        u.odd_shape = false;
    }
    CHECK(freed == 0);
    nb_dataset_free(d);
    CHECK(freed == 1);
    CHECK_NULL_WITH(nb_dataset_new(&(nb_dataset_vtable){.len = user_len}, &u), "nb_dataset_new", "get");
}

/* ---- loader ------------------------------------------------------------------------------------- */

/* Labels of one epoch, in order; returns the number of batches. */
static int64_t epoch_labels(nb_loader *l, int64_t *out, int64_t *nout) {
    int64_t nb = 0;
    *nout = 0;
    for (nb_batch b; nb_loader_next(l, &b); nb++) {
        int64_t m = nb_size(b.y, 0);
        nb_copy_to(b.y, out + *nout, sizeof(int64_t) * (size_t)m, NB_I64);
        *nout += m;
    }
    return nb;
}

static void test_loader_epochs(void) {
    nb_dataset *d = make_tensor_ds(103, 2);
    int64_t a[103], b[103], c[103], dd[103], m;
    nb_loader *l1 = nb_loader_new(d, &(nb_loader_opts){.batch_size = 10, .shuffle = true, .seed = 5});
    nb_loader *l2 =
        nb_loader_new(d, &(nb_loader_opts){.batch_size = 10, .shuffle = true, .seed = 5, .no_prefetch = true});
    nb_loader *l3 = nb_loader_new(d, &(nb_loader_opts){.batch_size = 10, .shuffle = true, .seed = 6});
    CHECK(nb_loader_len(l1) == 11);
    CHECK(epoch_labels(l1, a, &m) == 11 && m == 103);
    int seen[103] = {0};
    for (int i = 0; i < 103; i++)
        if (a[i] >= 0 && a[i] < 103) seen[a[i]]++;
    int once = 1, ident = 1;
    for (int i = 0; i < 103; i++) once &= seen[i] == 1, ident &= a[i] == i;
    CHECK(once);
    CHECK(!ident);
    CHECK(nb_loader_epoch(l1) == 1 && nb_loader_position(l1) == 0);
    epoch_labels(l2, b, &m);
    CHECK(memcmp(a, b, sizeof a) == 0); /* same seed, prefetch or not */
    epoch_labels(l3, c, &m);
    CHECK(memcmp(a, c, sizeof a) != 0); /* another seed */
    epoch_labels(l1, dd, &m);
    CHECK(m == 103 && memcmp(a, dd, sizeof a) != 0); /* another epoch */
    for (int i = 0; i < 103; i++) seen[i] = 0;
    for (int i = 0; i < 103; i++)
        if (dd[i] >= 0 && dd[i] < 103) seen[dd[i]]++;
    once = 1;
    for (int i = 0; i < 103; i++) once &= seen[i] == 1;
    CHECK(once);
    nb_loader_free(l1), nb_loader_free(l2), nb_loader_free(l3);
    /* no shuffle: in order; drop_last: 10 full batches */
    nb_loader *l4 = nb_loader_new(d, &(nb_loader_opts){.batch_size = 10, .drop_last = true});
    CHECK(nb_loader_len(l4) == 10);
    int64_t nb = 0;
    for (nb_batch bt; nb_loader_next(l4, &bt); nb++) {
        CHECK(shape_is(bt.x, NB_SHAPE(10, 2)) && shape_is(bt.y, NB_SHAPE(10)));
        CHECK(nb_dtype_of(bt.x) == NB_F32 && nb_dtype_of(bt.y) == NB_I64);
        CHECK(h_get(bt.y, NB_LIST(0)) == (double)(nb * 10));
        CHECK(h_get(bt.x, NB_LIST(9, 1)) == (double)(2 * (nb * 10 + 9) + 1));
    }
    CHECK(nb == 10);
    nb_loader_free(l4);
    /* a batch retained by the caller outlives the next call */
    nb_loader *l5 = nb_loader_new(d, &(nb_loader_opts){.batch_size = 50});
    nb_batch bt;
    CHECK(nb_loader_next(l5, &bt));
    nb_tensor *keep = nb_retain(bt.y);
    CHECK(nb_loader_next(l5, &bt));
    CHECK(h_get(keep, NB_LIST(49)) == 49 && h_get(bt.y, NB_LIST(0)) == 50);
    nb_free(keep);
    CHECK(nb_loader_next(l5, &bt) && nb_size(bt.x, 0) == 3);
    CHECK(!nb_loader_next(l5, &bt) && nb_last_status() == NB_OK);
    nb_loader_free(l5);
    /* loaders on a split read through the index map */
    nb_dataset *tr, *va;
    CHECK(nb_dataset_split(d, 0.9, 3, &tr, &va) == 0);
    nb_loader *l6 = nb_loader_new(va, &(nb_loader_opts){.batch_size = 4});
    int64_t lab[16], vm;
    CHECK(epoch_labels(l6, lab, &vm) == 3 && vm == 10);
    for (int64_t i = 0; i < vm; i++) {
        nb_tensor *x = NULL, *y = NULL;
        CHECK(nb_dataset_get(va, i, &x, &y) == 0 && nb_item(y) == (double)lab[i]);
        nb_free(x), nb_free(y);
    }
    nb_loader_free(l6);
    nb_dataset_free(tr), nb_dataset_free(va);
    /* bad options */
    CHECK_NULL_WITH(nb_loader_new(NULL, NULL), "nb_loader_new", "NULL");
    CHECK_NULL_WITH(nb_loader_new(d, &(nb_loader_opts){.batch_size = -2}), "nb_loader_new", "batch_size -2");
    CHECK_NULL_WITH(nb_loader_new(d, &(nb_loader_opts){.augment.random_hflip = true}), "nb_loader_new", "(N, C, H, W)",
                    "[103, 2]");
    nb_dataset_free(d);
    /* an empty dataset: no batches, every call ends an epoch */
    nb_dataset *e = nb_tensor_dataset(nb_zeros(NB_SHAPE(0, 3), NB_F32), NULL);
    nb_loader *le = nb_loader_new(e, &(nb_loader_opts){.batch_size = 4, .shuffle = true});
    CHECK(nb_loader_len(le) == 0 && !nb_loader_next(le, &bt) && nb_loader_epoch(le) == 1);
    nb_loader_free(le);
    nb_dataset_free(e);
}

/* Images (N, 2, 5, 6) whose pixels are all nonzero and encode (n, c, y, x), labels n. */
static nb_dataset *make_image_ds(int64_t N) {
    nb_tensor *x = nb_empty(NB_SHAPE(N, 2, 5, 6), NB_F32);
    float *p = nb_data(x);
    for (int64_t i = 0; i < N * 60; i++) p[i] = (float)(i + 1);
    nb_tensor *y = nb_arange(0, (double)N, 1, NB_I64);
    nb_dataset *d = nb_tensor_dataset(x, y);
    nb_free(x), nb_free(y);
    return d;
}

/* Does out (2, 5, 6) equal image n shifted by (dy, dx) with zero fill, optionally flipped? */
static bool is_augmented(const float *out, int64_t n, int pad, bool *flipped) {
    for (int f = 0; f < 2; f++)
        for (int dy = -pad; dy <= pad; dy++)
            for (int dx = -pad; dx <= pad; dx++) {
                bool ok = true;
                for (int c = 0; c < 2 && ok; c++)
                    for (int y = 0; y < 5 && ok; y++)
                        for (int x = 0; x < 6 && ok; x++) {
                            int xs = f ? 5 - x : x, sy = y + dy, sx = xs + dx;
                            float want = sy < 0 || sy >= 5 || sx < 0 || sx >= 6
                                             ? 0.f
                                             : (float)(n * 60 + c * 30 + sy * 6 + sx + 1);
                            ok = out[c * 30 + y * 6 + x] == want;
                        }
                if (ok) {
                    *flipped = f;
                    return true;
                }
            }
    return false;
}

static void test_loader_augment_prefetch(void) {
    nb_dataset *d = make_image_ds(37);
    nb_augment_opts aug = {.random_crop_padding = 2, .random_hflip = true};
    nb_loader *lp = nb_loader_new(d, &(nb_loader_opts){.batch_size = 8, .shuffle = true, .seed = 11, .augment = aug});
    nb_loader *ls = nb_loader_new(
        d, &(nb_loader_opts){.batch_size = 8, .shuffle = true, .seed = 11, .augment = aug, .no_prefetch = true});
    enum { EPOCHS = 3, NB = 5 };
    static float rec[EPOCHS][NB][8 * 60];
    int all_same = 1, n_flip = 0, n_shift = 0, n_aug_ok = 0, n_samples = 0;
    for (int ep = 0; ep < EPOCHS; ep++) {
        nb_batch a, b;
        int bi = 0;
        for (; nb_loader_next(lp, &a); bi++) {
            CHECK(nb_loader_next(ls, &b));
            CHECK(shape_is(a.x, NB_SHAPE(nb_size(a.y, 0), 2, 5, 6)));
            all_same &= h_max_abs_diff(a.x, b.x) == 0 && h_max_abs_diff(a.y, b.y) == 0;
            int64_t m = nb_size(a.x, 0);
            const float *px = nb_data(a.x);
            const int64_t *py = nb_data(a.y);
            if (bi < NB) memcpy(rec[ep][bi], px, sizeof(float) * (size_t)(m * 60));
            for (int64_t j = 0; j < m; j++) {
                bool fl = false;
                n_samples++;
                if (is_augmented(px + j * 60, py[j], 2, &fl)) n_aug_ok++;
                n_flip += fl;
                /* unshifted samples have no zero pixel: count shifted ones */
                for (int k = 0; k < 60; k++)
                    if (px[j * 60 + k] == 0) {
                        n_shift++;
                        break;
                    }
            }
        }
        CHECK(!nb_loader_next(ls, &b));
        CHECK(bi == NB);
    }
    CHECK(all_same);
    CHECK_MSG(n_aug_ok == n_samples, "%d of %d samples are crops/flips of their source", n_aug_ok, n_samples);
    CHECK_MSG(n_flip > n_samples / 4 && n_flip < 3 * n_samples / 4, "%d flips of %d", n_flip, n_samples);
    CHECK_MSG(n_shift > n_samples / 2, "%d shifted of %d", n_shift, n_samples);
    /* seek: a fresh loader resumed at (epoch 2, batch 3) produces what the uninterrupted run did */
    for (int pf = 0; pf < 2; pf++) {
        nb_loader *lr = nb_loader_new(
            d, &(nb_loader_opts){.batch_size = 8, .shuffle = true, .seed = 11, .augment = aug, .no_prefetch = pf});
        CHECK(nb_loader_seek(lr, 2, 3) == 0 && nb_loader_epoch(lr) == 2 && nb_loader_position(lr) == 3);
        nb_batch r;
        CHECK(nb_loader_next(lr, &r) && memcmp(nb_data(r.x), rec[2][3], sizeof(float) * 8 * 60) == 0);
        CHECK(nb_loader_seek(lr, 1, 0) == 0);
        CHECK(nb_loader_next(lr, &r) && memcmp(nb_data(r.x), rec[1][0], sizeof(float) * 8 * 60) == 0);
        CHECK(nb_loader_next(lr, &r) && memcmp(nb_data(r.x), rec[1][1], sizeof(float) * 8 * 60) == 0);
        CHECK_RC_WITH(nb_loader_seek(lr, 0, 6), "nb_loader_seek", "out of range");
        CHECK_RC_WITH(nb_loader_seek(lr, -1, 0), "nb_loader_seek", "out of range");
        nb_loader_free(lr);
    }
    /* the same seed without augmentation leaves images untouched */
    nb_loader *ln = nb_loader_new(d, &(nb_loader_opts){.batch_size = 37});
    nb_batch bn;
    CHECK(nb_loader_next(ln, &bn) && h_max_abs_diff(bn.x, nb_dataset_inputs(d)) == 0);
    nb_loader_free(ln);
    /* a loader freed mid-epoch (prefetch pending) leaks nothing (RUN checks) */
    nb_loader *lm = nb_loader_new(d, &(nb_loader_opts){.batch_size = 4, .augment = aug});
    CHECK(nb_loader_next(lm, &bn));
    nb_loader_free(lm);
    nb_loader_free(lp), nb_loader_free(ls);
    nb_dataset_free(d);
}

/* ---- IDX datasets ------------------------------------------------------------------------------- */

static void test_idx_dataset(void) {
    uint8_t file[512], pix[5 * 4 * 4], lab[5] = {3, 1, 4, 1, 5};
    for (int i = 0; i < 80; i++) pix[i] = (uint8_t)(i * 3);
    size_t n = make_idx(file, 0x08, 3, (const uint32_t[]){5, 4, 4}, pix, 80);
    const char *ip = tmp_path("img.idx"), *lp = tmp_path("lab.idx"), *lp4 = tmp_path("lab4.idx"),
               *lpf = tmp_path("labf.idx");
    write_file(ip, file, n);
    n = make_idx(file, 0x08, 1, (const uint32_t[]){5}, lab, 5);
    write_file(lp, file, n);
    n = make_idx(file, 0x08, 1, (const uint32_t[]){4}, lab, 4);
    write_file(lp4, file, n);
    n = make_idx(file, 0x0D, 1, (const uint32_t[]){1}, "\x3f\x80\0\0", 4);
    write_file(lpf, file, n);
    nb_dataset *d = nb_idx_dataset(ip, lp, NULL);
    CHECK(d && nb_dataset_len(d) == 5);
    nb_tensor *x = nb_dataset_inputs(d), *y = nb_dataset_targets(d);
    CHECK(shape_is(x, NB_SHAPE(5, 1, 4, 4)) && nb_dtype_of(x) == NB_F32);
    CHECK(shape_is(y, NB_SHAPE(5)) && nb_dtype_of(y) == NB_I64);
    CHECK_NEAR(h_get(x, NB_LIST(1, 0, 2, 3)), (16 + 11) * 3 / 255.0, 1e-6);
    CHECK(h_get(y, NB_LIST(4)) == 5);
    nb_dataset_free(d);
    d = nb_idx_dataset(ip, lp, &(nb_idx_opts){.flatten = true, .limit = 3, .mean = 0.5, .std = 0.25});
    x = nb_dataset_inputs(d);
    CHECK(d && nb_dataset_len(d) == 3 && shape_is(x, NB_SHAPE(3, 16)));
    CHECK_NEAR(h_get(x, NB_LIST(2, 5)), ((32 + 5) * 3 / 255.0 - 0.5) / 0.25, 1e-5);
    nb_dataset_free(d);
    CHECK_NULL_WITH(nb_idx_dataset(ip, lp4, NULL), "nb_idx_dataset", "5 images", "4 labels", "lab4.idx");
    CHECK_NULL_WITH(nb_idx_dataset(ip, lpf, NULL), "nb_idx_dataset", "labels must be 1-d integers");
    CHECK_NULL_WITH(nb_idx_dataset(ip, tmp_path("nolabels.idx"), NULL), "nb_idx_read", "nolabels.idx");
    CHECK_NULL_WITH(nb_idx_dataset(ip, lp, &(nb_idx_opts){.limit = -1}), "nb_idx_dataset", "limit");
}

#define FMNIST "/usr/share/datasets/fashion-mnist"

static void test_fashion_mnist(void) {
    struct stat st;
    if (stat(FMNIST "/t10k-images-idx3-ubyte.gz", &st) != 0) {
        fprintf(stderr, "(skipping Fashion-MNIST: %s not found)\n", FMNIST);
        return;
    }
    if (!g_lib_zlib) {
        CHECK_NULL_WITH(nb_idx_read(FMNIST "/t10k-labels-idx1-ubyte.gz"), "nb_idx_read", "without zlib");
        return;
    }
    nb_dataset *d = nb_idx_dataset(FMNIST "/t10k-images-idx3-ubyte.gz", FMNIST "/t10k-labels-idx1-ubyte.gz", NULL);
    CHECK_MSG(d != NULL, "%s", nb_last_error());
    if (!d) return;
    nb_tensor *x = nb_dataset_inputs(d), *y = nb_dataset_targets(d);
    CHECK(nb_dataset_len(d) == 10000);
    CHECK(shape_is(x, NB_SHAPE(10000, 1, 28, 28)));
    const float *px = nb_data(x);
    const int64_t *py = nb_data(y);
    float mn = 1, mx = 0;
    for (int64_t i = 0; i < 10000 * 784; i++) mn = px[i] < mn ? px[i] : mn, mx = px[i] > mx ? px[i] : mx;
    CHECK(mn == 0.0f && mx == 1.0f);
    int64_t counts[10] = {0}, bad = 0;
    for (int64_t i = 0; i < 10000; i++) {
        if (py[i] < 0 || py[i] > 9)
            bad++;
        else
            counts[py[i]]++;
    }
    CHECK(bad == 0);
    for (int c = 0; c < 10; c++) CHECK_MSG(counts[c] == 1000, "class %d has %lld samples", c, (long long)counts[c]);
    nb_loader *l = nb_loader_new(d, &(nb_loader_opts){.batch_size = 64, .shuffle = true, .seed = 1});
    int64_t nb = 0, total = 0;
    for (nb_batch b; nb_loader_next(l, &b); nb++) total += nb_size(b.x, 0);
    CHECK(nb == 157 && total == 10000);
    nb_loader_free(l);
    nb_dataset_free(d);
    nb_tensor *tl = nb_idx_read(FMNIST "/train-labels-idx1-ubyte.gz");
    CHECK(shape_is(tl, NB_SHAPE(60000)) && nb_dtype_of(tl) == NB_U8);
    nb_free(tl);
}

/* ---- out of memory: every allocation of the readers, datasets and loader may fail ------------------ */


/* The work the sweep repeats; returns how many steps succeeded. */
static int oom_workload(const char *gz, const char *csv, bool prefetch) {
    int ok = 0;
    if (nb_scope_begin() != 0) return 0;
    nb_tensor *t = nb_idx_read(gz);
    ok += t != NULL;
    nb_tensor *c = nb_csv_read(csv, NULL);
    ok += c != NULL;
    nb_dataset *d = t ? nb_tensor_dataset(nb_reshape(nb_to(t, NB_F32), NB_SHAPE(8, 1, 2, 4)), NULL) : NULL;
    nb_dataset *a = NULL, *b = NULL;
    if (d && nb_dataset_split(d, 0.5, 1, &a, &b) == 0) ok++;
    nb_loader *l = a ? nb_loader_new(a, &(nb_loader_opts){.batch_size = 3,
                                                          .shuffle = true,
                                                          .no_prefetch = !prefetch,
                                                          .augment = {.random_crop_padding = 1, .random_hflip = true}})
                     : NULL;
    for (int ep = 0; l && ep < 2; ep++)
        for (nb_batch bt; nb_loader_next(l, &bt);) ok++;
    nb_loader_free(l);
    nb_dataset_free(a), nb_dataset_free(b), nb_dataset_free(d);
    nb_scope_end();
    nb_clear_error();
    return ok;
}

typedef struct oom_ctx {
    const char *gz, *csv;
    int prefetch;
} oom_ctx;

static int oom_work(void *ctx) {
    const oom_ctx *c = ctx;
    return oom_workload(c->gz, c->csv, c->prefetch);
}

static void test_oom_sweep(void) {
    harness_current = "test_oom_sweep";
    uint8_t file[256], pix[64];
    for (int i = 0; i < 64; i++) pix[i] = (uint8_t)i;
    size_t n = make_idx(file, 0x08, 2, (const uint32_t[]){8, 8}, pix, 64);
    const char *gz = tmp_path("oom.idx.gz"), *csv = tmp_path("oom.csv");
    if (!g_lib_zlib || !write_gz(gz, file, n)) write_file(gz, file, n);
    write_text(csv, "1,2,3\n4,5,6\n");
    for (int pf = 0; pf < 2; pf++) {
        oom_ctx c = {gz, csv, pf};
        oom_sweep(oom_work, &c, 3 + 2 * 2);
    }
}

int main(void) {
    if (!tmpdir_create("test-data")) return 2;
    {
        uint8_t probe[16];
        size_t n = make_idx(probe, 0x08, 1, (const uint32_t[]){1}, "\x07", 1);
        const char *p = tmp_path("probe.idx.gz");
        nb_tensor *t = write_gz(p, probe, n) ? nb_idx_read(p) : NULL;
        g_lib_zlib = t != NULL;
        if (!t) fprintf(stderr, "(gzip not available: %s)\n", nb_last_error());
        nb_free(t);
        nb_clear_error();
    }
    RUN(test_idx_roundtrip);
    RUN(test_idx_malformed);
    RUN(test_csv_good);
    RUN(test_csv_bad);
    RUN(test_tensor_dataset);
    RUN(test_user_dataset);
    RUN(test_loader_epochs);
    RUN(test_loader_augment_prefetch);
    RUN(test_idx_dataset);
    RUN(test_fashion_mnist);
    test_oom_sweep(); /* outside RUN: swapping the allocator needs no live tensor */
    tmpdir_remove();
    return harness_finish();
}
