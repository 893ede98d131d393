/* io/state_dict.c — moving a module's parameters and buffers in and out of files by name, like
 * PyTorch's model.state_dict() / load_state_dict(strict=...): the key matching, the report of
 * missing, unexpected and mismatched keys, and the copy into the module's own tensors (outside
 * autograd, bit for bit, bumping version counters). The file formats live in safetensors.c; the
 * checkpoint (optimiser, scheduler, RNG, loader) in checkpoint.c, which reuses the matching here.
 */
#include "io_internal.h"

#include <string.h>

struct nb_load_report {
    nb_metadata *lists[3]; /* key -> detail ("" or "file [3] f32, model [4] f32") per nb_key_issue */
    char *text;
    size_t text_cap;
};

void nb_load_report_free(nb_load_report *r) {
    if (!r) return;
    for (int k = 0; k < 3; k++) nb_metadata_free(r->lists[k]);
    if (r->text) nbc_raw_free(r->text, r->text_cap);
    nbc_raw_free(r, sizeof *r);
}

int nb_load_report_count(const nb_load_report *r, nb_key_issue kind) {
    return r && (unsigned)kind < 3 ? r->lists[kind]->n : 0;
}

const char *nb_load_report_key(const nb_load_report *r, nb_key_issue kind, int i) {
    return r && (unsigned)kind < 3 ? nb_metadata_key(r->lists[kind], i) : NULL;
}

const char *nb_load_report_text(const nb_load_report *r) { return r && r->text ? r->text : ""; }

nb_load_report *nbio_report_new(const char *fn) {
    nb_load_report *r = nbc_calloc(fn, sizeof *r);
    if (!r) return NULL;
    for (int k = 0; k < 3; k++)
        if (!(r->lists[k] = nb_metadata_new())) {
            nb_load_report_free(r);
            return NULL;
        }
    return r;
}

/* Build r->text from the lists. */
static int report_finish(const char *fn, nb_load_report *r) {
    static const char *title[3] = {"missing keys (in the model, not in the file): ",
                                   "unexpected keys (in the file, not in the model): ", "mismatched: "};
    size_t need = 1;
    for (int k = 0; k < 3; k++) {
        const nb_metadata *l = r->lists[k];
        if (l->n) need += strlen(title[k]) + 2;
        for (int i = 0; i < l->n; i++) need += strlen(l->keys[i]) + strlen(l->values[i]) + 6;
    }
    r->text = nbc_raw_alloc(need);
    if (!r->text) return nbc_oom(fn);
    r->text_cap = need;
    size_t at = 0;
    r->text[0] = 0;
    for (int k = 0; k < 3; k++) {
        const nb_metadata *l = r->lists[k];
        if (!l->n) continue;
        at += (size_t)snprintf(r->text + at, need - at, "%s%s", at ? "; " : "", title[k]);
        for (int i = 0; i < l->n; i++)
            at += (size_t)snprintf(r->text + at, need - at, "%s%s%s%s%s", i ? ", " : "", l->keys[i],
                                   l->values[i][0] ? " (" : "", l->values[i], l->values[i][0] ? ")" : "");
    }
    return 0;
}

static int find(const nb_params *p, const char *name, int hint) {
    if (hint >= 0 && hint < p->n && !strcmp(p->names[hint], name)) return hint;
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->names[i], name)) return i;
    return -1;
}

static bool same_meta(const nb_tensor *a, const nb_tensor *b) {
    if (a->dtype != b->dtype || a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

int nbio_copy_exact(const char *fn, nb_tensor *dst, nb_tensor *src) {
    size_t bytes = (size_t)nbc_numel(dst->ndim, dst->shape) * nb_dtype_size(dst->dtype);
    if (nbc_is_contiguous(dst) && nbc_is_contiguous(src)) {
        if (bytes && nbc_ptr(dst) != nbc_ptr(src)) memmove(nbc_ptr(dst), nbc_ptr(src), bytes);
        nbc_bump_version(dst);
        return 0;
    }
    nb_no_grad_begin();
    int rc = nb_copy_(dst, src);
    nb_no_grad_end();
    if (rc) nbc_error(nb_last_status(), "%s: %s", fn, nb_last_error());
    return rc;
}

int nbio_match(const char *fn, const nb_params *sd, const nb_params *state, const char *prefix, nb_load_report *r,
               int *map) {
    size_t pl = strlen(prefix);
    char buf[1024];
    int rc = 0;
    for (int i = 0; i < sd->n && !rc; i++) {
        snprintf(buf, sizeof buf, "%s%s", prefix, sd->names[i]);
        int j = find(state, buf, i);
        map[i] = j;
        if (j < 0) {
            rc = nbio_meta_set(fn, r->lists[NB_KEY_MISSING], sd->names[i], "");
        } else if (!same_meta(sd->tensors[i], state->tensors[j])) {
            const nb_tensor *a = state->tensors[j], *b = sd->tensors[i];
            char d[400];
            snprintf(d, sizeof d, "file %s %s, model %s %s", nbc_shape_str(a->ndim, a->shape), nb_dtype_name(a->dtype),
                     nbc_shape_str(b->ndim, b->shape), nb_dtype_name(b->dtype));
            rc = nbio_meta_set(fn, r->lists[NB_KEY_MISMATCHED], sd->names[i], d);
            map[i] = -1;
        }
    }
    for (int j = 0; j < state->n && !rc; j++) {
        const char *nm = state->names[j];
        if (strncmp(nm, prefix, pl) != 0) continue;
        if (find(sd, nm + pl, j) < 0) rc = nbio_meta_set(fn, r->lists[NB_KEY_UNEXPECTED], nm + pl, "");
    }
    if (!rc) rc = report_finish(fn, r);
    return rc;
}

static int load_params(const char *fn, const char *what, nb_module *m, const nb_params *state, bool strict,
                       nb_load_report **report) {
    if (report) *report = NULL;
    if (!m) return nbc_error(NB_ERR_ARG, "%s: module is NULL", fn);
    if (!state) return nbc_error(NB_ERR_ARG, "%s: state list is NULL", fn);
    nb_params *sd = nb_module_state_dict(m);
    if (!sd) return nb_last_status();
    nb_load_report *r = nbio_report_new(fn);
    int *map = nbc_raw_alloc((size_t)(sd->n ? sd->n : 1) * sizeof(int));
    int rc = !r || !map ? nbc_oom(fn) : nbio_match(fn, sd, state, "", r, map);
    if (!rc && strict && r->text[0])
        rc = nbc_error(NB_ERR_ARG, "%s: %s does not match the model (nothing was loaded): %s", fn, what, r->text);
    for (int i = 0; !rc && i < sd->n; i++)
        if (map[i] >= 0) rc = nbio_copy_exact(fn, sd->tensors[i], state->tensors[map[i]]);
    if (map) nbc_raw_free(map, (size_t)(sd->n ? sd->n : 1) * sizeof(int));
    nb_params_free(sd);
    if (report && r && r->text)
        *report = r;
    else
        nb_load_report_free(r);
    return rc;
}

int nb_module_load_params(nb_module *m, const nb_params *state, bool strict, nb_load_report **report) {
    return load_params("nb_module_load_params", "the state list", m, state, strict, report);
}

int nb_module_load_state_dict(nb_module *m, const char *path, bool strict, nb_load_report **report) {
    static const char fn[] = "nb_module_load_state_dict";
    if (report) *report = NULL;
    if (!m) return nbc_error(NB_ERR_ARG, "%s: module is NULL", fn);
    nbio_map *mp = nbio_map_file(fn, path);
    if (!mp) return nb_last_status();
    nb_params *state = nbio_st_parse(fn, mp->data, mp->size, path, mp, NULL);
    nbio_map_decref(mp);
    if (!state) return nb_last_status();
    int rc = load_params(fn, path, m, state, strict, report);
    nb_params_free(state);
    return rc;
}

int nb_module_save_state_dict(nb_module *m, const char *path) {
    static const char fn[] = "nb_module_save_state_dict";
    if (!m) return nbc_error(NB_ERR_ARG, "%s: module is NULL", fn);
    nb_params *sd = nb_module_state_dict(m);
    if (!sd) return nb_last_status();
    nb_metadata *meta = nb_metadata_new();
    int rc = meta ? nbio_meta_set(fn, meta, "format", "pt") : NB_ERR_NOMEM;
    if (!rc) rc = nbio_st_write(fn, path, sd, meta);
    nb_metadata_free(meta);
    nb_params_free(sd);
    return rc;
}
