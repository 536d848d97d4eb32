"""Runtime environment for the ray tracer: Dr.Jit's LLVM backend needs LLVM >= 16."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import RadiovisualError

_LLVM_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libLLVM.so.19.1",
    "/usr/lib/x86_64-linux-gnu/libLLVM-19.so",
    "/usr/lib/aarch64-linux-gnu/libLLVM.so.19.1",
    "/usr/lib/llvm-19/lib/libLLVM.so.1",
    "/usr/lib/x86_64-linux-gnu/libLLVM.so.18.1",
    "/usr/lib/x86_64-linux-gnu/libLLVM-17.so",
    "/usr/lib/x86_64-linux-gnu/libLLVM-16.so",
)


def ensure_llvm() -> None:
    """Point DRJIT_LIBLLVM_PATH at a usable LLVM before drjit is imported."""
    cur = os.environ.get("DRJIT_LIBLLVM_PATH")
    if cur and Path(cur).exists():
        return
    for c in _LLVM_CANDIDATES:
        if Path(c).exists():
            os.environ["DRJIT_LIBLLVM_PATH"] = c
            return


def import_sionna_rt():
    """Import sionna.rt with the environment prepared; raise one clear line if impossible."""
    ensure_llvm()
    try:
        import sionna.rt as rt  # noqa: F401
    except ImportError as e:
        raise RadiovisualError(f"Sionna RT is not installed ({e}); run `make setup`") from None
    return rt
