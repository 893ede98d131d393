/* nabla/nn.h — modules: layers with named parameters, composed like torch.nn.
 *
 *     nb_module *net = nb_sequential(nb_flatten_layer(), nb_linear_layer(784, 256), nb_relu_layer(),
 *                                    nb_linear_layer(256, 10), NULL);
 *     nb_tensor *logits = nb_module_forward(net, x);       // x: (N, 1, 28, 28) or (N, 784)
 *     nb_params *p = nb_module_parameters(net);            // "1.weight", "1.bias", "3.weight", ...
 *     nb_module_free(net);
 *
 * Naming: module constructors end in _layer (nb_linear_layer is torch.nn.Linear, nb_relu_layer is
 * torch.nn.ReLU), so they never collide with the functional op of the same name (nb_relu is
 * torch.relu); containers are nb_sequential.
 * Parameter names match PyTorch's state_dict keys for the equivalent torch.nn model, so weights can
 * move between the two. Modules own their parameters; nb_module_forward returns a new tensor
 * reference like any op. Default initialisation matches PyTorch in distribution (kaiming-uniform
 * weights, uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) biases) and draws from nabla's global generator.
 */
#ifndef NABLA_NN_H
#define NABLA_NN_H

#include "core.h"
#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_module nb_module;

/* ---- layers (each returns a new module owned by the caller, or NULL with the error set) -------- */

/* y = x W^T + b with W (out, in) and b (out), as torch.nn.Linear. */
NB_API nb_module *nb_linear_layer(int64_t in_features, int64_t out_features);
NB_API nb_module *nb_linear_layer_nobias(int64_t in_features, int64_t out_features);
/* Activations as modules (no parameters). */
NB_API nb_module *nb_relu_layer(void);
NB_API nb_module *nb_tanh_layer(void);
NB_API nb_module *nb_sigmoid_layer(void);
/* torch.nn.LeakyReLU(negative_slope) (PyTorch's default 0.01), ELU(alpha), CELU(alpha) (alpha != 0),
 * SELU(), GELU(approximate), SiLU(), Mish(), Softplus(beta, threshold) (defaults 1, 20),
 * Hardtanh(min_val, max_val) (min_val < max_val; defaults -1, 1), ReLU6(), Hardswish(), Hardsigmoid():
 * each forward is the functional op of include/nabla/ops.h; printing shows PyTorch's type names and
 * options ("LeakyReLU(negative_slope=0.01)"). */
NB_API nb_module *nb_leaky_relu_layer(double negative_slope);
NB_API nb_module *nb_elu_layer(double alpha);
NB_API nb_module *nb_celu_layer(double alpha);
NB_API nb_module *nb_selu_layer(void);
NB_API nb_module *nb_gelu_layer(nb_gelu_approximate approximate);
NB_API nb_module *nb_silu_layer(void);
NB_API nb_module *nb_mish_layer(void);
NB_API nb_module *nb_softplus_layer(double beta, double threshold);
NB_API nb_module *nb_hardtanh_layer(double min_val, double max_val);
NB_API nb_module *nb_relu6_layer(void);
NB_API nb_module *nb_hardswish_layer(void);
NB_API nb_module *nb_hardsigmoid_layer(void);
/* (end of the activation layers) */
/* Flatten all dims after the first: (N, ...) -> (N, prod(...)), as torch.nn.Flatten(). */
NB_API nb_module *nb_flatten_layer(void);
/* Zero each element with probability p in training mode and scale the rest by 1/(1-p); identity in
 * evaluation mode. Draws from the global generator. */
NB_API nb_module *nb_dropout_layer(double p);
/* torch.nn.Conv2d(in, out, kernel) with the options of nb_conv2d (stride, padding, dilation, groups,
 * same); opts may be NULL. Parameters "weight" (out, in/groups, k, k) and "bias" (out). */
NB_API nb_module *nb_conv2d_layer(int64_t in_channels, int64_t out_channels, int64_t kernel, const nb_conv_opts *opts);
/* torch.nn.MaxPool2d: opts.kernel is required. */
NB_API nb_module *nb_maxpool2d_layer(const nb_pool_opts *opts);
/* torch.nn.Conv1d(in, out, kernel) with the options of nb_conv1d; opts may be NULL. Parameters
 * "weight" (out, in/groups, k) and "bias" (out), both uniform(+-1/sqrt(in/groups * k)). */
NB_API nb_module *nb_conv1d_layer(int64_t in_channels, int64_t out_channels, int64_t kernel, const nb_conv_opts *opts);
/* torch.nn.ConvTranspose2d(in, out, kernel) with the options of nb_conv_transpose2d; opts may be NULL.
 * Parameters "weight" (in, out/groups, k, k) and "bias" (out), both uniform(+-1/sqrt(out/groups * k * k))
 * (torch's fan_in of that weight). */
NB_API nb_module *nb_conv_transpose2d_layer(int64_t in_channels, int64_t out_channels, int64_t kernel,
                                            const nb_conv_transpose_opts *opts);
/* torch.nn.AvgPool2d: opts.kernel is required. */
NB_API nb_module *nb_avgpool2d_layer(const nb_avg_pool_opts *opts);
/* torch.nn.AdaptiveAvgPool2d((oh, ow)): ow = 0 repeats oh, -1 keeps the input's size. */
NB_API nb_module *nb_adaptive_avgpool2d_layer(int64_t oh, int64_t ow);
/* torch.nn.MaxPool1d: opts.kernel is required (first entries of the pairs). */
NB_API nb_module *nb_maxpool1d_layer(const nb_pool_opts *opts);
/* (end of the spatial layers: conv1d, conv_transpose2d, pooling) */
/* torch.nn.BatchNorm2d / BatchNorm1d (eps 1e-5, momentum 0.1, affine, tracking running stats):
 * parameters "weight", "bias"; buffers "running_mean", "running_var", "num_batches_tracked". */
NB_API nb_module *nb_batchnorm2d_layer(int64_t num_features);
NB_API nb_module *nb_batchnorm1d_layer(int64_t num_features);
/* torch.nn.LayerNorm(normalized_shape, eps, elementwise_affine): parameters "weight" and "bias"
 * (normalized_shape; ones and zeros) when elementwise_affine. PyTorch's defaults: eps 1e-5, affine. */
NB_API nb_module *nb_layernorm_layer(int ndim, const int64_t *normalized_shape, double eps, bool elementwise_affine);
/* torch.nn.GroupNorm(num_groups, num_channels) (eps 1e-5, affine): "weight" (ones), "bias" (zeros). */
NB_API nb_module *nb_groupnorm_layer(int64_t num_groups, int64_t num_channels);
/* torch.nn.RMSNorm(normalized_shape, eps): "weight" (ones). eps < 0 is eps=None (as nb_rms_norm). */
NB_API nb_module *nb_rmsnorm_layer(int ndim, const int64_t *normalized_shape, double eps);
/* torch.nn.Embedding(num_embeddings, embedding_dim): "weight" normal(0, 1), the padding row zeroed;
 * opts (padding_idx, max_norm; may be NULL) as nb_embedding. Input: integer indices of any shape. */
NB_API nb_module *nb_embedding_layer(int64_t num_embeddings, int64_t embedding_dim, const nb_embedding_opts *opts);
/* torch.nn.Dropout2d(p): zero whole channels in training mode (nb_dropout2d). */
NB_API nb_module *nb_dropout2d_layer(double p);
/* (end of the normalisation and embedding layers) */
/* Run children in order: nb_sequential(a, b, c) (a trailing NULL, as in nb_sequential(a, b, NULL),
 * is accepted too). Takes ownership of every child, also on failure. Children are named "0", "1",
 * ... as in torch.nn.Sequential. A NULL child (a constructor that failed) makes the whole call fail
 * and free the others, so a broken layer can never silently shorten the model; for a trailing NULL
 * that is decided by whether the latest, uncleared error on this thread is a failed module
 * constructor. nb_sequential is a macro that counts its arguments; nb_sequential_array is the
 * function behind it (for C++ or arrays built at run time). */
NB_API nb_module *nb_sequential_array(nb_module *const *children, int n);
#define nb_sequential(...)                                                                         \
    nb_sequential_array((nb_module *[]){__VA_ARGS__},                                              \
                        (int)(sizeof((nb_module *[]){__VA_ARGS__}) / sizeof(nb_module *)))

/* A list of modules without a forward of its own (torch.nn.ModuleList): children named "0", "1", ...
 * Same argument rules as nb_sequential. Reach the children with nb_module_child. */
NB_API nb_module *nb_module_list_array(nb_module *const *children, int n);
#define nb_module_list(...)                                                                        \
    nb_module_list_array((nb_module *[]){__VA_ARGS__},                                             \
                         (int)(sizeof((nb_module *[]){__VA_ARGS__}) / sizeof(nb_module *)))
/* y = body(x) + shortcut(x), or body(x) + x when shortcut is NULL: the residual connection of ResNet
 * blocks. Children "body" and (if given) "shortcut". Takes ownership of both, also on failure. */
NB_API nb_module *nb_residual_layer(nb_module *body, nb_module *shortcut);

/* ---- using a module ------------------------------------------------------------------------------ */

NB_API nb_tensor *nb_module_forward(nb_module *m, nb_tensor *x);
NB_API void nb_module_free(nb_module *m);
/* Training mode (default) or evaluation mode, for the module and all its children. */
NB_API void nb_module_train(nb_module *m, bool training);
NB_API bool nb_module_is_training(const nb_module *m);
/* Child i of a container (borrowed), or NULL with the error set. */
NB_API nb_module *nb_module_child(const nb_module *m, int i);
NB_API int nb_module_num_children(const nb_module *m);
/* The layer's type name ("Linear", "Sequential", ...). */
NB_API const char *nb_module_type(const nb_module *m);
/* Print the module tree like PyTorch's repr. */
NB_API void nb_module_print(const nb_module *m, FILE *f);

/* ---- parameters ---------------------------------------------------------------------------------- */

/* A list of (name, parameter) pairs: references to the module's own tensors. */
typedef struct nb_params nb_params;
/* An empty list, for building parameter groups by hand. */
NB_API nb_params *nb_params_new(void);
/* Append t under name (the list takes its own reference to t). Returns 0 or a negative nb_status. */
NB_API int nb_params_add(nb_params *p, const char *name, nb_tensor *t);
/* All parameters of m and its children, in registration order, with dotted names. New list. */
NB_API nb_params *nb_module_parameters(nb_module *m);
/* Every parameter AND buffer (running statistics, num_batches_tracked), named and ordered exactly as
 * PyTorch's state_dict() for the equivalent model: a module's parameters, its buffers, then its
 * children. The tensors are the module's own (writing into them changes the module). New list. */
NB_API nb_params *nb_module_state_dict(nb_module *m);
NB_API int nb_params_count(const nb_params *p);
/* Borrowed: valid while the list lives. NULL when i is out of range. */
NB_API nb_tensor *nb_params_get(const nb_params *p, int i);
NB_API const char *nb_params_name(const nb_params *p, int i);
/* Total number of elements over all parameters. */
NB_API int64_t nb_params_numel(const nb_params *p);
NB_API void nb_params_free(nb_params *p);
/* Stop (or restart) gradients for every parameter of m: PyTorch's requires_grad_(False). */
NB_API void nb_module_freeze(nb_module *m, bool frozen);

/* ---- initialisers (torch.nn.init): fill a parameter in place, without recording; draw from the
 * global generator. fan_in / fan_out follow PyTorch: for a weight (out, in, k...) fan_in is
 * in * prod(k) and fan_out is out * prod(k). Each returns 0 or a negative nb_status. ---------------- */
NB_API int nb_init_uniform(nb_tensor *t, double low, double high);
NB_API int nb_init_normal(nb_tensor *t, double mean, double std);
NB_API int nb_init_constant(nb_tensor *t, double value);
NB_API int nb_init_zeros(nb_tensor *t);
NB_API int nb_init_ones(nb_tensor *t);
/* Glorot: uniform(+-gain * sqrt(6 / (fan_in + fan_out))) and normal(0, gain * sqrt(2 / (fan_in + fan_out))). */
NB_API int nb_init_xavier_uniform(nb_tensor *t, double gain);
NB_API int nb_init_xavier_normal(nb_tensor *t, double gain);
typedef enum nb_fan_mode { NB_FAN_IN = 0, NB_FAN_OUT } nb_fan_mode;
/* He: std = gain / sqrt(fan) with gain = nb_init_gain(nonlinearity, a); uniform bound sqrt(3) * std. */
NB_API int nb_init_kaiming_uniform(nb_tensor *t, double a, nb_fan_mode mode, const char *nonlinearity);
NB_API int nb_init_kaiming_normal(nb_tensor *t, double a, nb_fan_mode mode, const char *nonlinearity);
/* A (semi-)orthogonal matrix (rows or columns orthonormal) times gain, from the QR decomposition of a
 * normal matrix with the signs of R's diagonal fixed, as torch.nn.init.orthogonal_. */
NB_API int nb_init_orthogonal(nb_tensor *t, double gain);
/* torch.nn.init.calculate_gain: "linear", "conv2d", "sigmoid" (1), "tanh" (5/3), "relu" (sqrt 2),
 * "leaky_relu" (sqrt(2 / (1 + param^2)), param default 0.01 when param < 0), "selu" (3/4). NAN with
 * the error set for an unknown name. */
NB_API double nb_init_gain(const char *nonlinearity, double param);

#ifdef __cplusplus
}
#endif
#endif
