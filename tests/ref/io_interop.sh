#!/usr/bin/env bash
# tests/ref/io_interop.sh TEST_IO_BINARY — nabla <-> Python interchange (ctest: io_python_interop).
# 1. make_safetensors_refs.py writes files with numpy / safetensors (PyPI) into a temporary folder;
# 2. test_io (with NABLA_IO_REF_DIR) loads them bit-exactly and writes its own files there;
# 3. check_nabla_files.py loads nabla's files with safetensors.numpy.load_file and numpy.load.
# Python: $NABLA_PYTHON, else <repo>/.venv-ci/bin/python (scripts/test.sh creates it with numpy and
# safetensors). Skips (exit 77) only when NABLA_SKIP_PYTHON_TESTS=1; otherwise a missing Python or
# package is a failure, so CI always runs it.
set -euo pipefail
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ "${NABLA_SKIP_PYTHON_TESTS:-0}" = 1 ]; then
  echo "SKIPPED: NABLA_SKIP_PYTHON_TESTS=1 (the Python interchange check did not run)"
  exit 77
fi
py=${NABLA_PYTHON:-$root/.venv-ci/bin/python}
if [ ! -x "$py" ] || ! "$py" -c 'import numpy, safetensors' 2>/dev/null; then
  echo "FAILED: no Python with numpy and safetensors at $py." >&2
  echo "Create it with: python3 -m venv .venv-ci && .venv-ci/bin/pip install numpy safetensors" >&2
  echo "(scripts/test.sh does this), set NABLA_PYTHON, or skip with NABLA_SKIP_PYTHON_TESTS=1." >&2
  exit 1
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$py" "$here/make_safetensors_refs.py" "$dir"
NABLA_IO_REF_DIR="$dir" "$bin"
"$py" "$here/check_nabla_files.py" "$dir"
echo "io_python_interop: passed"
