/* ops/einsum.c — torch.einsum as a composition of registry ops. Each operand first loses its repeated
 * labels (diagonal views) and the labels nobody else needs (sums); then operands are combined left to
 * right, each pair as one batched GEMM (nb_matmul) after permuting to [batch, kept, contracted] and
 * [batch, contracted, kept] and merging dims, or as a broadcast product when nothing is contracted.
 * The result is permuted into the output order. Its gradient comes from those ops (multilinear, so
 * every order of derivative exists). */
#include "op.h"

#include <string.h>

#define EIN_LETTERS 52                /* A-Z then a-z: ids in ASCII order, as PyTorch sorts them */
#define EIN_IDS (EIN_LETTERS + NB_MAX_DIMS) /* ellipsis dims get ids 52.. aligned from the right */
#define EIN_MAX_OPS 64
#define EIN_ELL (-1)

static const char fn[] = "nb_einsum";

typedef struct ein_term {
    int n;                     /* raw entries: label ids and at most one EIN_ELL */
    int raw[NB_MAX_DIMS + 1];
    bool has_ell;
} ein_term;

/* The equation and every operand's shape, for messages. */
typedef struct ein_ctx {
    const char *eq;
    nb_tensor *const *xs;
    int n;
    char shapes[512];
} ein_ctx;

static const char *ein_shapes(ein_ctx *c) {
    size_t k = 0;
    c->shapes[0] = '\0';
    for (int i = 0; i < c->n && k < sizeof c->shapes - 64; i++)
        k += (size_t)snprintf(c->shapes + k, sizeof c->shapes - k, "%s%s", i ? ", " : "",
                              nbc_shape_str(c->xs[i]->ndim, c->xs[i]->shape));
    return c->shapes;
}

static char id_char(int id) { return id < 26 ? (char)('A' + id) : (char)('a' + id - 26); }

/* Parse one term [s, e): letters, spaces and at most one "...". */
static int parse_term(ein_ctx *c, const char *s, const char *e, ein_term *t, const char *which) {
    t->n = 0;
    t->has_ell = false;
    for (const char *p = s; p < e; p++) {
        int id;
        if (*p == ' ') continue;
        if (*p == '.') {
            if (e - p < 3 || p[1] != '.' || p[2] != '.' || t->has_ell)
                return nbc_error(NB_ERR_ARG, "%s: equation \"%s\": %s has a malformed or repeated ellipsis (\"...\")", fn,
                                 c->eq, which);
            t->has_ell = true;
            id = EIN_ELL;
            p += 2;
        } else if (*p >= 'A' && *p <= 'Z') {
            id = *p - 'A';
        } else if (*p >= 'a' && *p <= 'z') {
            id = 26 + (*p - 'a');
        } else {
            return nbc_error(NB_ERR_ARG, "%s: equation \"%s\": invalid character '%c' in %s (subscripts are letters, \"...\", "
                             "',' and \"->\")", fn, c->eq, *p, which);
        }
        if (t->n == NB_MAX_DIMS + 1)
            return nbc_error(NB_ERR_ARG, "%s: equation \"%s\": %s has more than %d subscripts", fn, c->eq, which, NB_MAX_DIMS);
        t->raw[t->n++] = id;
    }
    return 0;
}

/* A tensor with its per-dim ids. */
typedef struct ein_op {
    nb_tensor *t;
    int ids[NB_MAX_DIMS];
} ein_op;

static void op_set(ein_op *o, nb_tensor *t) {
    nb_free(o->t);
    o->t = t;
}

/* Sum away the dims whose ids are not flagged in keep[]. */
static int op_sum_unneeded(ein_op *o, const bool *keep) {
    nb_reduce_opts r = {.n = 0};
    int ids[NB_MAX_DIMS], k = 0;
    for (int d = 0; d < o->t->ndim; d++) {
        if (keep[o->ids[d]]) ids[k++] = o->ids[d];
        else r.dims[r.n++] = d;
    }
    if (r.n == 0) return 0;
    nb_tensor *s = nb_sum(o->t, &r);
    if (!s) return -1;
    op_set(o, s);
    memcpy(o->ids, ids, sizeof ids);
    return 0;
}

/* Permute o so its ids read `order` (a permutation of its ids). */
static int op_permute(ein_op *o, int n, const int *order) {
    int64_t perm[NB_MAX_DIMS];
    bool identity = true;
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < n; d++)
            if (o->ids[d] == order[i]) perm[i] = d;
        identity = identity && perm[i] == i;
    }
    if (identity) return 0;
    nb_tensor *p = nb_permute(o->t, n, perm);
    if (!p) return -1;
    op_set(o, p);
    memcpy(o->ids, order, sizeof(int) * (size_t)n);
    return 0;
}

/* Replace repeated ids by their diagonal (a view), which goes last. */
static int op_diagonals(ein_op *o) {
    for (;;) {
        int nd = o->t->ndim, p = -1, q = -1;
        for (int i = 0; i < nd && p < 0; i++)
            for (int j = i + 1; j < nd; j++)
                if (o->ids[i] == o->ids[j]) {
                    p = i, q = j;
                    break;
                }
        if (p < 0) return 0;
        int id = o->ids[p];
        nb_tensor *dg = nb_diagonal(o->t, 0, p, q);
        if (!dg) return -1;
        op_set(o, dg);
        int k = 0;
        for (int i = 0; i < nd; i++)
            if (i != p && i != q) o->ids[k++] = o->ids[i];
        o->ids[k] = id;
    }
}

static int64_t op_size(const ein_op *o, int id) {
    for (int d = 0; d < o->t->ndim; d++)
        if (o->ids[d] == id) return o->t->shape[d];
    return -1;
}

/* Operands laid out as a [batch, aonly] and b [batch, bonly] with nothing to contract: their broadcast
 * product [batch, aonly, bonly]. */
static nb_tensor *pair_product(nb_tensor *a, nb_tensor *b, int nb, int na, int nbo) {
    int64_t sa[NB_MAX_DIMS], sb[NB_MAX_DIMS];
    int nres = nb + na + nbo;
    for (int i = 0; i < nb; i++) sa[i] = a->shape[i], sb[i] = b->shape[i];
    for (int i = 0; i < na; i++) sa[nb + i] = a->shape[nb + i], sb[nb + i] = 1;
    for (int i = 0; i < nbo; i++) sa[nb + na + i] = 1, sb[nb + na + i] = b->shape[nb + i];
    nb_tensor *va = nb_reshape(a, nres, sa), *vb = va ? nb_reshape(b, nres, sb) : NULL;
    nb_tensor *r = vb ? nb_mul(va, vb) : NULL;
    nb_free(va);
    nb_free(vb);
    return r;
}

/* Operands laid out as a [batch, aonly, contr] and b [batch, contr, bonly]: one batched GEMM
 * [batch.., M, K] @ [batch.., K, N], reshaped to res_shape = [batch, aonly, bonly]. Batch dims of equal
 * sizes merge into one (a view when the layout allows); batch dims that broadcast (size 1 against n)
 * stay separate for nb_matmul to broadcast, unless there are too many, then they are expanded. */
static nb_tensor *pair_gemm(nb_tensor *a, nb_tensor *b, int nb, int na, int nc, int nbo, const int64_t *res_shape,
                            int nres) {
    int64_t sa[NB_MAX_DIMS], sb[NB_MAX_DIMS], M = 1, N = 1, K = 1;
    for (int i = 0; i < na; i++) M *= a->shape[nb + i];
    for (int i = 0; i < nc; i++) K *= a->shape[nb + na + i];
    for (int i = 0; i < nbo; i++) N *= b->shape[nb + nc + i];
    bool same = true;
    for (int i = 0; i < nb; i++) same = same && a->shape[i] == b->shape[i];
    int kb = 0;
    nb_tensor *ea = nb_retain(a), *eb = nb_retain(b);
    if (nb > 0 && (same || nb > NB_MAX_DIMS - 2)) {
        int64_t bt = 1;
        for (int i = 0; i < nb; i++) bt *= res_shape[i];
        if (!same) {
            int64_t ta[NB_MAX_DIMS], tb[NB_MAX_DIMS];
            memcpy(ta, res_shape, sizeof(int64_t) * (size_t)nb);
            memcpy(tb, res_shape, sizeof(int64_t) * (size_t)nb);
            for (int i = nb; i < a->ndim; i++) ta[i] = a->shape[i];
            for (int i = nb; i < b->ndim; i++) tb[i] = b->shape[i];
            nb_tensor *xa = nb_expand(ea, a->ndim, ta), *xb = nb_expand(eb, b->ndim, tb);
            nb_free(ea);
            nb_free(eb);
            ea = xa, eb = xb;
        }
        sa[0] = sb[0] = bt;
        kb = 1;
    } else {
        for (int i = 0; i < nb; i++) sa[i] = a->shape[i], sb[i] = b->shape[i];
        kb = nb;
    }
    sa[kb] = M, sa[kb + 1] = K, sb[kb] = K, sb[kb + 1] = N;
    nb_tensor *va = ea && eb ? nb_reshape(ea, kb + 2, sa) : NULL, *vb = va ? nb_reshape(eb, kb + 2, sb) : NULL;
    nb_tensor *m = vb ? nb_matmul(va, vb) : NULL;
    nb_tensor *r = m ? nb_reshape(m, nres, res_shape) : NULL;
    nb_free(ea);
    nb_free(eb);
    nb_free(va);
    nb_free(vb);
    nb_free(m);
    return r;
}

/* Combine a and b (into a) over shared ids; `later` flags the ids needed after this pair. */
static int combine(ein_ctx *c, ein_op *a, ein_op *b, const bool *later) {
    bool ina[EIN_IDS] = {false}, inb[EIN_IDS] = {false};
    for (int d = 0; d < a->t->ndim; d++) ina[a->ids[d]] = true;
    for (int d = 0; d < b->t->ndim; d++) inb[b->ids[d]] = true;
    /* A shared id to contract where one side broadcasts (size 1): sum it on both sides first. */
    bool keep_a[EIN_IDS], keep_b[EIN_IDS];
    for (int i = 0; i < EIN_IDS; i++) keep_a[i] = keep_b[i] = true;
    bool fix = false;
    for (int i = 0; i < EIN_IDS; i++)
        if (ina[i] && inb[i] && !later[i] && op_size(a, i) != op_size(b, i)) keep_a[i] = keep_b[i] = false, fix = true;
    if (fix) {
        if (op_sum_unneeded(a, keep_a) || op_sum_unneeded(b, keep_b)) return -1;
        for (int i = 0; i < EIN_IDS; i++) ina[i] = ina[i] && keep_a[i], inb[i] = inb[i] && keep_b[i];
    }
    int batch[EIN_IDS], aonly[EIN_IDS], bonly[EIN_IDS], contr[EIN_IDS], nb = 0, na = 0, nbo = 0, nc = 0;
    for (int d = 0; d < a->t->ndim; d++) {
        int i = a->ids[d];
        if (!inb[i]) aonly[na++] = i;
        else if (later[i]) batch[nb++] = i;
        else contr[nc++] = i;
    }
    for (int d = 0; d < b->t->ndim; d++)
        if (!ina[b->ids[d]]) bonly[nbo++] = b->ids[d];
    int nres = nb + na + nbo;
    if (nres > NB_MAX_DIMS)
        return nbc_error(NB_ERR_ARG, "%s: equation \"%s\": an intermediate product of operands with shapes %s would have %d "
                         "dims (nabla supports %d)", fn, c->eq, ein_shapes(c), nres, NB_MAX_DIMS);
    int res_ids[NB_MAX_DIMS], k = 0;
    int64_t res_shape[NB_MAX_DIMS];
    for (int i = 0; i < nb; i++) {
        int64_t sa = op_size(a, batch[i]), sb = op_size(b, batch[i]);
        res_ids[k] = batch[i], res_shape[k++] = sa > sb ? sa : sb;
    }
    for (int i = 0; i < na; i++) res_ids[k] = aonly[i], res_shape[k++] = op_size(a, aonly[i]);
    for (int i = 0; i < nbo; i++) res_ids[k] = bonly[i], res_shape[k++] = op_size(b, bonly[i]);

    int order[NB_MAX_DIMS];
    memcpy(order, batch, sizeof(int) * (size_t)nb);
    memcpy(order + nb, aonly, sizeof(int) * (size_t)na);
    memcpy(order + nb + na, contr, sizeof(int) * (size_t)nc);
    if (op_permute(a, nb + na + nc, order)) return -1;
    memcpy(order + nb, contr, sizeof(int) * (size_t)nc);
    memcpy(order + nb + nc, bonly, sizeof(int) * (size_t)nbo);
    if (op_permute(b, nb + nc + nbo, order)) return -1;

    nb_tensor *r = nc == 0 ? pair_product(a->t, b->t, nb, na, nbo) : pair_gemm(a->t, b->t, nb, na, nc, nbo, res_shape, nres);
    if (!r) return -1;
    op_set(a, r);
    memcpy(a->ids, res_ids, sizeof(int) * (size_t)nres);
    return 0;
}

/* Validate the equation against the operands and fill each operand's ids and the output's. */
static int ein_setup(ein_ctx *c, ein_term *terms, ein_term *outt, bool *explicit_out, int *ids, int *out_ids,
                     int *n_out) {
    const char *eq = c->eq, *arrow = strstr(eq, "->");
    const char *end_in = arrow ? arrow : eq + strlen(eq);
    if (arrow && strstr(arrow + 2, "->"))
        return nbc_error(NB_ERR_ARG, "%s: equation \"%s\" has more than one \"->\"", fn, eq);
    for (const char *p = eq; p < end_in; p++)
        if (*p == '-' || *p == '>')
            return nbc_error(NB_ERR_ARG, "%s: equation \"%s\": stray '%c' (the output follows \"->\")", fn, eq, *p);
    int nterms = 1;
    for (const char *p = eq; p < end_in; p++) nterms += *p == ',';
    if (nterms != c->n)
        return nbc_error(NB_ERR_ARG, "%s: equation \"%s\" has %d operand term%s but %d tensor%s given (shapes %s)", fn, eq,
                         nterms, nterms == 1 ? "" : "s", c->n, c->n == 1 ? " was" : "s were", ein_shapes(c));
    const char *s = eq;
    for (int k = 0; k < c->n; k++) {
        const char *e = s;
        while (e < end_in && *e != ',') e++;
        char which[32];
        snprintf(which, sizeof which, "operand #%d", k + 1);
        if (parse_term(c, s, e, &terms[k], which)) return -1;
        s = e + 1;
    }
    *explicit_out = arrow != NULL;
    if (arrow && parse_term(c, arrow + 2, arrow + strlen(arrow), outt, "the output")) return -1;

    int64_t size[EIN_IDS];
    int owner[EIN_IDS], count[EIN_IDS] = {0}, E = 0;
    for (int i = 0; i < EIN_IDS; i++) size[i] = -1, owner[i] = -1;
    for (int k = 0; k < c->n; k++) {
        const nb_tensor *x = c->xs[k];
        int nlab = terms[k].n - (terms[k].has_ell ? 1 : 0);
        if (terms[k].has_ell ? nlab > x->ndim : nlab != x->ndim)
            return nbc_error(NB_ERR_ARG, "%s: equation \"%s\": operand #%d has %d dims (shape %s) but its subscripts name %d%s",
                             fn, eq, k + 1, x->ndim, nbc_shape_str(x->ndim, x->shape), nlab,
                             terms[k].has_ell ? " plus an ellipsis" : "");
        int e = x->ndim - nlab;
        if (terms[k].has_ell && e > E) E = e;
    }
    for (int k = 0; k < c->n; k++) {
        const nb_tensor *x = c->xs[k];
        int e = x->ndim - (terms[k].n - (terms[k].has_ell ? 1 : 0)), d = 0;
        int *oi = ids + k * NB_MAX_DIMS;
        for (int r = 0; r < terms[k].n; r++) {
            if (terms[k].raw[r] == EIN_ELL) {
                for (int t = 0; t < e; t++, d++) {
                    int id = EIN_LETTERS + (E - e) + t;
                    oi[d] = id;
                    count[id]++;
                    int64_t sz = x->shape[d];
                    if (size[id] >= 0 && size[id] != sz && size[id] != 1 && sz != 1)
                        return nbc_error(NB_ERR_ARG, "%s: equation \"%s\": the ellipsis dims of operand #%d (shape %s) do not "
                                         "broadcast with operand #%d (shape %s)", fn, eq, k + 1,
                                         nbc_shape_str(x->ndim, x->shape), owner[id] + 1,
                                         nbc_shape_str(c->xs[owner[id]]->ndim, c->xs[owner[id]]->shape));
                    if (size[id] < 0 || size[id] == 1) size[id] = sz, owner[id] = k;
                }
                continue;
            }
            int id = terms[k].raw[r];
            oi[d] = id;
            count[id]++;
            int64_t sz = x->shape[d++];
            if (size[id] >= 0 && size[id] != sz)
                return nbc_error(NB_ERR_ARG, "%s: equation \"%s\": subscript '%c' has size %lld in operand #%d (shape %s) but "
                                 "%lld in operand #%d (shape %s)", fn, eq, id_char(id), (long long)sz, k + 1,
                                 nbc_shape_str(x->ndim, x->shape), (long long)size[id], owner[id] + 1,
                                 nbc_shape_str(c->xs[owner[id]]->ndim, c->xs[owner[id]]->shape));
            if (size[id] < 0) size[id] = sz, owner[id] = k;
        }
    }
    int n = 0;
    if (*explicit_out) {
        bool seen[EIN_IDS] = {false};
        for (int r = 0; r < outt->n; r++) {
            int id = outt->raw[r];
            if (id == EIN_ELL) {
                for (int t = 0; t < E; t++) out_ids[n++] = EIN_LETTERS + t;
                continue;
            }
            if (seen[id])
                return nbc_error(NB_ERR_ARG, "%s: equation \"%s\": output subscript '%c' appears more than once", fn, eq,
                                 id_char(id));
            if (!count[id])
                return nbc_error(NB_ERR_ARG, "%s: equation \"%s\": output subscript '%c' does not appear in any operand", fn,
                                 eq, id_char(id));
            seen[id] = true;
            out_ids[n++] = id;
        }
        if (n > NB_MAX_DIMS)
            return nbc_error(NB_ERR_ARG, "%s: equation \"%s\": the output has %d dims (nabla supports %d)", fn, eq, n,
                             NB_MAX_DIMS);
    } else { /* implicit: the ellipsis dims, then the labels that appear once, in alphabetical order */
        for (int t = 0; t < E; t++) out_ids[n++] = EIN_LETTERS + t;
        for (int id = 0; id < EIN_LETTERS; id++)
            if (count[id] == 1) {
                if (n == NB_MAX_DIMS)
                    return nbc_error(NB_ERR_ARG, "%s: equation \"%s\": the output would have more than %d dims", fn, eq,
                                     NB_MAX_DIMS);
                out_ids[n++] = id;
            }
    }
    *n_out = n;
    return 0;
}

nb_tensor *nb_einsum(const char *equation, nb_tensor *const *xs, int n) {
    if (!equation) return nbc_error(NB_ERR_ARG, "%s: equation is NULL", fn), NULL;
    if (n < 1 || n > EIN_MAX_OPS || !xs)
        return nbc_error(NB_ERR_ARG, "%s: equation \"%s\": expected 1..%d operands; got %d", fn, equation, EIN_MAX_OPS, n),
               NULL;
    for (int k = 0; k < n; k++) {
        if (!xs[k] && nb_last_status() != NB_OK) return NULL; /* keep the error that made it NULL */
        if (!xs[k]) return nbc_error(NB_ERR_ARG, "%s: equation \"%s\": operand #%d is NULL", fn, equation, k + 1), NULL;
        if (!nb_dtype_is_float(xs[k]->dtype))
            return nbc_error(NB_ERR_ARG, "%s: equation \"%s\": operand #%d has %s; einsum needs floating dtypes", fn,
                             equation, k + 1, nbc_desc(xs[k])), NULL;
    }
    ein_ctx c = {.eq = equation, .xs = xs, .n = n};
    ein_term terms[EIN_MAX_OPS], outt;
    int ids[EIN_MAX_OPS * NB_MAX_DIMS], out_ids[NB_MAX_DIMS], n_out = 0;
    bool explicit_out = false;
    if (ein_setup(&c, terms, &outt, &explicit_out, ids, out_ids, &n_out)) return NULL;

    /* need[k][id]: id is used by the output or by an operand after k (what k's partial result keeps) */
    bool in_out[EIN_IDS] = {false};
    for (int i = 0; i < n_out; i++) in_out[out_ids[i]] = true;
    int last_use[EIN_IDS];
    for (int i = 0; i < EIN_IDS; i++) last_use[i] = -1;
    for (int k = 0; k < n; k++)
        for (int d = 0; d < xs[k]->ndim; d++) last_use[ids[k * NB_MAX_DIMS + d]] = k;

    ein_op acc = {NULL, {0}};
    int rc = 0;
    for (int k = 0; k < n && !rc; k++) {
        ein_op cur = {nb_retain(xs[k]), {0}};
        memcpy(cur.ids, ids + k * NB_MAX_DIMS, sizeof cur.ids);
        bool keep[EIN_IDS];
        for (int i = 0; i < EIN_IDS; i++) keep[i] = in_out[i] || last_use[i] > k;
        bool keep_cur[EIN_IDS];
        /* the operand's own labels also stay when the accumulated result has them (contracted below) */
        for (int i = 0; i < EIN_IDS; i++) keep_cur[i] = keep[i] || (acc.t && op_size(&acc, i) >= 0);
        rc = op_diagonals(&cur) || op_sum_unneeded(&cur, keep_cur);
        if (!rc && !acc.t) {
            acc = cur;
            continue;
        }
        if (!rc) {
            bool keep_acc[EIN_IDS];
            for (int i = 0; i < EIN_IDS; i++) keep_acc[i] = keep[i] || op_size(&cur, i) >= 0;
            rc = op_sum_unneeded(&acc, keep_acc) || combine(&c, &acc, &cur, keep);
        }
        nb_free(cur.t);
    }
    if (!rc) rc = op_sum_unneeded(&acc, in_out) || op_permute(&acc, n_out, out_ids);
    if (rc) {
        nb_free(acc.t);
        return NULL;
    }
    /* a single operand with nothing to do: a view of it, like PyTorch (a sum already made a new tensor) */
    return acc.t;
}
