"""bench/gemm_torch.py — torch.mm throughput on the shapes bench/gemm measures, with the same timing
loop (best of R rounds; each round averages calls over >= MS ms). Prints "M K N threads GFLOP/s".

    python bench/gemm_torch.py [--threads N] [--min-ms MS] [--rounds R] MxKxN ...
"""
import argparse
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-ms", type=float, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("shapes", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for spec in args.shapes:
        m, k, n = (int(x) for x in spec.split("x"))
        a = torch.rand(m, k, dtype=torch.float32) * 2 - 1
        b = torch.rand(k, n, dtype=torch.float32) * 2 - 1
        c = torch.empty(m, n, dtype=torch.float32)
        torch.mm(a, b, out=c)
        torch.mm(a, b, out=c)
        flops = 2.0 * m * n * k
        best = 0.0
        with torch.no_grad():
            for _ in range(args.rounds):
                calls = 0
                t0 = time.perf_counter()
                while True:
                    torch.mm(a, b, out=c)
                    calls += 1
                    t = time.perf_counter() - t0
                    if t * 1e3 >= args.min_ms:
                        break
                best = max(best, flops * calls / t / 1e9)
        print(f"{m} {k} {n} {args.threads} {best:.2f}", flush=True)


if __name__ == "__main__":
    main()
