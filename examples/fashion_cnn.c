/* examples/fashion_cnn.c — a small CNN on Fashion-MNIST with Adam (lr 1e-3, batch 64): two
 * convolution + max-pool blocks (the first with batch norm), then two linear layers with dropout,
 * trained with random crops (padding 2) and horizontal flips, a cosine learning-rate schedule and label
 * smoothing 0.1 (nb_cross_entropy's label_smoothing, as torch's).
 * Usage: fashion_cnn [epochs] [data_dir]   (see fashion_common.h) */
#include "fashion_common.h"

int main(int argc, char **argv) {
    static const fashion_cfg cfg = {.name = "fashion_cnn", .epochs = 30, .flatten = false, .lr = 1e-3,
                                    .augment = {.random_crop_padding = 2, .random_hflip = true}, .cosine = true,
                                    .label_smoothing = 0.1};
    nb_manual_seed(1);
    nb_pool_opts pool2 = {.kernel = {2}};
    nb_module *net = nb_sequential(
        nb_conv2d_layer(1, 32, 3, NULL), nb_batchnorm2d_layer(32), nb_relu_layer(), nb_maxpool2d_layer(&pool2),
        nb_conv2d_layer(32, 64, 3, NULL), nb_relu_layer(), nb_maxpool2d_layer(&pool2),
        nb_flatten_layer(), nb_linear_layer(1600, 128), nb_relu_layer(), nb_dropout_layer(0.25),
        nb_linear_layer(128, 10), NULL);
    return fashion_run(&cfg, net, argc, argv);
}
