#!/usr/bin/env python3
"""bench/ops_torch.py — the measurements of bench/ops.c in PyTorch (eager, f32, results allocated).

    ops_torch.py [--threads N] [--rounds R] [--min-ms MS] [name ...]

Prints "name threads microseconds_per_call" lines, the best of R rounds of >= MS ms each.
"""
import argparse
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-ms", type=float, default=100.0)
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    a = torch.randn(1048576)
    b = torch.randn(1048576)
    pos = a.abs() + 0.5
    m = torch.randn(1024, 1000)
    ops = {
        "add": lambda: torch.add(a, b),
        "mul": lambda: torch.mul(a, b),
        "relu": lambda: torch.relu(a),
        "exp": lambda: torch.exp(a),
        "log": lambda: torch.log(pos),
        "tanh": lambda: torch.tanh(a),
        "sigmoid": lambda: torch.sigmoid(a),
        "sum_rows": lambda: torch.sum(m, 1),
        "sum_cols": lambda: torch.sum(m, 0),
        "softmax": lambda: torch.softmax(m, 1),
    }
    names = args.names or list(ops)
    with torch.no_grad():
        for name in names:
            f = ops[name]
            f()
            best = 1e30
            for _ in range(args.rounds):
                calls = 0
                t0 = time.perf_counter()
                while True:
                    f()
                    calls += 1
                    t = time.perf_counter()
                    if (t - t0) * 1e3 >= args.min_ms:
                        break
                best = min(best, (t - t0) * 1e6 / calls)
            print(f"{name} {args.threads} {best:.2f}", flush=True)


if __name__ == "__main__":
    main()
