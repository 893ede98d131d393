/* ops/reductions.c — reductions over any set of dims beyond sum/mean/max/min: prod, var (and std),
 * norm, logsumexp, any, all; and the scans cumsum and cumprod along one dim.
 *
 * The reductions arrange the input as (kept dims..., reduced dims...) rows — in place when the layout
 * already is, by one permuting copy otherwise — and run one row kernel (kernels/cpu/scan.c).
 * Attributes: ints = the reduced dims (sorted, non-negative), flag = keepdim, f0 = the correction (var)
 * or p (norm). Scans: ints[0] = dim (0 for a 0-d input), flag = reverse (internal: the gradient of a
 * cumsum is a reversed cumsum). */
#include "reductions.h"
#include "../kernels/cpu/sort.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { RK_PROD, RK_VAR, RK_NORM, RK_LSE, RK_ANY, RK_ALL };

static int rk_of(int op) {
    switch (op) {
    case NBO_prod: return RK_PROD;
    case NBO_var: return RK_VAR;
    case NBO_norm: return RK_NORM;
    case NBO_logsumexp: return RK_LSE;
    case NBO_any: return RK_ANY;
    default: return RK_ALL;
    }
}

static int64_t reduced_count(const nb_tensor *x, const nb_attrs *a) {
    int64_t r = 1;
    for (int i = 0; i < a->n_ints; i++) r *= x->shape[a->ints[i]];
    return r;
}

static int red_infer(int op, nb_tensor *const *in, const nb_attrs *a, nbc_meta *out) {
    const char *fn = nbo_fn_name(op);
    nb_tensor *x = in[0];
    nb_dtype d = x->dtype;
    bool fl = nb_dtype_is_float(d);
    switch (rk_of(op)) {
    case RK_PROD: d = fl ? d : NB_I64; break;
    case RK_LSE: d = fl ? d : NB_F32; break;
    case RK_ANY:
    case RK_ALL: d = NB_BOOL; break;
    case RK_VAR:
        if (!fl)
            return nbc_error(NB_ERR_ARG, "%s: argument #1 (%s) must have a floating dtype; convert it with nb_to first",
                             fn, nbc_desc(x));
        if (isnan(a->f0)) return nbc_error(NB_ERR_ARG, "%s: correction is NaN", fn);
        break;
    case RK_NORM:
        if (!fl)
            return nbc_error(NB_ERR_ARG, "%s: argument #1 (%s) must have a floating dtype; convert it with nb_to first",
                             fn, nbc_desc(x));
        if (isnan(a->f0)) return nbc_error(NB_ERR_ARG, "%s: p = %g is not a number", fn, a->f0);
        if (isinf(a->f0) && reduced_count(x, a) == 0)
            return nbc_error(NB_ERR_ARG, "%s: cannot take the %s norm over an empty dim (%s): it has no identity", fn,
                             a->f0 > 0 ? "inf" : "-inf", nbc_desc(x));
        break;
    }
    int nd;
    int64_t shape[NB_MAX_DIMS];
    nbo_reduced_shape(x, a, &nd, shape);
    nbo_meta_set(out, d, nd, shape);
    return 0;
}

/* x as m rows of the r reduced elements, in compute type c: x's own memory when the reduced dims are
 * trailing in a contiguous tensor of type c, else a permuting copy. */
static int rows_get(const char *fn, const nb_tensor *x, const nb_attrs *a, nb_dtype c, nbo_buffer *b) {
    int order[NB_MAX_DIMS], k = 0;
    for (int d = 0; d < x->ndim; d++)
        if (!nbo_is_reduced(a, d)) order[k++] = d;
    for (int d = 0; d < x->ndim; d++)
        if (nbo_is_reduced(a, d)) order[k++] = d;
    bool ordered = true;
    for (int d = 0; d < x->ndim; d++) ordered &= order[d] == d;
    if (ordered) return nbo_buffer_get(fn, x, c, b);
    int64_t ps[NB_MAX_DIMS], pst[NB_MAX_DIMS], ds[NB_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) ps[d] = x->shape[order[d]], pst[d] = x->strides[order[d]];
    nbc_contiguous_strides(x->ndim, ps, ds);
    b->data = nbc_block_alloc((size_t)nbc_numel(x->ndim, ps) * nb_dtype_size(c), &b->capacity);
    if (!b->data) return nbc_oom(fn);
    nbk_copy(b->data, c, ds, nbc_ptr(x), x->dtype, pst, x->ndim, ps);
    return 0;
}

static int red_forward(int op, nb_tensor *x, const nb_attrs *a, nb_tensor *out) {
    const char *fn = nbo_fn_name(op);
    int rk = rk_of(op);
    nb_dtype c = nbk_compute_type(rk == RK_LSE ? out->dtype : x->dtype);
    int64_t m = nbc_numel(out->ndim, out->shape), r = reduced_count(x, a);
    if (m == 0) return 0;
    static const nbk_rowred kk[] = {NBK_RPROD, NBK_RVAR, NBK_RNORM, NBK_RLSE, NBK_RANY, NBK_RALL};
    nb_dtype kt = rk == RK_ANY || rk == RK_ALL ? NB_BOOL : c; /* what the kernel writes */
    void *dst = nbc_ptr(out);
    size_t cap = 0;
    if (kt != out->dtype && !(dst = nbc_block_alloc((size_t)m * nb_dtype_size(kt), &cap))) return nbc_oom(fn);
    nbo_buffer b = {0};
    int rc = r > 0 ? rows_get(fn, x, a, c, &b) : 0;
    if (!rc) {
        nbk_rowred_run(kk[rk], c, b.data, dst, m, r, a->f0);
        if (dst != nbc_ptr(out)) nbk_convert(nbc_ptr(out), out->dtype, dst, kt, m);
    }
    nbo_buffer_release(&b);
    if (cap) nbc_block_free(dst, cap);
    return rc;
}

/* ---- backward formulas, built from nabla ops ------------------------------------------------------ */

static nb_reduce_opts keep_opts(const nb_attrs *a) {
    nb_reduce_opts o = {.n = a->n_ints, .keepdim = true};
    for (int i = 0; i < a->n_ints; i++) o.dims[i] = a->ints[i];
    return o;
}

/* t (a reduction output) reshaped to keepdim form and expanded to the input's shape. */
static nb_tensor *expand_back(const nbo_ctx *c, nb_tensor *t) {
    const nbc_meta *x = &c->in_meta[0];
    int64_t keep[NB_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) keep[d] = nbo_is_reduced(c->attrs, d) ? 1 : x->shape[d];
    return nb_expand(nb_reshape(t, x->ndim, keep), x->ndim, x->shape);
}

/* where(t == 0, 1, t): a denominator that is safe where the numerator is known to vanish */
static nb_tensor *nonzero_or_one(nb_tensor *t) {
    return t ? nb_where(nb_eq_scalar(t, 0), nbo_const(1, t->dtype), t) : NULL;
}

/* d prod / dx_i = prod_{j != i} x_j, computed without dividing by zero: with p1 = the product of the
 * row's non-zero elements and nz = its count of zeros, the gradient is p1 / x_i in rows without zeros,
 * p1 at the zero of a row with exactly one, and 0 elsewhere. Exact to first order with any zeros;
 * second derivatives are exact in rows without zeros. */
static int prod_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *x = c->in[0];
    nb_reduce_opts o = keep_opts(c->attrs);
    nb_tensor *z = nb_eq_scalar(x, 0);
    nb_tensor *x1 = nb_where(z, nbo_const(1, x->dtype), x);
    nb_tensor *p1 = nb_prod(x1, &o);
    nb_tensor *nz = nb_sum(z, &o);
    nb_tensor *one = nb_to(nb_eq_scalar(nz, 1), x->dtype), *none = nb_to(nb_eq_scalar(nz, 0), x->dtype);
    nb_tensor *term = nb_where(z, nb_mul(p1, one), nb_mul(nb_div(p1, x1), none));
    gin[0] = nb_mul(expand_back(c, g[0]), term);
    return gin[0] ? 0 : nb_last_status();
}

static double var_den(const nbo_ctx *c) {
    int64_t r = 1;
    for (int i = 0; i < c->attrs->n_ints; i++) r *= c->in_meta[0].shape[c->attrs->ints[i]];
    double den = (double)r - c->attrs->f0;
    return den > 0 ? den : 0;
}

static int var_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *x = c->in[0];
    nb_reduce_opts o = keep_opts(c->attrs);
    nb_tensor *dev = nb_sub(x, nb_mean(x, &o));
    gin[0] = nb_mul(expand_back(c, g[0]), nb_mul_scalar(dev, 2.0 / var_den(c)));
    return gin[0] ? 0 : nb_last_status();
}

/* Subgradient 0 where the norm is 0 (as PyTorch), and at x_i = 0 for p < 1 (where the derivative is
 * infinite). */
static int norm_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *x = c->in[0], *y = expand_back(c, c->out[0]), *gk = expand_back(c, g[0]);
    double p = c->attrs->f0;
    nb_tensor *d;
    if (p == 0) {
        d = nb_zeros(x->ndim, x->shape, x->dtype);
    } else if (p == 1) {
        d = nb_sign(x);
    } else if (p == 2) {
        d = nb_div(x, nonzero_or_one(y));
    } else if (isinf(p)) { /* the extremal |x_i| share the gradient evenly */
        nb_reduce_opts o = keep_opts(c->attrs);
        nb_tensor *mask = nb_to(nb_eq(nb_abs(x), y), x->dtype);
        d = nb_div(nb_mul(nb_sign(x), mask), nb_sum(mask, &o));
    } else {
        nb_tensor *ax = nonzero_or_one(nb_abs(x));
        d = nb_mul(nb_sign(x), nb_div(nb_pow_scalar(ax, p - 1), nb_pow_scalar(nonzero_or_one(y), p - 1)));
    }
    gin[0] = nb_mul(gk, d);
    return gin[0] ? 0 : nb_last_status();
}

static int lse_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *x = c->in[0];
    gin[0] = nb_mul(expand_back(c, g[0]), nb_exp(nb_sub(x, expand_back(c, c->out[0]))));
    return gin[0] ? 0 : nb_last_status();
}

#define RED_OP(NAME, FLAGS, BWNAME, BACKWARD, ATTRS, TORCH, SUMMARY)                                         \
    static int NAME##_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {                 \
        (void)n;                                                                                             \
        return red_infer(NBO_##NAME, in, a, out);                                                            \
    }                                                                                                        \
    static int NAME##_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {       \
        (void)n;                                                                                             \
        return red_forward(NBO_##NAME, in[0], a, out[0]);                                                    \
    }                                                                                                        \
    const nbo_desc nbo_desc_##NAME = {.name = #NAME, .bw_name = BWNAME, .n_in = 1, .n_out = 1,               \
                                      .flags = NBO_REDUCTION | (FLAGS), .attrs = ATTRS, .torch = TORCH,      \
                                      .summary = SUMMARY, .infer = NAME##_infer, .forward = NAME##_forward,  \
                                      .backward = BACKWARD};

RED_OP(prod, NBO_SAVE_INPUTS, "ProdBackward", prod_bw, "ints=dims flag=keepdim", "torch.prod (over several dims)",
       "product over dims (integers and bool give i64); gradient exact with zeros")
RED_OP(var, NBO_SAVE_INPUTS, "VarBackward", var_bw, "ints=dims flag=keepdim f0=correction", "torch.var(correction=)",
       "variance over dims with a correction (1: unbiased); divisor max(0, N - correction)")
RED_OP(norm, NBO_SAVE_INPUTS | NBO_SAVE_OUTPUTS, "LinalgVectorNormBackward", norm_bw, "ints=dims flag=keepdim f0=p",
       "torch.linalg.vector_norm", "vector p-norm over dims (any p, inf, -inf; 'fro' is p = 2); gradient 0 where the norm is 0")
RED_OP(logsumexp, NBO_SAVE_INPUTS | NBO_SAVE_OUTPUTS, "LogsumexpBackward", lse_bw, "ints=dims flag=keepdim",
       "torch.logsumexp", "log of the sum of exponentials over dims, stable (integers give f32)")
RED_OP(any, 0, NULL, NULL, "ints=dims flag=keepdim", "torch.any", "whether any element is non-zero (bool out)")
RED_OP(all, 0, NULL, NULL, "ints=dims flag=keepdim", "torch.all", "whether every element is non-zero (bool out)")

static nb_tensor *red_public(int op, nb_tensor *x, const nb_reduce_opts *opts, double param) {
    const char *fn = nbo_fn_name(op);
    if (!x) return nbc_null_arg(fn, 1), NULL;
    nb_attrs a;
    if (nbo_reduce_attrs(fn, x, opts, &a)) return NULL;
    a.f0 = param;
    return nbo_apply1(op, &x, 1, &a);
}

nb_tensor *nb_prod(nb_tensor *x, const nb_reduce_opts *opts) { return red_public(NBO_prod, x, opts, 0); }
nb_tensor *nb_var(nb_tensor *x, const nb_reduce_opts *opts, double correction) {
    return red_public(NBO_var, x, opts, correction);
}
nb_tensor *nb_std(nb_tensor *x, const nb_reduce_opts *opts, double correction) {
    if (!x) return nbc_null_arg("nb_std", 1), NULL;
    nb_tensor *v = nb_var(x, opts, correction);
    if (!v) {
        char msg[512]; /* name the public function in the message */
        snprintf(msg, sizeof msg, "%s", nb_last_error());
        nbc_error(nb_last_status(), "nb_std: %s", msg);
        return NULL;
    }
    nb_tensor *s = nb_sqrt(v);
    nb_free(v);
    return s;
}
nb_tensor *nb_var_mean(nb_tensor *x, const nb_reduce_opts *opts, double correction, nb_tensor **mean) {
    if (mean) *mean = NULL;
    if (!x) return nbc_null_arg("nb_var_mean", 1), NULL;
    nb_tensor *v = nb_var(x, opts, correction);
    if (!v) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", nb_last_error());
        nbc_error(nb_last_status(), "nb_var_mean: %s", msg);
        return NULL;
    }
    if (!mean) return v;
    *mean = nb_mean(x, opts); /* cannot fail where nb_var succeeded, except out of memory */
    if (!*mean) {
        nb_free(v);
        return NULL;
    }
    return v;
}
nb_tensor *nb_norm(nb_tensor *x, double p, const nb_reduce_opts *opts) { return red_public(NBO_norm, x, opts, p); }
nb_tensor *nb_logsumexp(nb_tensor *x, const nb_reduce_opts *opts) { return red_public(NBO_logsumexp, x, opts, 0); }
nb_tensor *nb_any(nb_tensor *x, const nb_reduce_opts *opts) { return red_public(NBO_any, x, opts, 0); }
nb_tensor *nb_all(nb_tensor *x, const nb_reduce_opts *opts) { return red_public(NBO_all, x, opts, 0); }

/* ---- scans ----------------------------------------------------------------------------------------- */

static void dim_geom(const nbc_meta *m, int d, int64_t *outer, int64_t *n, int64_t *inner) {
    *outer = *n = *inner = 1;
    for (int i = 0; i < m->ndim; i++) {
        if (i < d) *outer *= m->shape[i];
        else if (i == d) *n = m->shape[i];
        else *inner *= m->shape[i];
    }
}

static int scan_infer(nb_tensor *const *in, int n, const nb_attrs *a, nbc_meta *out) {
    (void)n, (void)a;
    nb_tensor *x = in[0];
    nbo_meta_set(out, nb_dtype_is_float(x->dtype) ? x->dtype : NB_I64, x->ndim, x->shape);
    return 0;
}

static int scan_forward_op(int op, nb_tensor *x, const nb_attrs *a, nb_tensor *y) {
    const char *fn = nbo_fn_name(op);
    nb_dtype c = nbk_compute_type(y->dtype);
    int64_t numel = nbc_numel(x->ndim, x->shape), outer, n, inner;
    if (numel == 0) return 0;
    nbc_meta m;
    nbo_meta_set(&m, x->dtype, x->ndim, x->shape);
    dim_geom(&m, (int)a->ints[0], &outer, &n, &inner);
    nbo_buffer b;
    if (nbo_buffer_get(fn, x, c, &b)) return NB_ERR_NOMEM;
    size_t cap = 0;
    void *dst = y->dtype == c ? nbc_ptr(y) : nbc_block_alloc((size_t)numel * nb_dtype_size(c), &cap);
    if (!dst) {
        nbo_buffer_release(&b);
        return nbc_oom(fn);
    }
    nbk_scan_run(op == NBO_cumsum ? NBK_CUMSUM : NBK_CUMPROD, c, b.data, dst, outer, n, inner, a->flag);
    if (cap) {
        nbk_convert(nbc_ptr(y), y->dtype, dst, c, numel);
        nbc_block_free(dst, cap);
    }
    nbo_buffer_release(&b);
    return 0;
}

static int cumsum_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    return scan_forward_op(NBO_cumsum, in[0], a, out[0]);
}
static int cumprod_forward(nb_tensor *const *in, int n, const nb_attrs *a, nb_tensor *const *out) {
    (void)n;
    return scan_forward_op(NBO_cumprod, in[0], a, out[0]);
}

/* cumsum in the other direction along the same dim */
static nb_tensor *cumsum_flip(const nbo_ctx *c, nb_tensor *g) {
    nb_attrs a = *c->attrs;
    a.flag = !a.flag;
    return g ? nbo_apply1(NBO_cumsum, &g, 1, &a) : NULL;
}

static int cumsum_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    gin[0] = cumsum_flip(c, g[0]);
    return gin[0] ? 0 : nb_last_status();
}

/* d y_j / d x_k = prod_{i <= j, i != k} x_i for j >= k. Without zeros in the input that is y_j / x_k,
 * so the gradient is the reversed cumsum of g * y divided by x. With zeros (z = the first zero of a
 * row): positions before z keep that formula (y_j = 0 past z drops those terms), positions after z get
 * 0, and z itself gets prod_{i < z} x_i * sum_{j >= z} g_j prod_{z < i <= j} x_i — a product, and the
 * reversed cumsum of g times the cumprod of the row with everything up to z set to 1. All of it is
 * built from nabla ops, so second derivatives follow (exact where there are no zeros). */
static int cumprod_bw(const nbo_ctx *c, nb_tensor *const *g, nb_tensor **gin) {
    nb_tensor *x = c->in[0], *y = c->out[0];
    int dim = (int)c->attrs->ints[0];
    nb_tensor *z = nb_eq_scalar(x, 0), *anyz = nb_any(z, NULL);
    if (!anyz) return nb_last_status();
    if (nb_item(anyz) == 0) {
        gin[0] = nb_div(cumsum_flip(c, nb_mul(g[0], y)), x);
        return gin[0] ? 0 : nb_last_status();
    }
    nb_tensor *one = nbo_const(1, x->dtype), *zero = nbo_const(0, x->dtype);
    nb_tensor *cz = nb_cumsum(z, dim);                           /* zeros up to and including each position */
    nb_tensor *before = nb_eq_scalar(cz, 0);                     /* before the row's first zero */
    nb_tensor *at = nb_where(z, nb_eq_scalar(cz, 1), z);         /* the first zero */
    nb_tensor *upto = nb_where(before, before, at);              /* up to and including it */
    nb_tensor *main = nb_div(cumsum_flip(c, nb_mul(g[0], y)), nb_where(z, one, x));
    nb_reduce_opts o = {.n = 1, .dims = {dim}, .keepdim = true};
    nb_tensor *head = nb_prod(nb_where(before, x, one), &o);     /* prod_{i < z} x_i */
    nb_tensor *tail = cumsum_flip(c, nb_mul(g[0], nb_cumprod(nb_where(upto, one, x), dim)));
    gin[0] = nb_where(before, main, nb_where(at, nb_mul(head, tail), zero));
    return gin[0] ? 0 : nb_last_status();
}

const nbo_desc nbo_desc_cumsum = {.name = "cumsum", .bw_name = "CumsumBackward", .n_in = 1, .n_out = 1,
                                  .attrs = "ints=[dim] flag=reverse (internal)", .torch = "torch.cumsum",
                                  .summary = "inclusive cumulative sum along a dim (integers and bool give i64)",
                                  .infer = scan_infer, .forward = cumsum_forward, .backward = cumsum_bw};
const nbo_desc nbo_desc_cumprod = {.name = "cumprod", .bw_name = "CumprodBackward", .n_in = 1, .n_out = 1,
                                   .flags = NBO_SAVE_INPUTS | NBO_SAVE_OUTPUTS, .attrs = "ints=[dim]",
                                   .torch = "torch.cumprod",
                                   .summary = "inclusive cumulative product along a dim (integers and bool give i64); "
                                              "gradient exact with zeros",
                                   .infer = scan_infer, .forward = cumprod_forward, .backward = cumprod_bw};

static nb_tensor *scan_public(int op, nb_tensor *x, int dim) {
    const char *fn = nbo_fn_name(op);
    if (!x) return nbc_null_arg(fn, 1), NULL;
    int d = nbc_wrap_dim(fn, dim, x->ndim);
    if (d < 0) return NULL;
    nb_attrs a = {.n_ints = 1};
    a.ints[0] = x->ndim ? d : 0;
    return nbo_apply1(op, &x, 1, &a);
}

nb_tensor *nb_cumsum(nb_tensor *x, int dim) { return scan_public(NBO_cumsum, x, dim); }
nb_tensor *nb_cumprod(nb_tensor *x, int dim) { return scan_public(NBO_cumprod, x, dim); }
