/* examples/fashion_common.h — the training loop the Fashion-MNIST examples share: read the data,
 * train with Adam on a shuffling loader with a Keras-style progress line, evaluate on the test set
 * after every epoch. Each example only defines its model and settings. (The Keras-style
 * nb_model_fit API will replace this loop; until then it shows the PyTorch way.)
 *
 * After training it saves the weights to <name>.safetensors in the current folder.
 * Command line of every example: [epochs] [data_dir]; environment: NABLA_NUM_THREADS,
 * NABLA_TRAIN_LIMIT (train on the first N images only).
 */
#ifndef NABLA_EXAMPLES_FASHION_COMMON_H
#define NABLA_EXAMPLES_FASHION_COMMON_H

#define _POSIX_C_SOURCE 200809L
#include <nabla/nabla.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct fashion_cfg {
    const char *name;        /* for messages */
    int epochs;              /* default when not given on the command line */
    bool flatten;            /* images as (N, 784) instead of (N, 1, 28, 28) */
    double lr;
    nb_augment_opts augment; /* training-time augmentation */
    bool cosine;             /* cosine-anneal the learning rate to 0 over the epochs */
    double label_smoothing;  /* of the training loss (torch's label_smoothing); 0: none */
} fashion_cfg;

#define FAIL(what)                                                                                 \
    do {                                                                                           \
        fprintf(stderr, "%s: %s: %s\n", cfg->name, what, nb_last_error());                       \
        return 1;                                                                                  \
    } while (0)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Keras-style progress: "  938/938 [==============================] - 3s 3ms/step - loss: 0.4321 - accuracy: 0.8456".
 * On a terminal the line is redrawn in place; otherwise only the final line of each epoch is printed. */
static void progress(int64_t step, int64_t total, double t0, double loss, double acc, bool final) {
    static int tty = -1;
    if (tty < 0) tty = isatty(STDOUT_FILENO);
    if (!tty && !final) return;
    int width = 30, done = (int)(width * step / (total ? total : 1));
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < done ? '=' : (i == done ? '>' : '.');
    if (done >= width) bar[width - 1] = '=';
    bar[width] = 0;
    double el = now() - t0;
    printf("%s%5lld/%lld [%s] - %.0fs %.0fms/step - loss: %.4f - accuracy: %.4f", tty ? "\r" : "", (long long)step,
           (long long)total, bar, el, 1000 * el / (double)(step ? step : 1), loss, acc);
    if (final) printf("\n");
    fflush(stdout);
}

/* Accuracy of net on every sample of d, in evaluation mode without recording gradients. */
static double evaluate(nb_module *net, nb_dataset *d, double *mean_loss) {
    nb_loader *l = nb_loader_new(d, &(nb_loader_opts){.batch_size = 1000, .no_prefetch = true});
    if (!l) return -1;
    nb_module_train(net, false);
    nb_no_grad_begin();
    double correct = 0, loss = 0;
    int64_t n = 0;
    for (nb_batch b; nb_loader_next(l, &b);) {
        nb_scope_begin();
        nb_tensor *logits = nb_module_forward(net, b.x);
        nb_tensor *hits = nb_sum(nb_eq(nb_argmax(logits, 1, false), b.y), NULL);
        nb_tensor *l_sum = nb_cross_entropy(logits, b.y, &(nb_cross_entropy_opts){.reduction = NB_REDUCTION_SUM});
        if (!hits || !l_sum) {
            nb_scope_end();
            correct = -1;
            break;
        }
        correct += nb_item(hits);
        loss += nb_item(l_sum);
        n += nb_size(b.y, 0);
        nb_scope_end();
    }
    nb_no_grad_end();
    nb_module_train(net, true);
    nb_loader_free(l);
    if (correct < 0 || n == 0) return -1;
    *mean_loss = loss / (double)n;
    return correct / (double)n;
}

/* Train net (owned: freed here) on Fashion-MNIST; returns the process exit code. */
static int fashion_run(const fashion_cfg *cfg, nb_module *net, int argc, char **argv) {
    int epochs = argc > 1 ? atoi(argv[1]) : cfg->epochs;
    const char *dir = argc > 2 ? argv[2] : "/usr/share/datasets/fashion-mnist";
    int64_t limit = getenv("NABLA_TRAIN_LIMIT") ? atoll(getenv("NABLA_TRAIN_LIMIT")) : 0;
    char tr_x[512], tr_y[512], te_x[512], te_y[512];
    snprintf(tr_x, sizeof tr_x, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(tr_y, sizeof tr_y, "%s/train-labels-idx1-ubyte.gz", dir);
    snprintf(te_x, sizeof te_x, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(te_y, sizeof te_y, "%s/t10k-labels-idx1-ubyte.gz", dir);

    /* Fashion-MNIST's pixel mean and standard deviation over the training set */
    nb_idx_opts io = {.flatten = cfg->flatten, .mean = 0.2860, .std = 0.3530, .limit = limit};
    nb_dataset *train = nb_idx_dataset(tr_x, tr_y, &io);
    if (!train) FAIL("reading the training set");
    io.limit = 0;
    nb_dataset *test = nb_idx_dataset(te_x, te_y, &io);
    if (!test) FAIL("reading the test set");

    if (!net) FAIL("building the model");
    nb_module_print(net, stdout);
    nb_optimizer *opt = nb_adam(nb_module_parameters(net), &(nb_adam_opts){.lr = cfg->lr});
    nb_loader *loader = nb_loader_new(train, &(nb_loader_opts){.batch_size = 64, .shuffle = true, .seed = 1, .augment = cfg->augment});
    nb_scheduler *sched = cfg->cosine && opt ? nb_cosine_annealing_lr(opt, epochs, 0) : NULL;
    if (!opt || !loader || (cfg->cosine && !sched)) FAIL("setting up training");
    printf("train %lld images, test %lld images, %d threads (%s)\n", (long long)nb_dataset_len(train),
           (long long)nb_dataset_len(test), nb_get_num_threads(), nb_cpu_features_string());

    double test_acc = 0, test_loss = 0;
    for (int epoch = 0; epoch < epochs; epoch++) {
        printf("Epoch %d/%d\n", epoch + 1, epochs);
        double t0 = now(), loss_sum = 0, correct = 0;
        int64_t seen = 0, step = 0, total = nb_loader_len(loader);
        for (nb_batch b; nb_loader_next(loader, &b);) {
            nb_scope_begin();
            nb_tensor *logits = nb_module_forward(net, b.x);
            nb_tensor *loss =
                nb_cross_entropy(logits, b.y, &(nb_cross_entropy_opts){.label_smoothing = cfg->label_smoothing});
            nb_optimizer_zero_grad(opt);
            if (!loss || nb_backward(loss) != 0 || nb_optimizer_step(opt) != 0) FAIL("training step");
            int64_t n = nb_size(b.y, 0);
            nb_no_grad_begin();
            correct += nb_item(nb_sum(nb_eq(nb_argmax(logits, 1, false), b.y), NULL));
            nb_no_grad_end();
            loss_sum += nb_item(loss) * (double)n;
            seen += n;
            step++;
            nb_scope_end();
            if (step % 20 == 0) progress(step, total, t0, loss_sum / (double)seen, correct / (double)seen, false);
        }
        if (nb_last_status() != NB_OK) FAIL("loading a batch");
        progress(step, total, t0, loss_sum / (double)seen, correct / (double)seen, true);
        if (sched && nb_scheduler_step(sched, 0) != 0) FAIL("stepping the learning rate");
        test_acc = evaluate(net, test, &test_loss);
        if (test_acc < 0) FAIL("evaluating");
        printf("epoch %d: train_loss %.4f train_accuracy %.4f test_loss %.4f test_accuracy %.4f time %.1fs\n",
               epoch + 1, loss_sum / (double)seen, correct / (double)seen, test_loss, test_acc, now() - t0);
    }
    printf("final test accuracy: %.4f\n", test_acc);
    /* the weights, with PyTorch's state_dict names (load them in Python with safetensors.torch) */
    char out[256];
    snprintf(out, sizeof out, "%s.safetensors", cfg->name);
    if (nb_module_save_state_dict(net, out) != 0) FAIL("saving the weights");
    printf("saved %s\n", out);
    nb_scheduler_free(sched);
    nb_loader_free(loader);
    nb_optimizer_free(opt);
    nb_module_free(net);
    nb_dataset_free(test);
    nb_dataset_free(train);
    return nb_live_tensors() == 0 ? 0 : 1;
}

#endif
