#!/usr/bin/env bash
# scripts/test.sh — build and run every test: release build (gcc, warnings as errors), the same suite
# under AddressSanitizer + UndefinedBehaviorSanitizer, the threaded tests under ThreadSanitizer, a
# clang build, the install check (pkg-config and CMake find_package from an outside project), and a
# check that docs/ops.md matches the registry.
# Then fuzzes the file parsers for a bounded time. Creates .venv-ci (numpy, safetensors) for the io
# interchange test. Installs the build tools, libFuzzer's runtime and
# Debian's dataset-fashion-mnist (the end-to-end training test uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh dataset-fashion-mnist
scripts/deps.sh "libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev" # libFuzzer's runtime
scripts/deps.sh python3-venv # the io interchange test's venv
jobs=$(nproc)

# tests/ref/io_interop.sh (ctest io_python_interop) checks files against numpy and safetensors from
# PyPI; they live in a git-ignored venv. The test fails without it unless NABLA_SKIP_PYTHON_TESTS=1.
if ! .venv-ci/bin/python -c 'import numpy, safetensors' 2>/dev/null; then
  echo "== creating .venv-ci (numpy, safetensors) =="
  python3 -m venv .venv-ci
  .venv-ci/bin/pip install --quiet numpy safetensors
fi

echo "== release build (gcc, -Werror) =="
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DNABLA_WERROR=ON >/dev/null
ninja -C build-release
(cd build-release && ctest --output-on-failure -j "$jobs")

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build =="
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DNABLA_SANITIZE=ON -DNABLA_WERROR=ON \
  -DNABLA_BUILD_BENCH=OFF >/dev/null
ninja -C build-asan
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j "$jobs")

echo "== clang build (warnings as errors) =="
CC=clang cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Release -DNABLA_WERROR=ON >/dev/null
ninja -C build-clang
(cd build-clang && ctest --output-on-failure -j "$jobs")

echo "== ThreadSanitizer: the thread pool and the multi-threaded kernels =="
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS="-fsanitize=thread" \
  -DNABLA_BUILD_BENCH=OFF -DNABLA_BUILD_EXAMPLES=OFF >/dev/null
ninja -C build-tsan test_threads test_determinism test_gemm test_ops_conv test_data
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 \
  ctest --output-on-failure -j "$jobs" -R '^(test_threads|test_determinism|test_gemm|test_ops_conv|test_data)$')

echo "== docs/ops.md is generated from the registry =="
./build-release/nabla_opsdoc > build-release/ops.md
if ! diff -u docs/ops.md build-release/ops.md; then
  echo "docs/ops.md is stale: run ./build-release/nabla_opsdoc > docs/ops.md" >&2
  exit 1
fi

if [ -x tests/install_check.sh ]; then
  echo "== install check (pkg-config and find_package) =="
  tests/install_check.sh
fi
echo "== fuzzing the IDX, CSV, safetensors, npy and npz parsers (libFuzzer, ASan+UBSan, 20 s each) =="
fuzz/run.sh 20

echo "== all tests passed =="
