/* tests/gradcheck/neural.c — gradient-check cases for the ops in src/ops/neural.def (linked into
 * test_gradcheck; see tests/gradcheck.h). */
#include "../gradcheck.h"

/* ---- layer_norm ---------------------------------------------------------------------------------- */

typedef struct ln_ud {
    int k;            /* normalized dims */
    bool w, b;        /* inputs 1 / 2 are weight / bias */
    bool transpose;   /* normalise transpose(x, 0, 1) */
    bool use_stats;   /* also use the mean of y^2 ... (a function of every output) */
} ln_ud;
static tp f_ln(tp const *in, void *ud) {
    ln_ud *u = ud;
    tp x = u->transpose ? nb_transpose(in[0], 0, 1) : in[0];
    int i = 1;
    tp w = u->w ? in[i++] : NULL, b = u->b ? in[i++] : NULL;
    return nb_layer_norm(x, u->k, nb_shape(x) + nb_ndim(x) - u->k, w, b, 1e-5);
}

static void case_layer_norm(void) {
    ln_ud wb = {1, true, true, false, false}, none = {1, false, false, false, false}, k2 = {2, true, true, false, false},
          tr = {1, true, true, true, false}, w_only = {1, true, false, false, false};
    GC("layer_norm [7, 5] weight bias", f_ln, &wb, P(NB_SHAPE(7, 5)), P(NB_SHAPE(5)), P(NB_SHAPE(5)));
    GC("layer_norm [1, 17] weight bias", f_ln, &wb, P(NB_SHAPE(1, 17)), P(NB_SHAPE(17)), P(NB_SHAPE(17)));
    GC("layer_norm [3, 1] (one feature)", f_ln, &wb, P(NB_SHAPE(3, 1)), P(NB_SHAPE(1)), P(NB_SHAPE(1)));
    GC("layer_norm [2, 3, 7] no affine", f_ln, &none, P(NB_SHAPE(2, 3, 7)));
    GC("layer_norm [2, 3, 4] over the last 2 dims", f_ln, &k2, P(NB_SHAPE(2, 3, 4)), P(NB_SHAPE(3, 4)), P(NB_SHAPE(3, 4)));
    GC("layer_norm transpose([6, 4])", f_ln, &tr, P(NB_SHAPE(6, 4)), P(NB_SHAPE(6)), P(NB_SHAPE(6)));
    GC("layer_norm [5] (one row) weight only", f_ln, &w_only, P(NB_SHAPE(5)), P(NB_SHAPE(5)));
    EXPECT_FN("layer_norm records NativeLayerNormBackward", "NativeLayerNormBackward", f_ln, &wb, P(NB_SHAPE(3, 4)),
              P(NB_SHAPE(4)), P(NB_SHAPE(4)));
    double_ud d = {f_ln, &wb, 3}, dn = {f_ln, &none, 1}, dk = {f_ln, &k2, 3}, dt = {f_ln, &tr, 3};
    GC("layer_norm second derivative [4, 5] weight bias", f_double, &d, P(NB_SHAPE(4, 5)), P(NB_SHAPE(5)), P(NB_SHAPE(5)),
       V(4, 5));
    GC("layer_norm second derivative [3, 7] no affine", f_double, &dn, P(NB_SHAPE(3, 7)), V(3, 7));
    GC("layer_norm second derivative over 2 dims", f_double, &dk, P(NB_SHAPE(2, 2, 3)), P(NB_SHAPE(2, 3)), P(NB_SHAPE(2, 3)),
       V(2, 2, 3));
    GC("layer_norm second derivative transposed", f_double, &dt, P(NB_SHAPE(5, 3)), P(NB_SHAPE(5)), P(NB_SHAPE(5)), V(3, 5));
}

static tp f_ln_dx(tp const *in, void *ud) {
    tp y = f_ln(in, ud), v = in[1], g;
    nb_autograd_opts o = {.grad_outputs = &v, .create_graph = true};
    if (!y || nb_autograd_grad(&y, 1, in, 1, &o, &g) != 0) return NULL;
    return nb_retain(g);
}
static void case_layer_norm_backward(void) {
    ln_ud wb = {1, true, true, false, false}, none = {1, false, false, false, false};
    double_ud d = {f_ln, &wb, 3}, dn = {f_ln, &none, 1};
    GC("layer_norm_backward via second derivative [7, 3]", f_double, &d, P(NB_SHAPE(7, 3)), P(NB_SHAPE(3)),
       P(NB_SHAPE(3)), V(7, 3));
    GC("layer_norm_backward via second derivative [2, 17] no affine", f_double, &dn, P(NB_SHAPE(2, 17)), V(2, 17));
    double_ud d3 = {f_double, &d, 4};
    GC("layer_norm third derivative [3, 4]", f_double, &d3, P(NB_SHAPE(3, 4)), P(NB_SHAPE(4)), P(NB_SHAPE(4)), V(3, 4),
       V(20));
    ln_ud plain = {1, false, false, false, false};
    EXPECT_FN("the input gradient of layer_norm is layer_norm_backward", "NativeLayerNormBackwardBackward", f_ln_dx,
              &plain, P(NB_SHAPE(4, 3)), V(4, 3));
}

/* ---- group / instance / rms norm --------------------------------------------------------------- */

static tp f_gn(tp const *in, void *ud) {
    int64_t g = *(int64_t *)ud;
    return nb_group_norm(in[0], g, in[1], in[2], 1e-5);
}
static tp f_gn_plain(tp const *in, void *ud) { return nb_group_norm(nb_transpose(in[0], 2, 3), *(int64_t *)ud, NULL, NULL, 1e-5); }
static void case_group_norm(void) {
    int64_t g2 = 2, g1 = 1, g3 = 3;
    GC("group_norm [2, 4, 3] groups 2", f_gn, &g2, P(NB_SHAPE(2, 4, 3)), P(NB_SHAPE(4)), P(NB_SHAPE(4)));
    GC("group_norm [1, 3, 2, 2] groups 1", f_gn, &g1, P(NB_SHAPE(1, 3, 2, 2)), P(NB_SHAPE(3)), P(NB_SHAPE(3)));
    GC("group_norm [3, 3] (N, C) groups 1", f_gn, &g1, P(NB_SHAPE(3, 3)), P(NB_SHAPE(3)), P(NB_SHAPE(3)));
    GC("group_norm transposed spatial dims, no affine", f_gn_plain, &g3, P(NB_SHAPE(2, 3, 2, 3)));
    double_ud d = {f_gn, &g2, 3};
    GC("group_norm second derivative", f_double, &d, P(NB_SHAPE(2, 4, 2)), P(NB_SHAPE(4)), P(NB_SHAPE(4)), V(2, 4, 2));
}

typedef struct in_ud {
    tp rm, rv;
    bool use_input_stats;
} in_ud;
static tp f_in(tp const *in, void *ud) {
    in_ud *u = ud;
    return nb_instance_norm(in[0], u->rm, u->rv, in[1], in[2], u->use_input_stats, 0.1, 1e-5);
}
static void case_instance_norm(void) {
    in_ud plain = {NULL, NULL, true};
    in_ud run = {nb_zeros(NB_SHAPE(3), NB_F64), nb_ones(NB_SHAPE(3), NB_F64), true};
    in_ud ev = {nb_randn(NB_SHAPE(3), NB_F64), nb_add_scalar(nb_rand(NB_SHAPE(3), NB_F64), 0.5), false};
    GC("instance_norm [2, 3, 5]", f_in, &plain, P(NB_SHAPE(2, 3, 5)), P(NB_SHAPE(3)), P(NB_SHAPE(3)));
    GC("instance_norm [1, 3, 2, 3] with running statistics", f_in, &run, P(NB_SHAPE(1, 3, 2, 3)), P(NB_SHAPE(3)),
       P(NB_SHAPE(3)));
    GC("instance_norm evaluation with running statistics", f_in, &ev, P(NB_SHAPE(2, 3, 4)), P(NB_SHAPE(3)), P(NB_SHAPE(3)));
    double_ud d = {f_in, &plain, 3};
    GC("instance_norm second derivative", f_double, &d, P(NB_SHAPE(2, 3, 3)), P(NB_SHAPE(3)), P(NB_SHAPE(3)), V(2, 3, 3));
}

static tp f_rms(tp const *in, void *ud) {
    int k = *(int *)ud;
    return nb_rms_norm(in[0], k, nb_shape(in[0]) + nb_ndim(in[0]) - k, in[1], -1);
}
static tp f_rms_t(tp const *in, void *ud) {
    (void)ud;
    tp x = nb_transpose(in[0], 0, 1);
    return nb_rms_norm(x, 1, nb_shape(x) + 1, NULL, 1e-6);
}
static void case_rms_norm(void) {
    int k1 = 1, k2 = 2;
    GC("rms_norm [7, 5] weight", f_rms, &k1, P(NB_SHAPE(7, 5)), P(NB_SHAPE(5)));
    GC("rms_norm [2, 3, 4] over 2 dims", f_rms, &k2, P(NB_SHAPE(2, 3, 4)), P(NB_SHAPE(3, 4)));
    GC("rms_norm transpose([5, 3]) no weight", f_rms_t, NULL, P(NB_SHAPE(5, 3)));
    double_ud d = {f_rms, &k1, 2};
    GC("rms_norm second derivative", f_double, &d, P(NB_SHAPE(3, 4)), P(NB_SHAPE(4)), V(3, 4));
}

/* ---- embedding ----------------------------------------------------------------------------------- */

typedef struct emb_ud {
    tp idx;
    bool pad;
    int64_t padding_idx;
} emb_ud;
static tp f_emb(tp const *in, void *ud) {
    emb_ud *u = ud;
    nb_embedding_opts o = {.use_padding_idx = u->pad, .padding_idx = u->padding_idx};
    return nb_embedding(in[0], u->idx, &o);
}
/* padding rows are read but get no gradient: the check zeroes the outputs at padding positions, so
 * the numerical gradient of the padding row is 0 too */
static tp f_emb_pad(tp const *in, void *ud) {
    emb_ud *u = ud;
    tp keep = nb_unsqueeze(nb_to(nb_ne_scalar(u->idx, (double)u->padding_idx), NB_F64), -1);
    return nb_mul(f_emb(in, ud), keep);
}
static tp f_emb_t(tp const *in, void *ud) {
    emb_ud *u = ud;
    return nb_embedding(nb_transpose(in[0], 0, 1), u->idx, NULL);
}
static void case_embedding(void) {
    emb_ud a = {I64(NB_SHAPE(2, 3), (int64_t[]){0, 4, 2, 2, 6, 0}), false, 0};
    emb_ud p = {a.idx, true, 2};
    GC("embedding [7, 3] at [2, 3] indices (repeats)", f_emb, &a, P(NB_SHAPE(7, 3)));
    GC("embedding padding_idx 2", f_emb_pad, &p, P(NB_SHAPE(7, 3)));
    emb_ud t = {I64(NB_SHAPE(4), (int64_t[]){1, 0, 1, 2}), false, 0};
    GC("embedding of a transposed table", f_emb_t, &t, P(NB_SHAPE(4, 3)));
}
static void case_embedding_backward(void) {
    emb_ud a = {I64(NB_SHAPE(5), (int64_t[]){0, 3, 3, 1, 0}), false, 0}, p = {a.idx, true, 3};
    double_ud d = {f_emb, &a, 1}, dp = {f_emb, &p, 1};
    GC("embedding_backward via second derivative", f_double, &d, P(NB_SHAPE(4, 2)), V(5, 2));
    GC("embedding_backward via second derivative, padding_idx", f_double, &dp, P(NB_SHAPE(4, 2)), V(5, 2));
}

typedef struct bag_ud {
    tp idx, off;
    nb_bag_mode mode;
    bool psw;
} bag_ud;
static tp f_bag(tp const *in, void *ud) {
    bag_ud *u = ud;
    return nb_embedding_bag(in[0], u->idx, u->off, u->mode, u->psw ? in[1] : NULL);
}
static void case_embedding_bag(void) {
    tp idx = I64(NB_SHAPE(7), (int64_t[]){0, 2, 2, 4, 1, 3, 0}), off = I64(NB_SHAPE(4), (int64_t[]){0, 3, 3, 5});
    tp idx2 = I64(NB_SHAPE(2, 3), (int64_t[]){0, 2, 4, 1, 1, 3});
    bag_ud sum = {idx, off, NB_BAG_SUM, false}, mean = {idx, off, NB_BAG_MEAN, false}, psw = {idx, off, NB_BAG_SUM, true},
           s2 = {idx2, NULL, NB_BAG_MEAN, false}, m2 = {idx2, NULL, NB_BAG_MAX, false};
    GC("embedding_bag sum with offsets (an empty bag)", f_bag, &sum, P(NB_SHAPE(5, 3)));
    GC("embedding_bag mean with offsets", f_bag, &mean, P(NB_SHAPE(5, 3)));
    GC("embedding_bag sum with per_sample_weights", f_bag, &psw, P(NB_SHAPE(5, 3)), P(NB_SHAPE(7)));
    GC("embedding_bag mean of a 2-D input", f_bag, &s2, P(NB_SHAPE(5, 3)));
    GC("embedding_bag max of a 2-D input", f_bag, &m2, Plattice(NB_SHAPE(5, 3), 1, false));
    bag_ud mo = {I64(NB_SHAPE(5), (int64_t[]){0, 2, 4, 1, 3}), I64(NB_SHAPE(3), (int64_t[]){0, 2, 2}), NB_BAG_MAX, false};
    GC("embedding_bag max with offsets", f_bag, &mo, Plattice(NB_SHAPE(5, 3), 3, false));
}

/* ---- dropout (the mask is re-drawn from a fixed seed on each call, so the function is fixed) ---- */

static tp f_dropout(tp const *in, void *ud) {
    nb_manual_seed(1234);
    return nb_dropout(nb_transpose(in[0], 0, 1), *(double *)ud, true);
}
static tp f_dropout2d(tp const *in, void *ud) {
    nb_manual_seed(99);
    return nb_dropout2d(in[0], *(double *)ud, true);
}
static void case_dropout(void) {
    double p = 0.4, p0 = 0, p1 = 1;
    GC("dropout p 0.4 transpose([7, 5])", f_dropout, &p, P(NB_SHAPE(7, 5)));
    GC("dropout p 0", f_dropout, &p0, P(NB_SHAPE(3, 2)));
    GC("dropout p 1", f_dropout, &p1, P(NB_SHAPE(3, 2)));
}
static void case_dropout2d(void) {
    double p = 0.5;
    GC("dropout2d [2, 5, 3, 2]", f_dropout2d, &p, P(NB_SHAPE(2, 5, 3, 2)));
    GC("dropout2d [4, 2, 3]", f_dropout2d, &p, P(NB_SHAPE(4, 2, 3)));
}

/* ---- linear, bilinear, distances ---------------------------------------------------------------- */

static tp f_linear(tp const *in, void *ud) { return (void)ud, nb_linear(in[0], in[1], in[2]); }
static tp f_linear_nb(tp const *in, void *ud) { return (void)ud, nb_linear(nb_transpose(in[0], 0, 1), in[1], NULL); }
static void case_linear(void) {
    GC("linear [7, 3] [5, 3] [5]", f_linear, NULL, P(NB_SHAPE(7, 3)), P(NB_SHAPE(5, 3)), P(NB_SHAPE(5)));
    GC("linear [2, 3, 4] (batched) [1, 4] [1]", f_linear, NULL, P(NB_SHAPE(2, 3, 4)), P(NB_SHAPE(1, 4)), P(NB_SHAPE(1)));
    GC("linear [3] (1-D) [2, 3] [2]", f_linear, NULL, P(NB_SHAPE(3)), P(NB_SHAPE(2, 3)), P(NB_SHAPE(2)));
    GC("linear transposed input, no bias", f_linear_nb, NULL, P(NB_SHAPE(4, 6)), P(NB_SHAPE(3, 4)));
    EXPECT_FN("linear records LinearBackward", "LinearBackward", f_linear, NULL, P(NB_SHAPE(2, 3)), P(NB_SHAPE(4, 3)),
              P(NB_SHAPE(4)));
    GC("linear with a constant weight", f_linear, NULL, P(NB_SHAPE(3, 2)), nb_randn(NB_SHAPE(2, 2), NB_F64),
       P(NB_SHAPE(2)));
    double_ud d = {f_linear, NULL, 3};
    GC("linear second derivative", f_double, &d, P(NB_SHAPE(2, 3, 4)), P(NB_SHAPE(5, 4)), P(NB_SHAPE(5)), V(2, 3, 5));
}

static tp f_bilinear(tp const *in, void *ud) { return (void)ud, nb_bilinear(in[0], in[1], in[2], in[3]); }
static tp f_bilinear_nb(tp const *in, void *ud) {
    return (void)ud, nb_bilinear(nb_transpose(in[0], 0, 1), in[1], in[2], NULL);
}
static void case_bilinear(void) {
    GC("bilinear [4, 3] [4, 2] [5, 3, 2] [5]", f_bilinear, NULL, P(NB_SHAPE(4, 3)), P(NB_SHAPE(4, 2)), P(NB_SHAPE(5, 3, 2)),
       P(NB_SHAPE(5)));
    GC("bilinear [2, 2, 3] batched", f_bilinear, NULL, P(NB_SHAPE(2, 2, 3)), P(NB_SHAPE(2, 2, 1)), P(NB_SHAPE(1, 3, 1)),
       P(NB_SHAPE(1)));
    GC("bilinear transposed x1, no bias", f_bilinear_nb, NULL, P(NB_SHAPE(3, 4)), P(NB_SHAPE(4, 2)), P(NB_SHAPE(2, 3, 2)));
    double_ud d = {f_bilinear, NULL, 4};
    GC("bilinear second derivative", f_double, &d, P(NB_SHAPE(3, 2)), P(NB_SHAPE(3, 3)), P(NB_SHAPE(2, 2, 3)),
       P(NB_SHAPE(2)), V(3, 2));
}

static tp f_cos(tp const *in, void *ud) { return nb_cosine_similarity(in[0], in[1], *(int *)ud, 1e-8); }
static tp f_cos_t(tp const *in, void *ud) { return nb_cosine_similarity(nb_transpose(in[0], 0, 1), in[1], *(int *)ud, 1e-8); }
static void case_cosine_similarity(void) {
    int d1 = 1, d0 = 0, dm = -1;
    GC("cosine_similarity [4, 5] dim 1", f_cos, &d1, P(NB_SHAPE(4, 5)), P(NB_SHAPE(4, 5)));
    GC("cosine_similarity [3, 1] [1, 7] broadcast dim 0", f_cos, &d0, P(NB_SHAPE(3, 1)), P(NB_SHAPE(3, 7)));
    GC("cosine_similarity transposed dim -1", f_cos_t, &dm, P(NB_SHAPE(6, 3)), P(NB_SHAPE(6)));
    double_ud d = {f_cos, &d1, 2};
    GC("cosine_similarity second derivative", f_double, &d, P(NB_SHAPE(3, 4)), P(NB_SHAPE(3, 4)), V(3));
}

typedef struct pd_ud {
    double p;
    bool keepdim;
} pd_ud;
static tp f_pd(tp const *in, void *ud) {
    pd_ud *u = ud;
    return nb_pairwise_distance(in[0], in[1], u->p, 1e-6, u->keepdim);
}
static void case_pairwise_distance(void) {
    pd_ud p2 = {2, false}, p1 = {1, true}, p3 = {3, false}, pinf = {INFINITY, false};
    GC("pairwise_distance p 2 [4, 5]", f_pd, &p2, P(NB_SHAPE(4, 5)), P(NB_SHAPE(4, 5)));
    GC("pairwise_distance p 1 keepdim [3, 7] [7]", f_pd, &p1, Plattice(NB_SHAPE(3, 7), 1, false), Plattice(NB_SHAPE(7), 2, true));
    GC("pairwise_distance p 3", f_pd, &p3, P(NB_SHAPE(2, 4)), P(NB_SHAPE(2, 4)));
    /* p = inf: |x1 - x2| must have no near-ties in a row (two lattices can give |a| = |-a|, a kink that the
     * numerical derivative straddles), so x2 is a set of distinct offsets far below the lattice spacing. */
    tp offsets = nb_param(nb_reshape(nb_mul_scalar(nb_arange(1, 11, 1, NB_F64), 0.0013), NB_SHAPE(2, 5)));
    GC("pairwise_distance p inf", f_pd, &pinf, Plattice(NB_SHAPE(2, 5), 3, false), offsets);
}

/* ---- attention ------------------------------------------------------------------------------------ */

typedef struct sdpa_ud {
    tp mask;
    bool causal;
    double dropout;
    bool transpose_k;
} sdpa_ud;
static tp f_sdpa(tp const *in, void *ud) {
    sdpa_ud *u = ud;
    if (u->dropout > 0) nb_manual_seed(7);
    tp k = u->transpose_k ? nb_transpose(in[1], -2, -1) : in[1];
    return nb_scaled_dot_product_attention(in[0], k, in[2], u->mask, u->dropout, u->causal, 0);
}
static void case_scaled_dot_product_attention(void) {
    sdpa_ud plain = {NULL, false, 0, false}, causal = {NULL, true, 0, false}, tk = {NULL, false, 0, true};
    bool mb[12] = {1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0};
    sdpa_ud bmask = {nb_from_data(mb, NB_SHAPE(3, 4), NB_BOOL), false, 0, false};
    sdpa_ud fmask = {nb_randn(NB_SHAPE(1, 3, 4), NB_F64), false, 0, false};
    sdpa_ud drop = {NULL, false, 0.3, false};
    GC("sdpa [2, 3, 4] [2, 4, 4] [2, 4, 2]", f_sdpa, &plain, P(NB_SHAPE(2, 3, 4)), P(NB_SHAPE(2, 4, 4)), P(NB_SHAPE(2, 4, 2)));
    GC("sdpa causal [3, 3] [3, 3] [3, 2]", f_sdpa, &causal, P(NB_SHAPE(3, 3)), P(NB_SHAPE(3, 3)), P(NB_SHAPE(3, 2)));
    GC("sdpa causal L 3 < S 5", f_sdpa, &causal, P(NB_SHAPE(3, 2)), P(NB_SHAPE(5, 2)), P(NB_SHAPE(5, 2)));
    GC("sdpa bool mask", f_sdpa, &bmask, P(NB_SHAPE(2, 3, 2)), P(NB_SHAPE(2, 4, 2)), P(NB_SHAPE(2, 4, 3)));
    GC("sdpa float mask, broadcast batch of k", f_sdpa, &fmask, P(NB_SHAPE(2, 3, 2)), P(NB_SHAPE(4, 2)), P(NB_SHAPE(4, 3)));
    GC("sdpa transposed key", f_sdpa, &tk, P(NB_SHAPE(3, 2)), P(NB_SHAPE(2, 4)), P(NB_SHAPE(4, 2)));
    GC("sdpa dropout 0.3", f_sdpa, &drop, P(NB_SHAPE(3, 2)), P(NB_SHAPE(4, 2)), P(NB_SHAPE(4, 2)));
    double_ud d = {f_sdpa, &causal, 3};
    GC("sdpa second derivative (causal)", f_double, &d, P(NB_SHAPE(3, 2)), P(NB_SHAPE(3, 2)), P(NB_SHAPE(3, 2)), V(3, 2));
}

const grad_case gc_cases_neural[] = {
    {"layer_norm", case_layer_norm},
    {"layer_norm_backward", case_layer_norm_backward},
    {"group_norm", case_group_norm},
    {"instance_norm", case_instance_norm},
    {"rms_norm", case_rms_norm},
    {"embedding", case_embedding},
    {"embedding_backward", case_embedding_backward},
    {"embedding_bag", case_embedding_bag},
    {"dropout", case_dropout},
    {"dropout2d", case_dropout2d},
    {"linear", case_linear},
    {"bilinear", case_bilinear},
    {"cosine_similarity", case_cosine_similarity},
    {"pairwise_distance", case_pairwise_distance},
    {"scaled_dot_product_attention", case_scaled_dot_product_attention},
    {NULL, NULL},
};
