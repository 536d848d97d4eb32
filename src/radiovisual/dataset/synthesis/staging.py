"""Staged sequences: one ``.npz`` per (split, sequence) under ``STORE/.staging``, written atomically.

Shared by the serial synthesis path (``synth.py``) and the Dask fan-out (``fanout.py``); both import it,
so neither imports the other for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import RadiovisualError
from ...utils.io import atomic_path
from ..store.format import REQUIRED_ARRAYS
from .generate import array_to_meta, meta_to_array

STAGING = ".staging"


def staged_path(out: Path, split: str, seq_id: int) -> Path:
    return Path(out) / STAGING / split / f"seq_{seq_id:06d}.npz"


def save_staged(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, _meta=meta_to_array(meta), **arrays)
    except OSError as e:  # disk full, permissions changed mid-run
        raise RadiovisualError(f"cannot write {path}: {e.strerror or e}") from None


def load_staged(path: Path, full: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """(arrays, meta), or None if the file is missing or corrupt. ``full`` reads (and CRC-checks)
    every array; otherwise only the zip directory and the metadata are checked."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = array_to_meta(z["_meta"])
            names = [k for k in z.files if k != "_meta"]
            if any(k not in names for k in REQUIRED_ARRAYS):
                return None
            arrays = {k: z[k] for k in names} if full else {}
        return arrays, meta
    except Exception:  # truncated zip, bad CRC, bad JSON: regenerate
        return None
