/* tests/ref/torch_roundtrip.c — the nabla side of tests/ref/torch_roundtrip.py (opt-in; needs torch).
 *   torch_roundtrip DIR
 * For each model (mlp, cnn): loads DIR/<m>_torch.safetensors (saved by safetensors.torch.save_file
 * from the torch model's state_dict) strictly into the equivalent nabla model, runs it on DIR/<m>_x.npy
 * in eval mode and writes DIR/<m>_nabla_out.npy; then builds a fresh nabla model (seed 7), saves its
 * state_dict to DIR/<m>_nabla.safetensors and its output on the same input to DIR/<m>_nabla_own.npy. */
#include <nabla/nabla.h>
#include <stdio.h>

static nb_module *make(const char *m) {
    if (m[0] == 'm')
        return nb_sequential(nb_linear_layer(784, 256), nb_relu_layer(), nb_linear_layer(256, 128), nb_relu_layer(),
                             nb_linear_layer(128, 10));
    return nb_sequential(nb_conv2d_layer(1, 4, 3, &(nb_conv_opts){.padding = {1, 1}}), nb_batchnorm2d_layer(4),
                         nb_relu_layer(), nb_maxpool2d_layer(&(nb_pool_opts){.kernel = {2, 2}}), nb_flatten_layer(),
                         nb_linear_layer(4 * 14 * 14, 10));
}

static int fail(const char *what) {
    fprintf(stderr, "torch_roundtrip: %s: %s\n", what, nb_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) return fprintf(stderr, "usage: torch_roundtrip DIR\n"), 2;
    char p[1024];
    const char *models[2] = {"mlp", "cnn"};
    for (int k = 0; k < 2; k++) {
        const char *m = models[k];
        nb_scope_begin();
        snprintf(p, sizeof p, "%s/%s_x.npy", argv[1], m);
        nb_tensor *x = nb_npy_load(p);
        if (!x) return fail(p);
        nb_module *net = make(m);
        nb_load_report *rep = NULL;
        snprintf(p, sizeof p, "%s/%s_torch.safetensors", argv[1], m);
        if (nb_module_load_state_dict(net, p, true, &rep)) return fail(p);
        nb_load_report_free(rep);
        nb_module_train(net, false);
        nb_no_grad_begin();
        snprintf(p, sizeof p, "%s/%s_nabla_out.npy", argv[1], m);
        if (nb_npy_save(p, nb_module_forward(net, x))) return fail(p);
        nb_manual_seed(7);
        nb_module *own = make(m);
        nb_module_train(own, false);
        snprintf(p, sizeof p, "%s/%s_nabla.safetensors", argv[1], m);
        if (nb_module_save_state_dict(own, p)) return fail(p);
        snprintf(p, sizeof p, "%s/%s_nabla_own.npy", argv[1], m);
        if (nb_npy_save(p, nb_module_forward(own, x))) return fail(p);
        nb_no_grad_end();
        nb_module_free(net);
        nb_module_free(own);
        nb_scope_end();
    }
    return 0;
}
