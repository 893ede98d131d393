#!/usr/bin/env bash
# fuzz/run.sh — build nabla's libFuzzer targets with clang under ASan + UBSan and run each one.
#
#   fuzz/run.sh            # every target for 30 seconds
#   fuzz/run.sh 300 idx    # fuzz_idx for 5 minutes
#
# Seeds come from fuzz/corpus/<name>/ (kept small, in git); the growing working corpus and any crash
# reproducers go to $NABLA_FUZZ_BUILD (default build-fuzz/). Exits non-zero if a target crashed;
# rerun a reproducer with: build-fuzz/fuzz/fuzz_<name> build-fuzz/artifacts/<name>/crash-...
set -euo pipefail
secs=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(idx csv safetensors npy npz)
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${NABLA_FUZZ_BUILD:-$root/build-fuzz}

# libFuzzer's runtime ships in Debian's libclang-rt-<version>-dev: install it if a trivial fuzzer
# does not link.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' >"$probe/p.c"
if ! clang -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" 2>/dev/null; then
  ver=$(clang -dumpversion | cut -d. -f1)
  echo "[fuzz] libFuzzer runtime missing: installing libclang-rt-$ver-dev"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "libclang-rt-$ver-dev"
fi

CC=clang cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNABLA_FUZZ=ON \
  -DNABLA_BUILD_TESTS=OFF -DNABLA_BUILD_BENCH=OFF -DNABLA_BUILD_EXAMPLES=OFF >/dev/null
ninja -C "$build" $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in "${targets[@]}"; do
  work="$build/corpus/$t"
  art="$build/artifacts/$t"
  mkdir -p "$work" "$art"
  echo "[fuzz] fuzz_$t for ${secs}s"
  if "$build/fuzz/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 \
      -artifact_prefix="$art/" "$work" "$here/corpus/$t" >"$build/fuzz_$t.log" 2>&1; then
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/fuzz_$t.log" | sed "s/^/[fuzz] $t /"
    echo "[fuzz] fuzz_$t: no crash ($(ls "$work" | wc -l) inputs in the working corpus)"
  else
    status=1
    echo "[fuzz] fuzz_$t FAILED: see $build/fuzz_$t.log and $art/"
    tail -40 "$build/fuzz_$t.log"
  fi
done
exit $status
