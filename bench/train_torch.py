#!/usr/bin/env python3
"""bench/train_torch.py — bench/train.c's measurement in PyTorch: seconds per epoch on Fashion-MNIST
(data in memory as tensors, shuffled with randperm each epoch, batch 64, Adam lr 1e-3), then test accuracy.

    train_torch.py mlp|cnn [threads] [epochs] [data_dir]

Run with OPENBLAS_NUM_THREADS=1 (bench/run_train does) so only PyTorch's own pool runs.
"""
import gzip
import statistics
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else "mlp"
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    root = sys.argv[4] if len(sys.argv) > 4 else "/usr/share/datasets/fashion-mnist"
    torch.set_num_threads(threads)
    torch.manual_seed(int(os.environ.get("BENCH_SEED", "1")))  # as bench/train.c
    cnn = model == "cnn"

    def load(prefix):
        x = torch.from_numpy(read_idx(f"{root}/{prefix}-images-idx3-ubyte.gz").astype(np.float32) / 255.0)
        y = torch.from_numpy(read_idx(f"{root}/{prefix}-labels-idx1-ubyte.gz").astype(np.int64))
        x = (x - 0.2860) / 0.3530
        x = x.reshape(-1, 1, 28, 28) if cnn else x.reshape(-1, 784)
        return x.contiguous(), y

    xtr, ytr = load("train")
    xte, yte = load("t10k")
    if cnn:
        net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    else:
        net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    n = xtr.shape[0]
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        for i in range(0, n, 64):
            idx = perm[i:i + 64]
            xb, yb = xtr[idx], ytr[idx]
            loss = loss_fn(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    net.eval()
    with torch.no_grad():
        acc = (net(xte).argmax(1) == yte).float().mean().item()
    print(f"# torch {torch.__version__}, {model}, {threads} threads, {epochs} epochs")
    print(f"epoch_s {statistics.median(times):.3f}")
    print(f"first_epoch_s {times[0]:.3f}")
    print(f"test_accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
