/* tests/test_ops_unary.c — neg, abs, exp, log, sqrt, tanh, sigmoid, relu, sign against f64
 * references: every float and integer dtype (and bool where accepted), 0-d / empty / awkward shapes,
 * contiguous and strided inputs, output dtypes, and the special values (inf, NaN, overflow). */
#include "ref.h"

typedef nb_tensor *(*unary_fn)(nb_tensor *);

static double r_neg(double x) { return -x; }
static double r_abs(double x) { return fabs(x); }
static double r_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double r_relu(double x) { return x > 0 || isnan(x) ? x : 0.0; }
static double r_sign(double x) { return (double)((x > 0) - (x < 0)); }

typedef struct unary_case {
    const char *name;
    unary_fn fn;
    double (*ref)(double);
    bool keeps_int; /* integer inputs keep their dtype (else they give f32); bool is refused */
    double lo, hi;  /* input range */
} unary_case;

static const unary_case k_cases[] = {
    {"neg", nb_neg, r_neg, true, -20, 20},
    {"abs", nb_abs, r_abs, true, -20, 20},
    {"exp", nb_exp, exp, false, -10, 10},
    {"log", nb_log, log, false, 0.125, 30},
    {"sqrt", nb_sqrt, sqrt, false, 0, 30},
    {"tanh", nb_tanh, tanh, false, -5, 5},
    {"sigmoid", nb_sigmoid, r_sigmoid, false, -20, 20},
    {"relu", nb_relu, r_relu, true, -20, 20},
    {"sign", nb_sign, r_sign, true, -20, 20},
};

typedef struct shape_case {
    int nd;
    int64_t s[4];
} shape_case;

static const shape_case k_shapes[] = {
    {0, {0}},         {1, {1}},        {1, {7}},      {2, {17, 7}},     {3, {7, 1, 17}},
    {2, {129, 17}},   {2, {0, 7}},     {3, {3, 0, 5}}, {2, {129, 129}}, {4, {1, 7, 17, 1}},
};

/* Integer input range of a case for dtype dt (u8 has no negatives, log needs x >= 1). */
static void int_range(const unary_case *c, nb_dtype dt, double *lo, double *hi) {
    *lo = ceil(c->lo);
    *hi = floor(c->hi);
    if (dt == NB_U8 && *lo < 0) *lo = 0;
    if (dt == NB_BOOL) *lo = 0, *hi = 1;
}

static void check_case(const unary_case *c, nb_dtype dt, const shape_case *sh, ref_layout layout) {
    double lo = c->lo, hi = c->hi;
    if (!nb_dtype_is_float(dt)) int_range(c, dt, &lo, &hi);
    int64_t n = ref_numel(sh->nd, sh->s);
    double *x = ref_values(n, dt, lo, hi);
    nb_tensor *t = ref_tensor(x, sh->nd, sh->s, dt, layout);
    if (layout != REF_CONTIG && n > 1) CHECK_MSG(!nb_is_contiguous(t), "layout %s is contiguous", ref_layout_name[layout]);
    ref_set_ctx("nb_%s %s %s %s", c->name, nb_dtype_name(dt), ref_shape_str(sh->nd, sh->s), ref_layout_name[layout]);
    nb_tensor *y = c->fn(t);
    nb_dtype out = nb_dtype_is_float(dt) ? dt : c->keeps_int ? dt : NB_F32;
    double *r = ref_darray(n);
    for (int64_t i = 0; i < n; i++) r[i] = c->keeps_int && !nb_dtype_is_float(dt) ? ref_wrap(c->ref(x[i]), dt) : c->ref(x[i]);
    CHECK_REF_DT(y, out, sh->nd, sh->s, r);
    CHECK_MSG(y && nb_is_contiguous(y), "%s: output not contiguous", ref_ctx);
    /* the input is untouched */
    CHECK_REF(t, dt, sh->nd, sh->s, x, 0, 0);
    nb_free(y);
    nb_free(t);
}

static void test_unary_float_dtypes(void) {
    ref_seed(1);
    for (int k = 0; k < REF_COUNT(k_cases); k++)
        for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++)
            for (int s = 0; s < REF_COUNT(k_shapes); s++)
                for (int l = 0; l < REF_LAYOUTS; l++) check_case(&k_cases[k], ref_float_dtypes[d], &k_shapes[s], l);
}

static void test_unary_int_dtypes(void) {
    ref_seed(2);
    for (int k = 0; k < REF_COUNT(k_cases); k++)
        for (int d = 0; d < REF_COUNT(ref_int_dtypes); d++)
            for (int s = 0; s < REF_COUNT(k_shapes); s++)
                for (int l = 0; l < REF_LAYOUTS; l += 2) check_case(&k_cases[k], ref_int_dtypes[d], &k_shapes[s], l);
}

static void test_unary_bool(void) {
    ref_seed(3);
    const shape_case sh = {2, {7, 17}};
    for (int k = 0; k < REF_COUNT(k_cases); k++) {
        const unary_case *c = &k_cases[k];
        if (!c->keeps_int) {
            check_case(c, NB_BOOL, &sh, REF_CONTIG);
            check_case(c, NB_BOOL, &sh, REF_TRANSPOSED);
        } else {
            nb_tensor *b = nb_ones(NB_SHAPE(3), NB_BOOL);
            char fn[32];
            snprintf(fn, sizeof fn, "nb_%s", c->name);
            CHECK_NULL_WITH(c->fn(b), fn, "bool");
            nb_free(b);
        }
    }
}

/* Integer edge values: wrap-around of neg/abs at the type's limits, as in PyTorch. */
static void test_unary_int_limits(void) {
    const double i8v[] = {-128, -1, 0, 1, 127};
    nb_tensor *a = ref_contig(i8v, NB_SHAPE(5), NB_I8);
    ref_set_ctx("nb_neg i8 limits");
    CHECK_REF(nb_neg(a), NB_I8, NB_SHAPE(5), ((const double[]){-128, 1, 0, -1, -127}), 0, 0);
    ref_set_ctx("nb_abs i8 limits");
    CHECK_REF(nb_abs(a), NB_I8, NB_SHAPE(5), ((const double[]){-128, 1, 0, 1, 127}), 0, 0);
    ref_set_ctx("nb_sign i8 limits");
    CHECK_REF(nb_sign(a), NB_I8, NB_SHAPE(5), ((const double[]){-1, -1, 0, 1, 1}), 0, 0);
    ref_set_ctx("nb_relu i8 limits");
    CHECK_REF(nb_relu(a), NB_I8, NB_SHAPE(5), ((const double[]){0, 0, 0, 1, 127}), 0, 0);

    const double u8v[] = {0, 3, 255};
    nb_tensor *u = ref_contig(u8v, NB_SHAPE(3), NB_U8);
    ref_set_ctx("nb_neg u8 wraps");
    CHECK_REF(nb_neg(u), NB_U8, NB_SHAPE(3), ((const double[]){0, 253, 1}), 0, 0);
    ref_set_ctx("nb_sign u8");
    CHECK_REF(nb_sign(u), NB_U8, NB_SHAPE(3), ((const double[]){0, 1, 1}), 0, 0);

    const int64_t big[] = {INT64_MIN, -(INT64_C(1) << 62) - 3, INT64_MAX};
    nb_tensor *b = nb_from_data(big, NB_SHAPE(3), NB_I64);
    int64_t got[3];
    CHECK(nb_copy_to(nb_neg(b), got, sizeof got, NB_I64) == 0);
    CHECK(got[0] == INT64_MIN && got[1] == (INT64_C(1) << 62) + 3 && got[2] == -INT64_MAX);
    CHECK(nb_copy_to(nb_abs(b), got, sizeof got, NB_I64) == 0);
    CHECK(got[0] == INT64_MIN && got[1] == (INT64_C(1) << 62) + 3 && got[2] == INT64_MAX);
}

/* inf, NaN, overflow and large arguments in every float dtype. */
static void test_unary_special_values(void) {
    const double inf = INFINITY, nan = NAN;
    const double x[] = {-inf, -1000, -1, -0.0, 0, 1, 1000, inf, nan};
    enum { N = 9 };
    for (int d = 0; d < REF_COUNT(ref_float_dtypes); d++) {
        nb_dtype dt = ref_float_dtypes[d];
        nb_tensor *t = ref_contig(x, NB_SHAPE(N), dt);
        ref_set_ctx("special values %s exp", nb_dtype_name(dt));
        CHECK_REF_DT(nb_exp(t), dt, NB_SHAPE(N), ((const double[]){0, 0, exp(-1), 1, 1, exp(1), inf, inf, nan}));
        ref_set_ctx("special values %s log", nb_dtype_name(dt));
        CHECK_REF_DT(nb_log(t), dt, NB_SHAPE(N), ((const double[]){nan, nan, nan, -inf, -inf, 0, log(1000), inf, nan}));
        ref_set_ctx("special values %s sqrt", nb_dtype_name(dt));
        CHECK_REF_DT(nb_sqrt(t), dt, NB_SHAPE(N), ((const double[]){nan, nan, nan, 0, 0, 1, sqrt(1000), inf, nan}));
        ref_set_ctx("special values %s tanh", nb_dtype_name(dt));
        CHECK_REF_DT(nb_tanh(t), dt, NB_SHAPE(N), ((const double[]){-1, -1, tanh(-1), 0, 0, tanh(1), 1, 1, nan}));
        ref_set_ctx("special values %s sigmoid", nb_dtype_name(dt));
        CHECK_REF_DT(nb_sigmoid(t), dt, NB_SHAPE(N),
                     ((const double[]){0, 0, r_sigmoid(-1), 0.5, 0.5, r_sigmoid(1), 1, 1, nan}));
        ref_set_ctx("special values %s relu", nb_dtype_name(dt));
        CHECK_REF_DT(nb_relu(t), dt, NB_SHAPE(N), ((const double[]){0, 0, 0, 0, 0, 1, 1000, inf, nan}));
        ref_set_ctx("special values %s abs", nb_dtype_name(dt));
        CHECK_REF_DT(nb_abs(t), dt, NB_SHAPE(N), ((const double[]){inf, 1000, 1, 0, 0, 1, 1000, inf, nan}));
        ref_set_ctx("special values %s neg", nb_dtype_name(dt));
        CHECK_REF_DT(nb_neg(t), dt, NB_SHAPE(N), ((const double[]){inf, 1000, 1, 0, 0, -1, -1000, -inf, nan}));
        ref_set_ctx("special values %s sign", nb_dtype_name(dt));
        nb_tensor *s = nb_sign(nb_slice(t, 0, 0, N - 1, 1)); /* sign(NaN) left out */
        CHECK_REF_DT(s, dt, NB_SHAPE(N - 1), ((const double[]){-1, -1, -1, 0, 0, 1, 1, 1}));
    }
    /* exp overflows f16's range (65504) long before f32's; the result rounds to inf */
    nb_tensor *h = nb_full(NB_SHAPE(2), 12, NB_F16);
    ref_set_ctx("f16 exp overflow");
    CHECK_REF(nb_exp(h), NB_F16, NB_SHAPE(2), ((const double[]){INFINITY, INFINITY}), 0, 0);
    /* sigmoid of large negative f32 stays finite and positive (no 0/0 from exp overflow) */
    nb_tensor *f = nb_full(NB_SHAPE(1), -80, NB_F32);
    double v = nb_item(nb_sigmoid(f));
    CHECK_MSG(v > 0 && v < 1e-30, "sigmoid(-80) = %g", v);
    /* negative zero: neg(0) is -0 */
    nb_tensor *z = nb_zeros(NB_SCALAR, NB_F64);
    CHECK(signbit(nb_item(nb_neg(z))));
}

static void test_unary_errors(void) {
    CHECK_NULL_WITH(nb_exp(NULL), "nb_exp");
    CHECK_NULL_WITH(nb_relu(NULL), "nb_relu");
    /* a NULL in a chain keeps the first error */
    nb_tensor *b = nb_zeros(NB_SHAPE(2), NB_BOOL);
    CHECK_NULL_WITH(nb_exp(nb_neg(b)), "nb_neg", "bool");
}

int main(void) {
    REF_RUN(test_unary_float_dtypes);
    REF_RUN(test_unary_int_dtypes);
    REF_RUN(test_unary_bool);
    REF_RUN(test_unary_int_limits);
    REF_RUN(test_unary_special_values);
    REF_RUN(test_unary_errors);
    return harness_finish();
}
