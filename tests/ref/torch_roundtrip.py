#!/usr/bin/env python3
"""tests/ref/torch_roundtrip.py [BUILD_DIR] — opt-in PyTorch round trip (needs torch + safetensors;
run it with /work/main/.venv-peers/bin/python or any venv that has them; CI does not).

For an MLP (784-256-128-10) and a small CNN (Conv2d + BatchNorm2d + ReLU + MaxPool2d + Flatten +
Linear, eval mode, with non-trivial running statistics):
  torch -> nabla: safetensors.torch.save_file(model.state_dict()) is loaded strictly by nabla
                  (nb_module_load_state_dict) and gives the same outputs;
  nabla -> torch: nb_module_save_state_dict's file goes through safetensors.torch.load_file +
                  model.load_state_dict(strict=True) and gives the same outputs.
It compiles tests/ref/torch_roundtrip.c against BUILD_DIR/libnabla.a (default build-io, then build).
"""
import os, subprocess, sys, tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
build = sys.argv[1] if len(sys.argv) > 1 else next(
    (b for b in (os.path.join(root, "build-io"), os.path.join(root, "build")) if os.path.exists(os.path.join(b, "libnabla.a"))),
    None)
if not build:
    sys.exit("torch_roundtrip: no libnabla.a found; pass the build directory")


def make(kind):
    if kind == "mlp":
        return torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                                   torch.nn.ReLU(), torch.nn.Linear(128, 10))
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 14 * 14, 10))


with tempfile.TemporaryDirectory() as d:
    exe = os.path.join(d, "torch_roundtrip")
    libs = ["-lm", "-lpthread"] + (["-lz"] if os.path.exists("/usr/include/zlib.h") else [])
    subprocess.run(["cc", "-std=c11", "-O2", "-I", os.path.join(root, "include"),
                    os.path.join(root, "tests/ref/torch_roundtrip.c"), os.path.join(build, "libnabla.a"),
                    "-o", exe] + libs, check=True)
    torch.manual_seed(0)
    models = {}
    for kind in ("mlp", "cnn"):
        m = make(kind)
        if kind == "cnn":  # non-trivial running statistics
            with torch.no_grad():
                m[1].running_mean.uniform_(-0.5, 0.5)
                m[1].running_var.uniform_(0.5, 2.0)
                m[1].weight.uniform_(0.5, 1.5)
                m[1].bias.uniform_(-0.2, 0.2)
                m[1].num_batches_tracked.fill_(17)
        m.eval()
        x = torch.randn(8, 784) if kind == "mlp" else torch.randn(8, 1, 28, 28)
        np.save(os.path.join(d, f"{kind}_x.npy"), x.numpy())
        save_file(m.state_dict(), os.path.join(d, f"{kind}_torch.safetensors"))
        models[kind] = (m, x)
    subprocess.run([exe, d], check=True)
    worst = 0.0
    for kind, (m, x) in models.items():
        with torch.no_grad():
            ref = m(x).numpy()
        got = np.load(os.path.join(d, f"{kind}_nabla_out.npy"))
        err = float(np.abs(got - ref).max())
        print(f"{kind}: torch -> nabla: outputs {got.shape}, max |nabla - torch| = {err:.3g}")
        assert got.shape == ref.shape and np.allclose(got, ref, rtol=1e-5, atol=1e-5), err
        worst = max(worst, err)
        m2 = make(kind)
        sd = load_file(os.path.join(d, f"{kind}_nabla.safetensors"))
        m2.load_state_dict(sd, strict=True)
        m2.eval()
        with torch.no_grad():
            out2 = m2(x).numpy()
        own = np.load(os.path.join(d, f"{kind}_nabla_own.npy"))
        err2 = float(np.abs(out2 - own).max())
        print(f"{kind}: nabla -> torch: {len(sd)} tensors loaded strictly, max |torch - nabla| = {err2:.3g}")
        assert np.allclose(out2, own, rtol=1e-5, atol=1e-5), err2
        worst = max(worst, err2)
        # the weights themselves cross bit for bit
        for k, v in sd.items():
            assert torch.equal(v, m2.state_dict()[k]), k
    print(f"torch_roundtrip: passed (worst output difference {worst:.3g})")
