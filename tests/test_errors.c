/* tests/test_errors.c — error paths of the public API: every failure returns NULL / a negative status
 * with a message that names the function and the offending shapes, dtypes, dims or arguments; NULL
 * inputs propagate without overwriting the first error; the error handler and NABLA_ABORT_ON_ERROR. */
#define _POSIX_C_SOURCE 200809L /* setenv, fork, pipe */
#include "harness.h"

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static nb_tensor *f32(int ndim, const int64_t *shape) { return nb_zeros(ndim, shape, NB_F32); }

/* ---- NABLA_ABORT_ON_ERROR ------------------------------------------------------------------------ */

/* Must run before any error in this process: the library caches the environment lookup on the first
 * error, and a forked child inherits that cache. */
static void test_abort_on_error(void) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid < 0) return;
    if (pid == 0) { /* child */
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        setenv("NABLA_ABORT_ON_ERROR", "1", 1);
        nb_tensor *a = nb_zeros(NB_SHAPE(2, 3), NB_F32), *b = nb_zeros(NB_SHAPE(4), NB_F32);
        nb_add(a, b); /* must abort here */
        _exit(7);     /* reached only if it did not */
    }
    close(fds[1]);
    char out[4096];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof out - 1 && (r = read(fds[0], out + len, sizeof out - 1 - len)) > 0) len += (size_t)r;
    out[len] = 0;
    close(fds[0]);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "child status 0x%x (exit %d)", status,
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    CHECK_MSG(strstr(out, "nb_add") && strstr(out, "[2, 3]") && strstr(out, "[4]"), "child stderr: \"%s\"", out);
    CHECK_MSG(strstr(out, "NABLA_ABORT_ON_ERROR"), "child stderr: \"%s\"", out);
    /* The parent is unaffected (its environment never had the variable). */
    CHECK(getenv("NABLA_ABORT_ON_ERROR") == NULL);
}

/* ---- shapes -------------------------------------------------------------------------------------- */

static void test_broadcast_failures(void) {
    nb_tensor *a = f32(NB_SHAPE(2, 3)), *b = f32(NB_SHAPE(4)), *c = f32(NB_SHAPE(3, 4, 3));
    CHECK_NULL_WITH(nb_add(a, b), "nb_add", "[2, 3]", "[4]", "broadcast");
    CHECK_NULL_WITH(nb_sub(b, a), "nb_sub", "[4]", "[2, 3]");
    CHECK_NULL_WITH(nb_mul(a, b), "nb_mul", "[2, 3]", "[4]");
    CHECK_NULL_WITH(nb_div(a, b), "nb_div", "[2, 3]", "[4]");
    CHECK_NULL_WITH(nb_pow(a, b), "nb_pow");
    CHECK_NULL_WITH(nb_maximum(a, b), "nb_maximum");
    CHECK_NULL_WITH(nb_minimum(a, b), "nb_minimum");
    CHECK_NULL_WITH(nb_eq(a, b), "nb_eq", "[2, 3]", "[4]");
    CHECK_NULL_WITH(nb_lt(a, b), "nb_lt");
    CHECK_NULL_WITH(nb_ge(a, b), "nb_ge");
    CHECK_NULL_WITH(nb_add(a, c), "nb_add", "[2, 3]", "[3, 4, 3]");
    nb_tensor *cond = nb_zeros(NB_SHAPE(5), NB_BOOL);
    CHECK_NULL_WITH(nb_where(cond, a, a), "nb_where", "[5]", "[2, 3]");
    CHECK_NULL_WITH(nb_where(nb_zeros(NB_SHAPE(3), NB_BOOL), a, b), "nb_where", "[2, 3]", "[4]");
    CHECK_RC_WITH(nb_copy_(a, b), "nb_copy_", "[4]");
    CHECK_RC_WITH(nb_add_(a, f32(NB_SHAPE(3, 2, 3)), 1.0), "nb_add_", "[3, 2, 3]", "[2, 3]");
    CHECK_RC_WITH(nb_add_(a, c, 1.0), "nb_add", "[3, 4, 3]");
    /* broadcasting that works must not set an error */
    nb_tensor *ok = nb_add(a, f32(NB_SHAPE(3)));
    CHECK(ok != NULL && nb_last_status() == NB_OK && nb_last_error()[0] == 0);
}

static void test_matmul_shapes(void) {
    nb_tensor *a = f32(NB_SHAPE(2, 3)), *b = f32(NB_SHAPE(4, 5));
    CHECK_NULL_WITH(nb_matmul(a, b), "nb_matmul", "[2, 3]", "[4, 5]");
    CHECK_NULL_WITH(nb_matmul(f32(NB_SHAPE(3)), f32(NB_SHAPE(4))), "nb_matmul");
    CHECK_NULL_WITH(nb_matmul(a, f32(NB_SHAPE(5))), "nb_matmul");
    CHECK_NULL_WITH(nb_matmul(nb_scalar(1, NB_F32), a), "nb_matmul", "at least 1 dim");
    /* batch dims that do not broadcast */
    CHECK_NULL_WITH(nb_matmul(f32(NB_SHAPE(2, 2, 3)), f32(NB_SHAPE(3, 3, 4))), "nb_matmul", "[2]", "[3]");
}

static void test_shape_op_failures(void) {
    nb_tensor *x = f32(NB_SHAPE(2, 3));
    CHECK_NULL_WITH(nb_reshape(x, NB_SHAPE(4, 2)), "nb_reshape", "[4, 2]", "[2, 3]");
    CHECK_NULL_WITH(nb_reshape(x, NB_SHAPE(-1, 4)), "nb_reshape", "[-1, 4]");
    CHECK_NULL_WITH(nb_reshape(x, NB_SHAPE(-1, -1)), "nb_reshape", "only one dim");
    CHECK_NULL_WITH(nb_reshape(x, NB_SHAPE(-2, -3)), "nb_reshape", "invalid size -2");
    CHECK_NULL_WITH(nb_view(x, NB_SHAPE(7)), "nb_view", "[7]");
    nb_tensor *xt = nb_transpose(x, 0, 1);
    CHECK_NULL_WITH(nb_view(xt, NB_SHAPE(6)), "nb_view", "without a copy");
    CHECK(nb_reshape(xt, NB_SHAPE(6)) != NULL); /* reshape copies instead */

    nb_tensor *y = f32(NB_SHAPE(2, 4)), *z = f32(NB_SHAPE(3, 3));
    CHECK_NULL_WITH(nb_cat((nb_tensor *[]){x, y}, 2, 0), "nb_cat", "argument #2", "[2, 4]", "[2, 3]");
    CHECK_NULL_WITH(nb_cat((nb_tensor *[]){x, f32(NB_SHAPE(2, 3, 1))}, 2, 0), "nb_cat", "[2, 3, 1]");
    CHECK(nb_cat((nb_tensor *[]){x, z}, 2, 0) != NULL); /* differs only along dim 0: fine */
    CHECK_NULL_WITH(nb_cat((nb_tensor *[]){x, z}, 2, 1), "nb_cat", "[3, 3]");
    CHECK_NULL_WITH(nb_cat(NULL, 0, 0), "nb_cat", "at least one");
    CHECK_NULL_WITH(nb_cat((nb_tensor *[]){x}, 0, 0), "nb_cat");
    CHECK_NULL_WITH(nb_cat((nb_tensor *[]){nb_scalar(1, NB_F32)}, 1, 0), "nb_cat", "0-d");

    CHECK_NULL_WITH(nb_expand(x, NB_SHAPE(2, 4)), "nb_expand", "[2, 3]", "[2, 4]");
    CHECK_NULL_WITH(nb_expand(x, NB_SHAPE(3)), "nb_expand");
    CHECK_NULL_WITH(nb_expand(f32(NB_SHAPE(3, 1)), NB_SHAPE(-1, 4, 2)), "nb_expand", "-1");
    CHECK(nb_expand(f32(NB_SHAPE(3, 1)), NB_SHAPE(2, 3, 4)) != NULL);

    CHECK_NULL_WITH(nb_permute(x, NB_LIST(0, 0)), "nb_permute", "twice");
    CHECK_NULL_WITH(nb_permute(x, NB_LIST(0, 1, 2)), "nb_permute", "3 dims");
    CHECK_NULL_WITH(nb_slice(x, 0, 0, 2, 0), "nb_slice", "step 0");
    CHECK_NULL_WITH(nb_slice(nb_scalar(2, NB_F32), 0, 0, 1, 1), "nb_slice", "0-d");
    CHECK_NULL_WITH(nb_flatten(f32(NB_SHAPE(2, 3, 4)), 2, 1), "nb_flatten", "start_dim");
}

/* ---- dtypes -------------------------------------------------------------------------------------- */

static void test_dtype_mismatch(void) {
    nb_tensor *i = nb_zeros(NB_SHAPE(2, 2), NB_I32), *f = f32(NB_SHAPE(2, 2));
    CHECK_NULL_WITH(nb_matmul(i, i), "nb_matmul", "floating", "i32");
    CHECK_NULL_WITH(nb_matmul(f, nb_zeros(NB_SHAPE(2, 2), NB_I64)), "nb_matmul", "i64");
    CHECK_NULL_WITH(nb_mean(i, NULL), "nb_mean", "floating", "i32");
    CHECK_NULL_WITH(nb_mean(nb_zeros(NB_SHAPE(3), NB_BOOL), NB_DIMS(0)), "nb_mean", "bool");
    CHECK_NULL_WITH(nb_where(f, f, f), "nb_where", "bool", "f32");
    CHECK_NULL_WITH(nb_where(i, f, f), "nb_where", "bool", "i32");
    nb_tensor *logits = f32(NB_SHAPE(2, 3));
    CHECK_NULL_WITH(nb_cross_entropy(logits, f32(NB_SHAPE(2)), NULL), "nb_cross_entropy", "integer", "f32");
    CHECK_NULL_WITH(nb_cross_entropy(logits, nb_zeros(NB_SHAPE(2), NB_BOOL), NULL), "nb_cross_entropy", "bool");
    CHECK_NULL_WITH(nb_cross_entropy(nb_zeros(NB_SHAPE(2, 3), NB_I64), nb_zeros(NB_SHAPE(2), NB_I64), NULL),
                    "nb_cross_entropy", "floating");
    CHECK_NULL_WITH(nb_cross_entropy(logits, nb_zeros(NB_SHAPE(3), NB_I64), NULL), "nb_cross_entropy", "[3]",
                    "[2, 3]");
    CHECK_NULL_WITH(nb_nll_loss(logits, f32(NB_SHAPE(2)), NULL), "nb_nll_loss", "integer");
    CHECK_NULL_WITH(nb_cross_entropy(logits, nb_zeros(NB_SHAPE(2), NB_I64), &(nb_cross_entropy_opts){.reduction = 7}),
                    "nb_cross_entropy", "reduction 7");
    CHECK_NULL_WITH(nb_softmax(i, 0), "nb_softmax", "floating", "i32");
    CHECK_NULL_WITH(nb_log_softmax(i, 0), "nb_log_softmax", "floating");
    CHECK_NULL_WITH(nb_one_hot(f, 3, NB_F32), "nb_one_hot", "integer");
    CHECK_NULL_WITH(nb_param(nb_zeros(NB_SHAPE(2), NB_I64)), "nb_set_requires_grad", "floating", "i64");
    CHECK_RC_WITH(nb_set_requires_grad(i, true), "nb_set_requires_grad", "i32");
    CHECK(nb_set_requires_grad(i, false) == 0); /* clearing is always fine */
    CHECK_NULL_WITH(nb_randn(NB_SHAPE(2), NB_I32), "nb_randn", "i32");
    CHECK_NULL_WITH(nb_rand(NB_SHAPE(2), NB_BOOL), "nb_rand", "bool");
    CHECK_NULL_WITH(nb_randint(3, 3, NB_SHAPE(2), NB_I64), "nb_randint", "[3, 3)");
    CHECK_NULL_WITH(nb_sub(nb_zeros(NB_SHAPE(2), NB_BOOL), nb_zeros(NB_SHAPE(2), NB_BOOL)), "nb_sub", "bool");
    CHECK_NULL_WITH(nb_neg(nb_zeros(NB_SHAPE(2), NB_BOOL)), "nb_neg", "bool");
    /* a non-leaf cannot be made a parameter */
    nb_tensor *w = nb_param(nb_ones(NB_SHAPE(2), NB_F32));
    CHECK_NULL_WITH(nb_param(nb_mul(w, w)), "nb_set_requires_grad", "not a leaf", "MulBackward");
}

static void test_invalid_dtype_values(void) {
    CHECK(strcmp(nb_dtype_name((nb_dtype)99), "?") == 0);
    CHECK(strcmp(nb_dtype_name((nb_dtype)-1), "?") == 0);
    CHECK(nb_dtype_size((nb_dtype)99) == 0);
    CHECK(!nb_dtype_is_float((nb_dtype)99));
    CHECK_NULL_WITH(nb_zeros(NB_SHAPE(2), (nb_dtype)99), "nb_zeros", "invalid dtype 99");
    CHECK_NULL_WITH(nb_empty(NB_SHAPE(2), NB_DTYPE_COUNT), "nb_empty", "invalid dtype");
    CHECK_NULL_WITH(nb_ones(NB_SHAPE(2), (nb_dtype)-3), "nb_ones", "invalid dtype -3");
    CHECK_NULL_WITH(nb_scalar(1, (nb_dtype)42), "nb_scalar", "invalid dtype 42");
    CHECK_NULL_WITH(nb_full(NB_SHAPE(1), 2.0, (nb_dtype)42), "nb_full", "invalid dtype");
    CHECK_NULL_WITH(nb_arange(0, 3, 1, (nb_dtype)42), "nb_arange", "invalid dtype");
    float buf[2] = {1, 2};
    CHECK_NULL_WITH(nb_from_data(buf, NB_SHAPE(2), (nb_dtype)42), "nb_from_data", "invalid dtype");
    CHECK_NULL_WITH(nb_from_buffer(buf, NB_SHAPE(2), (nb_dtype)42, NULL, NULL), "nb_from_buffer", "invalid dtype");
    nb_tensor *x = f32(NB_SHAPE(2));
    CHECK_NULL_WITH(nb_to(x, (nb_dtype)42), "nb_to", "invalid dtype 42");
    CHECK_NULL_WITH(nb_one_hot(nb_zeros(NB_SHAPE(2), NB_I64), 3, (nb_dtype)42), "nb_one_hot", "invalid dtype");
    double out[2];
    CHECK_RC_WITH(nb_copy_to(x, out, sizeof out, (nb_dtype)42), "nb_copy_to", "invalid dtype");
    CHECK_RC_WITH(nb_copy_to(x, out, 4, NB_F64), "nb_copy_to", "too small");
}

static void test_bad_shapes_at_creation(void) {
    CHECK_NULL_WITH(nb_zeros(NB_SHAPE(2, -1), NB_F32), "nb_zeros", "[2, -1]", "negative");
    CHECK_NULL_WITH(nb_empty(NB_SHAPE(-5), NB_F32), "nb_empty", "[-5]");
    CHECK_NULL_WITH(nb_randn(NB_SHAPE(3, -2), NB_F32), "nb_randn", "negative");
    CHECK_NULL_WITH(nb_full(NB_SHAPE(-1), 1, NB_I32), "nb_full", "negative");
    const int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_NULL_WITH(nb_zeros(9, nine, NB_F32), "nb_zeros", "9 dims", "0..8");
    CHECK_NULL_WITH(nb_ones(-1, nine, NB_F32), "nb_ones", "-1 dims");
    CHECK(nb_zeros(8, nine, NB_F32) != NULL); /* 8 dims is the maximum, and allowed */
    /* sizes whose product overflows, also when another dim is 0 (the strides would still overflow) */
    CHECK_NULL_WITH(nb_empty(NB_SHAPE((int64_t)1 << 40, 0, (int64_t)1 << 40), NB_F32), "nb_empty", "too large");
    CHECK_NULL_WITH(nb_zeros(NB_SHAPE((int64_t)1 << 31, (int64_t)1 << 31, 4), NB_F32), "nb_zeros", "too large");
    nb_tensor *x = f32(NB_SHAPE(1));
    CHECK_NULL_WITH(nb_reshape(x, 9, nine), "nb_reshape", "9 dims");
    CHECK_NULL_WITH(nb_unsqueeze(nb_zeros(8, nine, NB_F32), 0), "nb_unsqueeze", "maximum");
    CHECK_NULL_WITH(nb_expand(x, 9, nine), "nb_expand");
    CHECK_NULL_WITH(nb_zeros(2, NULL, NB_F32), "nb_zeros", "shape is NULL");
    CHECK_NULL_WITH(nb_from_data(NULL, NB_SHAPE(2), NB_F32), "nb_from_data", "data is NULL");
    CHECK_NULL_WITH(nb_from_buffer(NULL, NB_SHAPE(2), NB_F32, NULL, NULL), "nb_from_buffer", "data is NULL");
    CHECK_NULL_WITH(nb_arange(0, 1, 0, NB_F32), "nb_arange", "step=0");
    CHECK_NULL_WITH(nb_linspace(0, 1, -1, NB_F32), "nb_linspace", "-1");
    CHECK_NULL_WITH(nb_eye(-2, -1, NB_F32), "nb_eye", "-2");
}

/* ---- NULL inputs ---------------------------------------------------------------------------------- */

static void test_null_inputs(void) {
    nb_tensor *x = f32(NB_SHAPE(2, 3)), *i = nb_zeros(NB_SHAPE(2), NB_I64);
    /* unary */
    CHECK_NULL_WITH(nb_relu(NULL), "nb_relu", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_exp(NULL), "nb_exp", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_neg(NULL), "nb_neg", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_sign(NULL), "nb_sign", "argument #1 is NULL");
    /* binary */
    CHECK_NULL_WITH(nb_add(NULL, x), "nb_add", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_add(x, NULL), "nb_add", "argument #2 is NULL");
    CHECK_NULL_WITH(nb_mul(x, NULL), "nb_mul", "argument #2 is NULL");
    CHECK_NULL_WITH(nb_eq(NULL, NULL), "nb_eq", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_where(NULL, x, x), "nb_where", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_where(nb_zeros(NB_SHAPE(3), NB_BOOL), x, NULL), "nb_where", "argument #3 is NULL");
    CHECK_NULL_WITH(nb_add_scalar(NULL, 1), "nb_add_scalar", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_rsub_scalar(NULL, 1), "nb_rsub_scalar", "argument #1 is NULL");
    /* reductions */
    CHECK_NULL_WITH(nb_sum(NULL, NULL), "nb_sum", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_mean(NULL, NB_DIMS(0)), "nb_mean", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_max(NULL, NULL), "nb_max", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_argmax(NULL, 0, false), "nb_argmax", "argument #1 is NULL");
    /* linear algebra, softmax, losses */
    CHECK_NULL_WITH(nb_matmul(NULL, x), "nb_matmul", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_matmul(x, NULL), "nb_matmul", "argument #2 is NULL");
    CHECK_NULL_WITH(nb_softmax(NULL, 0), "nb_softmax", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_log_softmax(NULL, 0), "nb_log_softmax", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_cross_entropy(NULL, i, NULL), "nb_cross_entropy", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_cross_entropy(x, NULL, NULL), "nb_cross_entropy", "argument #2 is NULL");
    CHECK_NULL_WITH(nb_nll_loss(x, NULL, NULL), "nb_nll_loss", "argument #2 is NULL");
    CHECK_NULL_WITH(nb_one_hot(NULL, 3, NB_F32), "nb_one_hot", "argument #1 is NULL");
    /* shape ops */
    CHECK_NULL_WITH(nb_reshape(NULL, NB_SHAPE(6)), "nb_reshape", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_view(NULL, NB_SHAPE(6)), "nb_view", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_transpose(NULL, 0, 1), "nb_transpose", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_permute(NULL, NB_LIST(1, 0)), "nb_permute", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_slice(NULL, 0, 0, 1, 1), "nb_slice", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_expand(NULL, NB_SHAPE(2, 3)), "nb_expand", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_squeeze(NULL, 0), "nb_squeeze", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_unsqueeze(NULL, 0), "nb_unsqueeze", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_flatten(NULL, 0, -1), "nb_flatten", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_clone(NULL), "nb_clone", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_contiguous(NULL), "nb_contiguous: argument #1 is NULL");
    CHECK_NULL_WITH(nb_to(NULL, NB_F64), "nb_to", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_cat((nb_tensor *[]){x, NULL, x}, 3, 0), "nb_cat", "argument #2 is NULL");
    CHECK_NULL_WITH(nb_cat((nb_tensor *[]){NULL}, 1, 0), "nb_cat", "argument #1 is NULL");
    /* in-place, element access, autograd, printing, misc */
    CHECK_RC_WITH(nb_copy_(NULL, x), "nb_copy_", "argument #1 is NULL");
    CHECK_RC_WITH(nb_copy_(x, NULL), "nb_copy_", "argument #2 is NULL");
    CHECK_RC_WITH(nb_fill_(NULL, 1), "nb_fill_", "argument #1 is NULL");
    CHECK_RC_WITH(nb_add_(x, NULL, 1), "nb_add_", "argument #2 is NULL");
    CHECK_RC_WITH(nb_mul_scalar_(NULL, 2), "argument #1 is NULL");
    double v;
    CHECK_RC_WITH(nb_get(NULL, NB_LIST(0), &v), "nb_get", "argument #1 is NULL");
    CHECK_RC_WITH(nb_set(NULL, NB_LIST(0), 1), "nb_set", "argument #1 is NULL");
    CHECK_FAILS_WITH(!isnan(nb_item(NULL)), "nb_item", "argument #1 is NULL");
    CHECK_RC_WITH(nb_backward(NULL), "nb_backward", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_param(NULL), "argument #1 is NULL");
    CHECK_NULL_WITH(nb_grad(NULL), "nb_grad", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_detach(NULL), "nb_detach", "argument #1 is NULL");
    CHECK_NULL_WITH(nb_retain(NULL), "nb_retain", "argument #1 is NULL");
    CHECK_RC_WITH(nb_register_hook(NULL, NULL, NULL), "nb_register_hook", "argument #1 is NULL");
    char buf[16];
    CHECK_FAILS_WITH(nb_format(NULL, buf, sizeof buf) >= 0, "nb_format", "argument #1 is NULL");
    CHECK_RC_WITH(nb_fprint(stdout, NULL), "argument #1 is NULL");
    CHECK_FAILS_WITH(nb_ndim(NULL) != 0, "nb_ndim", "argument #1 is NULL");
    CHECK_FAILS_WITH(nb_shape(NULL) != NULL, "nb_shape", "argument #1 is NULL");
    CHECK_FAILS_WITH(nb_numel(NULL) != 0, "nb_numel", "argument #1 is NULL");
    CHECK_FAILS_WITH(nb_size(NULL, 0) != -1, "nb_size", "argument #1 is NULL");
    /* silently ignored */
    nb_free(NULL);
    CHECK(nb_keep(NULL) == NULL);
    nb_zero_grad(NULL);
    CHECK(!nb_requires_grad(NULL) && !nb_is_leaf(NULL) && nb_grad_fn_name(NULL) == NULL);
}

/* ---- dims and indices ----------------------------------------------------------------------------- */

static void test_dims_out_of_range(void) {
    nb_tensor *x = f32(NB_SHAPE(2, 3));
    CHECK_NULL_WITH(nb_softmax(x, 5), "nb_softmax", "dim 5", "2 dims", "-2..1");
    CHECK_NULL_WITH(nb_log_softmax(x, -3), "nb_log_softmax", "dim -3");
    CHECK_NULL_WITH(nb_sum(x, NB_DIMS(2)), "nb_sum", "dim 2", "2 dims");
    CHECK_NULL_WITH(nb_sum(x, NB_DIMS(0, -3)), "nb_sum", "dim -3");
    CHECK_NULL_WITH(nb_sum(x, NB_DIMS(0, -2)), "nb_sum", "more than once");
    CHECK_NULL_WITH(nb_mean(x, NB_DIMS_KEEP(7)), "nb_mean", "dim 7");
    CHECK_NULL_WITH(nb_max(x, NB_DIMS(2)), "nb_max", "dim 2");
    CHECK_NULL_WITH(nb_sum(x, &(nb_reduce_opts){.n = 9}), "nb_sum", "9 dims");
    CHECK_NULL_WITH(nb_transpose(x, 0, 3), "nb_transpose", "dim 3");
    CHECK_NULL_WITH(nb_transpose(x, -4, 0), "nb_transpose", "dim -4");
    CHECK_NULL_WITH(nb_slice(x, 2, 0, 1, 1), "nb_slice", "dim 2");
    CHECK_NULL_WITH(nb_unsqueeze(x, 4), "nb_unsqueeze", "dim 4", "-3..2");
    CHECK_NULL_WITH(nb_unsqueeze(x, -4), "nb_unsqueeze", "dim -4");
    CHECK(nb_unsqueeze(x, 2) != NULL && nb_unsqueeze(x, -3) != NULL); /* the edges are valid */
    CHECK_NULL_WITH(nb_squeeze(x, 2), "nb_squeeze", "dim 2");
    CHECK_NULL_WITH(nb_argmax(x, 2, false), "nb_argmax", "dim 2");
    CHECK_NULL_WITH(nb_argmax(x, -3, true), "nb_argmax", "dim -3");
    CHECK_NULL_WITH(nb_cat((nb_tensor *[]){x, x}, 2, 2), "nb_cat", "dim 2");
    CHECK_NULL_WITH(nb_flatten(x, 0, 2), "nb_flatten", "dim 2");
    CHECK_NULL_WITH(nb_permute(x, NB_LIST(0, 2)), "nb_permute", "dim 2");
    CHECK_FAILS_WITH(nb_size(x, 2) != -1, "nb_size", "dim 2");
    /* the error does not stick to later successful calls' results */
    CHECK(nb_size(x, -1) == 3);
}

static void test_index_out_of_range(void) {
    nb_tensor *x = f32(NB_SHAPE(2, 3));
    double v = 0;
    CHECK_RC_WITH(nb_get(x, NB_LIST(2, 0), &v), "nb_get", "index 2", "dim 0", "size 2");
    CHECK_RC_WITH(nb_get(x, NB_LIST(0, -4), &v), "nb_get", "index -4", "dim 1", "size 3");
    CHECK_RC_WITH(nb_set(x, NB_LIST(1, 3), 1.0), "nb_set", "index 3", "dim 1");
    CHECK_RC_WITH(nb_get(x, NB_LIST(0), &v), "nb_get", "1 indices", "[2, 3]");
    CHECK_RC_WITH(nb_set(x, NB_LIST(0, 0, 0), 1.0), "nb_set", "3 indices");
    CHECK_RC_WITH(nb_get(x, NB_LIST(0, 0), NULL), "nb_get", "value is NULL");
    CHECK(nb_get(x, NB_LIST(-1, -1), &v) == 0 && v == 0);
    CHECK(nb_set(x, NB_LIST(-1, -1), 5) == 0 && nb_get(x, NB_LIST(1, 2), &v) == 0 && v == 5);
    CHECK_FAILS_WITH(!isnan(nb_item(x)), "nb_item", "6 elements");
    /* writing to a tensor that requires grad is refused in grad mode */
    nb_tensor *w = nb_param(nb_ones(NB_SHAPE(2), NB_F32));
    CHECK_RC_WITH(nb_set(w, NB_LIST(0), 2.0), "nb_set", "requires grad");
    CHECK_RC_WITH(nb_fill_(w, 2.0), "nb_fill_", "requires grad");
    nb_no_grad_begin();
    CHECK(nb_set(w, NB_LIST(0), 2.0) == 0);
    nb_no_grad_end();
    /* in-place on a broadcast view */
    CHECK_RC_WITH(nb_fill_(nb_expand(f32(NB_SHAPE(1)), NB_SHAPE(4)), 1.0), "nb_fill_", "broadcast");
}

static void test_cross_entropy_target_range(void) {
    float lg[6] = {1, 2, 3, 4, 5, 6};
    nb_tensor *logits = nb_from_data(lg, NB_SHAPE(2, 3), NB_F32);
    int64_t bad[2] = {0, 3}, neg[2] = {-1, 0};
    CHECK_NULL_WITH(nb_cross_entropy(logits, nb_from_data(bad, NB_SHAPE(2), NB_I64), NULL), "target value 3",
                    "flat index 1", "3 classes");
    CHECK_NULL_WITH(nb_cross_entropy(logits, nb_from_data(neg, NB_SHAPE(2), NB_I64), NULL), "target value -1",
                    "flat index 0");
    CHECK_NULL_WITH(nb_nll_loss(logits, nb_from_data(bad, NB_SHAPE(2), NB_I64), NULL), "nb_nll_loss",
                    "target value 3");
    /* -100 is out of range unless ignore_index is asked for */
    int64_t ign[2] = {-100, 1};
    nb_tensor *t = nb_from_data(ign, NB_SHAPE(2), NB_I64);
    CHECK_NULL_WITH(nb_cross_entropy(logits, t, NULL), "target value -100");
    nb_cross_entropy_opts o = {.use_ignore_index = true, .ignore_index = -100};
    CHECK(nb_cross_entropy(logits, t, &o) != NULL);
    CHECK_NULL_WITH(nb_one_hot(nb_from_data(bad, NB_SHAPE(2), NB_I64), 3, NB_F32), "nb_one_hot", "target value 3");
}

/* ---- propagation, clearing, handler ---------------------------------------------------------------- */

static void test_null_propagation(void) {
    nb_tensor *x = f32(NB_SHAPE(2, 3)), *bad = f32(NB_SHAPE(4, 5)), *b = f32(NB_SHAPE(5));
    nb_clear_error();
    nb_tensor *y = nb_relu(nb_add(nb_matmul(x, bad), b));
    CHECK(y == NULL);
    CHECK(nb_last_status() == NB_ERR_ARG);
    CHECK_MSG(strstr(nb_last_error(), "nb_matmul") && strstr(nb_last_error(), "[2, 3]") &&
                  strstr(nb_last_error(), "[4, 5]"),
              "expected the first (matmul) error, got \"%s\"", nb_last_error());
    CHECK_MSG(!strstr(nb_last_error(), "is NULL"), "NULL propagation overwrote the error: \"%s\"", nb_last_error());
    char first[1024];
    snprintf(first, sizeof first, "%s", nb_last_error());
    /* a longer chain through every kind of op keeps the same message */
    nb_tensor *z = nb_sum(nb_softmax(nb_transpose(nb_reshape(nb_cat((nb_tensor *[]){y, x}, 2, 0), NB_SHAPE(-1)), 0, 0),
                                     0),
                          NULL);
    CHECK(z == NULL);
    CHECK(nb_backward(z) == NB_ERR_ARG);
    CHECK(nb_fprint(stdout, z) != 0);
    CHECK(isnan(nb_item(z)));
    CHECK_MSG(strcmp(first, nb_last_error()) == 0, "message changed to \"%s\"", nb_last_error());
    /* a NEW real error does replace it (errors are sticky only against NULL propagation) */
    CHECK(nb_softmax(x, 9) == NULL);
    CHECK(strstr(nb_last_error(), "nb_softmax") != NULL);
    nb_clear_error();
    /* after clearing, a NULL input reports itself */
    CHECK_NULL_WITH(nb_relu(NULL), "nb_relu: argument #1 is NULL");
}

static void test_clear_error(void) {
    CHECK(nb_last_status() == NB_OK);
    CHECK(strcmp(nb_last_error(), "") == 0);
    CHECK(nb_add(f32(NB_SHAPE(2)), f32(NB_SHAPE(3))) == NULL);
    CHECK(nb_last_status() == NB_ERR_ARG);
    CHECK(nb_last_error()[0] != 0);
    nb_clear_error();
    CHECK(nb_last_status() == NB_OK);
    CHECK(strcmp(nb_last_error(), "") == 0);
    /* a successful call does not clear an earlier error (errors are sticky) */
    CHECK(nb_add(f32(NB_SHAPE(2)), f32(NB_SHAPE(3))) == NULL);
    CHECK(nb_add(f32(NB_SHAPE(2)), f32(NB_SHAPE(2))) != NULL);
    CHECK(nb_last_status() == NB_ERR_ARG);
    nb_clear_error();
}

typedef struct handler_log {
    int calls;
    nb_status status;
    char message[1024];
} handler_log;

static void log_handler(nb_status status, const char *message, void *ud) {
    handler_log *l = ud;
    l->calls++;
    l->status = status;
    snprintf(l->message, sizeof l->message, "%s", message);
}

static void test_error_handler(void) {
    handler_log log = {0};
    nb_set_error_handler(log_handler, &log);
    CHECK(nb_matmul(f32(NB_SHAPE(2, 3)), f32(NB_SHAPE(2, 3))) == NULL);
    CHECK(log.calls == 1);
    CHECK(log.status == NB_ERR_ARG);
    CHECK(strstr(log.message, "nb_matmul") && strstr(log.message, "[2, 3]"));
    CHECK(strcmp(log.message, nb_last_error()) == 0);
    /* NULL propagation raises no new error, so the handler is not called again */
    CHECK(nb_relu(NULL) == NULL);
    CHECK(log.calls == 1);
    CHECK(nb_scope_begin() == 0);
    nb_scope_end();
    CHECK_RC_WITH(nb_set_num_threads(-2), "nb_set_num_threads");
    CHECK(log.calls == 2 && log.status == NB_ERR_ARG && strstr(log.message, "-2"));
    nb_tensor *leaf = nb_ones(NB_SHAPE(1), NB_F32);
    CHECK(nb_backward(leaf) != 0);
    CHECK(log.calls == 3 && log.status == NB_ERR_STATE && strstr(log.message, "nb_backward"));
    nb_clear_error();
    /* removing the handler */
    nb_set_error_handler(NULL, &log);
    CHECK(nb_softmax(leaf, 3) == NULL);
    CHECK(log.calls == 3);
    nb_clear_error();
}

/* ---- state errors ----------------------------------------------------------------------------------- */

static void test_scope_end_without_begin(void) {
    /* RUN opened one scope (with nothing in it yet): close it, provoke the error, reopen it. */
    CHECK(nb_scope_end() == 0);
    CHECK_RC_WITH(nb_scope_end(), "nb_scope_end", "no scope is open");
    CHECK(nb_scope_end() == NB_ERR_STATE);
    nb_clear_error();
    CHECK(nb_scope_begin() == 0);
    /* balanced nesting works */
    CHECK(nb_scope_begin() == 0 && nb_scope_begin() == 0);
    CHECK(nb_scope_end() == 0 && nb_scope_end() == 0);
}

static void test_threads_and_backward_state(void) {
    int n0 = nb_get_num_threads();
    CHECK(n0 >= 1);
    CHECK_RC_WITH(nb_set_num_threads(0), "nb_set_num_threads", "n = 0", "at least 1");
    CHECK(nb_set_num_threads(-1) == NB_ERR_ARG);
    nb_clear_error();
    CHECK(nb_get_num_threads() == n0); /* unchanged by the failed calls */

    /* backward errors */
    nb_tensor *w = nb_param(nb_ones(NB_SHAPE(3), NB_F32));
    nb_tensor *y = nb_mul(w, w);
    CHECK_RC_WITH(nb_backward(y), "nb_backward", "more than one element");
    CHECK_RC_WITH(nb_backward(f32(NB_SHAPE(1))), "nb_backward", "does not require grad");
    nb_tensor *s = nb_sum(y, NULL);
    CHECK(nb_backward(s) == 0);
    CHECK_RC_WITH(nb_backward(s), "nb_backward", "second time", "retain_graph");
    CHECK_RC_WITH(nb_backward_ex(nb_sum(nb_mul(w, w), NULL), &(nb_backward_opts){.grad_output = f32(NB_SHAPE(2))}),
                  "nb_backward", "grad_output", "[2]");
    /* modifying a saved tensor in place */
    nb_tensor *a = nb_ones(NB_SHAPE(3), NB_F32);
    nb_tensor *p = nb_sum(nb_mul(w, a), NULL);
    CHECK(nb_fill_(a, 2.0) == 0);
    CHECK_RC_WITH(nb_backward(p), "nb_backward", "modified in place", "MulBackward");
    CHECK_RC_WITH(nb_register_hook(a, NULL, NULL), "nb_register_hook",
                  "hook is NULL");
    nb_tensor *gs[1];
    CHECK_RC_WITH(nb_autograd_grad((nb_tensor *[]){nb_sum(nb_mul(w, w), NULL)}, 1, (nb_tensor *[]){a}, 1, NULL, gs),
                  "nb_autograd_grad", "does not require grad");
    CHECK(gs[0] == NULL);
}

static void test_set_allocator_refused_while_alive(void) {
    nb_tensor *x = f32(NB_SHAPE(2));
    CHECK_RC_WITH(nb_set_allocator(NULL, NULL), "nb_set_allocator", "still alive");
    nb_free(x);
}

int main(void) {
    RUN(test_abort_on_error); /* first: before any error in this process */
    RUN(test_broadcast_failures);
    RUN(test_matmul_shapes);
    RUN(test_shape_op_failures);
    RUN(test_dtype_mismatch);
    RUN(test_invalid_dtype_values);
    RUN(test_bad_shapes_at_creation);
    RUN(test_null_inputs);
    RUN(test_dims_out_of_range);
    RUN(test_index_out_of_range);
    RUN(test_cross_entropy_target_range);
    RUN(test_null_propagation);
    RUN(test_clear_error);
    RUN(test_error_handler);
    RUN(test_scope_end_without_begin);
    RUN(test_threads_and_backward_state);
    RUN(test_set_allocator_refused_while_alive);
    return harness_finish();
}
