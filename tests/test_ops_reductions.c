/* tests/test_ops_reductions.c — the reductions family against plain f64 references: prod, var, std,
 * norm, logsumexp, any, all over every dim subset of up to two dims (keepdim both ways); cumsum,
 * cumprod, max_dim, min_dim, argmin, sort, argsort, topk, kthvalue, median along every dim (keepdim
 * both ways). Inputs: 0-d, 1-D of sizes 1, 7, 129, 3-D with sizes 1, 2, 7, 17, 129, and empty ones;
 * contiguous, transposed, stepped, transposed+stepped and expanded (broadcast: every value repeated, so
 * plenty of ties); every dtype (f16 / bf16 inputs are exact and compared after one rounding). Values
 * are multiples of 1/8 in a small range, so rows hold many ties; NaNs are sprinkled into float rows of
 * the sort family. Then special values, long rows (1000+ and 100000), gradients (the scatter to the
 * indices, prod with zeros), and every error path. */
#include "ref.h"

#include <stdint.h>

typedef struct shp {
    int nd;
    int64_t s[4];
} shp;

static const shp k_shapes[] = {
    {0, {0}}, {1, {1}}, {1, {7}}, {1, {129}}, {3, {2, 7, 3}}, {3, {17, 1, 2}}, {3, {2, 3, 129}}, {3, {2, 0, 3}}, {2, {0, 4}},
};
#define L_EXPANDED REF_LAYOUTS /* a fifth layout: dim 1 of a 3-D input broadcast from size 1 */
#define N_LAYOUTS (REF_LAYOUTS + 1)
static const char *layout_name(int l) { return l == L_EXPANDED ? "expanded" : ref_layout_name[l]; }

/* An input of shape sh, dtype dt and layout l; *vals gets its logical values (C order). nan_every > 0
 * puts a NaN at every nan_every-th element of float inputs. */
static nb_tensor *mk_input(const shp *sh, nb_dtype dt, int l, double lo, double hi, int nan_every, double **vals) {
    int64_t n = ref_numel(sh->nd, sh->s);
    if (l == L_EXPANDED && sh->nd == 3) {
        int64_t ss[3] = {sh->s[0], 1, sh->s[2]};
        double *small = ref_values(ref_numel(3, ss), dt, lo, hi), *v = ref_darray(n);
        for (int64_t i = 0; i < n; i++) {
            int64_t k = i % sh->s[2], a = i / (sh->s[1] * sh->s[2]);
            v[i] = small[a * sh->s[2] + k];
        }
        *vals = v;
        nb_tensor *b = ref_contig(small, 3, ss, dt), *t = nb_expand(b, 3, sh->s);
        nb_free(b);
        return t;
    }
    double *v = ref_values(n, dt, lo, hi);
    if (nan_every > 0 && nb_dtype_is_float(dt))
        for (int64_t i = 3; i < n; i += nan_every) v[i] = NAN;
    *vals = v;
    return ref_tensor(v, sh->nd, sh->s, dt, l == L_EXPANDED ? REF_CONTIG : (ref_layout)l);
}

/* e rounded to dtype dt (what a kernel computing in f64 / f32 and rounding once on output gives). */
static void round_to(double *e, int64_t n, nb_dtype dt) {
    if (n == 0 || !nb_dtype_is_float(dt) || dt == NB_F64) return;
    nb_tensor *a = nb_from_data(e, 1, &n, NB_F64), *b = nb_to(a, dt);
    nb_copy_to(b, e, sizeof(double) * (size_t)n, NB_F64);
    nb_free(b);
    nb_free(a);
}

static double tol_of(nb_dtype dt) { return nb_dtype_is_float(dt) ? ref_rtol(dt) * 4 : 0; }

/* ==== reductions over dims ========================================================================= */

enum { R_PROD, R_VAR, R_STD, R_NORM, R_LSE, R_ANY, R_ALL, R_COUNT };
static const char *const r_names[] = {"prod", "var", "std", "norm", "logsumexp", "any", "all"};

static double row_ref(int op, const double *v, int64_t r, double param, nb_dtype dt) {
    if (op == R_PROD) {
        if (!nb_dtype_is_float(dt)) { /* i64 wrap-around */
            uint64_t p = 1;
            for (int64_t i = 0; i < r; i++) p *= (uint64_t)(int64_t)v[i];
            return (double)(int64_t)p;
        }
        double p = 1;
        for (int64_t i = 0; i < r; i++) p *= v[i];
        return p;
    }
    if (op == R_VAR || op == R_STD) {
        double m = 0, s = 0;
        for (int64_t i = 0; i < r; i++) m += v[i];
        m /= (double)r;
        for (int64_t i = 0; i < r; i++) s += (v[i] - m) * (v[i] - m);
        double den = (double)r - param, var = s / (den > 0 ? den : 0);
        return op == R_VAR ? var : sqrt(var);
    }
    if (op == R_NORM) {
        double p = param, s = isinf(p) && p < 0 ? INFINITY : 0;
        for (int64_t i = 0; i < r; i++) {
            double a = fabs(v[i]);
            if (p == INFINITY) s = a > s ? a : s;
            else if (p == -INFINITY) s = a < s ? a : s;
            else if (p == 0) s += a != 0;
            else s += pow(a, p);
        }
        return isinf(p) || p == 0 ? s : pow(s, 1 / p);
    }
    if (op == R_LSE) {
        if (r == 0) return -INFINITY;
        double m = -INFINITY, s = 0;
        for (int64_t i = 0; i < r; i++) m = v[i] > m ? v[i] : m;
        for (int64_t i = 0; i < r; i++) s += exp(v[i] - m);
        return m + log(s);
    }
    bool any = false, all = true;
    for (int64_t i = 0; i < r; i++) any |= v[i] != 0, all &= v[i] != 0;
    return op == R_ANY ? any : all;
}

static nb_tensor *r_apply(int op, nb_tensor *x, const nb_reduce_opts *o, double param) {
    switch (op) {
    case R_PROD: return nb_prod(x, o);
    case R_VAR: return nb_var(x, o, param);
    case R_STD: return nb_std(x, o, param);
    case R_NORM: return nb_norm(x, param, o);
    case R_LSE: return nb_logsumexp(x, o);
    case R_ANY: return nb_any(x, o);
    default: return nb_all(x, o);
    }
}

static nb_dtype r_dtype(int op, nb_dtype dt) {
    bool fl = nb_dtype_is_float(dt);
    if (op == R_PROD) return fl ? dt : NB_I64;
    if (op == R_LSE) return fl ? dt : NB_F32;
    if (op == R_ANY || op == R_ALL) return NB_BOOL;
    return dt;
}

static void check_red(int op, nb_dtype dt, const shp *sh, int l, const nb_reduce_opts *o, double param) {
    int nd = sh->nd;
    bool red[NB_MAX_DIMS] = {false};
    if (!o || o->n == 0)
        for (int d = 0; d < nd; d++) red[d] = true;
    else
        for (int i = 0; i < o->n; i++) red[o->dims[i] < 0 ? o->dims[i] + (nd ? nd : 1) : o->dims[i]] = nd > 0;
    bool keep = o && o->keepdim;
    int ond = 0;
    int64_t os[NB_MAX_DIMS], r = 1;
    for (int d = 0; d < nd; d++) {
        if (red[d]) r *= sh->s[d];
        if (!red[d]) os[ond++] = sh->s[d];
        else if (keep) os[ond++] = 1;
    }
    double lo = -2, hi = 2;
    if (op == R_PROD && nb_dtype_is_float(dt)) lo = 0.5, hi = 1.5; /* products of 129 stay in range */
    if (dt == NB_U8) lo = 0, hi = 5;
    if (!nb_dtype_is_float(dt) && dt != NB_U8) lo = -3, hi = 3;
    double *x;
    nb_tensor *t = mk_input(sh, dt, l, lo, hi, 0, &x);
    ref_set_ctx("nb_%s %s %s dims=%d%s p=%g %s", r_names[op], nb_dtype_name(dt), ref_shape_str(nd, sh->s),
                o ? o->n : 0, keep ? " keepdim" : "", param, layout_name(l));
    nb_tensor *y = r_apply(op, t, o, param);
    bool fl = nb_dtype_is_float(dt);
    if ((op == R_VAR || op == R_STD || op == R_NORM) && !fl) {
        CHECK_MSG(!y && strstr(nb_last_error(), op == R_NORM ? "nb_norm" : op == R_VAR ? "nb_var" : "nb_std") &&
                      strstr(nb_last_error(), "floating") && strstr(nb_last_error(), nb_dtype_name(dt)),
                  "%s: expected failure, got %s", ref_ctx, nb_last_error());
        nb_clear_error();
    } else if (op == R_NORM && isinf(param) && r == 0) {
        CHECK_MSG(!y && strstr(nb_last_error(), "nb_norm") && strstr(nb_last_error(), "empty"), "%s: expected failure",
                  ref_ctx);
        nb_clear_error();
    } else {
        int64_t m = ref_numel(ond, os), n = ref_numel(nd, sh->s);
        double *e = ref_darray(m), *row = ref_darray(r);
        /* gather each output's row: elements in C order whose kept coordinates match */
        int64_t *fill = ref_alloc(sizeof(int64_t) * (size_t)(m ? m : 1));
        double **rows = ref_alloc(sizeof(double *) * (size_t)(m ? m : 1));
        for (int64_t j = 0; j < m; j++) rows[j] = ref_darray(r);
        for (int64_t i = 0; i < n; i++) {
            int64_t rem = i, oi = 0, om = 1;
            for (int d = nd - 1; d >= 0; d--) {
                int64_t c = rem % sh->s[d];
                rem /= sh->s[d];
                if (!red[d]) oi += c * om, om *= sh->s[d];
            }
            rows[oi][fill[oi]++] = x[i];
        }
        (void)row;
        nb_dtype od = r_dtype(op, dt);
        for (int64_t j = 0; j < m; j++) e[j] = row_ref(op, rows[j], r, param, dt);
        round_to(e, m, od);
        double tol = tol_of(od);
        if (op == R_LSE && od == NB_F32) tol *= 4; /* the vector exp */
        CHECK_REF(y, od, ond, os, e, tol, tol);
    }
    nb_free(y);
    nb_free(t);
}

static void sweep_red(int op, nb_dtype dt, const shp *sh, int l, double param) {
    for (int keep = 0; keep < 2; keep++) {
        nb_reduce_opts all = {.n = 0, .keepdim = keep};
        check_red(op, dt, sh, l, keep ? &all : NULL, param);
        for (int a = 0; a < sh->nd; a++) {
            nb_reduce_opts one = {.n = 1, .dims = {a % 2 ? a - sh->nd : a}, .keepdim = keep};
            check_red(op, dt, sh, l, &one, param);
            for (int b = a + 1; b < sh->nd; b++) {
                nb_reduce_opts two = {.n = 2, .dims = {b - sh->nd, a}, .keepdim = keep};
                check_red(op, dt, sh, l, &two, param);
            }
        }
        if (sh->nd == 0) {
            nb_reduce_opts z = {.n = 1, .dims = {-1}, .keepdim = keep};
            check_red(op, dt, sh, l, &z, param);
        }
    }
}

static void test_reductions(void) {
    ref_seed(31);
    static const double norms[] = {2, 1, INFINITY, -INFINITY, 0, 3, 0.5, -1, -2.5};
    static const double corrs[] = {1, 0, 2.5};
    for (int op = 0; op < R_COUNT; op++)
        for (int d = 0; d < REF_COUNT(ref_all_dtypes); d++)
            for (int s = 0; s < REF_COUNT(k_shapes); s++)
                for (int l = 0; l < N_LAYOUTS; l++) {
                    nb_dtype dt = ref_all_dtypes[d];
                    bool fl = nb_dtype_is_float(dt);
                    if (!fl && l % 3 != 0) continue; /* integer layouts: contiguous and transposed+stepped */
                    if (op == R_NORM)
                        for (int p = 0; p < REF_COUNT(norms); p++) {
                            if (p > 1 && (l == 1 || l == 2)) continue;
                            sweep_red(op, dt, &k_shapes[s], l, norms[p]);
                        }
                    else if (op == R_VAR || op == R_STD)
                        for (int c = 0; c < REF_COUNT(corrs); c++) sweep_red(op, dt, &k_shapes[s], l, corrs[c]);
                    else
                        sweep_red(op, dt, &k_shapes[s], l, 0);
                }
}

/* ==== ops along one dim ============================================================================== */

enum { D_CUMSUM, D_CUMPROD, D_MAX, D_MIN, D_ARGMIN, D_SORT, D_ARGSORT, D_TOPK, D_KTH, D_MEDIAN, D_COUNT };
static const char *const d_names[] = {"cumsum", "cumprod", "max_dim", "min_dim", "argmin", "sort",
                                      "argsort", "topk", "kthvalue", "median"};

/* a strictly before b in the order of an ascending (desc: descending) sort; NaN is the largest */
static bool before(double a, double b, bool desc) {
    if (desc) {
        if (isnan(a)) return !isnan(b);
        return !isnan(b) && a > b;
    }
    if (isnan(b)) return !isnan(a);
    return !isnan(a) && a < b;
}

/* stable insertion sort of the row's indices */
static void ref_sort(const double *v, int64_t n, bool desc, int64_t *perm) {
    for (int64_t i = 0; i < n; i++) {
        int64_t j = i;
        for (; j > 0 && before(v[i], v[perm[j - 1]], desc); j--) perm[j] = perm[j - 1];
        perm[j] = i;
    }
}

/* One row: outputs (ko of them) into ov / oi. */
static void row_dim_ref(int op, const double *v, int64_t n, int64_t k, bool desc, nb_dtype dt, double *ov, double *oi) {
    bool fl = nb_dtype_is_float(dt);
    if (op == D_CUMSUM || op == D_CUMPROD) {
        uint64_t ia = op == D_CUMPROD;
        double fa = op == D_CUMPROD;
        for (int64_t j = 0; j < n; j++) {
            if (fl) {
                fa = op == D_CUMSUM ? fa + v[j] : fa * v[j];
                ov[j] = fa;
            } else {
                ia = op == D_CUMSUM ? ia + (uint64_t)(int64_t)v[j] : ia * (uint64_t)(int64_t)v[j];
                ov[j] = (double)(int64_t)ia;
            }
        }
        return;
    }
    if (op == D_MAX || op == D_MIN || op == D_ARGMIN) {
        int64_t b = 0;
        for (int64_t j = 1; j < n && !isnan(v[b]); j++)
            if (isnan(v[j]) || (op == D_MAX ? v[j] > v[b] : v[j] < v[b])) b = j;
        ov[0] = v[b];
        oi[0] = (double)b;
        return;
    }
    int64_t *perm = ref_alloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    ref_sort(v, n, op == D_SORT || op == D_ARGSORT || op == D_TOPK ? desc : false, perm);
    if (op == D_SORT || op == D_ARGSORT || op == D_TOPK) {
        int64_t kk = op == D_TOPK ? k : n;
        for (int64_t j = 0; j < kk; j++) ov[j] = v[perm[j]], oi[j] = (double)perm[j];
    } else {
        int64_t p = op == D_KTH ? k - 1 : (n - 1) / 2;
        if (op == D_MEDIAN)
            for (int64_t j = 0; j < n; j++)
                if (isnan(v[j])) {
                    ov[0] = NAN, oi[0] = (double)j;
                    return;
                }
        ov[0] = v[perm[p]], oi[0] = (double)perm[p];
    }
}

static nb_tensor *d_apply(int op, nb_tensor *t, int dim, bool keep, int64_t k, bool desc, nb_tensor **idx) {
    *idx = NULL;
    switch (op) {
    case D_CUMSUM: return nb_cumsum(t, dim);
    case D_CUMPROD: return nb_cumprod(t, dim);
    case D_MAX: return nb_max_dim(t, dim, keep, idx);
    case D_MIN: return nb_min_dim(t, dim, keep, idx);
    case D_ARGMIN: return *idx = nb_argmin(t, dim, keep), nb_retain(*idx);
    case D_SORT: return nb_sort(t, dim, desc, true, idx);
    case D_ARGSORT: return *idx = nb_argsort(t, dim, desc, false), nb_retain(*idx);
    case D_TOPK: return nb_topk(t, k, dim, desc, true, idx);
    case D_KTH: return nb_kthvalue(t, k, dim, keep, idx);
    default: return nb_median(t, dim, keep, idx);
    }
}

static void check_dim(int op, nb_dtype dt, const shp *sh, int l, int dim, bool keep, int64_t k, bool desc, int nan_every) {
    int nd = sh->nd, d = nd ? (dim < 0 ? dim + nd : dim) : 0;
    int64_t outer = 1, n = 1, inner = 1;
    for (int i = 0; i < nd; i++) {
        if (i < d) outer *= sh->s[i];
        else if (i == d) n = sh->s[i];
        else inner *= sh->s[i];
    }
    double lo = dt == NB_U8 ? 0 : -2, hi = 2;
    if (op == D_CUMPROD && nb_dtype_is_float(dt)) lo = 0.5, hi = 1.5;
    double *x;
    nb_tensor *t = mk_input(sh, dt, l, lo, hi, nan_every, &x);
    ref_set_ctx("nb_%s %s %s dim=%d%s k=%lld%s%s %s", d_names[op], nb_dtype_name(dt), ref_shape_str(nd, sh->s), dim,
                keep ? " keepdim" : "", (long long)k, desc ? " desc" : "", nan_every ? " NaNs" : "", layout_name(l));
    nb_tensor *idx, *y = d_apply(op, t, dim, keep, k, desc, &idx);
    bool fails = false;
    const char *why = "";
    if ((op == D_MAX || op == D_MIN || op == D_ARGMIN || op == D_MEDIAN) && n == 0) fails = true, why = "size 0";
    if (op == D_KTH && (k < 1 || k > n)) fails = true, why = "out of range";
    if (op == D_TOPK && (k < 0 || k > n || (nd == 0 && k != 1))) fails = true, why = "out of range";
    if (fails) {
        CHECK_MSG(!y && strstr(nb_last_error(), why), "%s: expected failure (%s), got %s", ref_ctx, why, nb_last_error());
        nb_clear_error();
        nb_free(t);
        return;
    }
    /* output shape: dim kept with size ko (or removed) */
    int64_t ko = op == D_CUMSUM || op == D_CUMPROD || op == D_SORT || op == D_ARGSORT ? n : op == D_TOPK ? k : 1;
    bool kept = ko != 1 || keep || op == D_CUMSUM || op == D_CUMPROD || op == D_SORT || op == D_ARGSORT || op == D_TOPK;
    int ond = 0;
    int64_t os[NB_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        if (i != d) os[ond++] = sh->s[i];
        else if (kept) os[ond++] = ko;
    }
    int64_t m = outer * ko * inner;
    double *ev = ref_darray(m), *ei = ref_darray(m), *row = ref_darray(n), *rv = ref_darray(ko), *ri = ref_darray(ko);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            for (int64_t j = 0; j < n; j++) row[j] = x[(o * n + j) * inner + i];
            row_dim_ref(op, row, n, k, desc, dt, rv, ri);
            for (int64_t j = 0; j < ko; j++) {
                ev[(o * ko + j) * inner + i] = rv[j];
                ei[(o * ko + j) * inner + i] = ri[j];
            }
        }
    bool has_idx = op != D_CUMSUM && op != D_CUMPROD;
    bool only_idx = op == D_ARGMIN || op == D_ARGSORT;
    nb_dtype vd = (op == D_CUMSUM || op == D_CUMPROD) && !nb_dtype_is_float(dt) ? NB_I64 : dt;
    if (!only_idx) {
        if (vd == NB_BOOL)
            for (int64_t j = 0; j < m; j++) ev[j] = ev[j] != 0;
        round_to(ev, m, vd);
        double tol = tol_of(vd);
        if (op == D_CUMPROD && vd == NB_F32) tol = 2e-5; /* an f32 running product */
        CHECK_REF(y, vd, ond, os, ev, tol, tol);
    }
    if (has_idx) CHECK_REF(idx, NB_I64, ond, os, ei, 0, 0);
    nb_free(y);
    nb_free(idx);
    nb_free(t);
}

static void sweep_dim(int op, nb_dtype dt, const shp *sh, int l, int nan_every) {
    int nd = sh->nd ? sh->nd : 1;
    for (int dim = -nd; dim < nd; dim++) {
        if (sh->nd && dim < 0 && dim != -1) continue; /* every dim once, and -1 */
        int64_t n = sh->nd ? sh->s[dim < 0 ? dim + nd : dim] : 1;
        for (int keep = 0; keep < 2; keep++) {
            if (op == D_TOPK) {
                int64_t ks[] = {0, 1, n < 3 ? n : 3, n, n + 1};
                for (int i = 0; i < 5; i++) check_dim(op, dt, sh, l, dim, true, ks[i], keep, nan_every); /* keep: largest */
            } else if (op == D_KTH) {
                int64_t ks[] = {1, (n + 1) / 2, n, 0, n + 1};
                for (int i = 0; i < 5; i++) check_dim(op, dt, sh, l, dim, keep, ks[i], false, nan_every);
            } else if (op == D_SORT || op == D_ARGSORT) {
                check_dim(op, dt, sh, l, dim, false, 0, keep, nan_every); /* keep doubles as descending */
            } else if (op == D_CUMSUM || op == D_CUMPROD) {
                if (!keep) check_dim(op, dt, sh, l, dim, false, 0, false, nan_every);
            } else {
                check_dim(op, dt, sh, l, dim, keep, 0, false, nan_every);
            }
        }
    }
}

static void test_along_dim(void) {
    ref_seed(32);
    for (int op = 0; op < D_COUNT; op++)
        for (int d = 0; d < REF_COUNT(ref_all_dtypes); d++)
            for (int s = 0; s < REF_COUNT(k_shapes); s++)
                for (int l = 0; l < N_LAYOUTS; l++) {
                    nb_dtype dt = ref_all_dtypes[d];
                    if (!nb_dtype_is_float(dt) && l % 3 != 0) continue;
                    sweep_dim(op, dt, &k_shapes[s], l, 0);
                    /* NaNs: max/min/argmin/median/sort family on float inputs */
                    if (nb_dtype_is_float(dt) && op >= D_MAX && l != L_EXPANDED) sweep_dim(op, dt, &k_shapes[s], l, 5);
                }
}

/* ==== special values, long rows ======================================================================== */

static void test_special(void) {
    const double nan = NAN, inf = INFINITY;
    for (int di = 0; di < REF_COUNT(ref_float_dtypes); di++) {
        nb_dtype dt = ref_float_dtypes[di];
        ref_set_ctx("special %s", nb_dtype_name(dt));
        const double v[] = {3, nan, 1, nan, -inf, 2, inf, 2};
        nb_tensor *t = ref_contig(v, NB_SHAPE(8), dt), *i;
        CHECK_REF(nb_sort(t, 0, false, true, &i), dt, NB_SHAPE(8), ((const double[]){-inf, 1, 2, 2, 3, inf, nan, nan}), 0, 0);
        CHECK_REF(i, NB_I64, NB_SHAPE(8), ((const double[]){4, 2, 5, 7, 0, 6, 1, 3}), 0, 0);
        CHECK_REF(nb_sort(t, 0, true, true, &i), dt, NB_SHAPE(8), ((const double[]){nan, nan, inf, 3, 2, 2, 1, -inf}), 0, 0);
        CHECK_REF(i, NB_I64, NB_SHAPE(8), ((const double[]){1, 3, 6, 0, 5, 7, 2, 4}), 0, 0);
        CHECK_REF(nb_topk(t, 3, 0, true, true, &i), dt, NB_SHAPE(3), ((const double[]){nan, nan, inf}), 0, 0);
        CHECK_REF(i, NB_I64, NB_SHAPE(3), ((const double[]){1, 3, 6}), 0, 0);
        CHECK_REF(nb_topk(t, 2, 0, false, true, &i), dt, NB_SHAPE(2), ((const double[]){-inf, 1}), 0, 0);
        CHECK_REF(nb_max_dim(t, 0, false, &i), dt, NB_SCALAR, ((const double[]){nan}), 0, 0);
        CHECK(nb_item(i) == 1);
        CHECK_REF(nb_min_dim(t, 0, true, &i), dt, NB_SHAPE(1), ((const double[]){nan}), 0, 0);
        CHECK(nb_item(i) == 1);
        CHECK(nb_item(nb_argmin(t, 0, false)) == 1);
        CHECK_REF(nb_median(t, 0, false, &i), dt, NB_SCALAR, ((const double[]){nan}), 0, 0);
        CHECK(nb_item(i) == 1);
        CHECK_REF(nb_kthvalue(t, 7, 0, false, &i), dt, NB_SCALAR, ((const double[]){nan}), 0, 0);
        CHECK(nb_item(i) == 1);
        CHECK_REF(nb_kthvalue(t, 3, 0, false, &i), dt, NB_SCALAR, ((const double[]){2}), 0, 0);
        CHECK(nb_item(i) == 5);
        /* infinities: logsumexp, norms */
        const double w[] = {-inf, -inf, 1, inf, 0, 0, nan, 1};
        nb_tensor *u = ref_contig(w, NB_SHAPE(4, 2), dt);
        CHECK_REF(nb_logsumexp(u, NB_DIMS(1)), dt, NB_SHAPE(4), ((const double[]){-inf, inf, log(2.0), nan}), 1e-2, 1e-2);
        CHECK_REF(nb_norm(u, 2, NB_DIMS(1)), dt, NB_SHAPE(4), ((const double[]){inf, inf, 0, nan}), 0, 0);
        CHECK_REF(nb_norm(u, inf, NB_DIMS(1)), dt, NB_SHAPE(4), ((const double[]){inf, inf, 0, nan}), 0, 0);
        CHECK_REF(nb_any(u, NB_DIMS(1)), NB_BOOL, NB_SHAPE(4), ((const double[]){1, 1, 0, 1}), 0, 0);
        CHECK_REF(nb_all(u, NB_DIMS(1)), NB_BOOL, NB_SHAPE(4), ((const double[]){1, 1, 0, 1}), 0, 0);
        /* empty reductions: identities */
        nb_tensor *e = nb_zeros(NB_SHAPE(2, 0), dt);
        CHECK_REF(nb_prod(e, NB_DIMS(1)), dt, NB_SHAPE(2), ((const double[]){1, 1}), 0, 0);
        CHECK_REF(nb_logsumexp(e, NB_DIMS(1)), dt, NB_SHAPE(2), ((const double[]){-inf, -inf}), 0, 0);
        CHECK_REF(nb_norm(e, 2, NB_DIMS(1)), dt, NB_SHAPE(2), ((const double[]){0, 0}), 0, 0);
        CHECK_REF(nb_var(e, NB_DIMS(1), 1), dt, NB_SHAPE(2), ((const double[]){nan, nan}), 0, 0);
        CHECK_REF(nb_any(e, NB_DIMS(1)), NB_BOOL, NB_SHAPE(2), ((const double[]){0, 0}), 0, 0);
        CHECK_REF(nb_all(e, NB_DIMS(1)), NB_BOOL, NB_SHAPE(2), ((const double[]){1, 1}), 0, 0);
        CHECK_REF(nb_sort(e, 1, false, true, NULL), dt, NB_SHAPE(2, 0), ((const double[]){0}), 0, 0);
        CHECK_REF(nb_cumsum(e, 1), dt, NB_SHAPE(2, 0), ((const double[]){0}), 0, 0);
        /* var of one element: 0 / 0 with correction 1, 0 with correction 0 */
        nb_tensor *one = nb_full(NB_SHAPE(1), 3, dt);
        CHECK_REF(nb_var(one, NULL, 1), dt, NB_SCALAR, ((const double[]){nan}), 0, 0);
        CHECK_REF(nb_var(one, NULL, 0), dt, NB_SCALAR, ((const double[]){0}), 0, 0);
    }
    /* var_mean: the same numbers as nb_var and nb_mean, over the same dims */
    ref_seed(34);
    double *vm = ref_values(3 * 17, NB_F64, -2, 2), ev[3], em[3];
    for (int r = 0; r < 3; r++) {
        double m = 0, s2 = 0;
        for (int j = 0; j < 17; j++) m += vm[r * 17 + j];
        m /= 17;
        for (int j = 0; j < 17; j++) s2 += (vm[r * 17 + j] - m) * (vm[r * 17 + j] - m);
        ev[r] = s2 / 16, em[r] = m;
    }
    for (int l = 0; l < REF_LAYOUTS; l++) {
        nb_tensor *vt = ref_tensor(vm, NB_SHAPE(3, 17), NB_F32, l), *mean;
        ref_set_ctx("var_mean %s", ref_layout_name[l]);
        CHECK_REF(nb_var_mean(vt, NB_DIMS(1), 1, &mean), NB_F32, NB_SHAPE(3), ev, 1e-6, 1e-6);
        CHECK_REF(mean, NB_F32, NB_SHAPE(3), em, 1e-6, 1e-6);
        CHECK_REF(nb_var_mean(vt, NB_DIMS_KEEP(-1), 1, NULL), NB_F32, NB_SHAPE(3, 1), ev, 1e-6, 1e-6);
    }
    /* i64 values beyond 2^53 sort and compare exactly */
    int64_t big[4] = {(INT64_C(1) << 60) + 1, INT64_C(1) << 60, -(INT64_C(1) << 62), (INT64_C(1) << 60) + 1}, got[4];
    nb_tensor *b = nb_from_data(big, NB_SHAPE(4), NB_I64), *bi;
    CHECK(nb_copy_to(nb_sort(b, 0, false, true, &bi), got, sizeof got, NB_I64) == 0 && got[0] == big[2] &&
          got[1] == big[1] && got[2] == big[0] && got[3] == big[3]);
    ref_set_ctx("i64 sort");
    CHECK_REF(bi, NB_I64, NB_SHAPE(4), ((const double[]){2, 1, 0, 3}), 0, 0);
    CHECK(nb_copy_to(nb_max_dim(b, 0, false, &bi), got, 8, NB_I64) == 0 && got[0] == big[0] && nb_item(bi) == 0);
    CHECK(nb_copy_to(nb_cumsum(nb_slice(b, 0, 0, 2, 1), 0), got, 16, NB_I64) == 0 && got[1] == (INT64_C(1) << 61) + 1);
    /* bool inputs: sort, max, cumsum (i64), prod (i64) */
    const double bv[] = {1, 0, 1, 1, 0};
    nb_tensor *bb = ref_contig(bv, NB_SHAPE(5), NB_BOOL);
    ref_set_ctx("bool");
    CHECK_REF(nb_sort(bb, 0, false, true, &bi), NB_BOOL, NB_SHAPE(5), ((const double[]){0, 0, 1, 1, 1}), 0, 0);
    CHECK_REF(bi, NB_I64, NB_SHAPE(5), ((const double[]){1, 4, 0, 2, 3}), 0, 0);
    CHECK_REF(nb_cumsum(bb, 0), NB_I64, NB_SHAPE(5), ((const double[]){1, 1, 2, 3, 3}), 0, 0);
    CHECK_REF(nb_prod(bb, NULL), NB_I64, NB_SCALAR, ((const double[]){0}), 0, 0);
    CHECK_REF(nb_max_dim(bb, 0, false, NULL), NB_BOOL, NB_SCALAR, ((const double[]){1}), 0, 0);
    /* global median (NB_DIM_ALL): of all elements, the flat index */
    const double mv[] = {5, 1, 4, 2, 3, 6};
    nb_tensor *mt = ref_contig(mv, NB_SHAPE(2, 3), NB_F32), *mi;
    ref_set_ctx("global median");
    CHECK_REF(nb_median(mt, NB_DIM_ALL, false, &mi), NB_F32, NB_SCALAR, ((const double[]){3}), 0, 0);
    CHECK(nb_item(mi) == 4);
    CHECK_REF(nb_median(nb_transpose(mt, 0, 1), NB_DIM_ALL, true, &mi), NB_F32, NB_SHAPE(1, 1), ((const double[]){3}), 0, 0);
    CHECK(nb_item(mi) == 3); /* transposed order: 5 2 1 3 4 6 */
    CHECK(nb_item(nb_argmin(mt, NB_DIM_ALL, false)) == 1);
    nb_tensor *am = nb_argmin(mt, NB_DIM_ALL, true);
    CHECK(am && nb_ndim(am) == 2 && nb_item(am) == 1);
    /* 0-d inputs accept dim 0 and -1 */
    nb_tensor *z = nb_scalar(2.5, NB_F32), *zi;
    CHECK(nb_item(nb_sort(z, -1, false, true, &zi)) == 2.5 && nb_ndim(zi) == 0 && nb_item(zi) == 0);
    CHECK(nb_item(nb_topk(z, 1, 0, true, true, &zi)) == 2.5);
    CHECK(nb_item(nb_kthvalue(z, 1, 0, true, &zi)) == 2.5 && nb_ndim(zi) == 0);
    CHECK(nb_item(nb_cumprod(z, 0)) == 2.5);
    CHECK(nb_item(nb_median(z, NB_DIM_ALL, false, NULL)) == 2.5);
}

/* A 3000-element row and a 100000-element row against the reference order (sorted, a permutation, and
 * stable), strided along dim 0; f32 and i32. */
static void test_long_rows(void) {
    ref_seed(33);
    static const int64_t lens[] = {3000, 100000};
    for (int li = 0; li < 2; li++)
        for (int di = 0; di < 4; di++) {
            nb_dtype dt = di == 0 || di == 3 ? NB_F32 : di == 1 ? NB_I32 : NB_F64;
            int64_t n = lens[li];
            double *v = ref_values(2 * n, dt, -60, 60); /* (n, 2): sort along dim 0 (stride 2) */
            for (int64_t i = 7; i < 2 * n && nb_dtype_is_float(dt) && di != 3; i += 97) v[i] = NAN;
            nb_tensor *t = ref_contig(v, NB_SHAPE(n, 2), dt), *idx;
            for (int desc = 0; desc < 2; desc++) {
                nb_tensor *y = nb_sort(t, 0, desc, true, &idx);
                double *yv = ref_read(y), *iv = ref_read(idx);
                bool ok = y && idx;
                for (int c = 0; c < 2 && ok; c++) {
                    char *seen = ref_alloc((size_t)n);
                    for (int64_t j = 0; j < n && ok; j++) {
                        int64_t q = (int64_t)iv[j * 2 + c];
                        ok = q >= 0 && q < n && !seen[q];
                        if (!ok) break;
                        seen[q] = 1;
                        double a = v[q * 2 + c], got = yv[j * 2 + c];
                        ok = (isnan(a) && isnan(got)) || a == got;
                        if (ok && j > 0) {
                            int64_t p = (int64_t)iv[(j - 1) * 2 + c];
                            double prev = v[p * 2 + c];
                            ok = !before(a, prev, desc) && (before(prev, a, desc) || p < q); /* ordered, stable */
                        }
                    }
                }
                CHECK_MSG(ok, "sort of %lld %s desc=%d", (long long)n, nb_dtype_name(dt), desc);
                /* topk of the same column equals the sort's head */
                nb_tensor *ti, *tv = nb_topk(t, 10, 0, desc, true, &ti);
                double *tvv = ref_read(tv), *tiv = ref_read(ti);
                bool same = tv && ti;
                for (int64_t j = 0; j < 20 && same; j++) same = tiv[j] == iv[j] && (tvv[j] == yv[j] || isnan(tvv[j]));
                CHECK_MSG(same, "topk of %lld %s", (long long)n, nb_dtype_name(dt));
                if (!desc) { /* kthvalue / median: the element of the stable ascending sort at that rank */
                    int64_t ks[3] = {1, n / 3, n};
                    for (int q = 0; q < 3; q++) {
                        nb_tensor *ki, *kv = nb_kthvalue(t, ks[q], 0, false, &ki);
                        double *kvv = ref_read(kv), *kiv = ref_read(ki);
                        bool kok = kv && ki;
                        for (int c = 0; c < 2 && kok; c++)
                            kok = kiv[c] == iv[(ks[q] - 1) * 2 + c] && (kvv[c] == yv[(ks[q] - 1) * 2 + c] || isnan(kvv[c]));
                        CHECK_MSG(kok, "kthvalue %lld of %lld %s", (long long)ks[q], (long long)n, nb_dtype_name(dt));
                    }
                    nb_tensor *mi, *mv = nb_median(t, 0, true, &mi);
                    double *mvv = ref_read(mv), *miv = ref_read(mi);
                    bool mok = mv && mi;
                    for (int c = 0; c < 2 && mok; c++) {
                        int64_t first_nan = -1;
                        for (int64_t j = 0; j < n && first_nan < 0; j++)
                            if (isnan(v[j * 2 + c])) first_nan = j;
                        int64_t p = (n - 1) / 2;
                        mok = first_nan >= 0 ? miv[c] == (double)first_nan && isnan(mvv[c])
                                             : miv[c] == iv[p * 2 + c] && mvv[c] == yv[p * 2 + c];
                    }
                    CHECK_MSG(mok, "median of %lld %s", (long long)n, nb_dtype_name(dt));
                }
                nb_free(y);
                nb_free(idx);
                nb_free(tv);
                nb_free(ti);
            }
            nb_free(t);
        }
    /* results do not depend on the thread count */
    int threads = nb_get_num_threads();
    nb_tensor *r = nb_randn(NB_SHAPE(64, 500), NB_F32);
    int64_t i1[64 * 500], i4[64 * 500];
    nb_set_num_threads(1);
    nb_tensor *a1, *b1;
    nb_sort(r, 1, false, true, &a1);
    nb_copy_to(a1, i1, sizeof i1, NB_I64);
    nb_set_num_threads(4);
    nb_sort(r, 1, false, true, &b1);
    nb_copy_to(b1, i4, sizeof i4, NB_I64);
    nb_set_num_threads(threads);
    CHECK(memcmp(i1, i4, sizeof i1) == 0);
}

/* ==== gradients (values checked here; nb_gradcheck in tests/gradcheck/reductions.c) ================== */

static void test_gradients(void) {
    /* sort: the gradient of sum(sort(x) * w) is w scattered back to the source positions */
    const double xv[] = {3, 1, 2, 1, 5, 0};
    nb_tensor *x = nb_param(nb_from_data(xv, NB_SHAPE(2, 3), NB_F64));
    const double wv[] = {10, 20, 30, 40, 50, 60};
    nb_tensor *w = nb_from_data(wv, NB_SHAPE(2, 3), NB_F64);
    CHECK(nb_backward(nb_sum(nb_mul(nb_sort(x, 1, false, true, NULL), w), NULL)) == 0);
    ref_set_ctx("sort gradient");
    CHECK_REF(nb_grad(x), NB_F64, NB_SHAPE(2, 3), ((const double[]){30, 10, 20, 50, 60, 40}), 0, 0);
    /* topk / kthvalue / median / max_dim along dim 0 of a transposed view */
    nb_zero_grad(x);
    nb_tensor *xt = nb_transpose(x, 0, 1); /* [[3,1],[1,5],[2,0]] */
    nb_tensor *s = nb_add(nb_add(nb_sum(nb_topk(xt, 1, 0, true, true, NULL), NULL),
                                 nb_sum(nb_mul_scalar(nb_max_dim(xt, 1, false, NULL), 100), NULL)),
                          nb_add(nb_sum(nb_mul_scalar(nb_kthvalue(xt, 2, 0, false, NULL), 1000), NULL),
                                 nb_sum(nb_mul_scalar(nb_median(xt, 0, true, NULL), 10000), NULL)));
    CHECK(nb_backward(s) == 0);
    /* topk(1) along dim 0: 3 (x[0][0]) and 5 (x[1][1]); max_dim along dim 1 of xt: rows (3,1) (1,5) (2,0)
     * -> x[0][0], x[1][1], x[0][2]; kthvalue 2 along dim 0: 2 (x[0][2]) and 1 (x[1][0]); median (lower, of
     * 3): the same */
    ref_set_ctx("index gradients");
    CHECK_REF(nb_grad(x), NB_F64, NB_SHAPE(2, 3), ((const double[]){101, 0, 11100, 11000, 101, 0}), 0, 0);
    /* prod with zeros: one zero gets the product of the others, two zeros give zeros */
    const double pv[] = {2, 0, 3, 0, 0, 4, 5, 6, 7};
    nb_tensor *p = nb_param(nb_from_data(pv, NB_SHAPE(3, 3), NB_F64));
    CHECK(nb_backward(nb_sum(nb_prod(p, NB_DIMS(1)), NULL)) == 0);
    ref_set_ctx("prod gradient with zeros");
    CHECK_REF(nb_grad(p), NB_F64, NB_SHAPE(3, 3), ((const double[]){0, 6, 0, 0, 0, 0, 42, 35, 30}), 0, 0);
    /* cumprod with zeros, g = 1: d/dx_k = sum over j >= k of the product of x_0..x_j without x_k. Row
     * (2, 0, 3, 4): 1, 2 + 2*3 + 2*3*4 = 32, 0, 0. Row (1, 2, 0, 0): 1 + 2 = 3, 1, 1*2 = 2, 0. */
    const double cv[] = {2, 0, 3, 4, 1, 2, 0, 0};
    nb_tensor *cx = nb_param(nb_from_data(cv, NB_SHAPE(2, 4), NB_F64));
    CHECK(nb_backward(nb_sum(nb_cumprod(cx, 1), NULL)) == 0);
    ref_set_ctx("cumprod gradient with zeros");
    CHECK_REF(nb_grad(cx), NB_F64, NB_SHAPE(2, 4), ((const double[]){1, 32, 0, 0, 3, 1, 2, 0}), 0, 0);
    /* norm at 0: subgradient 0 for every p */
    static const double ps[] = {1, 2, 3, 0.5, INFINITY};
    for (int i = 0; i < 5; i++) {
        nb_tensor *z = nb_param(nb_zeros(NB_SHAPE(4), NB_F64));
        CHECK(nb_backward(nb_norm(z, ps[i], NULL)) == 0);
        ref_set_ctx("norm gradient at 0, p = %g", ps[i]);
        CHECK_REF(nb_grad(z), NB_F64, NB_SHAPE(4), ((const double[]){0, 0, 0, 0}), 0, 0);
    }
    /* cumsum: gradient of sum(cumsum(x) * w) is the reversed cumsum of w */
    nb_tensor *c = nb_param(nb_zeros(NB_SHAPE(4), NB_F64));
    CHECK(nb_backward(nb_sum(nb_mul(nb_cumsum(c, 0), nb_from_data(wv, NB_SHAPE(4), NB_F64)), NULL)) == 0);
    ref_set_ctx("cumsum gradient");
    CHECK_REF(nb_grad(c), NB_F64, NB_SHAPE(4), ((const double[]){100, 90, 70, 40}), 0, 0);
    /* integer outputs carry no gradient; values of f32 inputs do */
    nb_tensor *f = nb_param(nb_randn(NB_SHAPE(5), NB_F32)), *fi;
    nb_tensor *fv = nb_sort(f, 0, false, true, &fi);
    CHECK(nb_requires_grad(fv) && !nb_requires_grad(fi));
    CHECK(!nb_requires_grad(nb_any(f, NULL)) && !nb_requires_grad(nb_argsort(f, 0, false, true)));
}

/* ==== errors ============================================================================================ */

static void test_errors(void) {
    nb_tensor *t = nb_zeros(NB_SHAPE(2, 7), NB_F32), *i = NULL;
    nb_tensor *bl = nb_zeros(NB_SHAPE(3), NB_BOOL), *it = nb_zeros(NB_SHAPE(3), NB_I32);
    CHECK_NULL_WITH(nb_topk(t, 8, 1, true, true, &i), "nb_topk", "k = 8", "[2, 7]");
    CHECK(i == NULL);
    CHECK_NULL_WITH(nb_topk(t, -1, 1, true, true, NULL), "nb_topk", "k = -1");
    CHECK_NULL_WITH(nb_topk(t, 1, 2, true, true, NULL), "nb_topk", "dim 2", "out of range");
    CHECK_NULL_WITH(nb_kthvalue(t, 0, 1, false, NULL), "nb_kthvalue", "k = 0", "1..7");
    CHECK_NULL_WITH(nb_kthvalue(t, 8, -1, false, NULL), "nb_kthvalue", "k = 8");
    CHECK_NULL_WITH(nb_kthvalue(t, 1, -3, false, NULL), "nb_kthvalue", "out of range");
    CHECK_NULL_WITH(nb_sort(t, 2, false, true, NULL), "nb_sort", "dim 2");
    CHECK_NULL_WITH(nb_argsort(t, -3, false, true), "nb_argsort", "out of range");
    CHECK_NULL_WITH(nb_max_dim(t, 5, false, NULL), "nb_max_dim", "out of range");
    CHECK_NULL_WITH(nb_min_dim(nb_zeros(NB_SHAPE(2, 0), NB_F32), 1, false, NULL), "nb_min_dim", "size 0", "[2, 0]");
    CHECK_NULL_WITH(nb_max_dim(nb_zeros(NB_SHAPE(0), NB_F32), 0, true, NULL), "nb_max_dim", "size 0");
    CHECK_NULL_WITH(nb_argmin(nb_zeros(NB_SHAPE(0), NB_F32), NB_DIM_ALL, false), "nb_argmin", "size 0");
    CHECK_NULL_WITH(nb_argmin(t, 3, false), "nb_argmin", "out of range");
    CHECK_NULL_WITH(nb_median(nb_zeros(NB_SHAPE(0, 2), NB_F32), 0, false, NULL), "nb_median", "size 0");
    CHECK_NULL_WITH(nb_median(nb_zeros(NB_SHAPE(0), NB_I32), NB_DIM_ALL, false, NULL), "nb_median", "size 0");
    nb_tensor *mi = NULL, *me = nb_median(nb_zeros(NB_SHAPE(2, 0), NB_F32), NB_DIM_ALL, true, &mi);
    CHECK(me && nb_ndim(me) == 2 && isnan(nb_item(me)) && mi && nb_item(mi) == -1);
    CHECK_NULL_WITH(nb_median(t, 2, false, NULL), "nb_median", "out of range");
    CHECK_NULL_WITH(nb_cumsum(t, 2), "nb_cumsum", "out of range");
    CHECK_NULL_WITH(nb_cumprod(t, -3), "nb_cumprod", "out of range");
    CHECK_NULL_WITH(nb_var(bl, NULL, 1), "nb_var", "floating", "bool");
    CHECK_NULL_WITH(nb_var(it, NULL, 1), "nb_var", "floating", "i32");
    CHECK_NULL_WITH(nb_std(it, NULL, 1), "nb_std", "floating", "i32");
    CHECK_NULL_WITH(nb_var(t, NULL, NAN), "nb_var", "correction");
    nb_tensor *mean = t;
    CHECK_NULL_WITH(nb_var_mean(it, NULL, 1, &mean), "nb_var_mean", "floating", "i32");
    CHECK(mean == NULL);
    CHECK_NULL_WITH(nb_var_mean(t, NB_DIMS(3), 1, &mean), "nb_var_mean", "out of range");
    CHECK_NULL_WITH(nb_var_mean(NULL, NULL, 1, &mean), "nb_var_mean");
    CHECK_NULL_WITH(nb_norm(it, 2, NULL), "nb_norm", "floating", "i32");
    CHECK_NULL_WITH(nb_norm(t, NAN, NULL), "nb_norm", "p = nan");
    CHECK_NULL_WITH(nb_norm(nb_zeros(NB_SHAPE(2, 0), NB_F32), INFINITY, NB_DIMS(1)), "nb_norm", "inf", "empty");
    CHECK_NULL_WITH(nb_prod(t, NB_DIMS(2)), "nb_prod", "out of range");
    CHECK_NULL_WITH(nb_logsumexp(t, NB_DIMS(0, 0)), "nb_logsumexp", "more than once");
    CHECK_NULL_WITH(nb_any(t, NB_DIMS(-3)), "nb_any", "out of range");
    CHECK_NULL_WITH(nb_all(t, NB_DIMS(2)), "nb_all", "out of range");
    CHECK_NULL_WITH(nb_prod(NULL, NULL), "nb_prod");
    CHECK_NULL_WITH(nb_sort(NULL, 0, false, true, &i), "nb_sort");
    CHECK(i == NULL);
    CHECK_NULL_WITH(nb_topk(NULL, 1, 0, true, true, NULL), "nb_topk");
    CHECK_NULL_WITH(nb_median(NULL, NB_DIM_ALL, false, NULL), "nb_median");
    CHECK_NULL_WITH(nb_std(NULL, NULL, 1), "nb_std");
    CHECK_NULL_WITH(nb_cumsum(NULL, 0), "nb_cumsum");
    /* the scatter / gather pair refuses indices outside the dim (reached through a gradient with a
     * tampered index tensor is impossible from the public API; check the cheap positive case instead) */
    nb_tensor *x = nb_param(nb_randn(NB_SHAPE(3, 4), NB_F64)), *ix;
    nb_tensor *v = nb_topk(x, 2, 1, true, true, &ix);
    CHECK(v && nb_backward(nb_sum(v, NULL)) == 0);
    CHECK(nb_item(nb_sum(nb_grad(x), NULL)) == 6);
}

int main(void) {
    REF_RUN(test_reductions);
    REF_RUN(test_along_dim);
    REF_RUN(test_special);
    REF_RUN(test_long_rows);
    REF_RUN(test_gradients);
    REF_RUN(test_errors);
    return harness_finish();
}
