#!/usr/bin/env bash
# Dr.Jit's CPU backend needs LLVM >= 16; Debian bookworm ships 15, which aborts at the first kernel.
set -euo pipefail
lib="${1:-/usr/lib/x86_64-linux-gnu/libLLVM.so.19.1}"
[ -e "$lib" ] && exit 0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
  exit 0  # CUDA variants need no LLVM
fi
echo "radiovisual setup: installing libllvm19 (Dr.Jit's CPU backend needs LLVM >= 16)" >&2
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "radiovisual setup: error: $lib is missing and apt-get is unavailable; install LLVM >= 16 and set DRJIT_LIBLLVM_PATH" >&2
  exit 1
fi
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libllvm19 >/dev/null
[ -e "$lib" ] || { echo "radiovisual setup: error: libllvm19 installed but $lib not found; set LLVM_LIB=" >&2; exit 1; }
