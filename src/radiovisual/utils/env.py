"""Runtime environment for the ray tracer: Dr.Jit's LLVM backend needs LLVM >= 16."""

from __future__ import annotations

import os
import sys
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


_MALLOC_TUNED = False


def keep_freed_memory() -> bool:
    """Stop glibc from handing large freed blocks back to the OS (Linux; once per process; a no-op elsewhere
    or with ``RADIOVISUAL_MALLOC_TUNING=0``). Returns whether the setting is active.

    By default glibc serves every block above its mmap threshold (at most 32 MiB) from fresh pages and unmaps
    it on free, so each large CPU tensor (the MIL head's [B, K, N] attention is 32 MiB at the quick preset) pays
    its page faults again on every step: a 32 MiB ``clone`` took 17 ms instead of 5 (issue 23). The usual fix is
    a caching allocator (jemalloc/tcmalloc via LD_PRELOAD); this is the same effect with glibc's own knobs:
    no mmap for large blocks, no trimming of the heap. Cost: the process keeps its peak heap.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return True
    if os.environ.get("RADIOVISUAL_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4
        _MALLOC_TUNED = bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):     # not glibc (musl, macOS): leave the allocator alone
        _MALLOC_TUNED = False
    return _MALLOC_TUNED
