/* examples/fashion_mlp.c — a 784-256-128-10 MLP on Fashion-MNIST with Adam (lr 1e-3, batch 64).
 * Usage: fashion_mlp [epochs] [data_dir]   (see fashion_common.h) */
#include "fashion_common.h"

int main(int argc, char **argv) {
    static const fashion_cfg cfg = {.name = "fashion_mlp", .epochs = 12, .flatten = true, .lr = 1e-3};
    nb_manual_seed(1);
    nb_module *net = nb_sequential(nb_linear_layer(784, 256), nb_relu_layer(), nb_linear_layer(256, 128),
                                   nb_relu_layer(), nb_linear_layer(128, 10), NULL);
    return fashion_run(&cfg, net, argc, argv);
}
