/* tools/opsdoc.c — writes docs/ops.md from the op registry, so the list cannot drift from the code.
 * Usage: nabla_opsdoc > docs/ops.md (CI regenerates it and fails on a difference). */
#include <nabla/nabla.h>
#include <stdio.h>

int main(void) {
    printf("# nabla ops\n\n");
    printf("Generated from the op registry by `nabla_opsdoc` (tools/opsdoc.c); do not edit by hand.\n");
    printf("Each registry op is called through its public wrapper `nb_<name>` (see include/nabla/ops.h), except the ops\n"
           "marked internal, which only backward formulas use.\n");
    printf("Ops marked \"no\" under gradient end the graph (integer or boolean results, or constants).\n\n");
    printf("| op | inputs | gradient | view | attributes | PyTorch | what it computes |\n");
    printf("|---|---|---|---|---|---|---|\n");
    int n = nb_op_count();
    for (int i = 0; i < n; i++) {
        nb_op_info o;
        if (nb_op_get_info(i, &o) != 0) return 1;
        char inputs[16];
        if (o.n_inputs < 0) snprintf(inputs, sizeof inputs, "n");
        else snprintf(inputs, sizeof inputs, "%d", o.n_inputs);
        printf("| `%s` | %s | %s | %s | %s | `%s` | %s |\n", o.name, inputs, o.differentiable ? "yes" : "no",
               o.is_view ? "yes" : "", o.attrs[0] ? o.attrs : "", o.torch, o.summary);
    }
    printf("\n%d ops.\n\n", n);
    int nf = nb_func_count();
    if (nf > 0) {
        printf("## Composite functions\n\n");
        printf("Public functions built from the ops above (their gradients come from those ops).\n\n");
        printf("| function | gradient | PyTorch | what it computes |\n|---|---|---|---|\n");
        for (int i = 0; i < nf; i++) {
            nb_func_info f;
            if (nb_func_get_info(i, &f) != 0) return 1;
            printf("| `nb_%s` | %s | `%s` | %s |\n", f.name, f.differentiable ? "yes" : "no", f.torch, f.summary);
        }
        printf("\n%d composite functions.\n\n", nf);
    }
    printf("## Differences from PyTorch\n\n");
    printf("- `nb_cross_entropy` / `nb_nll_loss`: no target value is ignored unless `use_ignore_index` is set "
           "(PyTorch ignores -100 by default).\n");
    printf("- Float to integer conversion (`nb_to`) saturates at the integer range and maps NaN to 0; PyTorch's "
           "result is undefined there.\n");
    printf("- Scalar operands of f16/bf16 tensors are rounded to the tensor's dtype before the op.\n");
    printf("- `nb_max` / `nb_min` reduce like `torch.amax` / `torch.amin` (values only); use `nb_argmax` for "
           "indices.\n");
    return 0;
}
