/* tests/gradcheck/reductions.c — gradient-check cases for the ops in src/ops/reductions.def (linked into
 * test_gradcheck; see tests/gradcheck.h). */
#include "../gradcheck.h"

const grad_case gc_cases_reductions[] = {
    {NULL, NULL},
};
