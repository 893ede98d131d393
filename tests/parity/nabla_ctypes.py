"""tests/parity/nabla_ctypes.py — the slice of nabla's C API that the parity script needs, through
ctypes: tensors to and from numpy, calling nb_<op> functions, backward, and the op registry.

Not a Python binding (that is a later issue): just enough to feed nabla and PyTorch the same inputs.
"""
import ctypes as C
import os

import numpy as np

F32, F64, F16, BF16, I8, U8, I32, I64, BOOL = range(9)
NP_OF = {F32: np.float32, F64: np.float64, F16: np.float16, I8: np.int8, U8: np.uint8, I32: np.int32,
         I64: np.int64, BOOL: np.bool_}
DT_OF = {np.dtype(v): k for k, v in NP_OF.items()}
MAX_DIMS = 8


class ReduceOpts(C.Structure):
    _fields_ = [("n", C.c_int), ("dims", C.c_int64 * MAX_DIMS), ("keepdim", C.c_bool)]


class OpInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("n_inputs", C.c_int), ("n_outputs", C.c_int), ("differentiable", C.c_bool),
                ("is_view", C.c_bool), ("nograd_inputs", C.c_uint), ("attrs", C.c_char_p), ("torch", C.c_char_p),
                ("summary", C.c_char_p)]


class FuncInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("differentiable", C.c_bool), ("torch", C.c_char_p), ("summary", C.c_char_p)]


class BackwardOpts(C.Structure):
    _fields_ = [("grad_output", C.c_void_p), ("retain_graph", C.c_bool)]


class NablaError(RuntimeError):
    pass


class Nabla:
    def __init__(self, path=None):
        path = path or os.environ.get("NABLA_LIB") or "build/libnabla.so"
        self.lib = C.CDLL(os.path.abspath(path))
        L = self.lib
        L.nb_from_data.restype = C.c_void_p
        L.nb_from_data.argtypes = [C.c_void_p, C.c_int, C.POINTER(C.c_int64), C.c_int]
        L.nb_copy_to.argtypes = [C.c_void_p, C.c_void_p, C.c_size_t, C.c_int]
        L.nb_ndim.argtypes = [C.c_void_p]
        L.nb_shape.restype = C.POINTER(C.c_int64)
        L.nb_shape.argtypes = [C.c_void_p]
        L.nb_dtype_of.argtypes = [C.c_void_p]
        L.nb_param.restype = C.c_void_p
        L.nb_param.argtypes = [C.c_void_p]
        L.nb_grad.restype = C.c_void_p
        L.nb_grad.argtypes = [C.c_void_p]
        L.nb_backward_ex.argtypes = [C.c_void_p, C.POINTER(BackwardOpts)]
        L.nb_last_error.restype = C.c_char_p
        L.nb_op_get_info.argtypes = [C.c_int, C.POINTER(OpInfo)]
        L.nb_func_get_info.argtypes = [C.c_int, C.POINTER(FuncInfo)]
        L.nb_version_string.restype = C.c_char_p

    # ---- errors, scopes ----
    def check(self, ptr, what):
        if not ptr:
            err = self.lib.nb_last_error().decode()
            self.lib.nb_clear_error()
            raise NablaError(f"{what}: {err}")
        return ptr

    def scope(self):
        nb = self

        class Scope:
            def __enter__(self):
                nb.lib.nb_scope_begin()

            def __exit__(self, *exc):
                nb.lib.nb_scope_end()

        return Scope()

    # ---- tensors ----
    def tensor(self, a, requires_grad=False):
        a = np.require(a, requirements="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        dt = DT_OF[a.dtype]
        shape = (C.c_int64 * max(a.ndim, 1))(*a.shape)
        t = self.check(self.lib.nb_from_data(a.ctypes.data, a.ndim, shape, dt), "nb_from_data")
        if requires_grad:
            t = self.check(self.lib.nb_param(t), "nb_param")
        return C.c_void_p(t)

    def numpy(self, t):
        t = t.value if isinstance(t, C.c_void_p) else t
        nd = self.lib.nb_ndim(t)
        shp = self.lib.nb_shape(t)
        shape = tuple(shp[i] for i in range(nd))
        dt = self.lib.nb_dtype_of(t)
        want = F32 if dt in (F16, BF16) else dt
        out = np.empty(shape, dtype=NP_OF[want])
        if self.lib.nb_copy_to(t, out.ctypes.data, out.nbytes, want) != 0:
            raise NablaError("nb_copy_to: " + self.lib.nb_last_error().decode())
        return out

    def call(self, name, *args):
        """nb_<name>(*args) returning a tensor. Tensors are c_void_p; ints / floats / structs pass as given."""
        f = getattr(self.lib, "nb_" + name)
        f.restype = C.c_void_p
        conv = []
        for a in args:
            if isinstance(a, bool):
                conv.append(C.c_bool(a))
            elif isinstance(a, int):
                conv.append(C.c_int64(a))
            elif isinstance(a, float):
                conv.append(C.c_double(a))
            else:
                conv.append(a)
        return C.c_void_p(self.check(f(*conv), "nb_" + name))

    def backward(self, y, g):
        o = BackwardOpts(grad_output=g.value, retain_graph=False)
        if self.lib.nb_backward_ex(y.value, C.byref(o)) != 0:
            raise NablaError("nb_backward_ex: " + self.lib.nb_last_error().decode())

    def grad(self, t):
        g = self.lib.nb_grad(t.value)
        return None if not g else self.numpy(C.c_void_p(g))

    # ---- registry ----
    def ops(self):
        out = []
        for i in range(self.lib.nb_op_count()):
            info = OpInfo()
            self.lib.nb_op_get_info(i, C.byref(info))
            out.append((info.name.decode(), info.differentiable, info.torch.decode()))
        return out

    def funcs(self):
        out = []
        for i in range(self.lib.nb_func_count()):
            info = FuncInfo()
            self.lib.nb_func_get_info(i, C.byref(info))
            out.append((info.name.decode(), info.differentiable, info.torch.decode()))
        return out


def reduce_opts(dims=None, keepdim=False):
    o = ReduceOpts()
    dims = dims or []
    o.n = len(dims)
    for i, d in enumerate(dims):
        o.dims[i] = d
    o.keepdim = keepdim
    return C.byref(o), o
