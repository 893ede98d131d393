/* nabla/nabla.h — the umbrella header: include this one.
 *
 *     #include <nabla/nabla.h>
 *
 * core.h      tensors, dtypes, memory and scopes, errors, random numbers, threads
 * ops.h       tensor operations
 * autograd.h  gradients: backward, hooks, higher-order gradients, gradient checks
 * registry.h  the op registry, for tools that list or introspect ops
 */
#ifndef NABLA_H
#define NABLA_H

#include "core.h"
#include "ops.h"
#include "autograd.h"
#include "registry.h"

#endif
