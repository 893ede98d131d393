#!/usr/bin/env bash
# tests/install_check.sh — check that an installed nabla can be used from outside the source tree.
#
#     tests/install_check.sh            (KEEP=1 keeps the temporary directory for inspection)
#
# 1. Configures a fresh Release build in a temporary directory (with the default install prefix) and
#    installs it with `cmake --install --prefix <tmp>/prefix`, so the package files must be relocatable.
# 2. Builds tests/install/consumer.c through pkg-config (shared library with an rpath, and the static
#    library through `pkg-config --static`), runs both and checks their output.
# 3. Builds tests/install/CMakeLists.txt (find_package(nabla) + nabla::nabla / nabla::nabla_static)
#    with CMAKE_PREFIX_PATH=<tmp>/prefix, runs both consumers and checks their output.
# Exits non-zero on the first failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/nabla-install-check.XXXXXX")"
cleanup() {
    if [ "${KEEP:-0}" = 1 ]; then echo "install_check: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

fail() {
    echo "install_check: FAIL: $*" >&2
    exit 1
}
step() { echo "install_check: $*" >&2; }

jobs="$(nproc 2>/dev/null || echo 2)"
cc="${CC:-cc}"
version="$(sed -n 's/^project(nabla VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")"
[ -n "$version" ] || fail "cannot read the project version from CMakeLists.txt"
expected="nabla $version: y=55 grad=0,2,4,6,8,10 live=0"

check_run() { # name, program
    local got
    got="$("$2")" || fail "$1: the program exited with status $?"
    if [ "$got" != "$expected" ]; then
        fail "$1: printed '$got', expected '$expected'"
    fi
    step "ok: $1 printed '$got'"
}

# ---- 1. fresh Release build, installed into a temporary prefix ----------------------------------
build="$tmp/build"
prefix="$tmp/prefix"
step "configuring and building nabla (Release) in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DNABLA_BUILD_TESTS=OFF -DNABLA_BUILD_BENCH=OFF \
    -DNABLA_BUILD_EXAMPLES=OFF >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log" >&2; fail "configure"; }
cmake --build "$build" -j "$jobs" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; fail "build"; }
step "installing into $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "install"; }

[ -f "$prefix/include/nabla/nabla.h" ] || fail "include/nabla/nabla.h was not installed"
for h in core ops autograd registry; do
    [ -f "$prefix/include/nabla/$h.h" ] || fail "include/nabla/$h.h was not installed"
done
pcfile="$(find "$prefix" -path '*/pkgconfig/nabla.pc' | head -n1)"
[ -n "$pcfile" ] || fail "nabla.pc was not installed"
cfgfile="$(find "$prefix" -path '*/cmake/nabla/nablaConfig.cmake' | head -n1)"
[ -n "$cfgfile" ] || fail "nablaConfig.cmake was not installed"
[ -n "$(find "$prefix" -name 'nablaConfigVersion.cmake')" ] || fail "nablaConfigVersion.cmake was not installed"
[ -n "$(find "$prefix" -name 'libnabla.a')" ] || fail "libnabla.a was not installed"
[ -n "$(find "$prefix" -name 'libnabla.so*')" ] || fail "libnabla.so was not installed"
if grep -rqF "$root" "$prefix"/*/cmake "$prefix"/*/pkgconfig "$prefix"/*/*/cmake "$prefix"/*/*/pkgconfig 2>/dev/null; then
    fail "installed package files refer to the source tree $root"
fi

# ---- 2. pkg-config consumer -----------------------------------------------------------------------
command -v pkg-config >/dev/null || fail "pkg-config is not installed"
PKG_CONFIG_PATH="$(dirname "$pcfile")"
export PKG_CONFIG_PATH
pc_libdir="$(pkg-config --variable=libdir nabla)" || fail "pkg-config cannot read nabla.pc"
pc_cflags="$(pkg-config --cflags nabla)"
pc_libs="$(pkg-config --libs nabla)"
step "pkg-config: cflags '$pc_cflags', libs '$pc_libs'"
[ "$(pkg-config --modversion nabla)" = "$version" ] || fail "pkg-config --modversion is not $version"
[ "$(cd "$pc_libdir" 2>/dev/null && pwd -P)" = "$(cd "$(dirname "$pcfile")/.." && pwd -P)" ] ||
    fail "nabla.pc's libdir '$pc_libdir' is not the install prefix's library directory"
[ -f "$pc_libdir/libnabla.so" ] || fail "no libnabla.so in nabla.pc's libdir '$pc_libdir'"

mkdir -p "$tmp/pc"
# shellcheck disable=SC2086  # pkg-config output is a list of words
"$cc" -std=c11 -Wall -Wextra -Werror "$root/tests/install/consumer.c" -o "$tmp/pc/consumer" \
    $pc_cflags $pc_libs "-Wl,-rpath,$pc_libdir" || fail "pkg-config: building the shared consumer"
if command -v ldd >/dev/null; then
    ldd "$tmp/pc/consumer" | grep -qF "$pc_libdir/libnabla.so" ||
        fail "pkg-config: the shared consumer does not load libnabla from the prefix: $(ldd "$tmp/pc/consumer" | grep nabla)"
fi
check_run "pkg-config, shared" "$tmp/pc/consumer"

# Static: `--static` adds Libs.private; -Bstatic makes the linker pick libnabla.a over libnabla.so.
pc_static_libs="$(pkg-config --static --libs nabla)"
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Werror "$root/tests/install/consumer.c" -o "$tmp/pc/consumer_static" \
    $pc_cflags ${pc_static_libs/-lnabla/-Wl,-Bstatic -lnabla -Wl,-Bdynamic} ||
    fail "pkg-config --static: building the static consumer"
if command -v ldd >/dev/null && ldd "$tmp/pc/consumer_static" | grep -q libnabla; then
    fail "pkg-config --static: the static consumer still loads libnabla.so"
fi
check_run "pkg-config --static" "$tmp/pc/consumer_static"

# ---- 3. CMake consumer ----------------------------------------------------------------------------
step "CMake: find_package(nabla) with CMAKE_PREFIX_PATH=$prefix"
cmake -S "$root/tests/install" -B "$tmp/cmake" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_C_COMPILER="$cc" >"$tmp/consumer-configure.log" 2>&1 ||
    { cat "$tmp/consumer-configure.log" >&2; fail "CMake: configuring the consumer project"; }
nabla_dir="$(sed -n 's/^nabla_DIR:PATH=//p' "$tmp/cmake/CMakeCache.txt")"
[ "$(cd "$nabla_dir" && pwd -P)" = "$(cd "$(dirname "$cfgfile")" && pwd -P)" ] ||
    fail "CMake: found nabla in '$nabla_dir', not in the install prefix"
cmake --build "$tmp/cmake" -j "$jobs" >"$tmp/consumer-build.log" 2>&1 ||
    { cat "$tmp/consumer-build.log" >&2; fail "CMake: building the consumers"; }
check_run "CMake nabla::nabla" "$tmp/cmake/consumer"
check_run "CMake nabla::nabla_static" "$tmp/cmake/consumer_static"

step "all install checks passed"
