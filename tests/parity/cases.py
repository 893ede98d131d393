"""tests/parity/cases.py — the parity cases: for each registry op or composite function, inputs (made
from a seeded numpy generator, in the requested float dtype), which inputs get gradients, the PyTorch
call and the nabla call (through nabla_ctypes). Awkward sizes on purpose (7, 17, 129).
"""
import ctypes as C

import numpy as np
import torch
import torch.nn.functional as F

from nabla_ctypes import F32, F64, I64, BOOL, MAX_DIMS, reduce_opts  # noqa: F401


class Case:
    def __init__(self, name, label, make, torch_fn, nabla_fn, grad=(0,), tol=1.0):
        self.name, self.label, self.make, self.torch, self.nabla = name, label, make, torch_fn, nabla_fn
        self.grad, self.tol = tuple(grad), tol


def fdt(dtype):
    return np.float32 if dtype == "f32" else np.float64


def normal(*shape):
    return lambda rng, dt: [rng.standard_normal(shape).astype(fdt(dt))]


def positive(*shape):
    return lambda rng, dt: [(rng.random(shape) + 0.5).astype(fdt(dt))]


def away(*shape):
    """Normal values at least 0.1 from 0 (kinks of abs / relu)."""
    def make(rng, dt):
        x = rng.standard_normal(shape)
        return [(x + 0.1 * np.sign(x)).astype(fdt(dt))]
    return make


def two(sa, sb, kind="normal"):
    def make(rng, dt):
        a = rng.standard_normal(sa)
        b = rng.standard_normal(sb)
        if kind == "pos":
            a, b = np.abs(a) + 0.5, np.abs(b) + 0.5
        return [a.astype(fdt(dt)), b.astype(fdt(dt))]
    return make


class ConvOpts(C.Structure):
    _fields_ = [("stride", C.c_int64 * 2), ("padding", C.c_int64 * 2), ("dilation", C.c_int64 * 2),
                ("groups", C.c_int64), ("same", C.c_bool)]


class PoolOpts(C.Structure):
    _fields_ = [("kernel", C.c_int64 * 2), ("stride", C.c_int64 * 2), ("padding", C.c_int64 * 2),
                ("dilation", C.c_int64 * 2), ("ceil_mode", C.c_bool)]


class CrossEntropyOpts(C.Structure):
    _fields_ = [("reduction", C.c_int), ("use_ignore_index", C.c_bool), ("ignore_index", C.c_int64),
                ("weight", C.c_void_p), ("label_smoothing", C.c_double)]


def keep(*objs):
    """ctypes structs must outlive the call: return a pointer and keep the struct referenced."""
    return C.byref(objs[0])


CASES = []


def add(*a, **k):
    CASES.append(Case(*a, **k))


# ---- unary ------------------------------------------------------------------------------------------
for name, maker, tfn in [("neg", normal(7, 17), torch.neg), ("abs", away(7, 17), torch.abs),
                         ("exp", normal(7, 17), torch.exp), ("log", positive(7, 17), torch.log),
                         ("sqrt", positive(7, 17), torch.sqrt), ("tanh", normal(7, 17), torch.tanh),
                         ("sigmoid", normal(129), torch.sigmoid), ("relu", away(7, 17), torch.relu)]:
    add(name, "[7, 17]" if name != "sigmoid" else "[129]", maker, tfn, (lambda n: lambda nb, x: nb.call(n, x))(name))
add("sign", "[7, 17]", away(7, 17), torch.sign, lambda nb, x: nb.call("sign", x), grad=())

# ---- binary -----------------------------------------------------------------------------------------
for name, tfn in [("add", torch.add), ("sub", torch.sub), ("mul", torch.mul), ("div", torch.div),
                  ("maximum", torch.maximum), ("minimum", torch.minimum)]:
    add(name, "[7, 1] x [1, 17]", two((7, 1), (1, 17), "pos" if name == "div" else "normal"), tfn,
        (lambda n: lambda nb, a, b: nb.call(n, a, b))(name), grad=(0, 1))
add("pow", "[7, 17] ** [17]", two((7, 17), (17,), "pos"), torch.pow, lambda nb, a, b: nb.call("pow", a, b), grad=(0, 1))
for name in ("eq", "ne", "lt", "le", "gt", "ge"):
    add(name, "[7, 17] vs [17]", lambda rng, dt: [rng.integers(0, 3, (7, 17)).astype(fdt(dt)),
                                                  rng.integers(0, 3, (17,)).astype(fdt(dt))],
        getattr(torch, name), (lambda n: lambda nb, a, b: nb.call(n, a, b))(name), grad=())
add("where", "bool [7, 1], [7, 17], [17]",
    lambda rng, dt: [rng.random((7, 1)) > 0.5, rng.standard_normal((7, 17)).astype(fdt(dt)),
                     rng.standard_normal(17).astype(fdt(dt))],
    torch.where, lambda nb, c, a, b: nb.call("where", c, a, b), grad=(1, 2))

# ---- reductions -------------------------------------------------------------------------------------
for name, tfn in [("sum", lambda x: x.sum(dim=(0, 2), keepdim=True)), ("mean", lambda x: x.mean(dim=(0, 2), keepdim=True)),
                  ("max", lambda x: x.amax(dim=(0, 2), keepdim=True)), ("min", lambda x: x.amin(dim=(0, 2), keepdim=True))]:
    def nab(n):
        def f(nb, x):
            p, o = reduce_opts([0, 2], True)
            return nb.call(n, x, p)
        return f
    add(name, "[7, 5, 17] dims (0, 2) keepdim", normal(7, 5, 17), tfn, nab(name))
add("argmax", "[7, 17] dim 1", normal(7, 17), lambda x: torch.argmax(x, 1), lambda nb, x: nb.call("argmax", x, C.c_int(1), False), grad=())

# ---- linear algebra, softmax ------------------------------------------------------------------------
add("matmul", "[3, 7, 17] @ [17, 129]", two((3, 7, 17), (17, 129)), torch.matmul,
    lambda nb, a, b: nb.call("matmul", a, b), grad=(0, 1))
add("softmax", "[7, 129] dim 1", normal(7, 129), lambda x: torch.softmax(x, 1), lambda nb, x: nb.call("softmax", x, C.c_int(1)))
add("log_softmax", "[7, 5, 17] dim 1", normal(7, 5, 17), lambda x: torch.log_softmax(x, 1),
    lambda nb, x: nb.call("log_softmax", x, C.c_int(1)))

# ---- losses -----------------------------------------------------------------------------------------
def ce_inputs(rng, dt):
    return [rng.standard_normal((17, 10)).astype(fdt(dt)), rng.integers(0, 10, 17).astype(np.int64)]


def nb_ce(nb, x, t):
    o = CrossEntropyOpts(reduction=0, use_ignore_index=False, ignore_index=0)
    return nb.call("cross_entropy", x, t, keep(o))


def nb_nll(nb, x, t):
    o = CrossEntropyOpts(reduction=1, use_ignore_index=True, ignore_index=3)
    return nb.call("nll_loss", x, t, keep(o))


add("nll_loss", "[17, 10] sum, ignore_index 3", ce_inputs, lambda x, t: F.nll_loss(x, t, reduction="sum", ignore_index=3), nb_nll)
add("cross_entropy", "[17, 10] mean", ce_inputs, lambda x, t: F.cross_entropy(x, t), nb_ce)
add("one_hot", "[17] 10 classes", lambda rng, dt: [rng.integers(0, 10, 17).astype(np.int64)],
    lambda t: F.one_hot(t, 10), lambda nb, t: nb.call("one_hot", t, 10, C.c_int(I64)), grad=())

# ---- convolution, pooling, normalisation ------------------------------------------------------------
def conv_in(rng, dt):
    return [rng.standard_normal((2, 4, 17, 13)).astype(fdt(dt)), rng.standard_normal((6, 2, 3, 3)).astype(fdt(dt)),
            rng.standard_normal(6).astype(fdt(dt))]


def nb_conv(nb, x, w, b):
    o = ConvOpts()
    o.stride[:] = [2, 1]
    o.padding[:] = [1, 2]
    o.dilation[:] = [1, 2]
    o.groups = 2
    return nb.call("conv2d", x, w, b, keep(o))


add("conv2d", "[2,4,17,13] groups 2, stride (2,1), pad (1,2), dil (1,2)", conv_in,
    lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2), nb_conv, grad=(0, 1, 2))


def nb_pool(nb, x):
    o = PoolOpts()
    o.kernel[:] = [3, 2]
    o.stride[:] = [2, 2]
    o.padding[:] = [1, 1]
    o.ceil_mode = True
    return nb.call("max_pool2d", x, keep(o))


add("max_pool2d", "[2,3,17,13] k (3,2) s 2 p 1 ceil", normal(2, 3, 17, 13),
    lambda x: F.max_pool2d(x, (3, 2), 2, 1, ceil_mode=True), nb_pool)


def bn_in(rng, dt):
    return [rng.standard_normal((7, 5, 3, 3)).astype(fdt(dt)), rng.standard_normal(5).astype(fdt(dt)),
            rng.standard_normal(5).astype(fdt(dt))]


add("batch_norm", "[7,5,3,3] training", bn_in, lambda x, w, b: F.batch_norm(x, None, None, w, b, True, 0.1, 1e-5),
    lambda nb, x, w, b: nb.call("batch_norm", x, None, None, w, b, True, 0.1, 1e-5), grad=(0, 1, 2))

# ---- shape ------------------------------------------------------------------------------------------
def shape_arg(*s):
    return C.c_int(len(s)), (C.c_int64 * len(s))(*s)


add("reshape", "[7, 17] -> [17, 7]", normal(7, 17), lambda x: x.reshape(17, 7), lambda nb, x: nb.call("reshape", x, *shape_arg(17, 7)))
add("permute", "[3, 7, 17] (2, 0, 1)", normal(3, 7, 17), lambda x: x.permute(2, 0, 1),
    lambda nb, x: nb.call("permute", x, *shape_arg(2, 0, 1)))
add("slice", "[7, 17] dim 1, 1:16:3", normal(7, 17), lambda x: x[:, 1:16:3],
    lambda nb, x: nb.call("slice", x, C.c_int(1), 1, 16, 3))
add("expand", "[7, 1] -> [3, 7, 17]", normal(7, 1), lambda x: x.expand(3, 7, 17), lambda nb, x: nb.call("expand", x, *shape_arg(3, 7, 17)))
add("cat", "[7, 3] + [7, 17] dim 1", two((7, 3), (7, 17)), lambda a, b: torch.cat([a, b], 1),
    lambda nb, a, b: nb.call("cat", (C.c_void_p * 2)(a.value, b.value), C.c_int(2), C.c_int(1)), grad=(0, 1))
add("clone", "[7, 17]", normal(7, 17), torch.clone, lambda nb, x: nb.call("clone", x))
add("to", "[7, 17] to f64", normal(7, 17), lambda x: x.to(torch.float64), lambda nb, x: nb.call("to", x, C.c_int(F64)))

# Registry entries reached only through another op's gradient (tested through that op's backward).
INTERNAL = {"slice_backward", "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d_backward", "pool_gather",
            "batch_norm_backward", "nll_loss_weight"}

# ---- layout -----------------------------------------------------------------------------------------
def i64s(*v):
    return (C.c_int64 * len(v))(*v)


for mode, mname in enumerate(["constant", "reflect", "replicate", "circular"]):
    pads = (2, 1, 1, 3) if mode else (2, -1, 1, 3)
    add("pad", f"[2, 3, 7, 17] {mname} {pads}", normal(2, 3, 7, 17),
        (lambda m, p: lambda x: F.pad(x, p, mode=m, value=0.5) if m == "constant" else F.pad(x, p, mode=m))(mname, pads),
        (lambda md, p: lambda nb, x: nb.call("pad", x, C.c_int(len(p)), i64s(*p), C.c_int(md), 0.5 if md == 0 else 0.0))(mode, pads))
add("repeat", "[7, 1, 3] x (2, 1, 3, 2)", normal(7, 1, 3), lambda x: x.repeat(2, 1, 3, 2),
    lambda nb, x: nb.call("repeat", x, C.c_int(4), i64s(2, 1, 3, 2)))
add("tile", "[7, 3] x (2,)", normal(7, 3), lambda x: torch.tile(x, (2,)), lambda nb, x: nb.call("tile", x, C.c_int(1), i64s(2)))
add("tril", "[3, 7, 17] diagonal -2", normal(3, 7, 17), lambda x: torch.tril(x, -2), lambda nb, x: nb.call("tril", x, -2))
add("triu", "[7, 17] diagonal 3", normal(7, 17), lambda x: torch.triu(x, 3), lambda nb, x: nb.call("triu", x, 3))
add("flip", "[3, 7, 17] dims (0, 2)", normal(3, 7, 17), lambda x: torch.flip(x, (0, 2)),
    lambda nb, x: nb.call("flip", x, C.c_int(2), i64s(0, 2)))
add("roll", "[3, 7, 17] shifts (2, -5) dims (0, 2)", normal(3, 7, 17), lambda x: torch.roll(x, (2, -5), (0, 2)),
    lambda nb, x: nb.call("roll", x, C.c_int(2), i64s(2, -5), i64s(0, 2)))
add("diagonal", "[3, 7, 17] offset 2 dims (2, 1)", normal(3, 7, 17), lambda x: torch.diagonal(x, 2, 2, 1),
    lambda nb, x: nb.call("diagonal", x, 2, C.c_int(2), C.c_int(1)))


def einsum_case(eq, *shapes):
    def make(rng, dt):
        return [rng.standard_normal(s).astype(fdt(dt)) for s in shapes]

    def nab(nb, *xs):
        arr = (C.c_void_p * len(xs))(*[x.value for x in xs])
        return nb.call("einsum", C.c_char_p(eq.encode()), arr, C.c_int(len(xs)))
    add("einsum", eq, make, lambda *ts: torch.einsum(eq, *ts), nab, grad=tuple(range(len(shapes))))


einsum_case("bhqd,bhkd->bhqk", (2, 3, 7, 5), (2, 3, 17, 5))
einsum_case("bn,anm,bm->ba", (7, 3), (5, 3, 4), (7, 4))
einsum_case("ii->i", (7, 7))
einsum_case("...ij,...jk", (3, 1, 7, 5), (2, 5, 4))
INTERNAL |= {"pad_backward", "diagonal_backward"}

# ---- indexing ---------------------------------------------------------------------------------------
def idx_in(xshape, ishape, hi, src=None):
    def make(rng, dt):
        out = [rng.standard_normal(xshape).astype(fdt(dt)), rng.integers(0, hi, ishape).astype(np.int64)]
        if src:
            out.append(rng.standard_normal(src).astype(fdt(dt)))
        return out
    return make


add("index_select", "[7, 17] dim 1, 29 indices", idx_in((7, 17), (29,), 17), lambda x, i: torch.index_select(x, 1, i),
    lambda nb, x, i: nb.call("index_select", x, C.c_int(1), i))
add("index_add", "[7, 17] dim 0, 9 indices alpha 0.5", idx_in((7, 17), (9,), 7, (9, 17)),
    lambda x, i, s: torch.index_add(x, 0, i, s, alpha=0.5), lambda nb, x, i, s: nb.call("index_add", x, C.c_int(0), i, s, 0.5),
    grad=(0, 2))
add("gather", "[7, 17] dim 1, index [7, 5]", idx_in((7, 17), (7, 5), 17), lambda x, i: torch.gather(x, 1, i),
    lambda nb, x, i: nb.call("gather", x, C.c_int(1), i))
add("scatter_add", "[7, 17] dim 1, index [7, 29]", idx_in((7, 17), (7, 29), 17, (7, 29)),
    lambda x, i, s: torch.scatter_add(x, 1, i, s), lambda nb, x, i, s: nb.call("scatter_add", x, C.c_int(1), i, s), grad=(0, 2))


def unique_rows_index(rng, dt):
    x = rng.standard_normal((7, 17)).astype(fdt(dt))
    idx = np.stack([rng.permutation(17)[:5] for _ in range(7)]).astype(np.int64)
    return [x, idx, rng.standard_normal((7, 5)).astype(fdt(dt))]


add("scatter", "[7, 17] dim 1, distinct indices", unique_rows_index, lambda x, i, s: torch.scatter(x, 1, i, s),
    lambda nb, x, i, s: nb.call("scatter", x, C.c_int(1), i, s), grad=(0, 2))
add("scatter_value", "[7, 17] dim 1, value 2.5", unique_rows_index, lambda x, i, s: torch.scatter(x, 1, i, 2.5),
    lambda nb, x, i, s: nb.call("scatter_value", x, C.c_int(1), i, 2.5))
for red in ("sum", "mean", "amax", "amin"):
    for incl in (True, False):
        add("scatter_reduce", f"[7, 17] dim 1 {red} include_self={incl}", idx_in((7, 17), (7, 29), 17, (7, 29)),
            (lambda r, s_: lambda x, i, s: torch.scatter_reduce(x, 1, i, s, r, include_self=s_))(red, incl),
            (lambda r, s_: lambda nb, x, i, s: nb.call("scatter_reduce", x, C.c_int(1), i, s, C.c_char_p(r.encode()), s_))(red, incl),
            grad=(0, 2))


def mask_in(rng, dt):
    return [rng.standard_normal((7, 17)).astype(fdt(dt)), rng.random((1, 17)) > 0.5]


add("masked_fill", "[7, 17] mask [1, 17]", mask_in, lambda x, m: x.masked_fill(m, -1.5),
    lambda nb, x, m: nb.call("masked_fill", x, m, -1.5))
add("masked_select", "[7, 17] mask [1, 17]", mask_in, lambda x, m: torch.masked_select(x, m),
    lambda nb, x, m: nb.call("masked_select", x, m))
add("nonzero", "[7, 17] with zeros", lambda rng, dt: [(rng.integers(0, 3, (7, 17)) * 1.0).astype(fdt(dt))],
    lambda x: torch.nonzero(x), lambda nb, x: nb.call("nonzero", x), grad=())
add("stack", "2 x [7, 17] dim 1", two((7, 17), (7, 17)), lambda a, b: torch.stack([a, b], 1),
    lambda nb, a, b: nb.call("stack", (C.c_void_p * 2)(a.value, b.value), C.c_int(2), C.c_int(1)), grad=(0, 1))
add("unflatten", "[7, 24] dim 1 -> (2, -1, 3)", normal(7, 24), lambda x: torch.unflatten(x, 1, (2, -1, 3)),
    lambda nb, x: nb.call("unflatten", x, C.c_int(1), C.c_int(3), i64s(2, -1, 3)))
add("narrow", "[7, 17] dim 1 start 3 length 9", normal(7, 17), lambda x: torch.narrow(x, 1, 3, 9),
    lambda nb, x: nb.call("narrow", x, C.c_int(1), 3, 9))


def piece(fn, k):
    """The k-th output of an nb_split-style function, as one tensor."""
    def f(nb, x):
        out = (C.c_void_p * 16)()
        n = fn(nb, x, out)
        if n <= k:
            raise ValueError(f"only {n} pieces")
        return C.c_void_p(out[k])
    return f


add("split", "[7, 17] size 5 dim 1, piece 3", normal(7, 17), lambda x: torch.split(x, 5, 1)[3],
    piece(lambda nb, x, o: nb.lib.nb_split(x, C.c_int64(5), C.c_int(1), o, C.c_int(16)), 3))
add("split_sizes", "[7, 17] sizes (3, 10, 4) dim 1, piece 1", normal(7, 17), lambda x: torch.split(x, [3, 10, 4], 1)[1],
    piece(lambda nb, x, o: nb.lib.nb_split_sizes(x, C.c_int(3), i64s(3, 10, 4), C.c_int(1), o, C.c_int(16)), 1))
add("chunk", "[7, 17] 3 chunks dim 1, piece 2", normal(7, 17), lambda x: torch.chunk(x, 3, 1)[2],
    piece(lambda nb, x, o: nb.lib.nb_chunk(x, C.c_int(3), C.c_int(1), o, C.c_int(16)), 2))
INTERNAL |= {"masked_select_backward"}

# ---- neural-network functions -----------------------------------------------------------------------
def shapes_in(*shapes):
    return lambda rng, dt: [rng.standard_normal(s).astype(fdt(dt)) for s in shapes]


add("layer_norm", "[7, 5, 17] over (5, 17), affine", shapes_in((7, 5, 17), (5, 17), (5, 17)),
    lambda x, w, b: F.layer_norm(x, (5, 17), w, b, 1e-5),
    lambda nb, x, w, b: nb.call("layer_norm", x, C.c_int(2), i64s(5, 17), w, b, 1e-5), grad=(0, 1, 2))
add("rms_norm", "[7, 129] over (129,), weight", shapes_in((7, 129), (129,)),
    lambda x, w: F.rms_norm(x, (129,), w, 1e-6) if hasattr(F, "rms_norm") else None,
    lambda nb, x, w: nb.call("rms_norm", x, C.c_int(1), i64s(129), w, 1e-6), grad=(0, 1))
add("group_norm", "[3, 6, 7, 5] 3 groups, affine", shapes_in((3, 6, 7, 5), (6,), (6,)),
    lambda x, w, b: F.group_norm(x, 3, w, b, 1e-5), lambda nb, x, w, b: nb.call("group_norm", x, 3, w, b, 1e-5), grad=(0, 1, 2))
add("instance_norm", "[3, 4, 17] affine, input stats", shapes_in((3, 4, 17), (4,), (4,)),
    lambda x, w, b: F.instance_norm(x, None, None, w, b, True, 0.1, 1e-5),
    lambda nb, x, w, b: nb.call("instance_norm", x, None, None, w, b, True, 0.1, 1e-5), grad=(0, 1, 2))
add("dropout", "[7, 17] evaluation mode (identity)", normal(7, 17), lambda x: F.dropout(x, 0.3, False),
    lambda nb, x: nb.call("dropout", x, 0.3, False))
add("dropout2d", "[2, 3, 7, 5] p 0 in training", normal(2, 3, 7, 5), lambda x: F.dropout2d(x, 0.0, True),
    lambda nb, x: nb.call("dropout2d", x, 0.0, True))


class EmbeddingOpts(C.Structure):
    _fields_ = [("use_padding_idx", C.c_bool), ("padding_idx", C.c_int64), ("max_norm", C.c_double),
                ("norm_type", C.c_double)]


def emb_in(rng, dt):
    return [rng.standard_normal((17, 5)).astype(fdt(dt)), rng.integers(0, 17, (7, 3)).astype(np.int64)]


add("embedding", "[17, 5] table, [7, 3] indices, padding_idx 2", emb_in, lambda w, i: F.embedding(i, w, padding_idx=2),
    lambda nb, w, i: nb.call("embedding", w, i, keep(EmbeddingOpts(True, 2, 0.0, 0.0))))


def bag_in(rng, dt):
    return [rng.standard_normal((17, 5)).astype(fdt(dt)), rng.integers(0, 17, (11,)).astype(np.int64),
            np.array([0, 3, 3, 8], dtype=np.int64)]


for mode, mname in enumerate(["mean", "sum", "max"]):
    add("embedding_bag", f"{mname}, 1-D input with offsets (one empty bag)", bag_in,
        (lambda m: lambda w, i, o: F.embedding_bag(i, w, o, mode=m))(mname),
        (lambda md: lambda nb, w, i, o: nb.call("embedding_bag", w, i, o, C.c_int(md), None))(mode))


def sdpa_in(rng, dt):
    return [rng.standard_normal(s).astype(fdt(dt)) for s in ((2, 3, 7, 8), (2, 3, 17, 8), (2, 3, 17, 5))]


add("scaled_dot_product_attention", "q [2,3,7,8] k/v S=17", sdpa_in, lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
    lambda nb, q, k, v: nb.call("scaled_dot_product_attention", q, k, v, None, 0.0, False, 0.0), grad=(0, 1, 2))
add("scaled_dot_product_attention", "causal, L = S = 7", lambda rng, dt: [rng.standard_normal((2, 7, 8)).astype(fdt(dt))
                                                                         for _ in range(3)],
    lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
    lambda nb, q, k, v: nb.call("scaled_dot_product_attention", q, k, v, None, 0.0, True, 0.0), grad=(0, 1, 2))
add("linear", "[7, 17] x [5, 17]^T + b", shapes_in((7, 17), (5, 17), (5,)), F.linear,
    lambda nb, x, w, b: nb.call("linear", x, w, b), grad=(0, 1, 2))
add("bilinear", "[7, 3] [7, 4] W [5, 3, 4]", shapes_in((7, 3), (7, 4), (5, 3, 4), (5,)), F.bilinear,
    lambda nb, a, b, w, bias: nb.call("bilinear", a, b, w, bias), grad=(0, 1, 2, 3))
add("cosine_similarity", "[7, 17] [1, 17] dim 1", shapes_in((7, 17), (1, 17)), lambda a, b: F.cosine_similarity(a, b, 1, 1e-8),
    lambda nb, a, b: nb.call("cosine_similarity", a, b, C.c_int(1), 1e-8), grad=(0, 1))
add("pairwise_distance", "[7, 17] p 3", shapes_in((7, 17), (7, 17)), lambda a, b: F.pairwise_distance(a, b, 3.0, 1e-6),
    lambda nb, a, b: nb.call("pairwise_distance", a, b, 3.0, 1e-6, False), grad=(0, 1))
INTERNAL |= {"layer_norm_backward", "embedding_backward"}

# ---- losses -----------------------------------------------------------------------------------------
MEAN, SUM, NONE, BATCHMEAN = 0, 1, 2, 3
RED = {MEAN: "mean", SUM: "sum", NONE: "none", BATCHMEAN: "batchmean"}


def ce_full(rng, dt):
    return [rng.standard_normal((17, 10)).astype(fdt(dt)), rng.integers(0, 10, 17).astype(np.int64),
            (rng.random(10) + 0.5).astype(fdt(dt))]


def nb_ce_full(nb, x, t, w):
    o = CrossEntropyOpts(reduction=MEAN, use_ignore_index=True, ignore_index=4, weight=w.value, label_smoothing=0.1)
    return nb.call("cross_entropy", x, t, keep(o))


add("cross_entropy", "[17, 10] weights, ignore_index 4, smoothing 0.1", ce_full,
    lambda x, t, w: F.cross_entropy(x, t, w, ignore_index=4, label_smoothing=0.1), nb_ce_full)


def ce_prob(rng, dt):
    x = rng.standard_normal((7, 5, 3)).astype(fdt(dt))
    p = rng.random((7, 5, 3))
    return [x, (p / p.sum(1, keepdims=True)).astype(fdt(dt))]


add("cross_entropy", "[7, 5, 3] probability targets, sum", ce_prob, lambda x, t: F.cross_entropy(x, t, reduction="sum"),
    lambda nb, x, t: nb.call("cross_entropy", x, t, keep(CrossEntropyOpts(reduction=SUM))), grad=(0, 1))


def pair(shape, lo=None):
    def make(rng, dt):
        a = rng.standard_normal(shape)
        b = rng.standard_normal(shape)
        if lo == "prob":
            a = rng.random(shape) * 0.9 + 0.05
            b = rng.random(shape)
        return [a.astype(fdt(dt)), b.astype(fdt(dt))]
    return make


for name, tfn, extra in [("mse_loss", F.mse_loss, ()), ("l1_loss", F.l1_loss, ()),
                         ("smooth_l1_loss", lambda a, b, reduction: F.smooth_l1_loss(a, b, reduction=reduction, beta=0.5), (0.5,)),
                         ("huber_loss", lambda a, b, reduction: F.huber_loss(a, b, reduction=reduction, delta=0.7), (0.7,)),
                         ("soft_margin_loss", F.soft_margin_loss, ())]:
    for red in (MEAN, NONE):
        add(name, f"[7, 17] {RED[red]}", pair((7, 17)), (lambda f, r: lambda a, b: f(a, b, reduction=RED[r]))(tfn, red),
            (lambda n, r, e: lambda nb, a, b: nb.call(n, a, b, C.c_int(r), *e))(name, red, extra),
            grad=(0, 1) if name != "soft_margin_loss" else (0,))
add("binary_cross_entropy", "[7, 17] weight [17], sum", lambda rng, dt: pair((7, 17), "prob")(rng, dt) + [(rng.random(17) + 0.5).astype(fdt(dt))],
    lambda a, b, w: F.binary_cross_entropy(a, b, w, reduction="sum"),
    lambda nb, a, b, w: nb.call("binary_cross_entropy", a, b, w, C.c_int(SUM)), grad=(0, 1))
add("binary_cross_entropy_with_logits", "[7, 17] weight, pos_weight [17]",
    lambda rng, dt: [rng.standard_normal((7, 17)).astype(fdt(dt)), rng.random((7, 17)).astype(fdt(dt)),
                     (rng.random(17) + 0.5).astype(fdt(dt)), (rng.random(17) + 0.5).astype(fdt(dt))],
    lambda a, b, w, pw: F.binary_cross_entropy_with_logits(a, b, w, pos_weight=pw),
    lambda nb, a, b, w, pw: nb.call("binary_cross_entropy_with_logits", a, b, w, pw, C.c_int(MEAN)), grad=(0, 1))
add("kl_div", "[7, 17] batchmean, log_target", pair((7, 17)), lambda a, b: F.kl_div(a, b, reduction="batchmean", log_target=True),
    lambda nb, a, b: nb.call("kl_div", a, b, C.c_int(BATCHMEAN), True), grad=(0, 1))
add("kl_div", "[7, 17] sum, probability target", pair((7, 17), "prob"), lambda a, b: F.kl_div(a, b, reduction="sum"),
    lambda nb, a, b: nb.call("kl_div", a, b, C.c_int(SUM), False), grad=(0, 1))


def signs(n):
    return lambda rng, dt: (rng.integers(0, 2, n) * 2 - 1).astype(fdt(dt))


add("margin_ranking_loss", "[17] margin 0.3", lambda rng, dt: pair((17,))(rng, dt) + [signs(17)(rng, dt)],
    lambda a, b, y: F.margin_ranking_loss(a, b, y, 0.3), lambda nb, a, b, y: nb.call("margin_ranking_loss", a, b, y, 0.3, C.c_int(MEAN)),
    grad=(0, 1))
add("cosine_embedding_loss", "[7, 17] margin 0.2", lambda rng, dt: pair((7, 17))(rng, dt) + [signs(7)(rng, dt)],
    lambda a, b, y: F.cosine_embedding_loss(a, b, y, 0.2),
    lambda nb, a, b, y: nb.call("cosine_embedding_loss", a, b, y, 0.2, C.c_int(MEAN)), grad=(0, 1))
add("triplet_margin_loss", "[7, 17] p 2 swap", shapes_in((7, 17), (7, 17), (7, 17)),
    lambda a, p, n: F.triplet_margin_loss(a, p, n, 1.0, 2.0, 1e-6, True),
    lambda nb, a, p, n: nb.call("triplet_margin_loss", a, p, n, 1.0, 2.0, 1e-6, True, C.c_int(MEAN)), grad=(0, 1, 2))
add("hinge_embedding_loss", "[7, 17] margin 1", lambda rng, dt: [rng.standard_normal((7, 17)).astype(fdt(dt)), signs((7, 17))(rng, dt)],
    lambda x, y: F.hinge_embedding_loss(x, y, 1.0), lambda nb, x, y: nb.call("hinge_embedding_loss", x, y, 1.0, C.c_int(MEAN)))
add("poisson_nll_loss", "[7, 17] log_input, full", lambda rng, dt: [rng.standard_normal((7, 17)).astype(fdt(dt)),
                                                                    rng.integers(0, 5, (7, 17)).astype(fdt(dt))],
    lambda x, y: F.poisson_nll_loss(x, y, True, True), lambda nb, x, y: nb.call("poisson_nll_loss", x, y, True, True, 1e-8, C.c_int(MEAN)),
    grad=(0,))
add("gaussian_nll_loss", "[7, 17] var [7, 1], full", lambda rng, dt: pair((7, 17))(rng, dt) + [(rng.random((7, 1)) + 0.5).astype(fdt(dt))],
    lambda x, y, v: F.gaussian_nll_loss(x, y, v, True, 1e-6), lambda nb, x, y, v: nb.call("gaussian_nll_loss", x, y, v, True, 1e-6, C.c_int(MEAN)),
    grad=(0, 1, 2))
INTERNAL |= {"cross_entropy_backward"}

# ---- pointwise --------------------------------------------------------------------------------------
def wide(*shape, lo=-6.0, hi=6.0):
    return lambda rng, dt: [rng.uniform(lo, hi, shape).astype(fdt(dt))]


# PyTorch's f64 backward of celu and hardsigmoid uses f32 constants (1.0f / 6, 1 / alpha as float): its
# gradients are off by ~5e-9 where nabla's are exact (checked against the closed form), hence tol 1e3 there.
LOOSE_F64_GRAD = {"celu", "hardsigmoid"}
for name, maker, tfn, args in [
        ("log1p", positive(7, 17), torch.log1p, ()), ("expm1", normal(7, 17), torch.expm1, ()),
        ("square", normal(7, 17), torch.square, ()), ("reciprocal", positive(7, 17), torch.reciprocal, ()),
        ("rsqrt", positive(7, 17), torch.rsqrt, ()), ("sin", wide(129), torch.sin, ()), ("cos", wide(129), torch.cos, ()),
        ("erf", wide(129, lo=-3, hi=3), torch.erf, ()),
        ("leaky_relu", away(7, 17), lambda x: F.leaky_relu(x, 0.2), (0.2,)),
        ("elu", away(7, 17), lambda x: F.elu(x, 1.3), (1.3,)), ("selu", away(7, 17), F.selu, ()),
        ("celu", away(7, 17), lambda x: F.celu(x, 0.7), (0.7,)),
        ("silu", wide(129), F.silu, ()), ("mish", wide(129), F.mish, ()),
        ("softplus", wide(129, lo=-30, hi=30), lambda x: F.softplus(x, 2.0, 20.0), (2.0, 20.0)),
        ("hardtanh", wide(129, lo=-2, hi=2), lambda x: F.hardtanh(x, -0.5, 1.5), (-0.5, 1.5)),
        ("relu6", wide(129, lo=-3, hi=9), F.relu6, ()), ("hardswish", wide(129), F.hardswish, ()),
        ("hardsigmoid", wide(129), F.hardsigmoid, ()),
        ("clamp", wide(129), lambda x: torch.clamp(x, -1.0, 2.0), (-1.0, 2.0)),
        ("pow_scalar", positive(7, 17), lambda x: torch.pow(x, 2.7), (2.7,))]:
    add(name, "uniform" if maker.__name__ == "<lambda>" else "[7, 17]", maker, tfn,
        (lambda n, a: lambda nb, x: nb.call(n, x, *a))(name, args), tol=1e3 if name in LOOSE_F64_GRAD else 1.0)
for approx, aname in ((0, "none"), (1, "tanh")):
    add("gelu", f"approximate={aname}", wide(129), (lambda a: lambda x: F.gelu(x, approximate=a))(aname),
        (lambda a: lambda nb, x: nb.call("gelu", x, C.c_int(a)))(approx))
for name in ("floor", "ceil", "round", "trunc"):
    add(name, "[129] incl. halves", lambda rng, dt: [(rng.integers(-20, 20, 129) / 4.0).astype(fdt(dt))],
        getattr(torch, name), (lambda n: lambda nb, x: nb.call(n, x))(name), grad=())


def specials(rng, dt):
    x = rng.standard_normal(17)
    x[[1, 5]] = np.nan
    x[3], x[9] = np.inf, -np.inf
    return [x.astype(fdt(dt))]


add("nan_to_num", "[17] nan 0.5 posinf 9 neginf -9", specials, lambda x: torch.nan_to_num(x, 0.5, 9.0, -9.0),
    lambda nb, x: nb.call("nan_to_num", x, 0.5, 9.0, -9.0), grad=())
for name in ("isnan", "isinf", "isfinite"):
    add(name, "[17] with nan/inf", specials, getattr(torch, name), (lambda n: lambda nb, x: nb.call(n, x))(name), grad=())
add("atan2", "[7, 1] vs [17]", two((7, 1), (17,)), torch.atan2, lambda nb, a, b: nb.call("atan2", a, b), grad=(0, 1))
for name in ("fmod", "remainder"):
    add(name, "[7, 17] by [17] (mixed signs)", lambda rng, dt: [(rng.standard_normal((7, 17)) * 5).astype(fdt(dt)),
                                                                 (rng.choice([-1, 1], 17) * (rng.random(17) + 0.5)).astype(fdt(dt))],
        getattr(torch, name), (lambda n: lambda nb, a, b: nb.call(n, a, b))(name), grad=(0,))


def ints2(rng, dt):
    return [rng.integers(-50, 50, (7, 17)).astype(np.int32), rng.integers(-50, 50, (17,)).astype(np.int32)]


for name in ("bitwise_and", "bitwise_or", "bitwise_xor", "logical_and", "logical_or", "logical_xor"):
    add(name, "i32 [7, 17] and [17]", ints2, getattr(torch, name), (lambda n: lambda nb, a, b: nb.call(n, a, b))(name), grad=())
for name in ("bitwise_not", "logical_not"):
    add(name, "i32 [7, 17]", lambda rng, dt: ints2(rng, dt)[:1], getattr(torch, name), (lambda n: lambda nb, a: nb.call(n, a))(name),
        grad=())
add("lerp", "[7, 17] [17] weight [7, 1]", shapes_in((7, 17), (7, 17), (7, 1)), torch.lerp,
    lambda nb, a, b, w: nb.call("lerp", a, b, w), grad=(0, 1, 2))
add("lerp_scalar", "[7, 17] weight 0.3", shapes_in((7, 17), (7, 17)), lambda a, b: torch.lerp(a, b, 0.3),
    lambda nb, a, b: nb.call("lerp_scalar", a, b, 0.3), grad=(0, 1))
add("addcmul", "[7, 17] [17] [7, 1] value -0.5", shapes_in((7, 17), (17,), (7, 1)), lambda x, a, b: torch.addcmul(x, a, b, value=-0.5),
    lambda nb, x, a, b: nb.call("addcmul", x, a, b, -0.5), grad=(0, 1, 2))
INTERNAL |= {"activation_backward"}

# ---- spatial ----------------------------------------------------------------------------------------
class ConvTransposeOpts(C.Structure):
    _fields_ = [("stride", C.c_int64 * 2), ("padding", C.c_int64 * 2), ("output_padding", C.c_int64 * 2),
                ("dilation", C.c_int64 * 2), ("groups", C.c_int64)]


class AvgPoolOpts(C.Structure):
    _fields_ = [("kernel", C.c_int64 * 2), ("stride", C.c_int64 * 2), ("padding", C.c_int64 * 2),
                ("ceil_mode", C.c_bool), ("exclude_pad", C.c_bool), ("divisor_override", C.c_int64)]


class InterpOpts(C.Structure):
    _fields_ = [("size", C.c_int64 * 2), ("scale_factor", C.c_double * 2), ("mode", C.c_int), ("align_corners", C.c_bool)]


def conv1d_nb(nb, x, w, b):
    o = ConvOpts()
    o.stride[:] = [2, 0]
    o.padding[:] = [3, 0]
    o.dilation[:] = [2, 0]
    o.groups = 2
    return nb.call("conv1d", x, w, b, keep(o))


add("conv1d", "[2, 4, 17] groups 2 stride 2 pad 3 dil 2", shapes_in((2, 4, 17), (6, 2, 3), (6,)),
    lambda x, w, b: F.conv1d(x, w, b, 2, 3, 2, 2), conv1d_nb, grad=(0, 1, 2))


def convt_nb(nb, x, w, b):
    o = ConvTransposeOpts()
    o.stride[:] = [2, 3]
    o.padding[:] = [1, -1]
    o.output_padding[:] = [1, 2]
    o.dilation[:] = [1, 1]
    o.groups = 2
    return nb.call("conv_transpose2d", x, w, b, keep(o))


add("conv_transpose2d", "[2, 4, 7, 5] groups 2 stride (2,3) pad (1,0) outpad (1,2)", shapes_in((2, 4, 7, 5), (4, 3, 3, 2), (6,)),
    lambda x, w, b: F.conv_transpose2d(x, w, b, (2, 3), (1, 0), (1, 2), 2), convt_nb, grad=(0, 1, 2))
# (nabla's option pairs: a second entry 0 repeats the first, -1 is an explicit 0)


def dw_nb(nb, x, w, b):
    o = ConvOpts()
    o.padding[:] = [1, 1]
    o.groups = 8
    return nb.call("conv2d", x, w, b, keep(o))


add("conv2d", "depthwise [2, 8, 17, 13] 3x3 pad 1", shapes_in((2, 8, 17, 13), (8, 1, 3, 3), (8,)),
    lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=8), dw_nb, grad=(0, 1, 2))


def avg_nb(kernel, stride, pad, ceil, excl, fn="avg_pool2d"):
    def f(nb, x):
        o = AvgPoolOpts()
        o.kernel[:] = kernel
        o.stride[:] = stride
        o.padding[:] = pad
        o.ceil_mode, o.exclude_pad = ceil, excl
        return nb.call(fn, x, keep(o))
    return f


add("avg_pool2d", "[2, 3, 17, 13] k 3 s 2 p 1 ceil, count_include_pad", normal(2, 3, 17, 13),
    lambda x: F.avg_pool2d(x, 3, 2, 1, True, True), avg_nb([3, 3], [2, 2], [1, 1], True, False))
add("avg_pool2d", "[2, 3, 17, 13] k (3,2) s (2,1) p (1,1) exclude pad", normal(2, 3, 17, 13),
    lambda x: F.avg_pool2d(x, (3, 2), (2, 1), 1, False, False), avg_nb([3, 2], [2, 1], [1, 1], False, True))
add("avg_pool1d", "[2, 3, 17] k 4 s 3 p 2", normal(2, 3, 17), lambda x: F.avg_pool1d(x, 4, 3, 2),
    avg_nb([4, 0], [3, 0], [2, 0], False, False, "avg_pool1d"))
add("adaptive_avg_pool2d", "[2, 3, 17, 13] -> (5, 7)", normal(2, 3, 17, 13), lambda x: F.adaptive_avg_pool2d(x, (5, 7)),
    lambda nb, x: nb.call("adaptive_avg_pool2d", x, 5, 7))
add("adaptive_max_pool2d", "[2, 3, 17, 13] -> (5, 7)", normal(2, 3, 17, 13), lambda x: F.adaptive_max_pool2d(x, (5, 7)),
    lambda nb, x: nb.call("adaptive_max_pool2d", x, 5, 7))


def mp1_nb(nb, x):
    o = PoolOpts()
    o.kernel[:] = [3, 0]
    o.stride[:] = [2, 0]
    o.padding[:] = [1, 0]
    o.ceil_mode = True
    return nb.call("max_pool1d", x, keep(o))


add("max_pool1d", "[2, 3, 17] k 3 s 2 p 1 ceil", normal(2, 3, 17), lambda x: F.max_pool1d(x, 3, 2, 1, ceil_mode=True), mp1_nb)
for mode, mname, ac, size in ((0, "nearest", False, (29, 7)), (1, "bilinear", False, (29, 7)), (1, "bilinear", True, (5, 31))):
    def interp_nb(md, a, sz):
        def f(nb, x):
            o = InterpOpts()
            o.size[:] = list(sz)
            o.mode, o.align_corners = md, a
            return nb.call("interpolate", x, keep(o))
        return f
    add("interpolate", f"[2, 3, 17, 13] -> {size} {mname} align_corners={ac}", normal(2, 3, 17, 13),
        (lambda m, a, sz: lambda x: F.interpolate(x, size=sz, mode=m) if m == "nearest"
         else F.interpolate(x, size=sz, mode=m, align_corners=a))(mname, ac, size), interp_nb(mode, ac, size))
add("pixel_shuffle", "[2, 12, 5, 7] r 2", normal(2, 12, 5, 7), lambda x: F.pixel_shuffle(x, 2),
    lambda nb, x: nb.call("pixel_shuffle", x, 2))
add("pixel_unshuffle", "[2, 3, 10, 14] r 2", normal(2, 3, 10, 14), lambda x: F.pixel_unshuffle(x, 2),
    lambda nb, x: nb.call("pixel_unshuffle", x, 2))
INTERNAL |= {"resample2d_backward"}

# ---- reductions beyond sum / mean / max / min -------------------------------------------------------
def red_nb(name, dims, keep, *extra, pre=()):
    def f(nb, x):
        p, o = reduce_opts(list(dims), keep)
        return nb.call(name, x, *pre, p, *extra)
    return f


add("prod", "[7, 5, 3] dims (0, 2) keepdim (one zero)", lambda rng, dt: [np.where(np.arange(105).reshape(7, 5, 3) == 17, 0.0,
                                                                          rng.uniform(0.5, 1.5, (7, 5, 3))).astype(fdt(dt))],
    lambda x: torch.prod(torch.prod(x, 2, keepdim=True), 0, keepdim=True), red_nb("prod", (0, 2), True))
add("var", "[7, 5, 17] dims (0, 2) correction 1", normal(7, 5, 17), lambda x: torch.var(x, (0, 2), correction=1),
    red_nb("var", (0, 2), False, 1.0))
add("std", "[7, 129] dim 1 correction 0 keepdim", normal(7, 129), lambda x: torch.std(x, 1, correction=0, keepdim=True),
    red_nb("std", (1,), True, 0.0))
add("var_mean", "[7, 17] dim 0 (the variance)", normal(7, 17), lambda x: torch.var_mean(x, 0)[0],
    lambda nb, x: nb.call("var_mean", x, reduce_opts([0])[0], 1.0, C.byref(C.c_void_p())))
for p_ in (1.0, 2.0, 3.5, float("inf"), -float("inf"), 0.5):
    add("norm", f"[7, 17] p={p_} dim 1", away(7, 17), (lambda q: lambda x: torch.linalg.vector_norm(x, q, 1))(p_),
        (lambda q: lambda nb, x: nb.call("norm", x, q, reduce_opts([1])[0]))(p_))
add("logsumexp", "[7, 5, 17] dims (1, 2) (large values)", lambda rng, dt: [(rng.standard_normal((7, 5, 17)) * 40).astype(fdt(dt))],
    lambda x: torch.logsumexp(x, (1, 2)), red_nb("logsumexp", (1, 2), False))
for name in ("any", "all"):
    add(name, "[7, 17] dim 1", lambda rng, dt: [(rng.random((7, 17)) > 0.1).astype(fdt(dt))],
        (lambda n: lambda x: getattr(torch, n)(x, 1))(name), red_nb(name, (1,), False), grad=())
add("cumsum", "[7, 129] dim 1", normal(7, 129), lambda x: torch.cumsum(x, 1), lambda nb, x: nb.call("cumsum", x, C.c_int(1)))
add("cumprod", "[7, 17] dim 0", lambda rng, dt: [rng.uniform(0.5, 1.5, (7, 17)).astype(fdt(dt))], lambda x: torch.cumprod(x, 0),
    lambda nb, x: nb.call("cumprod", x, C.c_int(0)))


def idx_out(name, *args, want_indices=False, torch_fn=None):
    """Values (or indices, as float) of an op returning values and i64 indices."""
    def f(nb, x):
        ip = C.c_void_p()
        v = nb.call(name, x, *args, C.byref(ip))
        return nb.call("to", C.c_void_p(ip.value), C.c_int(F64)) if want_indices else v
    return f


distinct = lambda *shape: lambda rng, dt: [rng.permutation(int(np.prod(shape))).reshape(shape).astype(fdt(dt)) / 7.0]  # noqa: E731
for want in (False, True):
    tag = "indices" if want else "values"
    pick = (lambda k: (lambda r: r[1].double() if k else r[0]))(want)
    add("max_dim", f"[7, 17] dim 1 {tag}", distinct(7, 17), (lambda p: lambda x: p(torch.max(x, 1)))(pick),
        idx_out("max_dim", C.c_int(1), False, want_indices=want), grad=() if want else (0,))
    add("min_dim", f"[7, 17] dim 0 keepdim {tag}", distinct(7, 17), (lambda p: lambda x: p(torch.min(x, 0, keepdim=True)))(pick),
        idx_out("min_dim", C.c_int(0), True, want_indices=want), grad=() if want else (0,))
    add("sort", f"[7, 129] dim 1 descending {tag}", distinct(7, 129), (lambda p: lambda x: p(torch.sort(x, 1, True)))(pick),
        idx_out("sort", C.c_int(1), True, True, want_indices=want), grad=() if want else (0,))
    add("topk", f"[7, 129] k 5 dim 1 {tag}", distinct(7, 129), (lambda p: lambda x: p(torch.topk(x, 5, 1)))(pick),
        idx_out("topk", 5, C.c_int(1), True, True, want_indices=want), grad=() if want else (0,))
    add("kthvalue", f"[7, 17] k 4 dim 1 {tag}", distinct(7, 17), (lambda p: lambda x: p(torch.kthvalue(x, 4, 1)))(pick),
        idx_out("kthvalue", 4, C.c_int(1), False, want_indices=want), grad=() if want else (0,))
    add("median", f"[7, 16] dim 1 (lower median) {tag}", distinct(7, 16), (lambda p: lambda x: p(torch.median(x, 1)))(pick),
        idx_out("median", C.c_int(1), False, want_indices=want), grad=() if want else (0,))
add("argmin", "[7, 17] dim 1", distinct(7, 17), lambda x: torch.argmin(x, 1), lambda nb, x: nb.call("argmin", x, C.c_int(1), False), grad=())
add("argsort", "[7, 17] dim 1", distinct(7, 17), lambda x: torch.argsort(x, 1), lambda nb, x: nb.call("argsort", x, C.c_int(1), False, True),
    grad=())
INTERNAL |= {"index_scatter", "index_gather"}
