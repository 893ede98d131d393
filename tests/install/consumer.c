/* tests/install/consumer.c — a program outside the nabla tree, built against an installed nabla by
 * tests/install_check.sh (once through pkg-config, once through find_package(nabla)). It prints one
 * line the script compares: the version, a forward value, its gradient, and the live tensor count. */
#include <nabla/nabla.h>

#include <stdio.h>

int main(void) {
    nb_scope_begin();
    nb_tensor *w = nb_param(nb_arange(0, 6, 1, NB_F32)); /* [0 1 2 3 4 5], requires grad */
    nb_tensor *y = nb_sum(nb_mul(w, w), NULL);           /* 0+1+4+9+16+25 = 55 */
    if (!y || nb_backward(y) != 0) {
        fprintf(stderr, "consumer: %s\n", nb_last_error());
        return 1;
    }
    float g[6];
    if (nb_copy_to(nb_grad(w), g, sizeof g, NB_F32) != 0) { /* d/dw sum(w*w) = 2w */
        fprintf(stderr, "consumer: %s\n", nb_last_error());
        return 1;
    }
    printf("nabla %s: y=%g grad=", nb_version_string(), nb_item(y));
    for (int i = 0; i < 6; i++) printf("%s%g", i ? "," : "", (double)g[i]);
    nb_scope_end();
    printf(" live=%lld\n", (long long)nb_live_tensors());
    return nb_live_tensors() == 0 ? 0 : 1;
}
