/* tests/gradcheck/losses.c — gradient-check cases for the ops in src/ops/losses.def (linked into
 * test_gradcheck; see tests/gradcheck.h). */
#include "../gradcheck.h"

const grad_case gc_cases_losses[] = {
    {NULL, NULL},
};
