#!/usr/bin/env python3
"""bench/eager_torch.py — the measurements of bench/eager.c, in PyTorch, for comparison.

    eager_torch.py [threads] [min_ms_per_repeat] [repeats]

Prints the same `name value` lines as bench/eager:
  add_1elem_ns       torch.add of two 1-element f32 tensors (the result is dropped each iteration)
  add_1elem_grad_ns  the same with one input requiring grad
  mlp_nograd_us      784->256->128->10 MLP forward at batch 1 (matmul + bias add + relu) in torch.no_grad()
  mlp_grad_us        the same with grad mode on and the weights requiring grad
Each value is the median over `repeats` repeats of the per-iteration time; each repeat lasts at least
`min_ms_per_repeat` ms. Run with OPENBLAS_NUM_THREADS=1 (bench/run does).
"""
import sys
import time

import torch


def measure(body, min_ns, repeats):
    iters = 1
    while True:  # warm up and calibrate
        t0 = time.perf_counter_ns()
        body(iters)
        dt = time.perf_counter_ns() - t0
        if dt >= min_ns / 4:
            iters = int(min_ns / (dt / iters)) + 1
            break
        iters *= 2
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        body(iters)
        samples.append((time.perf_counter_ns() - t0) / iters)
    samples.sort()
    return samples[len(samples) // 2]


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    min_ms = float(sys.argv[2]) if len(sys.argv) > 2 else 40.0
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 11
    torch.set_num_threads(threads)
    torch.manual_seed(42)
    min_ns = min_ms * 1e6
    add = torch.add

    print(f"# torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}")
    print(f"threads {torch.get_num_threads()}")

    a = torch.full((1,), 1.5, dtype=torch.float32)
    b = torch.full((1,), 2.25, dtype=torch.float32)

    def add_body(iters):
        for _ in range(iters):
            r = add(a, b)
            del r

    print(f"add_1elem_ns {measure(add_body, min_ns, repeats):.1f}", flush=True)
    a.requires_grad_(True)
    print(f"add_1elem_grad_ns {measure(add_body, min_ns, repeats):.1f}", flush=True)

    ma = torch.randn(32, 32)
    mb = torch.randn(32, 32)
    mm = torch.mm

    def matmul_body(iters):
        for _ in range(iters):
            r = mm(ma, mb)
            del r

    print(f"matmul_32_ns {measure(matmul_body, min_ns, repeats):.1f}", flush=True)

    dims = [784, 256, 128, 10]
    x = torch.randn(1, 784)
    ws = [torch.randn(dims[i], dims[i + 1]) * 0.05 for i in range(3)]
    bs = [torch.zeros(dims[i + 1]) for i in range(3)]
    matmul, relu = torch.matmul, torch.relu

    def forward():
        h = x
        h = relu(add(matmul(h, ws[0]), bs[0]))
        h = relu(add(matmul(h, ws[1]), bs[1]))
        return add(matmul(h, ws[2]), bs[2])

    def mlp_nograd(iters):
        for _ in range(iters):
            with torch.no_grad():
                y = forward()
            del y

    def mlp_grad(iters):
        for _ in range(iters):
            y = forward()
            del y

    print(f"mlp_nograd_us {measure(mlp_nograd, min_ns, repeats) / 1e3:.3f}", flush=True)
    for t in ws + bs:
        t.requires_grad_(True)
    print(f"mlp_grad_us {measure(mlp_grad, min_ns, repeats) / 1e3:.3f}", flush=True)


if __name__ == "__main__":
    main()
