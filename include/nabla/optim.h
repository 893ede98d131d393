/* nabla/optim.h — optimisers, learning-rate schedulers and gradient clipping, as torch.optim.
 *
 *     nb_optimizer *opt = nb_adam(nb_module_parameters(net), &(nb_adam_opts){.lr = 1e-3});
 *     for (...) {
 *         nb_optimizer_zero_grad(opt);
 *         nb_backward(loss);
 *         nb_optimizer_step(opt);
 *     }
 *     nb_optimizer_free(opt);
 *
 * Options are designated-initialiser structs; a field whose PyTorch default is not zero (lr, betas,
 * eps, alpha, AdamW's weight_decay) takes that default when left 0, and NB_OPT_ZERO asks for a real
 * zero there (`.beta1 = NB_OPT_ZERO`); NULL options mean all defaults. Invalid options (negative lr,
 * a beta outside [0, 1), nesterov without momentum, ...) fail with a message naming the function,
 * the field and the value.
 *
 * Updates run outside autograd, directly on the parameters' f32/f64 data (f32 parameters are
 * updated with f64 arithmetic and rounded once per stored value), follow PyTorch's single-tensor
 * formulas step for step, and bump each updated parameter's version counter. Parameters must be
 * leaf f32/f64 tensors, each in one group only; parameters without a gradient are skipped, as in
 * PyTorch. Each parameter keeps its own state tensors (PyTorch's state_dict names: "momentum_buffer",
 * "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "square_avg", "grad_avg", "sum") and step count, created
 * at its first update (Adagrad: when it joins), owned and freed by the optimiser.
 */
#ifndef NABLA_OPTIM_H
#define NABLA_OPTIM_H

#include "core.h"
#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_optimizer nb_optimizer;

/* For an options field whose default is not zero: a literal zero (a plain 0 means the default). */
#define NB_OPT_ZERO (-0.0)

typedef struct nb_sgd_opts {
    double lr;           /* default 1e-3 */
    double momentum;     /* default 0 */
    double dampening;    /* default 0 */
    double weight_decay; /* L2 penalty added to the gradient; default 0 */
    bool nesterov;       /* needs momentum > 0 and dampening 0 */
} nb_sgd_opts;

typedef struct nb_adam_opts {
    double lr;           /* default 1e-3 */
    double beta1, beta2; /* default 0.9, 0.999 */
    double eps;          /* default 1e-8 */
    double weight_decay; /* Adam: L2 added to the gradient (default 0); AdamW: decoupled, p *= 1 - lr*wd
                          * (default 1e-2: 0 means 1e-2, NB_OPT_ZERO means none) */
    bool amsgrad;
} nb_adam_opts;

typedef struct nb_rmsprop_opts {
    double lr;           /* default 1e-2 */
    double alpha;        /* smoothing constant, default 0.99 */
    double eps;          /* default 1e-8 */
    double weight_decay;
    double momentum;
    bool centered;
} nb_rmsprop_opts;

typedef struct nb_adagrad_opts {
    double lr;           /* default 1e-2 */
    double lr_decay;
    double weight_decay;
    double initial_accumulator_value;
    double eps;          /* default 1e-10 */
} nb_adagrad_opts;

/* Constructors take ownership of params (also on failure) so `nb_adam(nb_module_parameters(net),
 * ...)` does not leak. They return a new optimiser (free it with nb_optimizer_free), or NULL with the
 * error set: invalid options, an empty or NULL list, a parameter that is not an f32/f64 leaf or that
 * appears twice. */
NB_API nb_optimizer *nb_sgd(nb_params *params, const nb_sgd_opts *opts);
NB_API nb_optimizer *nb_adam(nb_params *params, const nb_adam_opts *opts);
NB_API nb_optimizer *nb_adamw(nb_params *params, const nb_adam_opts *opts);
NB_API nb_optimizer *nb_rmsprop(nb_params *params, const nb_rmsprop_opts *opts);
NB_API nb_optimizer *nb_adagrad(nb_params *params, const nb_adagrad_opts *opts);
/* Another parameter group with its own options: opts points to the optimiser's own options type
 * (nb_adam_opts for nb_adam / nb_adamw, ...), resolved like the constructor's (fields left 0 take the
 * library defaults, not the constructor's values); NULL means the constructor's options (PyTorch's
 * optimizer.defaults). Takes ownership of params (also on failure). A parameter already in another
 * group is an error. Returns 0 or a negative nb_status. */
NB_API int nb_optimizer_add_group(nb_optimizer *opt, nb_params *params, const void *opts);

/* One update of every parameter that has a gradient (others are skipped). Gradients of any layout and
 * float dtype are read as contiguous copies in the parameter's dtype; non-contiguous parameters are
 * updated through a contiguous copy. Everything that can fail (shape checks, state allocation) runs
 * before any parameter changes. Returns 0 or a negative nb_status. */
NB_API int nb_optimizer_step(nb_optimizer *opt);
/* Drop every parameter's gradient (PyTorch's zero_grad(set_to_none=True)). */
NB_API void nb_optimizer_zero_grad(nb_optimizer *opt);
/* Learning rate of a group (group 0 is the constructor's); NAN with the error set for a bad group. */
NB_API double nb_optimizer_get_lr(const nb_optimizer *opt, int group);
/* Set a group's learning rate (>= 0). Returns 0 or a negative nb_status. */
NB_API int nb_optimizer_set_lr(nb_optimizer *opt, int group, double lr);
/* Number of parameter groups (0 for NULL). */
NB_API int nb_optimizer_num_groups(const nb_optimizer *opt);
/* Number of completed nb_optimizer_step calls. */
NB_API int64_t nb_optimizer_steps(const nb_optimizer *opt);
/* Free the optimiser, its state and its parameter lists (the parameters themselves live on while
 * their other owners hold them). NULL is ignored. */
NB_API void nb_optimizer_free(nb_optimizer *opt);

/* ---- gradient clipping --------------------------------------------------------------------------- */

/* Scale all gradients so that their total norm (p = 2, any p > 0, or INFINITY) is at most max_norm,
 * as torch.nn.utils.clip_grad_norm_: the norm of the per-gradient norms; when max_norm / (norm + 1e-6)
 * is below 1, every gradient is multiplied by it. Parameters without a gradient are skipped. Writes
 * the norm before clipping to *total_norm if not NULL (0 when no parameter has a gradient). Returns 0
 * or a negative nb_status (max_norm < 0, bad norm_type). */
NB_API int nb_clip_grad_norm(nb_params *params, double max_norm, double norm_type, double *total_norm);
/* Clamp every gradient element to [-clip, clip] (clip >= 0), as torch.nn.utils.clip_grad_value_.
 * Returns 0 or a negative nb_status. */
NB_API int nb_clip_grad_value(nb_params *params, double clip);

/* ---- learning-rate schedulers -------------------------------------------------------------------- */

typedef struct nb_scheduler nb_scheduler;

/* Each scheduler sets the lr of every group of opt (borrowed: it must outlive the scheduler) from
 * the group's initial lr, exactly like its torch.optim.lr_scheduler namesake (the same recursive
 * formulas, so the same values). Construction performs PyTorch's initial step, which may already set
 * the lr (linear, one-cycle). Call nb_scheduler_step once per epoch (or per batch for one-cycle /
 * warm-up), after nb_optimizer_step. Constructors return a new scheduler (free it with
 * nb_scheduler_free) or NULL with the error set for invalid arguments. Groups added to opt after the
 * scheduler was made make nb_scheduler_step fail (reduce-on-plateau excepted), as in PyTorch. */
/* lr *= gamma every step_size steps (step_size > 0, gamma >= 0). */
NB_API nb_scheduler *nb_step_lr(nb_optimizer *opt, int step_size, double gamma);
/* lr *= gamma each time the step count reaches a milestone (any order; a milestone listed k times
 * multiplies by gamma^k, as PyTorch's Counter). The milestones are copied. */
NB_API nb_scheduler *nb_multistep_lr(nb_optimizer *opt, const int *milestones, int n_milestones, double gamma);
/* lr *= gamma every step. */
NB_API nb_scheduler *nb_exponential_lr(nb_optimizer *opt, double gamma);
/* Cosine from the initial lr down to eta_min over t_max steps, then back up (PyTorch's recursive
 * form, which keeps going past t_max rather than restarting; t_max > 0, eta_min >= 0). */
NB_API nb_scheduler *nb_cosine_annealing_lr(nb_optimizer *opt, int t_max, double eta_min);
/* torch.optim.lr_scheduler.OneCycleLR with cosine annealing, pct_start 0.3, div_factor 25,
 * final_div_factor 1e4, three_phase false (the PyTorch defaults): the lr starts at max_lr / 25 (set at
 * construction), rises to max_lr by step 0.3 * total_steps - 1 and falls to max_lr / 25 / 1e4 at step
 * total_steps - 1. Only the lr is scheduled: momentum / beta1 are NOT cycled (PyTorch's
 * cycle_momentum=False). Stepping more than total_steps times fails with NB_ERR_STATE, as in PyTorch. */
NB_API nb_scheduler *nb_one_cycle_lr(nb_optimizer *opt, double max_lr, int total_steps);
/* lr moves linearly from start_factor * lr to end_factor * lr over total_iters steps, then stays
 * (torch's LinearLR; start_factor in (0, 1], end_factor in [0, 1], total_iters > 0). */
NB_API nb_scheduler *nb_linear_lr(nb_optimizer *opt, double start_factor, double end_factor, int total_iters);
/* Multiply every group's lr by factor (in [0, 1), not below min_lr) when the metric has not improved
 * for more than `patience` steps (torch's ReduceLROnPlateau with mode min, threshold 1e-4 relative,
 * cooldown 0, eps 1e-8). No initial step: the lr is unchanged until a reduction. */
NB_API nb_scheduler *nb_reduce_lr_on_plateau(nb_optimizer *opt, double factor, int patience, double min_lr);
/* Advance one step (PyTorch's scheduler.step()). For reduce-on-plateau pass the monitored metric;
 * others ignore it. Returns 0 or a negative nb_status. */
NB_API int nb_scheduler_step(nb_scheduler *s, double metric);
/* Group 0's lr after the scheduler's last step (PyTorch's get_last_lr()[0]); NAN for NULL. */
NB_API double nb_scheduler_get_lr(const nb_scheduler *s);
/* Free the scheduler (not the optimiser). NULL is ignored. */
NB_API void nb_scheduler_free(nb_scheduler *s);

#ifdef __cplusplus
}
#endif
#endif
