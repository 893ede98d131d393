#!/usr/bin/env bash
# scripts/deps.sh — install the Debian packages nabla's build and tests need (as root, idempotent).
# Usage: scripts/deps.sh [extra-package ...]
set -euo pipefail
need=(build-essential cmake ninja-build pkg-config clang git zlib1g-dev)
need+=("$@")
missing=()
for p in "${need[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[deps] installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
