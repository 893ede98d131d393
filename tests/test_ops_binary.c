/* tests/test_ops_binary.c — add, sub, mul, div, pow, maximum, minimum, the comparisons, where and
 * the scalar variants against f64 references: every dtype pair (result dtype per a hand-written
 * PyTorch promotion table), broadcasting (implicit and through nb_expand views), 0-d and empty
 * shapes, contiguous and strided operands, integer wrap-around, division by zero and NaN. */
#include "ref.h"

typedef nb_tensor *(*binary_fn)(nb_tensor *, nb_tensor *);

#define F32 NB_F32
#define F64 NB_F64
#define F16 NB_F16
#define BF16 NB_BF16
#define I8 NB_I8
#define U8 NB_U8
#define I32 NB_I32
#define I64 NB_I64
#define BOOL NB_BOOL

/* PyTorch's promotion, written out (rows and columns in nb_dtype order), except i8 with u8 -> i32
 * since nabla has no i16. */
static const nb_dtype k_promote[9][9] = {
    /*          f32  f64  f16   bf16  i8    u8    i32   i64   bool */
    /* f32  */ {F32, F64, F32, F32, F32, F32, F32, F32, F32},
    /* f64  */ {F64, F64, F64, F64, F64, F64, F64, F64, F64},
    /* f16  */ {F32, F64, F16, F32, F16, F16, F16, F16, F16},
    /* bf16 */ {F32, F64, F32, BF16, BF16, BF16, BF16, BF16, BF16},
    /* i8   */ {F32, F64, F16, BF16, I8, I32, I32, I64, I8},
    /* u8   */ {F32, F64, F16, BF16, I32, U8, I32, I64, U8},
    /* i32  */ {F32, F64, F16, BF16, I32, I32, I32, I64, I32},
    /* i64  */ {F32, F64, F16, BF16, I64, I64, I64, I64, I64},
    /* bool */ {F32, F64, F16, BF16, I8, U8, I32, I64, BOOL},
};

static double r_add(double a, double b) { return a + b; }
static double r_sub(double a, double b) { return a - b; }
static double r_mul(double a, double b) { return a * b; }
static double r_div(double a, double b) { return a / b; }
static double r_max(double a, double b) { return a != a || a > b ? a : b; }
static double r_min(double a, double b) { return a != a || a < b ? a : b; }
static double r_eq(double a, double b) { return a == b; }
static double r_ne(double a, double b) { return a != b; }
static double r_lt(double a, double b) { return a < b; }
static double r_le(double a, double b) { return a <= b; }
static double r_gt(double a, double b) { return a > b; }
static double r_ge(double a, double b) { return a >= b; }

enum { K_ARITH, K_DIV, K_POW, K_CMP };

typedef struct binary_case {
    const char *name;
    binary_fn fn;
    double (*ref)(double, double);
    int kind;
    bool no_bool; /* refused when both operands are bool */
} binary_case;

static const binary_case k_ops[] = {
    {"add", nb_add, r_add, K_ARITH, false},     {"sub", nb_sub, r_sub, K_ARITH, true},
    {"mul", nb_mul, r_mul, K_ARITH, false},     {"div", nb_div, r_div, K_DIV, false},
    {"pow", nb_pow, pow, K_POW, true},          {"maximum", nb_maximum, r_max, K_ARITH, false},
    {"minimum", nb_minimum, r_min, K_ARITH, false}, {"eq", nb_eq, r_eq, K_CMP, false},
    {"ne", nb_ne, r_ne, K_CMP, false},          {"lt", nb_lt, r_lt, K_CMP, false},
    {"le", nb_le, r_le, K_CMP, false},          {"gt", nb_gt, r_gt, K_CMP, false},
    {"ge", nb_ge, r_ge, K_CMP, false},
};

static nb_dtype out_dtype(const binary_case *c, nb_dtype a, nb_dtype b) {
    nb_dtype p = k_promote[a][b];
    if (c->kind == K_CMP) return NB_BOOL;
    if (c->kind == K_DIV && !nb_dtype_is_float(p)) return NB_F32;
    return p;
}

/* Input range for operand `which` (0 = a, 1 = b) of op kind k in dtype dt. Comparisons use few
 * distinct values so that ties are common; pow keeps float bases positive and integer exponents
 * non-negative. */
static void range_of(int k, int which, nb_dtype dt, double *lo, double *hi) {
    bool fl = nb_dtype_is_float(dt);
    if (k == K_CMP) *lo = fl ? -1 : -3, *hi = fl ? 1 : 3;
    else if (k == K_POW && which == 0) *lo = fl ? 0.125 : -3, *hi = fl ? 4 : 3;
    else if (k == K_POW) *lo = fl ? -2 : 0, *hi = fl ? 2 : 4;
    else *lo = fl ? -4 : -10, *hi = fl ? 4 : 10;
    if (dt == NB_U8 && *lo < 0) *lo = 0;
}

typedef struct shape2 {
    int na, nb;
    int64_t a[4], b[4];
} shape2;

static const shape2 k_shapes[] = {
    {0, 0, {0}, {0}},
    {1, 1, {7}, {7}},
    {2, 2, {17, 7}, {17, 7}},
    {3, 2, {7, 1, 17}, {5, 17}},
    {1, 1, {1}, {129}},
    {0, 2, {0}, {7, 17}},
    {2, 2, {17, 1}, {1, 7}},
    {2, 2, {0, 17}, {1, 17}},
    {2, 1, {3, 1}, {0}},
    {3, 3, {1, 7, 1}, {17, 1, 7}},
};

/* One case: a (layout la) op b (layout lb), checked against the f64 reference. */
static void check_binary(const binary_case *c, nb_dtype da, nb_dtype db, const shape2 *s, ref_layout la,
                         ref_layout lb) {
    double lo, hi;
    int64_t na = ref_numel(s->na, s->a), nbn = ref_numel(s->nb, s->b), os[NB_MAX_DIMS];
    range_of(c->kind, 0, da, &lo, &hi);
    double *x = ref_values(na, da, lo, hi);
    range_of(c->kind, 1, db, &lo, &hi);
    double *y = ref_values(nbn, db, lo, hi);
    int ond = ref_bshape(s->na, s->a, s->nb, s->b, os);
    int64_t n = ref_numel(ond, os);
    nb_tensor *a = ref_tensor(x, s->na, s->a, da, la), *b = ref_tensor(y, s->nb, s->b, db, lb);
    ref_set_ctx("nb_%s %s%s (%s) with %s%s (%s)", c->name, nb_dtype_name(da), ref_shape_str(s->na, s->a),
                ref_layout_name[la], nb_dtype_name(db), ref_shape_str(s->nb, s->b), ref_layout_name[lb]);
    nb_tensor *r = c->fn(a, b);
    if (c->no_bool && da == NB_BOOL && db == NB_BOOL) {
        CHECK_MSG(!r && strstr(nb_last_error(), "bool"), "%s: expected a failure naming bool", ref_ctx);
        nb_clear_error();
    } else {
        nb_dtype od = out_dtype(c, da, db), p = k_promote[da][db];
        double *e = ref_darray(n);
        for (int64_t i = 0; i < n; i++) {
            double v = c->ref(x[ref_bidx(i, ond, os, s->na, s->a)], y[ref_bidx(i, ond, os, s->nb, s->b)]);
            e[i] = nb_dtype_is_float(p) || c->kind == K_DIV ? v : ref_wrap(v, od);
        }
        CHECK_REF_DT(r, od, ond, os, e);
    }
    nb_free(r);
    nb_free(a);
    nb_free(b);
}

/* Every op with every dtype pair, on one broadcasting shape pair, contiguous and strided. */
static void test_all_dtype_pairs(void) {
    ref_seed(10);
    const shape2 s = {3, 2, {7, 1, 17}, {5, 17}};
    for (int k = 0; k < REF_COUNT(k_ops); k++)
        for (int i = 0; i < 9; i++)
            for (int j = 0; j < 9; j++) {
                check_binary(&k_ops[k], ref_all_dtypes[i], ref_all_dtypes[j], &s, REF_CONTIG, REF_CONTIG);
                check_binary(&k_ops[k], ref_all_dtypes[i], ref_all_dtypes[j], &s, REF_TRANSPOSED, REF_TRANS_STEPPED);
            }
}

/* Every op on every shape pair and layout combination, for a representative set of dtype pairs. */
static void test_shapes_and_layouts(void) {
    ref_seed(11);
    static const nb_dtype pairs[][2] = {{F32, F32}, {F64, F64}, {F16, F16}, {BF16, BF16}, {I32, I64},
                                        {U8, I8},   {F16, BF16}, {I64, F32}, {BOOL, F64}};
    for (int k = 0; k < REF_COUNT(k_ops); k++)
        for (int p = 0; p < REF_COUNT(pairs); p++)
            for (int s = 0; s < REF_COUNT(k_shapes); s++)
                for (int l = 0; l < REF_LAYOUTS; l++) {
                    check_binary(&k_ops[k], pairs[p][0], pairs[p][1], &k_shapes[s], l, l);
                    check_binary(&k_ops[k], pairs[p][0], pairs[p][1], &k_shapes[s], l, (l + 1) % REF_LAYOUTS);
                    /* swapped operands: broadcasting and promotion are symmetric, the op is not */
                    shape2 sw = {k_shapes[s].nb, k_shapes[s].na, {0}, {0}};
                    memcpy(sw.a, k_shapes[s].b, sizeof sw.a);
                    memcpy(sw.b, k_shapes[s].a, sizeof sw.b);
                    check_binary(&k_ops[k], pairs[p][1], pairs[p][0], &sw, (l + 2) % REF_LAYOUTS, l);
                }
}

/* nb_promote_types against the table, and a few PyTorch rules spelled out. */
static void test_promote_types(void) {
    for (int i = 0; i < 9; i++)
        for (int j = 0; j < 9; j++) {
            nb_dtype a = ref_all_dtypes[i], b = ref_all_dtypes[j];
            CHECK_MSG(nb_promote_types(a, b) == k_promote[a][b], "promote(%s, %s) = %s, expected %s", nb_dtype_name(a),
                      nb_dtype_name(b), nb_dtype_name(nb_promote_types(a, b)), nb_dtype_name(k_promote[a][b]));
        }
    CHECK(nb_promote_types(NB_F16, NB_BF16) == NB_F32);
    CHECK(nb_promote_types(NB_I8, NB_U8) == NB_I32);
    CHECK(nb_promote_types(NB_I64, NB_F16) == NB_F16);
}

/* Operands that are nb_expand views (stride 0) rather than implicitly broadcast. */
static void test_expand_views(void) {
    ref_seed(12);
    for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++)
        for (int l = 0; l < REF_LAYOUTS; l++) {
            nb_dtype dt = ref_float_dtypes[d];
            double *xs = ref_values(7 * 17, dt, -4, 4), *ys = ref_values(7 * 5 * 17, dt, -4, 4);
            nb_tensor *small = ref_tensor(xs, NB_SHAPE(7, 1, 17), dt, l);
            nb_tensor *a = nb_expand(small, NB_SHAPE(7, 5, 17));
            nb_tensor *b = ref_tensor(ys, NB_SHAPE(7, 5, 17), dt, (l + 1) % REF_LAYOUTS);
            CHECK(a && nb_strides(a)[1] == 0);
            double *e = ref_darray(7 * 5 * 17);
            for (int64_t i = 0; i < 7 * 5 * 17; i++) e[i] = xs[(i / 85) * 17 + i % 17] * ys[i];
            ref_set_ctx("mul expanded %s %s", nb_dtype_name(dt), ref_layout_name[l]);
            CHECK_REF_DT(nb_mul(a, b), dt, NB_SHAPE(7, 5, 17), e);
            for (int64_t i = 0; i < 7 * 5 * 17; i++) e[i] = ys[i] - xs[(i / 85) * 17 + i % 17];
            CHECK_REF_DT(nb_sub(b, a), dt, NB_SHAPE(7, 5, 17), e);
            /* expand with new leading dims of an already stepped view, against an expanded 0-d */
            nb_tensor *row = nb_expand(nb_slice(b, 1, 2, 3, 1), NB_SHAPE(3, 7, 1, 17)); /* b[:, 2:3, :] */
            nb_tensor *c = nb_expand(nb_scalar(2, dt), NB_SHAPE(3, 7, 1, 17));
            double *e2 = ref_darray(3 * 7 * 17);
            for (int64_t i = 0; i < 3 * 7 * 17; i++) e2[i] = ys[((i / 17) % 7) * 85 + 2 * 17 + i % 17] + 2;
            CHECK_REF_DT(nb_add(row, c), dt, NB_SHAPE(3, 7, 1, 17), e2);
            /* both operands expanded: the kernel sees stride 0 on both sides */
            nb_tensor *s1 = nb_expand(nb_scalar(3, dt), NB_SHAPE(129, 7));
            nb_tensor *s2 = nb_expand(nb_reshape(nb_arange(0, 129, 1, dt), NB_SHAPE(129, 1)), NB_SHAPE(129, 7));
            double *e3 = ref_darray(129 * 7);
            for (int64_t i = 0; i < 129 * 7; i++) e3[i] = 3 > (double)(i / 7) ? 3 : (double)(i / 7);
            ref_set_ctx("maximum of two expanded %s", nb_dtype_name(dt));
            CHECK_REF_DT(nb_maximum(s1, s2), dt, NB_SHAPE(129, 7), e3);
        }
}

/* Large enough for the thread pool to split the work. */
static void test_large(void) {
    ref_seed(13);
    int64_t n = 129 * 300;
    double *x = ref_values(n, NB_F32, -4, 4), *y = ref_values(n, NB_F32, -4, 4);
    for (int l = 0; l < REF_LAYOUTS; l++) {
        nb_tensor *a = ref_tensor(x, NB_SHAPE(129, 300), NB_F32, l);
        nb_tensor *b = ref_tensor(y, NB_SHAPE(129, 300), NB_F64, (l + 3) % REF_LAYOUTS);
        double *e = ref_darray(n);
        for (int64_t i = 0; i < n; i++) e[i] = pow(fabs(x[i]) + 1, y[i] / 4);
        ref_set_ctx("large pow %s", ref_layout_name[l]);
        CHECK_REF_DT(nb_pow(nb_add_scalar(nb_abs(a), 1), nb_div_scalar(b, 4)), NB_F64, NB_SHAPE(129, 300), e);
        for (int64_t i = 0; i < n; i++) e[i] = x[i] < y[i];
        CHECK_REF_DT(nb_lt(a, b), NB_BOOL, NB_SHAPE(129, 300), e);
    }
}

static void test_integer_edges(void) {
    nb_tensor *a = ref_contig((const double[]){2147483647, -2147483647 - 1.0, 5}, NB_SHAPE(3), NB_I32);
    ref_set_ctx("i32 wraps");
    CHECK_REF(nb_add_scalar(a, 1), NB_I32, NB_SHAPE(3), ((const double[]){-2147483648.0, -2147483647, 6}), 0, 0);
    CHECK_REF(nb_mul_scalar(a, 2), NB_I32, NB_SHAPE(3), ((const double[]){-2, 0, 10}), 0, 0);
    nb_tensor *u = ref_contig((const double[]){200, 3, 0}, NB_SHAPE(3), NB_U8);
    nb_tensor *v = ref_contig((const double[]){100, 5, 1}, NB_SHAPE(3), NB_U8);
    ref_set_ctx("u8 wraps");
    CHECK_REF(nb_add(u, v), NB_U8, NB_SHAPE(3), ((const double[]){44, 8, 1}), 0, 0);
    CHECK_REF(nb_sub(u, v), NB_U8, NB_SHAPE(3), ((const double[]){100, 254, 255}), 0, 0);
    CHECK_REF(nb_mul(u, v), NB_U8, NB_SHAPE(3), ((const double[]){32, 15, 0}), 0, 0);
    int64_t big[2] = {INT64_MAX, INT64_MIN}, got[2];
    nb_tensor *b = nb_from_data(big, NB_SHAPE(2), NB_I64);
    CHECK(nb_copy_to(nb_add_scalar(b, 1), got, sizeof got, NB_I64) == 0 && got[0] == INT64_MIN && got[1] == INT64_MIN + 1);
    CHECK(nb_copy_to(nb_sub_scalar(b, 1), got, sizeof got, NB_I64) == 0 && got[0] == INT64_MAX - 1 && got[1] == INT64_MAX);
    /* comparisons of large i64 are exact (computed in i64, not through floats) */
    int64_t c1[2] = {INT64_C(9007199254740993), 1}, c2[2] = {INT64_C(9007199254740992), 1};
    ref_set_ctx("i64 compare beyond 2^53");
    CHECK_REF(nb_gt(nb_from_data(c1, NB_SHAPE(2), NB_I64), nb_from_data(c2, NB_SHAPE(2), NB_I64)), NB_BOOL, NB_SHAPE(2),
              ((const double[]){1, 0}), 0, 0);
    /* true division of integers: f32, with IEEE results for zero divisors */
    nb_tensor *n = ref_contig((const double[]){7, -7, 1, -1, 0}, NB_SHAPE(5), NB_I32);
    nb_tensor *d = ref_contig((const double[]){2, 2, 0, 0, 0}, NB_SHAPE(5), NB_I64);
    ref_set_ctx("integer division");
    CHECK_REF(nb_div(n, d), NB_F32, NB_SHAPE(5), ((const double[]){3.5, -3.5, INFINITY, -INFINITY, NAN}), 0, 0);
    /* integer powers, negative exponents give 0 except for bases 1 and -1 */
    nb_tensor *pb = ref_contig((const double[]){2, 1, -1, -1, 3, -2, 0}, NB_SHAPE(7), NB_I64);
    nb_tensor *pe = ref_contig((const double[]){-1, -5, -3, -2, 0, 3, 0}, NB_SHAPE(7), NB_I64);
    ref_set_ctx("integer pow");
    CHECK_REF(nb_pow(pb, pe), NB_I64, NB_SHAPE(7), ((const double[]){0, 1, -1, 1, 1, -8, 1}), 0, 0);
    nb_tensor *p40 = ref_contig((const double[]){3}, NB_SHAPE(1), NB_I64);
    int64_t pw;
    CHECK(nb_copy_to(nb_pow_scalar(p40, 39), &pw, sizeof pw, NB_I64) == 0 && pw == INT64_C(4052555153018976267));
}

static void test_nan_and_inf(void) {
    const double nan = NAN, inf = INFINITY;
    for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++) {
        nb_dtype dt = ref_float_dtypes[d];
        nb_tensor *a = ref_contig((const double[]){nan, 1, nan, inf, -inf, 0}, NB_SHAPE(6), dt);
        nb_tensor *b = ref_contig((const double[]){1, nan, nan, inf, inf, -0.0}, NB_SHAPE(6), dt);
        ref_set_ctx("NaN/inf %s", nb_dtype_name(dt));
        CHECK_REF(nb_maximum(a, b), dt, NB_SHAPE(6), ((const double[]){nan, nan, nan, inf, inf, 0}), 0, 0);
        CHECK_REF(nb_minimum(a, b), dt, NB_SHAPE(6), ((const double[]){nan, nan, nan, inf, -inf, 0}), 0, 0);
        CHECK_REF(nb_eq(a, b), NB_BOOL, NB_SHAPE(6), ((const double[]){0, 0, 0, 1, 0, 1}), 0, 0);
        CHECK_REF(nb_ne(a, b), NB_BOOL, NB_SHAPE(6), ((const double[]){1, 1, 1, 0, 1, 0}), 0, 0);
        CHECK_REF(nb_le(a, b), NB_BOOL, NB_SHAPE(6), ((const double[]){0, 0, 0, 1, 1, 1}), 0, 0);
        CHECK_REF(nb_sub(a, b), dt, NB_SHAPE(6), ((const double[]){nan, nan, nan, nan, -inf, 0}), 0, 0);
        CHECK_REF(nb_div(b, a), dt, NB_SHAPE(6), ((const double[]){nan, nan, nan, nan, nan, nan}), 0, 0);
        CHECK_REF(nb_div(a, b), dt, NB_SHAPE(6), ((const double[]){nan, nan, nan, nan, nan, nan}), 0, 0);
    }
    /* f16 overflows to inf where f32 would not */
    nb_tensor *h = nb_full(NB_SHAPE(2), 300, NB_F16);
    ref_set_ctx("f16 overflow");
    CHECK_REF(nb_mul(h, h), NB_F16, NB_SHAPE(2), ((const double[]){INFINITY, INFINITY}), 0, 0);
}

static void test_where(void) {
    ref_seed(14);
    static const shape2 shapes[] = {{3, 2, {7, 1, 17}, {5, 17}}, {0, 0, {0}, {0}}, {2, 1, {0, 7}, {7}}};
    static const int64_t cshape[][3] = {{7, 5, 1}, {0}, {1, 7}};
    static const int cnd[] = {3, 0, 2};
    static const nb_dtype pairs[][2] = {{F32, F32}, {F64, F16}, {F16, F16}, {BF16, I64}, {I8, U8},
                                        {I64, I32}, {BOOL, BOOL}, {U8, BOOL}, {F32, I8}};
    for (int s = 0; s < REF_COUNT(shapes); s++)
        for (int p = 0; p < REF_COUNT(pairs); p++)
            for (int l = 0; l < REF_LAYOUTS; l++) {
                const shape2 *sh = &shapes[s];
                nb_dtype da = pairs[p][0], db = pairs[p][1];
                int64_t nc = ref_numel(cnd[s], cshape[s]), na = ref_numel(sh->na, sh->a), nbn = ref_numel(sh->nb, sh->b);
                double *c = ref_values(nc, NB_BOOL, 0, 1), *x = ref_values(na, da, 0, 20), *y = ref_values(nbn, db, db == NB_U8 ? 0 : -8, db == NB_U8 ? 8 : 0);
                int64_t t1[NB_MAX_DIMS], os[NB_MAX_DIMS];
                int n1 = ref_bshape(sh->na, sh->a, sh->nb, sh->b, t1), ond = ref_bshape(cnd[s], cshape[s], n1, t1, os);
                int64_t n = ref_numel(ond, os);
                nb_tensor *tc = ref_tensor(c, cnd[s], cshape[s], NB_BOOL, (l + 1) % REF_LAYOUTS);
                nb_tensor *ta = ref_tensor(x, sh->na, sh->a, da, l), *tb = ref_tensor(y, sh->nb, sh->b, db, (l + 2) % REF_LAYOUTS);
                nb_dtype od = k_promote[da][db];
                double *e = ref_darray(n);
                for (int64_t i = 0; i < n; i++) {
                    double v = c[ref_bidx(i, ond, os, cnd[s], cshape[s])] ? x[ref_bidx(i, ond, os, sh->na, sh->a)]
                                                                         : y[ref_bidx(i, ond, os, sh->nb, sh->b)];
                    e[i] = od == NB_BOOL ? v != 0 : v;
                }
                ref_set_ctx("nb_where %s/%s shapes #%d %s", nb_dtype_name(da), nb_dtype_name(db), s, ref_layout_name[l]);
                CHECK_REF_DT(nb_where(tc, ta, tb), od, ond, os, e);
            }
    nb_tensor *f = nb_ones(NB_SHAPE(3), NB_F32), *i8 = nb_ones(NB_SHAPE(3), NB_I8);
    CHECK_NULL_WITH(nb_where(f, f, f), "nb_where", "bool");
    CHECK_NULL_WITH(nb_where(i8, f, f), "nb_where", "bool");
    nb_tensor *c4 = nb_ones(NB_SHAPE(4), NB_BOOL);
    CHECK_NULL_WITH(nb_where(c4, f, f), "nb_where", "[4]", "[3]");
}

typedef nb_tensor *(*scalar_fn)(nb_tensor *, double);

/* Scalar variants: the scalar takes x's dtype (f32 for a fractional scalar with an integer tensor,
 * i64 for a number with a bool tensor); r-variants swap the operands. */
static void test_scalar_variants(void) {
    static const struct {
        const char *name;
        scalar_fn fn;
        double (*ref)(double, double);
        bool reversed;
        int kind;
    } ops[] = {
        {"add_scalar", nb_add_scalar, r_add, false, K_ARITH},   {"sub_scalar", nb_sub_scalar, r_sub, false, K_ARITH},
        {"rsub_scalar", nb_rsub_scalar, r_sub, true, K_ARITH},  {"mul_scalar", nb_mul_scalar, r_mul, false, K_ARITH},
        {"div_scalar", nb_div_scalar, r_div, false, K_DIV},     {"rdiv_scalar", nb_rdiv_scalar, r_div, true, K_DIV},
        {"pow_scalar", nb_pow_scalar, pow, false, K_POW},       {"maximum_scalar", nb_maximum_scalar, r_max, false, K_ARITH},
        {"minimum_scalar", nb_minimum_scalar, r_min, false, K_ARITH}, {"eq_scalar", nb_eq_scalar, r_eq, false, K_CMP},
        {"ne_scalar", nb_ne_scalar, r_ne, false, K_CMP},        {"lt_scalar", nb_lt_scalar, r_lt, false, K_CMP},
        {"le_scalar", nb_le_scalar, r_le, false, K_CMP},        {"gt_scalar", nb_gt_scalar, r_gt, false, K_CMP},
        {"ge_scalar", nb_ge_scalar, r_ge, false, K_CMP},
    };
    static const double scalars[] = {2, -3, 2.5, 0.5, 0};
    ref_seed(15);
    for (int k = 0; k < REF_COUNT(ops); k++)
        for (int d = 0; d < REF_COUNT(ref_all_dtypes); d++)
            for (int si = 0; si < REF_COUNT(scalars); si++) {
                nb_dtype dt = ref_all_dtypes[d];
                double s = scalars[si];
                if (ops[k].kind == K_POW && !nb_dtype_is_float(dt) && s < 0) continue; /* int^negative: see integer_edges */
                double lo = nb_dtype_is_float(dt) ? 0.125 : 0, hi = dt == NB_BOOL ? 1 : 6;
                if (ops[k].kind != K_POW && dt != NB_U8 && dt != NB_BOOL) lo = -hi;
                double *x = ref_values(7 * 17, dt, lo, hi);
                nb_tensor *t = ref_tensor(x, NB_SHAPE(7, 17), dt, (k + si) % REF_LAYOUTS);
                /* dtype of the scalar operand, then of the result */
                nb_dtype sd = dt;
                if (!nb_dtype_is_float(dt)) sd = s != floor(s) ? NB_F32 : dt == NB_BOOL ? NB_I64 : dt;
                nb_dtype p = k_promote[dt][sd];
                nb_dtype od = ops[k].kind == K_CMP ? NB_BOOL : ops[k].kind == K_DIV && !nb_dtype_is_float(p) ? NB_F32 : p;
                if (sd == NB_U8 && s < 0) continue; /* a negative scalar does not fit a u8 tensor's dtype */
                double *e = ref_darray(7 * 17);
                for (int i = 0; i < 7 * 17; i++) {
                    double v = ops[k].reversed ? ops[k].ref(s, x[i]) : ops[k].ref(x[i], s);
                    e[i] = nb_dtype_is_float(p) || ops[k].kind == K_DIV ? v : ref_wrap(v, od);
                }
                ref_set_ctx("nb_%s %s with %g", ops[k].name, nb_dtype_name(dt), s);
                CHECK_REF_DT(ops[k].fn(t, s), od, NB_SHAPE(7, 17), e);
            }
    /* 0-d tensor and scalar give a 0-d result */
    ref_set_ctx("0-d add_scalar");
    CHECK_REF(nb_add_scalar(nb_scalar(1.5, NB_F64), 2), NB_F64, NB_SCALAR, ((const double[]){3.5}), 0, 0);
    /* f16/bf16: the scalar is rounded to the tensor's dtype first (documented) */
    nb_tensor *h = nb_full(NB_SHAPE(1), 0.1, NB_F16), *bh = nb_full(NB_SHAPE(1), 0.1, NB_BF16);
    CHECK(nb_item(nb_eq_scalar(h, 0.1)) == 1 && nb_item(nb_eq_scalar(bh, 0.1)) == 1);
    CHECK(nb_item(nb_eq_scalar(nb_to(h, NB_F32), 0.1)) == 0);
    CHECK_NULL_WITH(nb_add_scalar(NULL, 1), "nb_add_scalar");
    CHECK_NULL_WITH(nb_rdiv_scalar(NULL, 1), "nb_rdiv_scalar");
}

static void test_errors(void) {
    nb_tensor *a = nb_zeros(NB_SHAPE(7, 3), NB_F32), *b = nb_zeros(NB_SHAPE(5, 3), NB_F32);
    CHECK_NULL_WITH(nb_add(a, b), "nb_add", "[7, 3]", "[5, 3]");
    CHECK_NULL_WITH(nb_ge(a, b), "nb_ge", "[7, 3]", "[5, 3]");
    nb_tensor *t = nb_zeros(NB_SHAPE(2), NB_BOOL);
    CHECK_NULL_WITH(nb_sub(t, t), "nb_sub", "bool");
    CHECK_NULL_WITH(nb_pow(t, t), "nb_pow", "bool");
    CHECK_NULL_WITH(nb_mul(a, NULL), "nb_mul", "#2");
    CHECK_NULL_WITH(nb_mul(NULL, a), "nb_mul", "#1");
}

/* Long rows are cut into pieces across threads (kernels/cpu/elementwise.c): 1-D and 2-row tensors
 * longer than a task's worth, in every layout, with a broadcast operand, for the binary, where,
 * two-operand (atan2) and three-operand (addcmul) kernels; at 1 and 2 threads. */
static void test_long_rows_split(void) {
    ref_seed(17);
    int64_t n = 100003;
    double *x = ref_values(n, NB_F32, -4, 4), *y = ref_values(n, NB_F32, -4, 4);
    double *e = ref_darray(n);
    int saved = nb_get_num_threads();
    for (int threads = 1; threads <= 2; threads++) {
        nb_set_num_threads(threads);
        for (int l = 0; l < REF_LAYOUTS; l++) {
            nb_tensor *a = ref_tensor(x, NB_SHAPE(n), NB_F32, l);
            nb_tensor *b = ref_tensor(y, NB_SHAPE(n), NB_F32, (l + 1) % REF_LAYOUTS);
            ref_set_ctx("long add, %d threads, %s", threads, ref_layout_name[l]);
            for (int64_t i = 0; i < n; i++) e[i] = (double)((float)x[i] + (float)y[i]);
            CHECK_REF(nb_add(a, b), NB_F32, NB_SHAPE(n), e, 0, 0);
            ref_set_ctx("long mul by a broadcast 0-d, %d threads, %s", threads, ref_layout_name[l]);
            for (int64_t i = 0; i < n; i++) e[i] = (double)((float)x[i] * 2.5f);
            CHECK_REF(nb_mul(a, nb_scalar(2.5, NB_F32)), NB_F32, NB_SHAPE(n), e, 0, 0);
            ref_set_ctx("long where, %d threads, %s", threads, ref_layout_name[l]);
            for (int64_t i = 0; i < n; i++) e[i] = x[i] > y[i] ? x[i] : y[i];
            CHECK_REF(nb_where(nb_gt(a, b), a, b), NB_F32, NB_SHAPE(n), e, 0, 0);
            ref_set_ctx("long atan2, %d threads, %s", threads, ref_layout_name[l]);
            for (int64_t i = 0; i < n; i++) e[i] = atan2(x[i], y[i]);
            CHECK_REF(nb_atan2(a, b), NB_F32, NB_SHAPE(n), e, 1e-6, 1e-6);
            ref_set_ctx("long addcmul, %d threads, %s", threads, ref_layout_name[l]);
            for (int64_t i = 0; i < n; i++) e[i] = x[i] + 0.5 * x[i] * y[i];
            CHECK_REF(nb_addcmul(a, a, b, 0.5), NB_F32, NB_SHAPE(n), e, 1e-5, 1e-6);
        }
        /* two long rows, the second operand broadcast along them */
        nb_tensor *a2 = ref_contig(x, NB_SHAPE(2, n / 2), NB_F32);
        nb_tensor *b2 = ref_contig(y, NB_SHAPE(1, n / 2), NB_F32);
        for (int64_t i = 0; i < 2 * (n / 2); i++) e[i] = (double)((float)x[i] - (float)y[i % (n / 2)]);
        ref_set_ctx("two long rows, broadcast, %d threads", threads);
        CHECK_REF(nb_sub(a2, b2), NB_F32, NB_SHAPE(2, n / 2), e, 0, 0);
    }
    nb_set_num_threads(saved);
}

int main(void) {
    REF_RUN(test_promote_types);
    REF_RUN(test_all_dtype_pairs);
    REF_RUN(test_shapes_and_layouts);
    REF_RUN(test_expand_views);
    REF_RUN(test_large);
    REF_RUN(test_long_rows_split);
    REF_RUN(test_integer_edges);
    REF_RUN(test_nan_and_inf);
    REF_RUN(test_where);
    REF_RUN(test_scalar_variants);
    REF_RUN(test_errors);
    return harness_finish();
}
