#!/usr/bin/env python3
"""tests/parity/parity.py — run every op on the same inputs in nabla (through ctypes on libnabla.so) and
in PyTorch, forward and backward, in f32 and f64, and report the largest differences. Opt-in, not part
of CI (it needs PyTorch):

    .venv-peers/bin/python tests/parity/parity.py [--lib build/libnabla.so] [--markdown out.md] [name ...]

Cases live in tests/parity/cases.py (one entry per registry op or composite function). The report ends
with the registry names that have no parity case. Exit status 1 when a difference exceeds its tolerance
or a case fails to run.
"""
import argparse
import os
import sys
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nabla_ctypes import Nabla, NablaError  # noqa: E402
import cases as case_mod  # noqa: E402

TOL = {"f32": 2e-5, "f64": 1e-10}  # relative to the reference's largest magnitude (and at least 1)


def rel_err(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    both_nan = np.isnan(a) & np.isnan(b)
    same_inf = np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))
    ok = both_nan | same_inf
    if np.any(np.isnan(a) != np.isnan(b)):
        return float("inf")
    d = np.where(ok, 0.0, np.abs(a - b))
    scale = max(1.0, float(np.max(np.where(ok, 0.0, np.abs(b)))))
    return float(np.max(d)) / scale


def run_case(nb, case, dtype):
    rng = np.random.default_rng(zlib.crc32((case.name + case.label).encode()))
    inputs = case.make(rng, dtype)
    grads_for = [i for i in case.grad if np.asarray(inputs[i]).dtype.kind == "f"]
    # PyTorch
    tin = [torch.tensor(np.asarray(x), requires_grad=(i in grads_for)) for i, x in enumerate(inputs)]
    tout = case.torch(*tin)
    ref = tout.detach().numpy()
    g_up = rng.standard_normal(ref.shape).astype(ref.dtype) if ref.dtype.kind == "f" else None
    tgrads = {}
    if grads_for and g_up is not None:
        tout.backward(torch.tensor(g_up))
        tgrads = {i: tin[i].grad.numpy() if tin[i].grad is not None else np.zeros_like(inputs[i]) for i in grads_for}
    # nabla
    with nb.scope():
        nin = [nb.tensor(np.asarray(x), requires_grad=(i in grads_for)) for i, x in enumerate(inputs)]
        nout = case.nabla(nb, *nin)
        got = nb.numpy(nout)
        errs = {"fwd": rel_err(got, ref)}
        if tgrads:
            nb.backward(nout, nb.tensor(g_up))
            for i in grads_for:
                g = nb.grad(nin[i])
                errs[f"d{i}"] = rel_err(g if g is not None else np.zeros_like(inputs[i]), tgrads[i])
    return errs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default=None)
    ap.add_argument("--markdown", default=None)
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    nb = Nabla(args.lib)
    nb.lib.nb_manual_seed(0)
    torch.set_num_threads(1)
    rows, bad = [], 0
    selected = [c for c in case_mod.CASES if not args.names or c.name in args.names]
    for case in selected:
        for dtype in ("f32", "f64"):
            try:
                errs = run_case(nb, case, dtype)
                worst = max(errs.values())
                ok = worst <= TOL[dtype] * case.tol
                status = "ok" if ok else "DIFF"
            except (NablaError, RuntimeError, TypeError, ValueError) as e:
                errs, worst, status = {}, float("nan"), "ERROR: " + str(e).splitlines()[0][:120]
                ok = False
            bad += not ok
            rows.append((case.name, case.label, dtype, errs, worst, status))
            print(f"{case.name:28s} {case.label:34s} {dtype}  max rel diff {worst:9.2e}  {status}", flush=True)
    covered = {c.name for c in case_mod.CASES}
    missing = [n for n, _, _ in nb.ops() + nb.funcs() if n not in covered and n not in case_mod.INTERNAL]
    print(f"\n{len(selected)} cases, {len(rows)} runs, {bad} above tolerance or failing")
    print(f"registry ops and functions without a parity case: {', '.join(missing) if missing else 'none'}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"PyTorch {torch.__version__}; tolerance: relative to max(1, max |reference|), f32 {TOL['f32']:g}, "
                    f"f64 {TOL['f64']:g} (times a per-case factor).\n\n")
            f.write("| op | case | dtype | forward | worst gradient | status |\n|---|---|---|---:|---:|---|\n")
            for name, label, dtype, errs, worst, status in rows:
                gw = max([v for k, v in errs.items() if k != "fwd"], default=float("nan"))
                f.write(f"| `{name}` | {label} | {dtype} | {errs.get('fwd', float('nan')):.1e} | {gw:.1e} | {status} |\n")
            f.write(f"\nWithout a parity case: {', '.join(missing) if missing else 'none'}.\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
