/* tests/gradcheck/layout.c — gradient-check cases for the ops in src/ops/layout.def (linked into
 * test_gradcheck; see tests/gradcheck.h). All these ops are linear in their input (einsum multilinear),
 * so the second-derivative cases check the backward ops themselves (pad_backward, diagonal_backward,
 * the inverse flips / rolls, the sums of repeat, the products of einsum's matmuls). */
#include "../gradcheck.h"

/* in[0] viewed as: 0 as is, 1 transposed (dims 0, 1), 2 stepped along the last dim (1::2) */
static tp layout_view(tp x, int view) { return view_of(x, view); }

/* ---- pad ------------------------------------------------------------------------------------------ */

typedef struct pad_ud {
    int n;
    int64_t pads[6];
    nb_pad_mode mode;
    double value;
    int view;
} pad_ud;
static tp f_pad(tp const *in, void *ud) {
    pad_ud *p = ud;
    return nb_pad(layout_view(in[0], p->view), p->n, p->pads, p->mode, p->value);
}

static void case_pad(void) {
    for (int m = 0; m < 4; m++) {
        nb_pad_mode mode = (nb_pad_mode)m;
        pad_ud p1 = {2, {2, 1}, mode, 0, 0};                 /* 1-D pad of a 3-D input */
        pad_ud p2 = {4, {1, 2, 2, 0}, mode, 0, 1};           /* 2-D pad of a transposed 4-D input */
        pad_ud p3 = {6, {1, 1, 2, 0, 0, 1}, mode, 0, 2};     /* 3-D pad of a stepped 5-D input */
        pad_ud pe = {2, {6, 6}, mode, 0, 0};                 /* reflect at size - 1, circular wrapping */
        if (mode == NB_PAD_CONSTANT) p1.pads[0] = -1, p1.value = 1.5, p2.pads[3] = -2;
        if (mode == NB_PAD_CIRCULAR) pe.pads[0] = 7, pe.pads[1] = -3;
        char what[96];
        snprintf(what, sizeof what, "pad mode %d: 1-D pad of [2, 3, 7]", m);
        GC(what, f_pad, &p1, P(NB_SHAPE(2, 3, 7)));
        snprintf(what, sizeof what, "pad mode %d: 2-D pad of transpose([3, 2, 4, 5])", m);
        GC(what, f_pad, &p2, P(NB_SHAPE(3, 2, 4, 5)));
        snprintf(what, sizeof what, "pad mode %d: 3-D pad of a stepped [1, 2, 3, 4, 11]", m);
        GC(what, f_pad, &p3, P(NB_SHAPE(1, 2, 3, 4, 11)));
        snprintf(what, sizeof what, "pad mode %d: edge pads of [2, 7]", m);
        GC(what, f_pad, &pe, P(NB_SHAPE(2, 7)));
        double_ud d = {f_pad, &p2, 1};
        int64_t os[4] = {2, 3, 4 + p2.pads[2] + p2.pads[3], 5 + p2.pads[0] + p2.pads[1]};
        snprintf(what, sizeof what, "pad mode %d second derivative", m);
        GC(what, f_double, &d, P(NB_SHAPE(3, 2, 4, 5)), P(4, os));
    }
}

/* pad_backward is internal: the gradient of a non-constant pad. Checked as a function of the output
 * gradient g (in[0]) with the padded tensor a fresh leaf x made inside; its own backward (the pad) is
 * what this checks. */
static tp f_pad_backward(tp const *in, void *ud) {
    pad_ud *p = ud;
    tp x = nb_param(nb_zeros(NB_SHAPE(2, 3, 5), NB_F64));
    tp y = nb_pad(x, p->n, p->pads, p->mode, 0);
    tp g = in[0];
    nb_autograd_opts o = {.grad_outputs = &g, .create_graph = true};
    tp gx;
    if (!y || nb_autograd_grad(&y, 1, &x, 1, &o, &gx) != 0) return NULL;
    return nb_retain(gx);
}
static tp f_pad_backward_sq(tp const *in, void *ud) {
    tp gx = f_pad_backward(in, ud);
    return nb_mul(gx, gx);
}
static void case_pad_backward(void) {
    pad_ud r = {4, {4, 3, 2, 1}, NB_PAD_REFLECT, 0, 0}, p = {4, {0, 6, 1, 1}, NB_PAD_REPLICATE, 0, 0},
           c = {4, {5, -2, 3, 0}, NB_PAD_CIRCULAR, 0, 0};
    GC("pad_backward of reflect [2, 3, 5] (4, 3, 2, 1)", f_pad_backward, &r, P(NB_SHAPE(2, 6, 12)));
    GC("pad_backward of replicate [2, 3, 5] (0, 6, 1, 1)", f_pad_backward, &p, P(NB_SHAPE(2, 5, 11)));
    GC("pad_backward of circular [2, 3, 5] (5, -2, 3, 0)", f_pad_backward, &c, P(NB_SHAPE(2, 6, 8)));
    GC("pad_backward squared (reflect)", f_pad_backward_sq, &r, P(NB_SHAPE(2, 6, 12)));
    GC("pad_backward squared (circular)", f_pad_backward_sq, &c, P(NB_SHAPE(2, 6, 8)));
    EXPECT_FN("the gradient of a reflect pad is pad_backward", "PadBackwardBackward", f_pad_backward, &r,
              P(NB_SHAPE(2, 6, 12)));
}

/* ---- repeat / tile -------------------------------------------------------------------------------- */

typedef struct rep_ud {
    int n;
    int64_t reps[5];
    int view;
    bool tile;
} rep_ud;
static tp f_repeat(tp const *in, void *ud) {
    rep_ud *r = ud;
    tp x = layout_view(in[0], r->view);
    return r->tile ? nb_tile(x, r->n, r->reps) : nb_repeat(x, r->n, r->reps);
}
static void case_repeat(void) {
    rep_ud a = {2, {3, 2}, 0, false}, b = {4, {2, 1, 3, 2}, 1, false}, c = {1, {7}, 0, false}, e = {3, {2, 1, 2}, 2, false};
    GC("repeat [2, 3] by (3, 2)", f_repeat, &a, P(NB_SHAPE(2, 3)));
    GC("repeat transpose([5, 1, 3]) by (2, 1, 3, 2)", f_repeat, &b, P(NB_SHAPE(1, 5, 3)));
    GC("repeat [1] by 7", f_repeat, &c, P(NB_SHAPE(1)));
    GC("repeat a stepped [3, 7] by (2, 1, 2)", f_repeat, &e, P(NB_SHAPE(3, 7)));
    double_ud d = {f_repeat, &b, 1};
    GC("repeat second derivative", f_double, &d, P(NB_SHAPE(1, 5, 3)), V(2, 5, 3, 6));
}
static void case_tile(void) {
    rep_ud a = {1, {3}, 1, true}, b = {3, {2, 1, 2}, 0, true};
    GC("tile transpose([3, 2]) by (3)", f_repeat, &a, P(NB_SHAPE(3, 2)));
    GC("tile [3, 2] by (2, 1, 2)", f_repeat, &b, P(NB_SHAPE(3, 2)));
    double_ud d = {f_repeat, &a, 1};
    GC("tile second derivative", f_double, &d, P(NB_SHAPE(3, 2)), V(2, 9));
}

/* ---- tril / triu ---------------------------------------------------------------------------------- */

typedef struct tri_ud {
    int64_t k;
    int view;
    bool upper;
} tri_ud;
static tp f_tri(tp const *in, void *ud) {
    tri_ud *t = ud;
    tp x = layout_view(in[0], t->view);
    return t->upper ? nb_triu(x, t->k) : nb_tril(x, t->k);
}
static void tri_cases(bool upper) {
    tri_ud a = {0, 0, upper}, b = {2, 1, upper}, c = {-3, 2, upper};
    GC(upper ? "triu [7, 5]" : "tril [7, 5]", f_tri, &a, P(NB_SHAPE(7, 5)));
    GC(upper ? "triu transpose([7, 2, 5]) k 2" : "tril transpose([7, 2, 5]) k 2", f_tri, &b, P(NB_SHAPE(7, 2, 5)));
    GC(upper ? "triu stepped [3, 17] k -3" : "tril stepped [3, 17] k -3", f_tri, &c, P(NB_SHAPE(3, 17)));
    double_ud d = {f_tri, &b, 1};
    GC(upper ? "triu second derivative" : "tril second derivative", f_double, &d, P(NB_SHAPE(7, 2, 5)), V(2, 7, 5));
}
static void case_tril(void) { tri_cases(false); }
static void case_triu(void) { tri_cases(true); }

/* ---- flip / roll ---------------------------------------------------------------------------------- */

typedef struct fr_ud {
    int n;
    int64_t a[3], b[3]; /* flip: dims in a; roll: shifts in a, dims in b (NULL when n < 0: flattened) */
    int view;
} fr_ud;
static tp f_flip(tp const *in, void *ud) {
    fr_ud *f = ud;
    return nb_flip(layout_view(in[0], f->view), f->n, f->a);
}
static tp f_roll(tp const *in, void *ud) {
    fr_ud *f = ud;
    tp x = layout_view(in[0], f->view);
    return f->n < 0 ? nb_roll(x, 1, f->a, NULL) : nb_roll(x, f->n, f->a, f->b);
}
static void case_flip(void) {
    fr_ud a = {1, {0}, {0}, 0}, b = {2, {0, -1}, {0}, 1}, c = {3, {2, 0, 1}, {0}, 2};
    GC("flip [7] dim 0", f_flip, &a, P(NB_SHAPE(7)));
    GC("flip transpose([5, 3]) dims (0, -1)", f_flip, &b, P(NB_SHAPE(5, 3)));
    GC("flip stepped [2, 3, 9] all dims", f_flip, &c, P(NB_SHAPE(2, 3, 9)));
    double_ud d = {f_flip, &b, 1};
    GC("flip second derivative", f_double, &d, P(NB_SHAPE(5, 3)), V(3, 5));
}
static void case_roll(void) {
    fr_ud a = {1, {3}, {0}, 0}, b = {2, {-2, 9}, {0, 1}, 1}, c = {-1, {5}, {0}, 1}, e = {2, {1, 1}, {1, 1}, 2};
    GC("roll [7] by 3", f_roll, &a, P(NB_SHAPE(7)));
    GC("roll transpose([5, 3]) by (-2, 9)", f_roll, &b, P(NB_SHAPE(5, 3)));
    GC("roll transpose([5, 3]) flattened by 5", f_roll, &c, P(NB_SHAPE(5, 3)));
    GC("roll stepped [3, 9] dim 1 twice", f_roll, &e, P(NB_SHAPE(3, 9)));
    double_ud d = {f_roll, &b, 1};
    GC("roll second derivative", f_double, &d, P(NB_SHAPE(5, 3)), V(3, 5));
}

/* ---- diagonal ------------------------------------------------------------------------------------- */

typedef struct diag_ud {
    int64_t off;
    int d1, d2, view;
} diag_ud;
static tp f_diagonal(tp const *in, void *ud) {
    diag_ud *g = ud;
    return nb_diagonal(layout_view(in[0], g->view), g->off, g->d1, g->d2);
}
static void case_diagonal(void) {
    diag_ud a = {0, 0, 1, 0}, b = {2, 1, 0, 1}, c = {-1, 0, 2, 2}, e = {9, 0, 1, 0};
    GC("diagonal [7, 7]", f_diagonal, &a, P(NB_SHAPE(7, 7)));
    GC("diagonal transpose([5, 3]) offset 2 dims (1, 0)", f_diagonal, &b, P(NB_SHAPE(5, 3)));
    GC("diagonal stepped [3, 2, 9] offset -1 dims (0, 2)", f_diagonal, &c, P(NB_SHAPE(3, 2, 9)));
    GC("diagonal beyond the matrix (empty)", f_diagonal, &e, P(NB_SHAPE(3, 4)));
    double_ud d = {f_diagonal, &c, 1};
    GC("diagonal second derivative", f_double, &d, P(NB_SHAPE(3, 2, 9)), V(2, 2));
}

/* diagonal_backward is internal: the gradient of diagonal, checked as a function of g (in[0]). */
static tp f_diagonal_backward(tp const *in, void *ud) {
    diag_ud *p = ud;
    tp x = nb_param(nb_zeros(NB_SHAPE(3, 2, 5), NB_F64));
    tp y = nb_diagonal(x, p->off, p->d1, p->d2);
    tp g = in[0];
    nb_autograd_opts o = {.grad_outputs = &g, .create_graph = true};
    tp gx;
    if (!y || nb_autograd_grad(&y, 1, &x, 1, &o, &gx) != 0) return NULL;
    return nb_retain(gx);
}
static tp f_diagonal_backward_sq(tp const *in, void *ud) {
    tp gx = f_diagonal_backward(in, ud);
    return nb_mul(gx, gx);
}
static void case_diagonal_backward(void) {
    diag_ud a = {1, 2, 0, 0}, b = {-1, 0, 2, 0};
    GC("diagonal_backward of [3, 2, 5] offset 1 dims (2, 0)", f_diagonal_backward, &a, P(NB_SHAPE(2, 2)));
    GC("diagonal_backward of [3, 2, 5] offset -1 dims (0, 2)", f_diagonal_backward, &b, P(NB_SHAPE(2, 2)));
    GC("diagonal_backward squared", f_diagonal_backward_sq, &a, P(NB_SHAPE(2, 2)));
    EXPECT_FN("the gradient of diagonal is diagonal_backward", "DiagonalBackwardBackward", f_diagonal_backward, &a,
              P(NB_SHAPE(2, 2)));
}

/* ---- einsum --------------------------------------------------------------------------------------- */

typedef struct ein_ud {
    const char *eq;
    int view; /* applied to operand 0 */
} ein_ud;
#define EIN_MAX 3
typedef struct ein_case {
    ein_ud u;
    int n;
} ein_case;
static tp f_einsum_n(tp const *in, void *ud) {
    ein_case *c = ud;
    tp ops[EIN_MAX];
    for (int i = 0; i < c->n; i++) ops[i] = i == 0 ? layout_view(in[0], c->u.view) : in[i];
    return nb_einsum(c->u.eq, ops, c->n);
}
static void case_einsum(void) {
    ein_case mm = {{"ij,jk->ik", 0}, 2}, bmm = {{"bij,bjk->bik", 0}, 2}, att = {{"bhqd,bhkd->bhqk", 0}, 2},
             av = {{"bhqk,bhkd->bhqd", 0}, 2}, dot = {{"i,i->", 0}, 2}, tr = {{"ij->ji", 1}, 1}, dg = {{"ii->i", 0}, 1},
             sum = {{"ij->", 2}, 1}, outer = {{"bi,bj->bij", 0}, 2}, bil = {{"bn,anm,bm->ba", 0}, 3},
             imp = {{"ij,jk", 1}, 2}, ell = {{"...ij,...jk->...ik", 0}, 2}, tri = {{"iij,jk->ki", 0}, 2};
    GC("einsum ij,jk->ik", f_einsum_n, &mm, P(NB_SHAPE(7, 3)), P(NB_SHAPE(3, 5)));
    GC("einsum bij,bjk->bik", f_einsum_n, &bmm, P(NB_SHAPE(2, 3, 4)), P(NB_SHAPE(2, 4, 5)));
    GC("einsum bhqd,bhkd->bhqk", f_einsum_n, &att, P(NB_SHAPE(2, 2, 3, 4)), P(NB_SHAPE(2, 2, 5, 4)));
    GC("einsum bhqk,bhkd->bhqd", f_einsum_n, &av, P(NB_SHAPE(1, 2, 3, 5)), P(NB_SHAPE(1, 2, 5, 4)));
    GC("einsum i,i->", f_einsum_n, &dot, P(NB_SHAPE(17)), P(NB_SHAPE(17)));
    GC("einsum ij->ji of a transposed input", f_einsum_n, &tr, P(NB_SHAPE(3, 7)));
    GC("einsum ii->i", f_einsum_n, &dg, P(NB_SHAPE(5, 5)));
    GC("einsum ij-> of a stepped input", f_einsum_n, &sum, P(NB_SHAPE(3, 9)));
    GC("einsum bi,bj->bij", f_einsum_n, &outer, P(NB_SHAPE(2, 3)), P(NB_SHAPE(2, 4)));
    GC("einsum bn,anm,bm->ba", f_einsum_n, &bil, P(NB_SHAPE(2, 3)), P(NB_SHAPE(4, 3, 5)), P(NB_SHAPE(2, 5)));
    GC("einsum implicit ij,jk (transposed operand)", f_einsum_n, &imp, P(NB_SHAPE(3, 4)), P(NB_SHAPE(3, 2)));
    GC("einsum ...ij,...jk->...ik broadcasting", f_einsum_n, &ell, P(NB_SHAPE(2, 1, 3, 4)), P(NB_SHAPE(3, 4, 2)));
    GC("einsum iij,jk->ki (diagonal then product)", f_einsum_n, &tri, P(NB_SHAPE(3, 3, 4)), P(NB_SHAPE(4, 2)));
    double_ud d2 = {f_einsum_n, &mm, 2}, d3 = {f_einsum_n, &bil, 3}, de = {f_einsum_n, &ell, 2};
    GC("einsum ij,jk->ik second derivative", f_double, &d2, P(NB_SHAPE(7, 3)), P(NB_SHAPE(3, 5)), V(7, 5));
    GC("einsum bn,anm,bm->ba second derivative", f_double, &d3, P(NB_SHAPE(2, 3)), P(NB_SHAPE(4, 3, 5)),
       P(NB_SHAPE(2, 5)), V(2, 4));
    GC("einsum ellipsis second derivative", f_double, &de, P(NB_SHAPE(2, 1, 3, 4)), P(NB_SHAPE(3, 4, 2)), V(2, 3, 3, 2));
}

const grad_case gc_cases_layout[] = {
    {"pad", case_pad},
    {"pad_backward", case_pad_backward},
    {"repeat", case_repeat},
    {"tile", case_tile},
    {"tril", case_tril},
    {"triu", case_triu},
    {"flip", case_flip},
    {"roll", case_roll},
    {"diagonal", case_diagonal},
    {"diagonal_backward", case_diagonal_backward},
    {"einsum", case_einsum},
    {NULL, NULL},
};
