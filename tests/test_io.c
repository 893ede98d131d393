/* tests/test_io.c — the io layer: safetensors, .npy and .npz round trips for every dtype and shape
 * (0-d and empty included), zero-copy mapped loads, every kind of malformed file, module state_dict
 * save/load (strict and non-strict reports), the interrupted-training resume test (bitwise equal
 * weights), crash safety of the atomic writer (a child killed mid-save, a full disk), and an
 * allocation-failure sweep over every load and save.
 * With NABLA_IO_REF_DIR set it instead runs the Python interchange check: it loads the reference files
 * tests/ref/make_safetensors_refs.py wrote there and writes its own for tests/ref/check_nabla_files.py
 * (tests/ref/io_interop.sh drives the three steps). */
#define _GNU_SOURCE
#include "harness.h"
#include "tmpdir.h"
#include "oom_sweep.h"

#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The io layer's test hook (src/io/io_internal.h): after `bytes` more bytes written by atomic writers,
 * mode 1 kills the process (SIGKILL), mode 2 fails the write with ENOSPC; bytes < 0 disarms. */
void nbio_test_fail_after(int64_t bytes, int mode);


static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    *n = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

static bool same_tensor_bits(const nb_tensor *a, const nb_tensor *b) {
    if (!a || !b || nb_dtype_of(a) != nb_dtype_of(b) || nb_ndim(a) != nb_ndim(b)) return false;
    for (int d = 0; d < nb_ndim(a); d++)
        if (nb_shape(a)[d] != nb_shape(b)[d]) return false;
    size_t n = (size_t)nb_numel(a) * nb_dtype_size(nb_dtype_of(a));
    if (!n) return true;
    void *x = malloc(n), *y = malloc(n);
    nb_copy_to(a, x, n, nb_dtype_of(a));
    nb_copy_to(b, y, n, nb_dtype_of(b));
    bool eq = memcmp(x, y, n) == 0;
    free(x);
    free(y);
    return eq;
}

/* A tensor of dtype and shape filled with random bits (0/1 for bool; NaN payloads and infinities
 * included for floats: the formats must keep every bit). */
static uint64_t g_bits = 88172645463325252ull;
static nb_tensor *random_bits(nb_dtype dt, int nd, const int64_t *shape) {
    nb_tensor *t = nb_empty(nd, shape, dt);
    size_t n = (size_t)nb_numel(t) * nb_dtype_size(dt);
    uint8_t *p = nb_data(t);
    for (size_t i = 0; i < n; i++) {
        g_bits ^= g_bits << 13, g_bits ^= g_bits >> 7, g_bits ^= g_bits << 17;
        p[i] = dt == NB_BOOL ? (uint8_t)(g_bits & 1) : (uint8_t)g_bits;
    }
    return t;
}

static int count_dir_entries(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.' || strstr(e->d_name, ".tmp-") != NULL;
    if (d) closedir(d);
    return n;
}

static bool has_tmp_files(void) {
    DIR *d = opendir(g_dir);
    bool found = false;
    for (struct dirent *e; d && (e = readdir(d));) found |= strstr(e->d_name, ".tmp-") != NULL;
    if (d) closedir(d);
    return found;
}

static const int64_t SHAPES[][4] = {{0}, {1, 0}, {1, 5}, {2, 0, 3}, {3, 2, 3, 4}, {1, 1}};

/* ---- safetensors --------------------------------------------------------------------------------- */

static nb_params *all_dtype_list(void) {
    nb_params *p = nb_params_new();
    char name[64];
    for (int dt = 0; dt < NB_DTYPE_COUNT; dt++)
        for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
            snprintf(name, sizeof name, "%s.shape%zu", nb_dtype_name((nb_dtype)dt), s);
            nb_tensor *t = random_bits((nb_dtype)dt, (int)SHAPES[s][0], &SHAPES[s][1]);
            nb_params_add(p, name, t);
            nb_free(t);
        }
    return p;
}

static void test_st_roundtrip(void) {
    nb_params *p = all_dtype_list();
    nb_tensor *base = random_bits(NB_F32, NB_SHAPE(3, 5));
    nb_tensor *tr = nb_transpose(base, 0, 1); /* non-contiguous: written in C order */
    nb_params_add(p, "transposed \"quoted\" \\ name \xc3\xa9", tr);
    nb_metadata *m = nb_metadata_new();
    CHECK(nb_metadata_set(m, "format", "pt") == 0);
    CHECK(nb_metadata_set(m, "note", "line\nbreak \"q\" \xe2\x82\xac") == 0);
    CHECK(nb_metadata_set(m, "bad", "\xff") != 0);
    nb_clear_error();
    const char *path = tmp_path("all.safetensors");
    CHECK(nb_safetensors_save(path, p, m) == 0);
    nb_metadata *m2 = NULL;
    nb_params *q = nb_safetensors_load(path, &m2);
    CHECK(q && nb_params_count(q) == nb_params_count(p));
    for (int i = 0; q && i < nb_params_count(p); i++) {
        CHECK(strcmp(nb_params_name(p, i), nb_params_name(q, i)) == 0);
        CHECK_MSG(same_tensor_bits(nb_params_get(p, i), nb_params_get(q, i)), "%s", nb_params_name(p, i));
    }
    CHECK(m2 && nb_metadata_count(m2) == 2 && !strcmp(nb_metadata_get(m2, "note"), "line\nbreak \"q\" \xe2\x82\xac"));
    /* data starts 64-byte aligned and every tensor is aligned for its dtype */
    size_t n;
    uint8_t *raw = read_all(path, &n);
    uint64_t hl = 0;
    memcpy(&hl, raw, 8);
    CHECK((8 + hl) % 64 == 0);
    /* the same bytes parsed from memory */
    nb_params *r = nb_safetensors_parse(raw, n, "mem", NULL);
    CHECK(r && nb_params_count(r) == nb_params_count(p));
    for (int i = 0; r && i < nb_params_count(p); i++) CHECK(same_tensor_bits(nb_params_get(p, i), nb_params_get(r, i)));
    free(raw);
    /* an empty list is a valid file */
    nb_params *e = nb_params_new();
    CHECK(nb_safetensors_save(tmp_path("empty.safetensors"), e, NULL) == 0);
    nb_params *e2 = nb_safetensors_load(tmp_path("empty.safetensors"), NULL);
    CHECK(e2 && nb_params_count(e2) == 0);
    /* errors: duplicate and reserved names, NULL list, unwritable path */
    nb_params *dup = nb_params_new();
    nb_params_add(dup, "a", base);
    nb_params_add(dup, "a", base);
    CHECK_RC_WITH(nb_safetensors_save(tmp_path("dup.safetensors"), dup, NULL), "nb_safetensors_save", "'a'", "twice");
    nb_params *res = nb_params_new();
    nb_params_add(res, "__metadata__", base);
    CHECK_RC_WITH(nb_safetensors_save(tmp_path("res.safetensors"), res, NULL), "reserved");
    CHECK_RC_WITH(nb_safetensors_save("/nonexistent-dir/x.safetensors", e, NULL), "nb_safetensors_save",
                  "/nonexistent-dir/x.safetensors");
    CHECK(nb_last_status() == NB_OK);
    CHECK_NULL_WITH(nb_safetensors_load(tmp_path("missing.safetensors"), NULL), "nb_safetensors_load", "missing.safetensors");
    CHECK(!has_tmp_files());
    nb_params_free(p), nb_params_free(q), nb_params_free(r), nb_params_free(e), nb_params_free(e2);
    nb_params_free(dup), nb_params_free(res);
    nb_metadata_free(m), nb_metadata_free(m2);
    nb_free(base), nb_free(tr);
}

static void test_st_mmap(void) {
    nb_tensor *w = nb_randn(NB_SHAPE(64, 64), NB_F32);
    nb_params *p = nb_params_new();
    nb_params_add(p, "w", w);
    const char *path = tmp_path("map.safetensors");
    CHECK(nb_safetensors_save(path, p, NULL) == 0);
    nb_params *q = nb_safetensors_load(path, NULL);
    nb_tensor *v = nb_retain(nb_params_get(q, 0));
    nb_params_free(q); /* the mapping lives on in v */
    CHECK(same_tensor_bits(v, w));
    /* copy-on-write: writing into the loaded tensor never changes the file */
    CHECK(nb_set(v, NB_LIST(0, 0), 12345.0) == 0);
    nb_params *q2 = nb_safetensors_load(path, NULL);
    CHECK(same_tensor_bits(nb_params_get(q2, 0), w));
    nb_free(v);
    /* the views work in ops like any tensor */
    nb_tensor *s = nb_sum(nb_params_get(q2, 0), NULL);
    CHECK(s && nb_item(s) == nb_item(nb_sum(w, NULL)));
    nb_params_free(q2);
    nb_params_free(p);
    nb_free(w);
}

/* Build "<u64 len><header><data>" from a header string and n data bytes. */
static size_t st_build(uint8_t *out, const char *header, size_t data_n) {
    uint64_t hl = strlen(header);
    memcpy(out, &hl, 8);
    memcpy(out + 8, header, hl);
    for (size_t i = 0; i < data_n; i++) out[8 + hl + i] = (uint8_t)i;
    return 8 + hl + data_n;
}

static void st_bad(const char *header, size_t data_n, const char *expect) {
    uint8_t buf[4096];
    size_t n = st_build(buf, header, data_n);
    nb_params *p = nb_safetensors_parse(buf, n, "bad.st", NULL);
    CHECK_MSG(!p, "accepted: %s", header);
    CHECK_MSG(nb_last_status() == NB_ERR_FORMAT, "status %d for %s", nb_last_status(), header);
    CHECK_MSG(strstr(nb_last_error(), expect) && strstr(nb_last_error(), "bad.st"), "header %s: message \"%s\" lacks \"%s\"",
              header, nb_last_error(), expect);
    nb_params_free(p);
    nb_clear_error();
}

static void test_st_malformed(void) {
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    uint8_t buf[4096];
    size_t n = st_build(buf, ok, 8);
    nb_params *good = nb_safetensors_parse(buf, n, "good", NULL);
    CHECK(good && nb_params_count(good) == 1);
    nb_params_free(good);
    /* every truncation of a good file fails cleanly */
    for (size_t k = 0; k < n; k++) {
        nb_params *p = nb_safetensors_parse(buf, k, "cut.st", NULL);
        CHECK_MSG(!p && nb_last_status() == NB_ERR_FORMAT && strstr(nb_last_error(), "cut.st"), "truncated at %zu", k);
        nb_params_free(p);
        nb_clear_error();
    }
    /* sizes */
    CHECK_NULL_WITH(nb_safetensors_parse("\x01\x02", 2, "tiny.st", NULL), "tiny.st", "8-byte header length");
    uint8_t big[16] = {0x00, 0xe1, 0xf5, 0x05, 0, 0, 0, 0, '{', '}'}; /* 100,000,000 + ... */
    big[0] = 0x01; /* 100,000,001 */
    CHECK_NULL_WITH(nb_safetensors_parse(big, sizeof big, "huge.st", NULL), "huge.st", "100,000,000");
    uint8_t past[16] = {200, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    CHECK_NULL_WITH(nb_safetensors_parse(past, sizeof past, "past.st", NULL), "past.st", "past the end");
    /* magic / JSON / UTF-8 */
    st_bad("[]", 0, "'{'");
    st_bad("PK\x03\x04", 0, "'{'");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "expected '}'");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", 8, "expected a string");
    st_bad("{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "UTF-8");
    st_bad("{\"a\xc0\x80\":{}}", 0, "UTF-8"); /* overlong */
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", 8, "after the header");
    st_bad("{\"a\\q\":{}}", 0, "invalid escape");
    st_bad("{\"a\\ud800\":{}}", 0, "surrogate");
    st_bad("{\"a\\u0000\":{}}", 0, "\\u0000");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "fraction");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "negative");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", 8, "leading zero");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8, "too large");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "8 dims");
    /* schema */
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 0, "lacks \"data_offsets\"");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, "unknown key");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "duplicate key");
    st_bad("{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "not a safetensors dtype");
    st_bad("{\"a\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "does not support");
    st_bad("{\"__metadata__\":{\"k\":1},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "strings");
    st_bad("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate __metadata__");
    st_bad("{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "empty name");
    /* offsets */
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, "twice");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "belong to no tensor");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "cover 8 bytes");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "beyond the data");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12 bytes");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "end before begin");
    st_bad("{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8, "overflows");
    st_bad("{}", 4, "no tensor");
    /* bool bytes other than 0/1 are normalised, never loaded as invalid bools */
    n = st_build(buf, "{\"m\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3);
    buf[n - 1] = 7;
    nb_params *bp = nb_safetensors_parse(buf, n, "bool", NULL);
    double v = -1;
    CHECK(bp && nb_get(nb_params_get(bp, 0), NB_LIST(2), &v) == 0 && v == 1);
    nb_params_free(bp);
    /* the file name is in the message of file loads */
    write_file(tmp_path("junk.safetensors"), "this is not safetensors", 23);
    CHECK_NULL_WITH(nb_safetensors_load(tmp_path("junk.safetensors"), NULL), "nb_safetensors_load", "junk.safetensors");
    write_file(tmp_path("zero.safetensors"), "", 0);
    CHECK_NULL_WITH(nb_safetensors_load(tmp_path("zero.safetensors"), NULL), "zero.safetensors", "0 bytes");
    CHECK_NULL_WITH(nb_safetensors_load(g_dir, NULL), "directory");
}

/* ---- npy / npz ----------------------------------------------------------------------------------- */

static void test_npy_roundtrip(void) {
    for (int dt = 0; dt < NB_DTYPE_COUNT; dt++)
        for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
            nb_tensor *t = random_bits((nb_dtype)dt, (int)SHAPES[s][0], &SHAPES[s][1]);
            const char *path = tmp_path("rt.npy");
            if (dt == NB_BF16) {
                CHECK_RC_WITH(nb_npy_save(path, t), "nb_npy_save", "bf16");
                nb_free(t);
                continue;
            }
            CHECK(nb_npy_save(path, t) == 0);
            nb_tensor *u = nb_npy_load(path);
            CHECK_MSG(same_tensor_bits(t, u), "%s shape #%zu", nb_dtype_name((nb_dtype)dt), s);
            size_t n;
            uint8_t *raw = read_all(path, &n);
            uint16_t hl = (uint16_t)(raw[8] | raw[9] << 8);
            CHECK((10 + hl) % 64 == 0 && raw[9 + hl] == '\n' && raw[6] == 1);
            free(raw);
            nb_free(t), nb_free(u);
        }
    /* non-contiguous input is written in C order */
    nb_tensor *a = nb_arange(0, 12, 1, NB_F64), *b = nb_transpose(nb_reshape(a, NB_SHAPE(3, 4)), 0, 1);
    CHECK(nb_npy_save(tmp_path("t.npy"), b) == 0);
    CHECK(same_tensor_bits(nb_npy_load(tmp_path("t.npy")), b));
}

/* A .npy file from a header dict string and raw data (version 1, 2 or 3). */
static size_t npy_build(uint8_t *out, int ver, const char *dict, const void *data, size_t dn) {
    size_t pre = ver == 1 ? 10 : 12, hl = strlen(dict);
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (uint8_t)ver, out[7] = 0;
    out[8] = (uint8_t)hl, out[9] = (uint8_t)(hl >> 8);
    if (ver > 1) out[10] = out[11] = 0;
    memcpy(out + pre, dict, hl);
    memcpy(out + pre + hl, data, dn);
    return pre + hl + dn;
}

static void npy_bad(const uint8_t *buf, size_t n, const char *expect) {
    nb_tensor *t = nb_npy_parse(buf, n, "bad.npy");
    CHECK_MSG(!t && nb_last_status() == NB_ERR_FORMAT && strstr(nb_last_error(), expect) &&
                  strstr(nb_last_error(), "bad.npy"),
              "expected \"%s\", got \"%s\"", expect, nb_last_error());
    nb_free(t);
    nb_clear_error();
}

static void test_npy_variants(void) {
    uint8_t buf[1024];
    /* v2 and v3 headers, double quotes, key order, Python 2 longs */
    float f[6] = {1, 2, 3, 4, 5, 6};
    size_t n = npy_build(buf, 2, "{\"shape\": (2L, 3L), 'fortran_order': False, 'descr': '<f4'}\n", f, sizeof f);
    nb_tensor *t = nb_npy_parse(buf, n, "v2");
    CHECK(same_tensor_bits(t, nb_from_data(f, NB_SHAPE(2, 3), NB_F32)));
    n = npy_build(buf, 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }   \n", f, sizeof f);
    CHECK(same_tensor_bits(nb_npy_parse(buf, n, "v3"), nb_from_data(f, NB_SHAPE(6), NB_F32)));
    /* Fortran order: (2, 3) stored column by column */
    n = npy_build(buf, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", f, sizeof f);
    float fc[6] = {1, 3, 5, 2, 4, 6};
    CHECK(same_tensor_bits(nb_npy_parse(buf, n, "fortran"), nb_from_data(fc, NB_SHAPE(2, 3), NB_F32)));
    /* big-endian */
    uint8_t be[8] = {0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0}; /* 1.0f, -2.0f */
    n = npy_build(buf, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", be, 8);
    float fe[2] = {1, -2};
    CHECK(same_tensor_bits(nb_npy_parse(buf, n, "be"), nb_from_data(fe, NB_SHAPE(2), NB_F32)));
    /* widening: i2, u2 -> i32, u4 -> i64 */
    int16_t i2[3] = {-5, 7, -32768};
    n = npy_build(buf, 1, "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }\n", i2, 6);
    int32_t i2w[3] = {-5, 7, -32768};
    CHECK(same_tensor_bits(nb_npy_parse(buf, n, "i2"), nb_from_data(i2w, NB_SHAPE(3), NB_I32)));
    uint16_t u2[2] = {65535, 1};
    n = npy_build(buf, 1, "{'descr': '<u2', 'fortran_order': False, 'shape': (2,), }\n", u2, 4);
    int32_t u2w[2] = {65535, 1};
    CHECK(same_tensor_bits(nb_npy_parse(buf, n, "u2"), nb_from_data(u2w, NB_SHAPE(2), NB_I32)));
    uint32_t u4[1] = {4000000000u};
    n = npy_build(buf, 1, "{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }\n", u4, 4);
    int64_t u4w[1] = {4000000000};
    CHECK(same_tensor_bits(nb_npy_parse(buf, n, "u4"), nb_from_data(u4w, NB_SHAPE(1), NB_I64)));
    /* bool bytes other than 0/1 */
    uint8_t bb[2] = {0, 9};
    n = npy_build(buf, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }\n", bb, 2);
    double v = 0;
    CHECK(nb_get(nb_npy_parse(buf, n, "b1"), NB_LIST(1), &v) == 0 && v == 1);
    /* malformed */
    npy_bad((const uint8_t *)"\x93NUMPX\x01\x00\x00\x00", 10, "magic");
    npy_bad((const uint8_t *)"\x93NUMPY\x01", 7, "preamble");
    npy_bad((const uint8_t *)"\x93NUMPY\x04\x00\x00\x00", 10, "version 4.0");
    npy_bad((const uint8_t *)"\x93NUMPY\x01\x00\xff\x00{}", 12, "past the end");
    npy_bad((const uint8_t *)"\x93NUMPY\x02\x00\xff\xff\xff\x7f{}", 14, "absurd");
    const struct { const char *dict; size_t dn; const char *err; } bad[] = {
        {"{'descr': '<f4', 'shape': (2,), }", 8, "lacks 'fortran_order'"},
        {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", 8, "True or False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", 8, "trailing comma"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", 8, "tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8, "unknown key"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8, "duplicate"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8, "structured"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16, "pickle"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16, "complex"},
        {"{'descr': '<u8', 'fortran_order': False, 'shape': (2,), }", 16, "uint64"},
        {"{'descr': '|f4', 'fortran_order': False, 'shape': (2,), }", 8, "byte order"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8, "truncated"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 8, "trailing bytes"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 4, "8 dims"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296,4294967296,4294967296), }", 4, "overflows"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } junk", 8, "after the dict"},
        {"{'descr': '<f4\\x', 'fortran_order': False, 'shape': (2,), }", 8, "unsupported character"},
    };
    uint8_t zeros[16] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = npy_build(buf, 1, bad[i].dict, zeros, bad[i].dn);
        npy_bad(buf, n, bad[i].err);
    }
    write_file(tmp_path("junk.npy"), "nope", 4);
    CHECK_NULL_WITH(nb_npy_load(tmp_path("junk.npy")), "nb_npy_load", "junk.npy");
}

static void test_npz(void) {
    nb_params *p = nb_params_new();
    char name[64];
    for (int dt = 0; dt < NB_DTYPE_COUNT; dt++) {
        if (dt == NB_BF16) continue;
        for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
            snprintf(name, sizeof name, "%s_%zu", nb_dtype_name((nb_dtype)dt), s);
            nb_tensor *t = random_bits((nb_dtype)dt, (int)SHAPES[s][0], &SHAPES[s][1]);
            nb_params_add(p, name, t);
            nb_free(t);
        }
    }
    nb_tensor *zeros = nb_zeros(NB_SHAPE(100, 100), NB_F32); /* compresses well */
    nb_params_add(p, "zeros", zeros);
    for (int c = 0; c < 2; c++) {
        const char *path = tmp_path(c ? "c.npz" : "s.npz");
        int rc = nb_npz_save(path, p, c);
        if (rc == NB_ERR_UNSUPPORTED) {
            fprintf(stderr, "(deflate not available: %s)\n", nb_last_error());
            nb_clear_error();
            continue;
        }
        CHECK(rc == 0);
        nb_params *q = nb_npz_load(path);
        CHECK(q && nb_params_count(q) == nb_params_count(p));
        for (int i = 0; q && i < nb_params_count(p); i++) {
            CHECK(!strcmp(nb_params_name(p, i), nb_params_name(q, i)));
            CHECK_MSG(same_tensor_bits(nb_params_get(p, i), nb_params_get(q, i)), "%s", nb_params_name(p, i));
        }
        nb_params_free(q);
        size_t n;
        uint8_t *raw = read_all(path, &n);
        if (c) CHECK(n < 40000 + 10000); /* 40,000 bytes of zeros deflate to almost nothing */
        /* every truncation fails cleanly */
        for (size_t k = 0; k < n; k += (n / 300) + 1) {
            nb_params *t = nb_npz_parse(raw, k, "cut.npz");
            CHECK_MSG(!t && nb_last_status() == NB_ERR_FORMAT && strstr(nb_last_error(), "cut.npz"), "cut at %zu: %s", k,
                      nb_last_error());
            nb_params_free(t);
            nb_clear_error();
        }
        /* a flipped data byte fails the CRC (stored) or the CRC / inflate (deflated) */
        uint8_t *bad = malloc(n);
        memcpy(bad, raw, n);
        bad[60] ^= 0x40; /* inside the first member's .npy header or data */
        nb_params *t = nb_npz_parse(bad, n, "flip.npz");
        CHECK_MSG(!t && strstr(nb_last_error(), "flip.npz"), "flip accepted: %s", nb_last_error());
        nb_params_free(t);
        nb_clear_error();
        /* not a zip */
        CHECK_NULL_WITH(nb_npz_parse("hello world, this is not a zip file", 35, "txt.npz"), "txt.npz", "not a zip");
        /* encrypted flag and unknown method in the central directory */
        size_t cd = 0;
        for (size_t i = n - 22; i > 0; i--)
            if (!memcmp(raw + i, "PK\x01\x02", 4)) cd = i; /* finds the first entry last */
        memcpy(bad, raw, n);
        bad[cd + 8] |= 1;
        CHECK_NULL_WITH(nb_npz_parse(bad, n, "enc.npz"), "encrypted");
        memcpy(bad, raw, n);
        bad[cd + 10] = 12;
        CHECK_NULL_WITH(nb_npz_parse(bad, n, "bz.npz"), "method 12");
        memcpy(bad, raw, n);
        bad[cd + 42] = 1; /* local header offset off by one */
        CHECK_NULL_WITH(nb_npz_parse(bad, n, "off.npz"), "local header");
        memcpy(bad, raw, n);
        bad[cd + 46] = 'X', bad[cd + 47] = 0; /* name with a NUL byte */
        CHECK_NULL_WITH(nb_npz_parse(bad, n, "name.npz"), "<key>.npy");
        free(bad);
        free(raw);
    }
    nb_free(zeros);
    nb_params_free(p);
    /* overlapping members: two central entries pointing at the same local header */
    nb_params *one = nb_params_new();
    nb_tensor *x = nb_ones(NB_SHAPE(2), NB_F32);
    nb_params_add(one, "a", x);
    nb_params_add(one, "b", x);
    CHECK(nb_npz_save(tmp_path("two.npz"), one, false) == 0);
    size_t n;
    uint8_t *raw = read_all(tmp_path("two.npz"), &n);
    size_t cd2 = 0;
    for (size_t i = n - 22; i > 0; i--)
        if (!memcmp(raw + i, "PK\x01\x02", 4)) {
            cd2 = i;
            break; /* the last entry */
        }
    memset(raw + cd2 + 42, 0, 4);
    CHECK_NULL_WITH(nb_npz_parse(raw, n, "overlap.npz"), "overlap.npz");
    free(raw);
    nb_params_add(one, "a", x);
    CHECK_RC_WITH(nb_npz_save(tmp_path("dup.npz"), one, false), "twice");
    nb_params_free(one);
    nb_free(x);
    CHECK(!has_tmp_files());
}

/* ---- module state_dicts -------------------------------------------------------------------------- */

static nb_module *small_net(void) {
    return nb_sequential(nb_linear_layer(6, 5), nb_relu_layer(), nb_batchnorm1d_layer(5), nb_linear_layer(5, 3));
}

static void test_state_dict(void) {
    nb_manual_seed(1);
    nb_module *a = small_net();
    nb_manual_seed(2);
    nb_module *b = small_net();
    nb_tensor *x = nb_randn(NB_SHAPE(4, 6), NB_F32);
    nb_module_forward(a, x); /* updates a's running statistics */
    nb_module_train(a, false), nb_module_train(b, false);
    const char *path = tmp_path("net.safetensors");
    CHECK(nb_module_save_state_dict(a, path) == 0);
    nb_metadata *m = NULL;
    nb_params *f = nb_safetensors_load(path, &m);
    CHECK(f && nb_params_count(f) == 9 && !strcmp(nb_params_name(f, 0), "0.weight") &&
          !strcmp(nb_params_name(f, 6), "2.num_batches_tracked"));
    CHECK(m && !strcmp(nb_metadata_get(m, "format"), "pt"));
    nb_load_report *rep = NULL;
    CHECK(nb_module_load_state_dict(b, path, true, &rep) == 0);
    CHECK(rep && nb_load_report_text(rep)[0] == 0 && nb_load_report_count(rep, NB_KEY_MISSING) == 0);
    nb_load_report_free(rep);
    CHECK(same_tensor_bits(nb_module_forward(a, x), nb_module_forward(b, x)));
    nb_params *sa = nb_module_state_dict(a), *sb = nb_module_state_dict(b);
    for (int i = 0; i < nb_params_count(sa); i++) CHECK(same_tensor_bits(nb_params_get(sa, i), nb_params_get(sb, i)));
    /* a different architecture: strict fails listing every problem and loads nothing */
    nb_module *c = nb_sequential(nb_linear_layer(6, 5), nb_relu_layer(), nb_linear_layer(5, 4), nb_linear_layer(4, 3),
                                 nb_linear_layer(3, 3));
    nb_params *sc = nb_module_state_dict(c);
    nb_tensor *before = nb_clone(nb_params_get(sc, 0));
    rep = NULL;
    CHECK_RC_WITH(nb_module_load_state_dict(c, path, true, &rep), "nb_module_load_state_dict", "net.safetensors",
                  "missing keys", "4.bias", "unexpected keys", "2.running_mean", "mismatched", "3.weight",
                  "file [3, 5] f32, model [3, 4] f32", "2.weight (file [5] f32, model [4, 5] f32)");
    CHECK(same_tensor_bits(before, nb_params_get(sc, 0)));
    CHECK(rep && nb_load_report_count(rep, NB_KEY_MISSING) == 2 && nb_load_report_count(rep, NB_KEY_UNEXPECTED) == 3 &&
          nb_load_report_count(rep, NB_KEY_MISMATCHED) == 3 &&
          !strcmp(nb_load_report_key(rep, NB_KEY_MISSING, 0), "4.weight") &&
          !strcmp(nb_load_report_key(rep, NB_KEY_MISMATCHED, 2), "3.weight") &&
          !strcmp(nb_load_report_key(rep, NB_KEY_UNEXPECTED, 2), "2.num_batches_tracked"));
    nb_load_report_free(rep);
    /* non-strict: loads what matches, reports the rest */
    rep = NULL;
    CHECK(nb_module_load_state_dict(c, path, false, &rep) == 0);
    CHECK(same_tensor_bits(nb_params_get(sa, 0), nb_params_get(sc, 0)));
    CHECK(rep && nb_load_report_count(rep, NB_KEY_MISSING) == 2 && strstr(nb_load_report_text(rep), "2.weight"));
    CHECK(!same_tensor_bits(nb_params_get(sa, 2), nb_params_get(sc, 2))); /* mismatched: left alone */
    nb_load_report_free(rep);
    /* a dtype mismatch is a mismatch */
    nb_params *f64 = nb_params_new();
    for (int i = 0; i < nb_params_count(f); i++) {
        nb_tensor *t = nb_params_get(f, i);
        nb_tensor *u = i == 0 ? nb_to(t, NB_F64) : nb_retain(t);
        nb_params_add(f64, nb_params_name(f, i), u);
        nb_free(u);
    }
    CHECK_RC_WITH(nb_module_load_params(b, f64, true, NULL), "0.weight", "f64");
    nb_params_free(f64);
    nb_params_free(f), nb_params_free(sa), nb_params_free(sb), nb_params_free(sc);
    nb_metadata_free(m);
    nb_free(before);
    nb_module_free(a), nb_module_free(b), nb_module_free(c);
}

/* ---- interrupted training resumes bit for bit ---------------------------------------------------- */

typedef struct run {
    nb_module *net;
    nb_optimizer *opt;
    nb_scheduler *sched;
    nb_loader *loader;
} run;

static run build(nb_dataset *d, uint64_t init_seed) {
    run r;
    nb_manual_seed(init_seed);
    r.net = nb_sequential(nb_linear_layer(784, 256), nb_relu_layer(), nb_dropout_layer(0.1), nb_linear_layer(256, 128),
                          nb_relu_layer(), nb_linear_layer(128, 10));
    r.opt = nb_adam(nb_module_parameters(r.net), &(nb_adam_opts){.lr = 1e-3, .amsgrad = true});
    r.sched = nb_step_lr(r.opt, 1, 0.7);
    r.loader = nb_loader_new(d, &(nb_loader_opts){.batch_size = 32, .shuffle = true, .seed = 5});
    return r;
}

static void teardown(run *r) {
    nb_loader_free(r->loader);
    nb_scheduler_free(r->sched);
    nb_optimizer_free(r->opt);
    nb_module_free(r->net);
}

/* Train until (epochs, stop_step) or the end; returns the global step reached. */
static int64_t train(run *r, int64_t epoch, int64_t step, int epochs, int64_t stop_at, const char *ck_path) {
    for (; epoch < epochs; epoch++) {
        for (nb_batch b; nb_loader_next(r->loader, &b);) {
            nb_scope_begin();
            nb_tensor *loss = nb_cross_entropy(nb_module_forward(r->net, b.x), b.y, NULL);
            nb_optimizer_zero_grad(r->opt);
            CHECK(loss && nb_backward(loss) == 0 && nb_optimizer_step(r->opt) == 0);
            nb_scope_end();
            step++;
            if (step == stop_at) {
                nb_checkpoint ck = {.model = r->net, .optimizer = r->opt, .scheduler = r->sched, .loader = r->loader,
                                    .epoch = epoch, .step = step};
                CHECK(nb_checkpoint_save(ck_path, &ck) == 0);
                return step;
            }
        }
        CHECK(nb_scheduler_step(r->sched, 0) == 0);
    }
    return step;
}

static void test_resume_bitwise(void) {
    const int64_t N = 2048;
    nb_manual_seed(42);
    nb_tensor *x = nb_randn(NB_SHAPE(N, 784), NB_F32);
    nb_tensor *y = nb_randint(0, 10, NB_SHAPE(N), NB_I64);
    nb_dataset *d = nb_tensor_dataset(x, y);
    const int epochs = 4; /* 64 batches each: 256 steps */
    const char *ck = tmp_path("run.ckpt");

    run a = build(d, 1);
    int64_t steps = train(&a, 0, 0, epochs, -1, NULL);
    CHECK(steps == 256);

    run b = build(d, 1);
    int64_t at = train(&b, 0, 0, epochs, 64 + 37, ck); /* epoch 1, batch 37 of 64 */
    CHECK(at == 101);
    teardown(&b);
    nb_manual_seed(999);       /* disturb the global generator */
    run c = build(d, 12345);   /* different initial weights */
    nb_metadata *meta = nb_metadata_new();
    nb_checkpoint k = {.model = c.net, .optimizer = c.opt, .scheduler = c.sched, .loader = c.loader, .metadata = meta};
    CHECK(nb_checkpoint_load(ck, &k) == 0);
    CHECK(k.epoch == 1 && k.step == 101 && nb_loader_epoch(c.loader) == 1 && nb_loader_position(c.loader) == 37);
    CHECK(nb_metadata_get(meta, "nabla.optimizer.type") && !strcmp(nb_metadata_get(meta, "nabla.optimizer.type"), "Adam"));
    CHECK(nb_optimizer_steps(c.opt) == 101 && nb_optimizer_get_lr(c.opt, 0) == 1e-3 * 0.7);
    steps = train(&c, k.epoch, k.step, epochs, -1, NULL);
    CHECK(steps == 256);
    nb_params *pa = nb_module_state_dict(a.net), *pc = nb_module_state_dict(c.net);
    int differ = 0;
    for (int i = 0; i < nb_params_count(pa); i++) {
        nb_tensor *ta = nb_params_get(pa, i), *tc = nb_params_get(pc, i);
        size_t bytes = (size_t)nb_numel(ta) * nb_dtype_size(nb_dtype_of(ta));
        differ += nb_numel(ta) != nb_numel(tc) || memcmp(nb_data(ta), nb_data(tc), bytes) != 0;
    }
    CHECK_MSG(differ == 0, "%d of %d weight tensors differ after resuming", differ, nb_params_count(pa));
    CHECK(nb_optimizer_get_lr(a.opt, 0) == nb_optimizer_get_lr(c.opt, 0));
    CHECK(nb_scheduler_get_lr(a.sched) == nb_scheduler_get_lr(c.sched));
    uint64_t s1, c1, s2, c2;
    nb_rng_get_state(&s1, &c1);
    (void)s2, (void)c2;
    nb_params_free(pa), nb_params_free(pc);

    /* mismatches are refused before anything changes */
    run e = build(d, 3);
    nb_params *pe = nb_module_state_dict(e.net);
    nb_tensor *w0 = nb_clone(nb_params_get(pe, 0));
    nb_optimizer *sgd = nb_sgd(nb_module_parameters(e.net), NULL);
    nb_checkpoint bad = {.model = e.net, .optimizer = sgd};
    CHECK_RC_WITH(nb_checkpoint_load(ck, &bad), "run.ckpt", "Adam", "SGD");
    nb_optimizer *adam = nb_adam(nb_module_parameters(e.net), NULL); /* amsgrad off: different state */
    bad.optimizer = adam;
    CHECK_RC_WITH(nb_checkpoint_load(ck, &bad), "max_exp_avg_sq");
    nb_module *other = nb_sequential(nb_linear_layer(784, 10));
    nb_checkpoint bad2 = {.model = other};
    CHECK_RC_WITH(nb_checkpoint_load(ck, &bad2), "run.ckpt", "unexpected keys", "3.weight", "mismatched",
                  "0.weight (file [256, 784] f32, model [10, 784] f32)");
    CHECK(same_tensor_bits(w0, nb_params_get(pe, 0)));
    nb_checkpoint bad3 = {.model = e.net, .scheduler = e.sched};
    CHECK_RC_WITH(nb_checkpoint_save(tmp_path("x.ckpt"), &bad3), "scheduler");
    CHECK_RC_WITH(nb_checkpoint_load(tmp_path("net.safetensors"), &(nb_checkpoint){.model = e.net}), "not a nabla checkpoint");
    nb_module_free(other);
    nb_optimizer_free(sgd), nb_optimizer_free(adam);
    nb_params_free(pe);
    nb_free(w0);
    teardown(&e);
    nb_metadata_free(meta);
    teardown(&a);
    teardown(&c);
    nb_dataset_free(d);
    nb_free(x), nb_free(y);
}

/* ---- crash safety -------------------------------------------------------------------------------- */

static void test_crash_safety(void) {
    nb_manual_seed(3);
    nb_module *net = nb_sequential(nb_linear_layer(300, 300), nb_relu_layer(), nb_linear_layer(300, 10));
    const char *path = tmp_path("safe.ckpt");
    nb_checkpoint ck = {.model = net, .epoch = 1, .step = 10};
    CHECK(nb_checkpoint_save(path, &ck) == 0);
    size_t n0;
    uint8_t *old = read_all(path, &n0);
    /* change the weights, then save again in a child killed after 100 kB of the ~360 kB file */
    nb_params *p = nb_module_parameters(net);
    nb_no_grad_begin();
    nb_fill_(nb_params_get(p, 0), 0.5);
    nb_no_grad_end();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        nbio_test_fail_after(100000, 1);
        nb_checkpoint c2 = {.model = net, .epoch = 2, .step = 20};
        nb_checkpoint_save(path, &c2);
        _exit(0); /* not reached: the hook kills the process mid-write */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);
    CHECK(has_tmp_files()); /* the half-written temporary file is there ... */
    size_t n1;
    uint8_t *now = read_all(path, &n1);
    CHECK(n1 == n0 && memcmp(old, now, n0) == 0); /* ... and the checkpoint is untouched */
    nb_checkpoint back = {.model = net};
    CHECK(nb_checkpoint_load(path, &back) == 0 && back.epoch == 1 && back.step == 10);
    free(now);
    /* leftovers of killed writers are harmless; remove them for the next checks */
    DIR *dd = opendir(g_dir);
    for (struct dirent *e; dd && (e = readdir(dd));)
        if (strstr(e->d_name, ".tmp-")) unlink(tmp_path(e->d_name));
    if (dd) closedir(dd);
    /* a full disk: the save fails, names the file, leaves no temporary file and the old file intact */
    int files = count_dir_entries();
    nbio_test_fail_after(5000, 2);
    ck.epoch = 3;
    CHECK_RC_WITH(nb_checkpoint_save(path, &ck), "nb_checkpoint_save", "safe.ckpt", "No space left on device");
    nbio_test_fail_after(-1, 0);
    CHECK(!has_tmp_files() && count_dir_entries() == files);
    now = read_all(path, &n1);
    CHECK(n1 == n0 && memcmp(old, now, n0) == 0);
    free(now);
    nbio_test_fail_after(10, 2);
    CHECK_RC_WITH(nb_npz_save(tmp_path("full.npz"), p, true), "full.npz", "No space");
    nbio_test_fail_after(10, 2);
    CHECK_RC_WITH(nb_npy_save(tmp_path("full.npy"), nb_params_get(p, 0)), "full.npy", "No space");
    nbio_test_fail_after(-1, 0);
    CHECK(!has_tmp_files() && access(tmp_path("full.npz"), F_OK) != 0);
    free(old);
    nb_params_free(p);
    nb_module_free(net);
}

/* ---- allocation failures ------------------------------------------------------------------------- */


static int oom_workload(void) {
    int ok = 0;
    if (nb_scope_begin() != 0) return 0;
    nb_manual_seed(1);
    nb_module *net = nb_sequential(nb_linear_layer(4, 3), nb_batchnorm1d_layer(3), nb_linear_layer(3, 2));
    nb_optimizer *opt = net ? nb_adam(nb_module_parameters(net), NULL) : NULL;
    if (opt) {
        nb_tensor *loss = nb_sum(nb_module_forward(net, nb_ones(NB_SHAPE(2, 4), NB_F32)), NULL);
        if (loss && nb_backward(loss) == 0 && nb_optimizer_step(opt) == 0) ok++;
    }
    nb_metadata *m = nb_metadata_new();
    ok += m && nb_metadata_set(m, "k", "v") == 0;
    nb_params *sd = net ? nb_module_state_dict(net) : NULL;
    ok += sd && nb_safetensors_save(tmp_path("oom.safetensors"), sd, m) == 0;
    nb_metadata *m2 = NULL;
    nb_params *back = nb_safetensors_load(tmp_path("oom.safetensors"), &m2);
    ok += back != NULL;
    ok += sd && nb_npz_save(tmp_path("oom.npz"), sd, true) == 0;
    nb_params *z = nb_npz_load(tmp_path("oom.npz"));
    ok += z != NULL;
    ok += sd && nb_npy_save(tmp_path("oom.npy"), nb_params_get(sd, 0)) == 0;
    nb_tensor *t = nb_npy_load(tmp_path("oom.npy"));
    ok += t != NULL;
    nb_load_report *rep = NULL;
    ok += net && nb_module_load_state_dict(net, tmp_path("oom.safetensors"), true, &rep) == 0;
    nb_checkpoint ck = {.model = net, .optimizer = opt, .step = 3};
    ok += net && nb_checkpoint_save(tmp_path("oom.ckpt"), &ck) == 0;
    ok += net && nb_checkpoint_load(tmp_path("oom.ckpt"), &ck) == 0;
    nb_load_report_free(rep);
    nb_params_free(z), nb_params_free(back), nb_params_free(sd);
    nb_metadata_free(m), nb_metadata_free(m2);
    nb_optimizer_free(opt);
    nb_module_free(net);
    nb_scope_end();
    nb_clear_error();
    return ok;
}

static int oom_work(void *ctx) { return (void)ctx, oom_workload(); }

static void test_oom_sweep(void) {
    harness_current = "test_oom_sweep";
    CHECK(nb_live_tensors() == 0);
    oom_workload(); /* files exist for the loads below */
    long total = oom_sweep(oom_work, NULL, 11);
    CHECK(!has_tmp_files());
    fprintf(stderr, "(allocation sweep: %ld allocations, each failed once)\n", total);
}

/* ---- Python interchange (tests/ref/io_interop.sh) ------------------------------------------------ */

static nb_dtype dtype_by_name(const char *s) {
    for (int d = 0; d < NB_DTYPE_COUNT; d++)
        if (!strcmp(nb_dtype_name((nb_dtype)d), s)) return (nb_dtype)d;
    return NB_DTYPE_COUNT;
}

static void interop_load(const char *dir) {
    char path[1024], line[1024];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot read %s", path);
    int checked = 0;
    while (f && fgets(line, sizeof line, f)) {
        char file[256], key[256], dt[16], bin[256];
        int nd, off;
        if (sscanf(line, "%255s %255s %15s %d%n", file, key, dt, &nd, &off) != 4) continue;
        int64_t shape[NB_MAX_DIMS];
        char *q = line + off;
        for (int i = 0; i < nd; i++) shape[i] = strtoll(q, &q, 10);
        sscanf(q, "%255s", bin);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        nb_tensor *t = NULL;
        nb_params *p = NULL;
        if (strstr(file, ".safetensors")) p = nb_safetensors_load(path, NULL);
        else if (strstr(file, ".npz")) p = nb_npz_load(path);
        else t = nb_retain(nb_npy_load(path));
        for (int i = 0; p && i < nb_params_count(p); i++)
            if (!strcmp(nb_params_name(p, i), key)) t = nb_retain(nb_params_get(p, i));
        CHECK_MSG(t != NULL, "%s[%s]: %s", file, key, nb_last_error());
        snprintf(path, sizeof path, "%s/%s", dir, bin);
        size_t n;
        uint8_t *raw = read_all(path, &n);
        bool ok = t && nb_dtype_of(t) == dtype_by_name(dt) && nb_ndim(t) == nd;
        for (int i = 0; ok && i < nd; i++) ok = nb_shape(t)[i] == shape[i];
        ok = ok && (size_t)nb_numel(t) * nb_dtype_size(nb_dtype_of(t)) == n && (n == 0 || !memcmp(nb_data(t), raw, n));
        CHECK_MSG(ok, "%s[%s] (%s) does not match the bytes Python wrote", file, key, dt);
        checked += ok;
        free(raw);
        nb_free(t);
        nb_params_free(p);
    }
    if (f) fclose(f);
    nb_metadata *m = NULL;
    snprintf(path, sizeof path, "%s/ref_all.safetensors", dir);
    nb_params *p = nb_safetensors_load(path, &m);
    CHECK(m && nb_metadata_get(m, "note") && !strcmp(nb_metadata_get(m, "note"), "d\xc3\xa9j\xc3\xa0 vu"));
    nb_params_free(p);
    nb_metadata_free(m);
    fprintf(stderr, "interop: %d arrays written by numpy/safetensors load bit-exactly\n", checked);
    CHECK(checked >= 40);
}

static void interop_write(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest_nabla.txt", dir);
    FILE *man = fopen(path, "w");
    nb_params *all = nb_params_new(), *bf = nb_params_new(), *npz = nb_params_new();
    int count = 0;
    char name[64];
    for (int dt = 0; dt < NB_DTYPE_COUNT; dt++)
        for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
            snprintf(name, sizeof name, "%s_%zu", nb_dtype_name((nb_dtype)dt), s);
            nb_tensor *t = random_bits((nb_dtype)dt, (int)SHAPES[s][0], &SHAPES[s][1]);
            if (dt == NB_F16 || dt == NB_F32 || dt == NB_F64) { /* keep NumPy's comparisons simple: no NaNs */
                int64_t n = nb_numel(t);
                for (int64_t i = 0; i < n; i++) {
                    uint8_t *b = (uint8_t *)nb_data(t) + (size_t)(i + 1) * nb_dtype_size((nb_dtype)dt) - 1;
                    *b &= 0x3f; /* exponent well below all ones */
                }
            }
            nb_params_add(dt == NB_BF16 ? bf : all, name, t);
            if (dt != NB_BF16) nb_params_add(npz, name, t);
            const char *files[3] = {dt == NB_BF16 ? "nabla_bf16.safetensors" : "nabla_all.safetensors",
                                    dt == NB_BF16 ? NULL : "nabla_stored.npz", dt == NB_BF16 ? NULL : "nabla_deflated.npz"};
            char bin[64];
            snprintf(bin, sizeof bin, "nabla_%d.bin", count++);
            snprintf(path, sizeof path, "%s/%s", dir, bin);
            write_file(path, nb_data(t), (size_t)nb_numel(t) * nb_dtype_size((nb_dtype)dt));
            for (int k = 0; k < 3; k++) {
                if (!files[k]) continue;
                fprintf(man, "%s %s %s %d", files[k], name, nb_dtype_name((nb_dtype)dt), nb_ndim(t));
                for (int d = 0; d < nb_ndim(t); d++) fprintf(man, " %lld", (long long)nb_shape(t)[d]);
                fprintf(man, " %s\n", bin);
            }
            if (dt != NB_BF16) {
                char npy[96];
                snprintf(npy, sizeof npy, "nabla_%s.npy", name);
                snprintf(path, sizeof path, "%s/%s", dir, npy);
                CHECK(nb_npy_save(path, t) == 0);
                fprintf(man, "%s - %s %d", npy, nb_dtype_name((nb_dtype)dt), nb_ndim(t));
                for (int d = 0; d < nb_ndim(t); d++) fprintf(man, " %lld", (long long)nb_shape(t)[d]);
                fprintf(man, " %s\n", bin);
            }
            nb_free(t);
        }
    fclose(man);
    nb_metadata *m = nb_metadata_new();
    nb_metadata_set(m, "format", "pt");
    nb_metadata_set(m, "note", "d\xc3\xa9j\xc3\xa0 vu");
    snprintf(path, sizeof path, "%s/nabla_all.safetensors", dir);
    CHECK(nb_safetensors_save(path, all, m) == 0);
    snprintf(path, sizeof path, "%s/nabla_bf16.safetensors", dir);
    CHECK(nb_safetensors_save(path, bf, NULL) == 0);
    snprintf(path, sizeof path, "%s/nabla_stored.npz", dir);
    CHECK(nb_npz_save(path, npz, false) == 0);
    snprintf(path, sizeof path, "%s/nabla_deflated.npz", dir);
    CHECK(nb_npz_save(path, npz, true) == 0);
    nb_metadata_free(m);
    nb_params_free(all), nb_params_free(bf), nb_params_free(npz);
}

int main(void) {
    const char *ref = getenv("NABLA_IO_REF_DIR");
    if (ref && *ref) {
        harness_current = "interop";
        nb_scope_begin();
        interop_load(ref);
        interop_write(ref);
        nb_scope_end();
        return harness_finish();
    }
    if (!tmpdir_create("test-io")) return 2;
    RUN(test_st_roundtrip);
    RUN(test_st_mmap);
    RUN(test_st_malformed);
    RUN(test_npy_roundtrip);
    RUN(test_npy_variants);
    RUN(test_npz);
    RUN(test_state_dict);
    RUN(test_crash_safety);
    RUN(test_resume_bitwise);
    test_oom_sweep(); /* outside RUN: swapping the allocator needs no live tensor */
    tmpdir_remove();
    return harness_finish();
}
