"""bench/conv_torch.py — the measurements of bench/conv.c in PyTorch, with the same timing loop (best of R
rounds; each round averages calls over >= MS ms) and output lines:

    python bench/conv_torch.py [--threads N] [--min-ms MS] [--rounds R] case ...

    conv:N,C,H,W,O,k,stride,pad -> "conv N C H W O k s p threads fwd_ms dx_ms dw_ms"
        F.conv2d forward; aten.convolution_backward for the input gradient alone and the weight
        gradient alone (what autograd runs for ConvolutionBackward0).
    pool:N,C,H,W,k,stride       -> "pool N C H W k s threads fwd_ms bwd_ms"
        aten.max_pool2d_with_indices (what F.max_pool2d runs when the input requires grad) and
        aten.max_pool2d_with_indices_backward.
"""
import argparse
import time

import torch
import torch.nn.functional as F


def time_ms(fn, min_ms, rounds):
    fn()
    best = 1e30
    for _ in range(rounds):
        calls = 0
        t0 = time.perf_counter()
        while True:
            fn()
            calls += 1
            t = time.perf_counter() - t0
            if t * 1e3 >= min_ms:
                break
        best = min(best, t * 1e3 / calls)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-ms", type=float, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("cases", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    aten = torch.ops.aten
    with torch.no_grad():
        for spec in args.cases:
            kind, vals = spec.split(":")
            v = [int(s) for s in vals.split(",")]
            if kind == "conv":
                n, c, h, w, o, k, s, p = v
                x = torch.randn(n, c, h, w)
                wt = torch.randn(o, c, k, k)
                y = F.conv2d(x, wt, stride=s, padding=p)
                gy = torch.randn_like(y)

                def bw(mask):
                    return aten.convolution_backward(gy, x, wt, None, [s, s], [p, p], [1, 1], False, [0, 0], 1, mask)

                f = time_ms(lambda: F.conv2d(x, wt, stride=s, padding=p), args.min_ms, args.rounds)
                dx = time_ms(lambda: bw([True, False, False]), args.min_ms, args.rounds)
                dw = time_ms(lambda: bw([False, True, False]), args.min_ms, args.rounds)
                print(f"conv {n} {c} {h} {w} {o} {k} {s} {p} {args.threads} {f:.4f} {dx:.4f} {dw:.4f}", flush=True)
            elif kind == "pool":
                n, c, h, w, k, s = v
                x = torch.randn(n, c, h, w)
                y, idx = aten.max_pool2d_with_indices(x, [k, k], [s, s])
                gy = torch.randn_like(y)
                f = time_ms(lambda: aten.max_pool2d_with_indices(x, [k, k], [s, s]), args.min_ms, args.rounds)
                b = time_ms(lambda: aten.max_pool2d_with_indices_backward(gy, x, [k, k], [s, s], [0, 0], [1, 1],
                                                                         False, idx), args.min_ms, args.rounds)
                print(f"pool {n} {c} {h} {w} {k} {s} {args.threads} {f:.4f} {b:.4f}", flush=True)
            else:
                raise SystemExit(f"bad case {spec}")


if __name__ == "__main__":
    main()
