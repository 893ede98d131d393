#!/usr/bin/env bash
# scripts/main.sh — the main job: install what is needed, build nabla in release, run the example
# (an eager autograd program). Training Fashion-MNIST joins this job when the nn/data issue lands.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
ninja -C build
echo "== example: eager tensors and autograd (examples/autograd.c) =="
./build/examples/example_autograd
