/* tests/test_smoke.c — the README example end to end, with its numbers checked by hand-computed
 * gradients: d/dw sum(relu(x w)) = x^T (x w > 0). */
#include "harness.h"

static void test_readme_example(void) {
    nb_manual_seed(0);
    nb_tensor *x = nb_randn(NB_SHAPE(4, 3), NB_F32);
    nb_tensor *w = nb_param(nb_randn(NB_SHAPE(3, 2), NB_F32));
    nb_tensor *h = nb_matmul(x, w);
    nb_tensor *y = nb_sum(nb_relu(h), NULL);
    CHECK(y != NULL);
    CHECK(nb_backward(y) == 0);
    nb_tensor *g = nb_grad(w);
    CHECK(g != NULL);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) {
            double ref = 0;
            for (int r = 0; r < 4; r++)
                if (h_get(h, NB_LIST(r, j)) > 0) ref += h_get(x, NB_LIST(r, i));
            CHECK_NEAR(h_get(g, NB_LIST(i, j)), ref, 1e-5);
        }
}

int main(void) {
    RUN(test_readme_example);
    return harness_finish();
}
