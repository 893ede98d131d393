/* tests/test_ops_matmul.c — nb_matmul against an f64 triple loop: every combination of m, k, n in
 * {0, 1, 7, 17, 129}, 1-D operands (dot, vector-matrix, matrix-vector, with batches), broadcast
 * batch dims (implicit and through nb_expand), transposed / stepped operands, float dtypes and their
 * promotion, and the argument errors. */
#include "ref.h"

/* Reference: a (batch..., m, k) times b (batch..., k, n) with broadcast batch dims; 1-D operands
 * follow torch.matmul. Returns the result values; writes its shape. */
static double *ref_matmul(const double *a, int na, const int64_t *sa, const double *b, int nb, const int64_t *sb, int *ond,
                          int64_t *os) {
    int64_t sa2[NB_MAX_DIMS], sb2[NB_MAX_DIMS];
    int na2 = na, nb2 = nb;
    memcpy(sa2, sa, sizeof(int64_t) * (size_t)na);
    memcpy(sb2, sb, sizeof(int64_t) * (size_t)nb);
    if (na == 1) sa2[0] = 1, sa2[1] = sa[0], na2 = 2;
    if (nb == 1) sb2[0] = sb[0], sb2[1] = 1, nb2 = 2;
    int64_t m = sa2[na2 - 2], k = sa2[na2 - 1], n = sb2[nb2 - 1], bs[NB_MAX_DIMS];
    int nbd = ref_bshape(na2 - 2, sa2, nb2 - 2, sb2, bs);
    int64_t batches = ref_numel(nbd, bs);
    double *c = ref_darray(batches * m * n);
    for (int64_t bi = 0; bi < batches; bi++) {
        const double *A = a + ref_bidx(bi, nbd, bs, na2 - 2, sa2) * m * k;
        const double *B = b + ref_bidx(bi, nbd, bs, nb2 - 2, sb2) * k * n;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t p = 0; p < k; p++) s += A[i * k + p] * B[p * n + j];
                c[(bi * m + i) * n + j] = s;
            }
    }
    *ond = 0;
    for (int d = 0; d < nbd; d++) os[(*ond)++] = bs[d];
    if (na > 1) os[(*ond)++] = m;
    if (nb > 1) os[(*ond)++] = n;
    return c;
}

static void check_mm(nb_dtype da, nb_dtype db, int na, const int64_t *sa, int nb, const int64_t *sb, ref_layout la,
                     ref_layout lb) {
    double *x = ref_values(ref_numel(na, sa), da, -2, 2), *y = ref_values(ref_numel(nb, sb), db, -2, 2);
    int ond;
    int64_t os[NB_MAX_DIMS];
    double *e = ref_matmul(x, na, sa, y, nb, sb, &ond, os);
    nb_tensor *a = ref_tensor(x, na, sa, da, la), *b = ref_tensor(y, nb, sb, db, lb);
    ref_set_ctx("nb_matmul %s%s (%s) x %s%s (%s)", nb_dtype_name(da), ref_shape_str(na, sa), ref_layout_name[la],
                nb_dtype_name(db), ref_shape_str(nb, sb), ref_layout_name[lb]);
    nb_dtype od = nb_promote_types(da, db);
    /* inputs are multiples of 1/8, so f32 and f64 sums are exact; f16/bf16 round once on output */
    CHECK_REF_DT(nb_matmul(a, b), od, ond, os, e);
    nb_free(a);
    nb_free(b);
}

static void test_matrix_sizes(void) {
    ref_seed(30);
    static const int64_t sizes[] = {0, 1, 7, 17, 129};
    for (int i = 0; i < 5; i++)
        for (int p = 0; p < 5; p++)
            for (int j = 0; j < 5; j++) {
                int64_t m = sizes[i], k = sizes[p], n = sizes[j];
                if (m * k * n > 129 * 129 * 17) continue; /* keep the f64 reference cheap */
                for (int l = 0; l < REF_LAYOUTS; l++)
                    check_mm(NB_F32, NB_F32, NB_SHAPE(m, k), NB_SHAPE(k, n), l, (l + 1 + j) % REF_LAYOUTS);
                check_mm(NB_F64, NB_F64, NB_SHAPE(m, k), NB_SHAPE(k, n), REF_TRANSPOSED, REF_CONTIG);
            }
    /* one full 129^3 product, large enough for the threaded path */
    check_mm(NB_F32, NB_F32, NB_SHAPE(129, 129), NB_SHAPE(129, 129), REF_CONTIG, REF_TRANSPOSED);
    check_mm(NB_F64, NB_F64, NB_SHAPE(129, 129), NB_SHAPE(129, 129), REF_TRANS_STEPPED, REF_STEPPED);
}

static void test_dtypes(void) {
    ref_seed(31);
    static const nb_dtype pairs[][2] = {{NB_F32, NB_F32}, {NB_F64, NB_F64}, {NB_F16, NB_F16}, {NB_BF16, NB_BF16},
                                        {NB_F32, NB_F64}, {NB_F16, NB_BF16}, {NB_F16, NB_F32}, {NB_BF16, NB_F64}};
    for (int p = 0; p < REF_COUNT(pairs); p++)
        for (int l = 0; l < REF_LAYOUTS; l++) {
            check_mm(pairs[p][0], pairs[p][1], NB_SHAPE(7, 17), NB_SHAPE(17, 7), l, (l + 2) % REF_LAYOUTS);
            check_mm(pairs[p][0], pairs[p][1], NB_SHAPE(3, 17, 7), NB_SHAPE(7, 129), l, l);
        }
}

typedef struct mm_shapes {
    int na, nb;
    int64_t a[4], b[4];
} mm_shapes;

static void test_vectors_and_batches(void) {
    ref_seed(32);
    static const mm_shapes cases[] = {
        {1, 1, {17}, {17}},                 /* dot product: 0-d */
        {1, 1, {0}, {0}},                   /* empty dot: 0 */
        {1, 2, {7}, {7, 17}},               /* vector-matrix */
        {2, 1, {17, 7}, {7}},               /* matrix-vector */
        {1, 3, {7}, {5, 7, 3}},             /* vector with a batch */
        {3, 1, {5, 3, 7}, {7}},             /* batch with a vector */
        {3, 3, {5, 7, 17}, {5, 17, 1}},     /* batched */
        {4, 3, {7, 1, 5, 3}, {4, 3, 2}},    /* broadcast batch dims */
        {3, 2, {2, 7, 17}, {17, 7}},        /* matrix broadcast over a batch */
        {2, 4, {1, 17}, {2, 3, 17, 1}},
        {3, 3, {0, 7, 3}, {1, 3, 5}},       /* empty batch */
        {3, 3, {2, 3, 0}, {2, 0, 4}},       /* k = 0: zeros */
    };
    for (int c = 0; c < REF_COUNT(cases); c++)
        for (int l = 0; l < REF_LAYOUTS; l++) {
            check_mm(NB_F32, NB_F32, cases[c].na, cases[c].a, cases[c].nb, cases[c].b, l, (l + 3) % REF_LAYOUTS);
            check_mm(NB_F64, NB_F16, cases[c].na, cases[c].a, cases[c].nb, cases[c].b, (l + 1) % REF_LAYOUTS, l);
        }
}

/* Batch operands that are expand views (batch stride 0) and a transposed batch. */
static void test_expand_operands(void) {
    ref_seed(33);
    double *x = ref_values(7 * 17, NB_F32, -2, 2), *y = ref_values(4 * 17 * 5, NB_F32, -2, 2);
    for (int l = 0; l < REF_LAYOUTS; l++) {
        nb_tensor *a = nb_expand(ref_tensor(x, NB_SHAPE(7, 17), NB_F32, l), NB_SHAPE(4, 7, 17));
        nb_tensor *b = ref_tensor(y, NB_SHAPE(4, 17, 5), NB_F32, (l + 1) % REF_LAYOUTS);
        double *e = ref_darray(4 * 7 * 5);
        for (int bi = 0; bi < 4; bi++)
            for (int i = 0; i < 7; i++)
                for (int j = 0; j < 5; j++) {
                    double s = 0;
                    for (int p = 0; p < 17; p++) s += x[i * 17 + p] * y[(bi * 17 + p) * 5 + j];
                    e[(bi * 7 + i) * 5 + j] = s;
                }
        ref_set_ctx("matmul of expanded batch %s", ref_layout_name[l]);
        CHECK_REF(nb_matmul(a, b), NB_F32, NB_SHAPE(4, 7, 5), e, 0, 0);
        /* transposing the batched result's operands: (b^T a^T)^T = a b */
        nb_tensor *bt = nb_transpose(b, -1, -2), *at = nb_transpose(a, 1, 2);
        nb_tensor *r = nb_transpose(nb_matmul(bt, at), -2, -1);
        CHECK_REF(r, NB_F32, NB_SHAPE(4, 7, 5), e, 0, 0);
        /* a matrix whose columns have stride 0: every column the same */
        nb_tensor *col = nb_expand(ref_tensor(x, NB_SHAPE(17, 1), NB_F32, l), NB_SHAPE(17, 3));
        nb_tensor *row = ref_tensor(x + 17, NB_SHAPE(2, 17), NB_F32, l);
        double e2[6];
        for (int i = 0; i < 2; i++) {
            double s = 0;
            for (int p = 0; p < 17; p++) s += x[17 + i * 17 + p] * x[p];
            e2[i * 3] = e2[i * 3 + 1] = e2[i * 3 + 2] = s;
        }
        CHECK_REF(nb_matmul(row, col), NB_F32, NB_SHAPE(2, 3), e2, 0, 0);
    }
}

static void test_errors(void) {
    nb_tensor *a = nb_zeros(NB_SHAPE(2, 3), NB_F32), *b = nb_zeros(NB_SHAPE(4, 5), NB_F32);
    CHECK_NULL_WITH(nb_matmul(a, b), "nb_matmul", "[4, 5]", "[2, 3]");
    CHECK_NULL_WITH(nb_matmul(nb_zeros(NB_SHAPE(3), NB_F32), nb_zeros(NB_SHAPE(4), NB_F32)), "nb_matmul");
    CHECK_NULL_WITH(nb_matmul(nb_scalar(1, NB_F32), a), "nb_matmul", "at least 1 dim");
    CHECK_NULL_WITH(nb_matmul(nb_zeros(NB_SHAPE(2, 3), NB_I32), nb_zeros(NB_SHAPE(3, 2), NB_I32)), "nb_matmul", "floating");
    CHECK_NULL_WITH(nb_matmul(nb_zeros(NB_SHAPE(2, 2, 3), NB_F32), nb_zeros(NB_SHAPE(3, 3, 2), NB_F32)), "nb_matmul",
                    "broadcast");
    CHECK_NULL_WITH(nb_matmul(NULL, a), "nb_matmul", "#1");
    CHECK_NULL_WITH(nb_matmul(a, NULL), "nb_matmul", "#2");
}

int main(void) {
    REF_RUN(test_matrix_sizes);
    REF_RUN(test_dtypes);
    REF_RUN(test_vectors_and_batches);
    REF_RUN(test_expand_operands);
    REF_RUN(test_errors);
    return harness_finish();
}
