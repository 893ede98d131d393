/* nabla/nabla.h — the umbrella header: include this one.
 *
 *     #include <nabla/nabla.h>
 *
 * core.h      tensors, dtypes, memory and scopes, errors, random numbers, threads
 * ops.h       tensor operations
 * autograd.h  gradients: backward, hooks, higher-order gradients, gradient checks
 * registry.h  the op registry, for tools that list or introspect ops
 * nn.h        modules: layers with named parameters
 * optim.h     optimisers, learning-rate schedulers, gradient clipping
 * data.h      datasets, IDX/CSV readers, the data loader
 * io.h        safetensors, .npy/.npz, module state_dicts, training checkpoints
 */
#ifndef NABLA_H
#define NABLA_H

#include "core.h"
#include "ops.h"
#include "autograd.h"
#include "registry.h"
#include "nn.h"
#include "optim.h"
#include "data.h"
#include "io.h"

#endif
