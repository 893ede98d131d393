/* examples/autograd.c — the README's first program: eager tensors and gradients. */
#include <nabla/nabla.h>
#include <stdio.h>

int main(void) {
    nb_manual_seed(0);
    nb_scope_begin();                                                  /* frees everything below at the end */
    nb_tensor *x = nb_randn(NB_SHAPE(4, 3), NB_F32);
    nb_tensor *w = nb_param(nb_randn(NB_SHAPE(3, 2), NB_F32));         /* requires grad */
    nb_tensor *y = nb_sum(nb_relu(nb_matmul(x, w)), NULL);            /* NULL: all dims */
    if (!y) {
        fprintf(stderr, "%s\n", nb_last_error());
        return 1;
    }
    if (nb_backward(y) != 0) {
        fprintf(stderr, "%s\n", nb_last_error());
        return 1;
    }
    nb_print(y);
    nb_print(nb_grad(w));
    nb_scope_end();
    return nb_live_tensors() == 0 ? 0 : 1;
}
