/* tests/gradcheck/layout.c — gradient-check cases for the ops in src/ops/layout.def (linked into
 * test_gradcheck; see tests/gradcheck.h). */
#include "../gradcheck.h"

const grad_case gc_cases_layout[] = {
    {NULL, NULL},
};
