/* bench/train.c — seconds per training epoch on Fashion-MNIST (data already in memory), batch 64,
 * Adam lr 1e-3, for the MLP 784-256-128-10 and the benchmark CNN
 *   Conv2d(1,32,3)+ReLU+MaxPool2 -> Conv2d(32,64,3)+ReLU+MaxPool2 -> Flatten -> Linear(1600,128)+ReLU
 *   -> Linear(128,10),
 * then the test accuracy. bench/train_torch.py runs the same models in PyTorch.
 *
 * Usage: train mlp|cnn [threads] [epochs] [data_dir]
 * Prints `name value` lines: epoch_s (median over epochs), first_epoch_s, test_accuracy. */
#define _POSIX_C_SOURCE 200809L
#include <nabla/nabla.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *model = argc > 1 ? argv[1] : "mlp";
    int threads = argc > 2 ? atoi(argv[2]) : 2, epochs = argc > 3 ? atoi(argv[3]) : 1;
    const char *dir = argc > 4 ? argv[4] : "/usr/share/datasets/fashion-mnist";
    bool cnn = strcmp(model, "cnn") == 0;
    nb_set_num_threads(threads);
    /* BENCH_SEED: the seed of initialisation and shuffling (default 1), for accuracy spreads over seeds */
    const char *seed_env = getenv("BENCH_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : 1;
    nb_manual_seed(seed);
    char px[512], py[512], tx[512], ty[512];
    snprintf(px, sizeof px, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(py, sizeof py, "%s/train-labels-idx1-ubyte.gz", dir);
    snprintf(tx, sizeof tx, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(ty, sizeof ty, "%s/t10k-labels-idx1-ubyte.gz", dir);
    nb_idx_opts io = {.flatten = !cnn, .mean = 0.2860, .std = 0.3530};
    nb_dataset *train = nb_idx_dataset(px, py, &io), *test = nb_idx_dataset(tx, ty, &io);
    if (!train || !test) {
        fprintf(stderr, "train: %s\n", nb_last_error());
        return 1;
    }
    nb_pool_opts p2 = {.kernel = {2}};
    nb_module *net = cnn ? nb_sequential(nb_conv2d_layer(1, 32, 3, NULL), nb_relu_layer(), nb_maxpool2d_layer(&p2),
                                         nb_conv2d_layer(32, 64, 3, NULL), nb_relu_layer(), nb_maxpool2d_layer(&p2),
                                         nb_flatten_layer(), nb_linear_layer(1600, 128), nb_relu_layer(),
                                         nb_linear_layer(128, 10), NULL)
                         : nb_sequential(nb_linear_layer(784, 256), nb_relu_layer(), nb_linear_layer(256, 128),
                                         nb_relu_layer(), nb_linear_layer(128, 10), NULL);
    nb_optimizer *opt = nb_adam(nb_module_parameters(net), &(nb_adam_opts){.lr = 1e-3});
    nb_loader *loader = nb_loader_new(train, &(nb_loader_opts){.batch_size = 64, .shuffle = true, .seed = seed});
    if (!net || !opt || !loader) {
        fprintf(stderr, "train: %s\n", nb_last_error());
        return 1;
    }
    double times[64];
    if (epochs > 64) epochs = 64;
    for (int e = 0; e < epochs; e++) {
        double t0 = now();
        for (nb_batch b; nb_loader_next(loader, &b);) {
            nb_scope_begin();
            nb_tensor *loss = nb_cross_entropy(nb_module_forward(net, b.x), b.y, NULL);
            nb_optimizer_zero_grad(opt);
            if (!loss || nb_backward(loss) != 0 || nb_optimizer_step(opt) != 0) {
                fprintf(stderr, "train: %s\n", nb_last_error());
                return 1;
            }
            nb_scope_end();
        }
        times[e] = now() - t0;
    }
    nb_module_train(net, false);
    nb_no_grad_begin();
    nb_tensor *x = nb_dataset_inputs(test), *y = nb_dataset_targets(test);
    int64_t n = nb_size(y, 0);
    double hits = 0;
    for (int64_t i = 0; i < n; i += 1000) { /* in chunks: im2col of 10,000 images would not fit */
        nb_scope_begin();
        nb_tensor *xb = nb_slice(x, 0, i, i + 1000, 1), *yb = nb_slice(y, 0, i, i + 1000, 1);
        hits += nb_item(nb_sum(nb_eq(nb_argmax(nb_module_forward(net, xb), 1, false), yb), NULL));
        nb_scope_end();
    }
    double acc = hits / (double)n;
    nb_no_grad_end();
    double first = times[0];
    qsort(times, (size_t)epochs, sizeof(double), cmp_double);
    printf("# nabla %s, %s, %d threads, %d epochs\n", nb_version_string(), model, threads, epochs);
    printf("epoch_s %.3f\nfirst_epoch_s %.3f\ntest_accuracy %.4f\n", times[epochs / 2], first, acc);
    nb_loader_free(loader);
    nb_optimizer_free(opt);
    nb_module_free(net);
    nb_dataset_free(test);
    nb_dataset_free(train);
    return 0;
}
