/* tests/gradcheck/spatial.c — gradient-check cases for the ops in src/ops/spatial.def (linked into
 * test_gradcheck; see tests/gradcheck.h). Max pools use lattice inputs (no ties within eps); the
 * linear ops (conv_transpose2d, the average pools, interpolate, pixel_shuffle) also get second
 * derivatives. */
#include "../gradcheck.h"

/* ---- conv1d ---- */
typedef struct c1_ud {
    nb_conv_opts o;
    bool bias, step; /* step: x is a stepped slice along L */
} c1_ud;
static tp f_conv1d(tp const *in, void *ud) {
    c1_ud *c = ud;
    tp x = c->step ? nb_slice(in[0], -1, 0, INT64_MAX, 2) : in[0];
    return nb_conv1d(x, in[1], c->bias ? in[2] : NULL, &c->o);
}
static void case_conv1d(void) {
    c1_ud plain = {.bias = true}, s = {.o = {.stride = {2}, .padding = {1}, .dilation = {2}, .groups = 2}, .step = true},
          same = {.o = {.same = true}, .bias = true};
    GC("conv1d [2,3,7] * [4,3,3] + bias", f_conv1d, &plain, P(NB_SHAPE(2, 3, 7)), P(NB_SHAPE(4, 3, 3)), P(NB_SHAPE(4)));
    GC("conv1d stride 2 pad 1 dil 2 groups 2, stepped input", f_conv1d, &s, P(NB_SHAPE(1, 4, 17)), P(NB_SHAPE(2, 2, 3)));
    GC("conv1d same, even kernel", f_conv1d, &same, P(NB_SHAPE(2, 2, 7)), P(NB_SHAPE(3, 2, 4)), P(NB_SHAPE(3)));
    double_ud d = {f_conv1d, &s, 2};
    GC("conv1d second derivative", f_double, &d, P(NB_SHAPE(1, 4, 17)), P(NB_SHAPE(2, 2, 3)), V(1, 2, 4));
    /* depthwise (groups == C_in == C_out): conv2d's direct-loop path, gradients to second order */
    c1_ud dw = {.o = {.padding = {1}, .dilation = {2}, .stride = {2}, .groups = 3}, .bias = true};
    GC("conv1d depthwise", f_conv1d, &dw, P(NB_SHAPE(2, 3, 9)), P(NB_SHAPE(3, 1, 3)), P(NB_SHAPE(3)));
    double_ud dd = {f_conv1d, &dw, 3};
    GC("conv1d depthwise second derivative", f_double, &dd, P(NB_SHAPE(2, 3, 9)), P(NB_SHAPE(3, 1, 3)), P(NB_SHAPE(3)),
       V(2, 3, 4));
}

/* ---- conv_transpose2d ---- */
typedef struct ct_ud {
    nb_conv_transpose_opts o;
    bool bias, trans; /* trans: x is passed (H, W)-transposed */
} ct_ud;
static tp f_convt(tp const *in, void *ud) {
    ct_ud *c = ud;
    tp x = c->trans ? nb_transpose(in[0], 2, 3) : in[0];
    return nb_conv_transpose2d(x, in[1], c->bias ? in[2] : NULL, &c->o);
}
static void case_conv_transpose2d(void) {
    ct_ud plain = {.bias = true},
          s = {.o = {.stride = {2, 3}, .padding = {1, -1}, .output_padding = {1, 2}, .groups = 2}, .trans = true},
          dil = {.o = {.dilation = {2}, .padding = {1}}, .bias = true};
    GC("conv_transpose2d [2,3,4,5] * [3,2,3,3] + bias", f_convt, &plain, P(NB_SHAPE(2, 3, 4, 5)), P(NB_SHAPE(3, 2, 3, 3)),
       P(NB_SHAPE(2)));
    GC("conv_transpose2d stride (2,3) output_padding (1,2) groups 2, transposed input", f_convt, &s, P(NB_SHAPE(1, 4, 4, 3)),
       P(NB_SHAPE(4, 1, 3, 2)));
    GC("conv_transpose2d dilation 2 padding 1", f_convt, &dil, P(NB_SHAPE(1, 2, 5, 4)), P(NB_SHAPE(2, 3, 3, 2)), P(NB_SHAPE(3)));
    double_ud d = {f_convt, &s, 2};
    /* output (1, 2, (3-1)*2-2+2+1+1 = 6, (4-1)*3+1+2+1 = 13) */
    GC("conv_transpose2d second derivative", f_double, &d, P(NB_SHAPE(1, 4, 4, 3)), P(NB_SHAPE(4, 1, 3, 2)), V(1, 2, 6, 13));
    ct_ud dw = {.o = {.stride = {2}, .padding = {1}, .output_padding = {1}, .groups = 3}};
    double_ud dd = {f_convt, &dw, 2};
    /* depthwise: output (1, 3, (3-1)*2-2+2+1+1 = 6, (4-1)*2-2+2+1+1 = 8) */
    GC("conv_transpose2d depthwise", f_convt, &dw, P(NB_SHAPE(1, 3, 3, 4)), P(NB_SHAPE(3, 1, 3, 3)));
    GC("conv_transpose2d depthwise second derivative", f_double, &dd, P(NB_SHAPE(1, 3, 3, 4)), P(NB_SHAPE(3, 1, 3, 3)),
       V(1, 3, 6, 8));
}

/* ---- max_pool1d ---- */
typedef struct mp_ud {
    nb_pool_opts o;
} mp_ud;
static tp f_maxpool1d(tp const *in, void *ud) { return nb_max_pool1d(in[0], &((mp_ud *)ud)->o); }
static void case_max_pool1d(void) {
    mp_ud a = {.o = {.kernel = {2}}}, b = {.o = {.kernel = {3}, .stride = {2}, .padding = {1}, .ceil_mode = true}},
          c = {.o = {.kernel = {3}, .stride = {1}, .dilation = {2}}};
    GC("max_pool1d k2", f_maxpool1d, &a, Plattice(NB_SHAPE(2, 3, 7), 1, false));
    GC("max_pool1d k3 s2 p1 ceil", f_maxpool1d, &b, Plattice(NB_SHAPE(1, 2, 17), 2, true));
    GC("max_pool1d dilation 2 unbatched", f_maxpool1d, &c, Plattice(NB_SHAPE(3, 9), 3, false));
}

/* ---- avg pools ---- */
typedef struct ap_ud {
    nb_avg_pool_opts o;
    bool trans;
} ap_ud;
static tp f_avgpool2d(tp const *in, void *ud) {
    ap_ud *a = ud;
    return nb_avg_pool2d(a->trans ? nb_transpose(in[0], 2, 3) : in[0], &a->o);
}
static tp f_avgpool1d(tp const *in, void *ud) { return nb_avg_pool1d(in[0], &((ap_ud *)ud)->o); }
static void case_avg_pool2d(void) {
    ap_ud a = {.o = {.kernel = {2}}}, b = {.o = {.kernel = {3, 2}, .stride = {2, 1}, .padding = {1}, .ceil_mode = true}, .trans = true},
          c = {.o = {.kernel = {3}, .stride = {2}, .padding = {1}, .exclude_pad = true, .ceil_mode = true}},
          d = {.o = {.kernel = {2, 3}, .divisor_override = 5}};
    GC("avg_pool2d k2", f_avgpool2d, &a, P(NB_SHAPE(2, 3, 7, 6)));
    GC("avg_pool2d k(3,2) s(2,1) p1 ceil, transposed input", f_avgpool2d, &b, P(NB_SHAPE(1, 2, 7, 5)));
    GC("avg_pool2d exclude_pad", f_avgpool2d, &c, P(NB_SHAPE(1, 2, 7, 7)));
    GC("avg_pool2d divisor_override", f_avgpool2d, &d, P(NB_SHAPE(2, 1, 5, 7)));
    double_ud dd = {f_avgpool2d, &c, 1};
    GC("avg_pool2d second derivative", f_double, &dd, P(NB_SHAPE(1, 2, 7, 7)), V(1, 2, 4, 4));
}
static void case_avg_pool1d(void) {
    ap_ud a = {.o = {.kernel = {3}, .stride = {2}, .padding = {1}, .ceil_mode = true}};
    GC("avg_pool1d k3 s2 p1", f_avgpool1d, &a, P(NB_SHAPE(2, 3, 8)));
    double_ud d = {f_avgpool1d, &a, 1};
    GC("avg_pool1d second derivative", f_double, &d, P(NB_SHAPE(2, 3, 8)), V(2, 3, 5));
}

/* ---- adaptive pools ---- */
typedef struct ad_ud {
    int64_t oh, ow;
} ad_ud;
static tp f_adavg(tp const *in, void *ud) { return nb_adaptive_avg_pool2d(in[0], ((ad_ud *)ud)->oh, ((ad_ud *)ud)->ow); }
static tp f_admax(tp const *in, void *ud) { return nb_adaptive_max_pool2d(in[0], ((ad_ud *)ud)->oh, ((ad_ud *)ud)->ow); }
static void case_adaptive_avg_pool2d(void) {
    ad_ud a = {3, 5}, b = {1, 1}, c = {9, 2};
    GC("adaptive_avg_pool2d 7x17 -> 3x5", f_adavg, &a, P(NB_SHAPE(2, 2, 7, 17)));
    GC("adaptive_avg_pool2d global", f_adavg, &b, P(NB_SHAPE(2, 3, 4, 5)));
    GC("adaptive_avg_pool2d upsampling 5x4 -> 9x2", f_adavg, &c, P(NB_SHAPE(1, 2, 5, 4)));
    double_ud d = {f_adavg, &a, 1};
    GC("adaptive_avg_pool2d second derivative", f_double, &d, P(NB_SHAPE(2, 2, 7, 17)), V(2, 2, 3, 5));
}
static void case_adaptive_max_pool2d(void) {
    ad_ud a = {3, 5}, b = {4, 4};
    GC("adaptive_max_pool2d 7x17 -> 3x5", f_admax, &a, Plattice(NB_SHAPE(2, 2, 7, 17), 4, false));
    GC("adaptive_max_pool2d 5x6 -> 4x4 (overlapping)", f_admax, &b, Plattice(NB_SHAPE(1, 3, 5, 6), 5, true));
}

/* ---- interpolate ---- */
typedef struct in_ud {
    nb_interpolate_opts o;
    bool trans;
} in_ud;
static tp f_interp(tp const *in, void *ud) {
    in_ud *u = ud;
    return nb_interpolate(u->trans ? nb_transpose(in[0], 2, 3) : in[0], &u->o);
}
static void case_interpolate(void) {
    in_ud n1 = {.o = {.size = {7, 10}}}, n2 = {.o = {.scale_factor = {0.6, 1.5}}, .trans = true},
          b1 = {.o = {.size = {9, 4}, .mode = NB_INTERP_BILINEAR}},
          b2 = {.o = {.size = {9, 1}, .mode = NB_INTERP_BILINEAR, .align_corners = true}, .trans = true},
          b3 = {.o = {.scale_factor = {2.5}, .mode = NB_INTERP_BILINEAR}};
    GC("interpolate nearest 3x5 -> 7x10", f_interp, &n1, P(NB_SHAPE(2, 2, 3, 5)));
    GC("interpolate nearest scale (0.6, 1.5), transposed", f_interp, &n2, P(NB_SHAPE(1, 2, 4, 7)));
    GC("interpolate bilinear 5x3 -> 9x4", f_interp, &b1, P(NB_SHAPE(2, 1, 5, 3)));
    GC("interpolate bilinear align_corners 4x6 -> 9x1, transposed", f_interp, &b2, P(NB_SHAPE(1, 2, 6, 4)));
    GC("interpolate bilinear scale 2.5", f_interp, &b3, P(NB_SHAPE(1, 2, 3, 2)));
    double_ud d = {f_interp, &b1, 1};
    GC("interpolate second derivative", f_double, &d, P(NB_SHAPE(2, 1, 5, 3)), V(2, 1, 9, 4));
}

/* ---- the shared gradient op: second derivatives of each forward op go through it and back ---- */
static tp f_rs_grad(tp const *in, void *ud) { /* the gradient itself, as a function of (x, v) */
    tp y = f_interp(in, ud), v = in[1], g;
    nb_autograd_opts o = {.grad_outputs = &v, .create_graph = true};
    return nb_autograd_grad(&y, 1, in, 1, &o, &g) == 0 ? g : NULL;
}
static void case_resample2d_backward(void) {
    in_ud b = {.o = {.size = {9, 4}, .mode = NB_INTERP_BILINEAR}};
    EXPECT_FN("the gradient of interpolate is resample2d_backward", "Resample2DBackwardBackward", f_rs_grad, &b,
              P(NB_SHAPE(1, 1, 5, 3)), V(1, 1, 9, 4));
    GC("resample2d_backward (gradient of bilinear interpolate) in x and v", f_rs_grad, &b, P(NB_SHAPE(1, 1, 5, 3)),
       V(1, 1, 9, 4));
    ap_ud a = {.o = {.kernel = {3}, .stride = {2}, .padding = {1}}};
    double_ud d = {f_avgpool2d, &a, 1};
    GC("resample2d_backward via avg_pool2d second derivative", f_double, &d, P(NB_SHAPE(1, 2, 5, 6)), V(1, 2, 3, 3));
}

/* ---- pixel shuffle ---- */
typedef struct ps_ud {
    int64_t r;
    bool trans;
} ps_ud;
static tp f_pshuf(tp const *in, void *ud) {
    ps_ud *p = ud;
    return nb_pixel_shuffle(p->trans ? nb_transpose(in[0], 2, 3) : in[0], p->r);
}
static tp f_punshuf(tp const *in, void *ud) {
    ps_ud *p = ud;
    return nb_pixel_unshuffle(p->trans ? nb_transpose(in[0], 2, 3) : in[0], p->r);
}
static void case_pixel_shuffle(void) {
    ps_ud a = {2, false}, b = {3, true};
    GC("pixel_shuffle r2", f_pshuf, &a, P(NB_SHAPE(2, 8, 3, 2)));
    GC("pixel_shuffle r3, transposed", f_pshuf, &b, P(NB_SHAPE(1, 9, 2, 3)));
    double_ud d = {f_pshuf, &a, 1};
    GC("pixel_shuffle second derivative", f_double, &d, P(NB_SHAPE(2, 8, 3, 2)), V(2, 2, 6, 4));
}
static void case_pixel_unshuffle(void) {
    ps_ud a = {2, false}, b = {3, true};
    GC("pixel_unshuffle r2", f_punshuf, &a, P(NB_SHAPE(2, 1, 4, 6)));
    GC("pixel_unshuffle r3, transposed", f_punshuf, &b, P(NB_SHAPE(1, 2, 6, 3)));
    double_ud d = {f_punshuf, &a, 1};
    GC("pixel_unshuffle second derivative", f_double, &d, P(NB_SHAPE(2, 1, 4, 6)), V(2, 4, 2, 3));
}

const grad_case gc_cases_spatial[] = {
    {"conv1d", case_conv1d},
    {"conv_transpose2d", case_conv_transpose2d},
    {"max_pool1d", case_max_pool1d},
    {"avg_pool2d", case_avg_pool2d},
    {"avg_pool1d", case_avg_pool1d},
    {"adaptive_avg_pool2d", case_adaptive_avg_pool2d},
    {"adaptive_max_pool2d", case_adaptive_max_pool2d},
    {"interpolate", case_interpolate},
    {"resample2d_backward", case_resample2d_backward},
    {"pixel_shuffle", case_pixel_shuffle},
    {"pixel_unshuffle", case_pixel_unshuffle},
    {NULL, NULL},
};
