/* tests/test_train_small.c — end to end: train the Fashion-MNIST MLP (784-256-128-10, Adam 1e-3,
 * batch 64, seeded) on the first 2,000 training images for 5 epochs and require at least 78% accuracy
 * on the first 2,000 test images (it reaches about 0.80; chance is 0.10). Also checks that training is
 * bitwise reproducible: the same seed gives the same final loss.
 * Needs Debian's dataset-fashion-mnist (scripts/test.sh installs it); set NABLA_FASHION_DIR to read it
 * elsewhere. A missing dataset fails the test unless NABLA_SKIP_DATASET_TESTS=1. */
#include "harness.h"

#include <unistd.h>

static char g_dir[512];

static bool dataset_present(void) {
    const char *d = getenv("NABLA_FASHION_DIR");
    snprintf(g_dir, sizeof g_dir, "%s", d ? d : "/usr/share/datasets/fashion-mnist");
    char p[600];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", g_dir);
    return access(p, R_OK) == 0;
}

static nb_dataset *load(const char *prefix, int64_t limit) {
    char x[600], y[600];
    snprintf(x, sizeof x, "%s/%s-images-idx3-ubyte.gz", g_dir, prefix);
    snprintf(y, sizeof y, "%s/%s-labels-idx1-ubyte.gz", g_dir, prefix);
    return nb_idx_dataset(x, y, &(nb_idx_opts){.flatten = true, .mean = 0.2860, .std = 0.3530, .limit = limit});
}

/* Train from seed 1; returns the test accuracy and the last batch loss. */
static double train_once(nb_dataset *train, nb_dataset *test, double *last_loss) {
    nb_manual_seed(1);
    nb_module *net = nb_sequential(nb_linear_layer(784, 256), nb_relu_layer(), nb_linear_layer(256, 128),
                                   nb_relu_layer(), nb_linear_layer(128, 10));
    nb_optimizer *opt = nb_adam(nb_module_parameters(net), &(nb_adam_opts){.lr = 1e-3});
    nb_loader *loader = nb_loader_new(train, &(nb_loader_opts){.batch_size = 64, .shuffle = true, .seed = 7});
    CHECK(net && opt && loader);
    if (!net || !opt || !loader) return -1;
    for (int epoch = 0; epoch < 5; epoch++) {
        for (nb_batch b; nb_loader_next(loader, &b);) {
            nb_scope_begin();
            nb_tensor *loss = nb_cross_entropy(nb_module_forward(net, b.x), b.y, NULL);
            nb_optimizer_zero_grad(opt);
            CHECK(loss && nb_backward(loss) == 0 && nb_optimizer_step(opt) == 0);
            *last_loss = nb_item(loss);
            nb_scope_end();
        }
    }
    nb_module_train(net, false);
    nb_no_grad_begin();
    nb_tensor *logits = nb_module_forward(net, nb_dataset_inputs(test));
    double acc = nb_item(nb_mean(nb_to(nb_eq(nb_argmax(logits, 1, false), nb_dataset_targets(test)), NB_F32), NULL));
    nb_no_grad_end();
    nb_loader_free(loader);
    nb_optimizer_free(opt);
    nb_module_free(net);
    return acc;
}

static void test_mlp_on_2000_images(void) {
    if (!dataset_present()) {
        bool skip = getenv("NABLA_SKIP_DATASET_TESTS") && atoi(getenv("NABLA_SKIP_DATASET_TESTS"));
        CHECK_MSG(skip, "Fashion-MNIST not found in %s (apt-get install dataset-fashion-mnist, or set "
                        "NABLA_SKIP_DATASET_TESTS=1)", g_dir);
        return;
    }
    nb_dataset *train = load("train", 2000), *test = load("t10k", 2000);
    CHECK(train && test && nb_dataset_len(train) == 2000 && nb_dataset_len(test) == 2000);
    if (!train || !test) return;
    double loss1 = 0, loss2 = 0;
    double acc = train_once(train, test, &loss1);
    fprintf(stderr, "test_train_small: test accuracy %.4f after 5 epochs on 2,000 images\n", acc);
    CHECK_MSG(acc >= 0.78, "accuracy %.4f", acc);
    double acc2 = train_once(train, test, &loss2);
    CHECK_MSG(acc2 == acc && loss2 == loss1, "a second run from the same seed differs: %.17g vs %.17g", loss1, loss2);
    nb_dataset_free(test);
    nb_dataset_free(train);
}

int main(void) {
    RUN(test_mlp_on_2000_images);
    return harness_finish();
}
