#!/usr/bin/env bash
# scripts/main.sh — the main job: install what is needed (build tools, zlib, the Fashion-MNIST
# dataset package), build nabla in release, run the eager autograd example, then train the
# Fashion-MNIST MLP (784-256-128-10, Adam) with a progress bar and evaluate it on the test set after
# every epoch, then save the weights to fashion_mlp.safetensors (PyTorch state_dict names). Export
# (ONNX) joins this job when its issue lands.
#
#     scripts/main.sh [epochs]        (default 12; NABLA_NUM_THREADS picks the thread count)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh dataset-fashion-mnist
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
ninja -C build
echo "== example: eager tensors and autograd (examples/autograd.c) =="
./build/examples/example_autograd
echo "== training the Fashion-MNIST MLP (examples/fashion_mlp.c) =="
./build/examples/example_fashion_mlp "${1:-12}"
