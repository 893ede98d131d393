/* tests/gradcheck/pointwise.c — gradient-check cases for the ops in src/ops/pointwise.def (linked into
 * test_gradcheck; see tests/gradcheck.h). */
#include "../gradcheck.h"

const grad_case gc_cases_pointwise[] = {
    {NULL, NULL},
};
