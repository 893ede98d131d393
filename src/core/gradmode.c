/* core/gradmode.c — the per-thread grad-mode switch (nb_no_grad_begin/end). It lives in core because
 * every layer above consults it: the dispatcher to decide whether to record, in-place writes to
 * decide whether they are allowed. */
#include "internal.h"

static _Thread_local int tl_no_grad_depth;

bool nbc_grad_enabled(void) { return tl_no_grad_depth == 0; }
bool nb_is_grad_enabled(void) { return tl_no_grad_depth == 0; }
void nb_no_grad_begin(void) { tl_no_grad_depth++; }
void nb_no_grad_end(void) {
    if (tl_no_grad_depth > 0) tl_no_grad_depth--;
}
