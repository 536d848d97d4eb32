"""Atomic writes: a reader never sees a half-written file, a crash never leaves one."""

from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import RadiovisualError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path in the same directory; rename it over ``path`` on success."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RadiovisualError(f"cannot create directory {path.parent}: {e.strerror}") from None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; give the final file the usual umask-derived mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def jsonable(x: Any, nan_to_none: bool = True) -> Any:
    """Plain JSON types from numpy scalars/arrays, tuples, Paths and mappings (the one helper).

    ``nan_to_none``: non-finite floats become ``null``. Zarr attributes need it (strict JSON);
    ``write_json`` keeps them (Python's json writes ``NaN``) so a NaN metric stays visible.
    """
    import numpy as np

    if isinstance(x, Mapping):
        return {str(k): jsonable(v, nan_to_none) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v, nan_to_none) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist(), nan_to_none)
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, Path):
        return str(x)
    if nan_to_none and isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, (np.generic, np.ndarray, Path)):
        return jsonable(o, nan_to_none=False)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def check_writable_dir(path: str | Path) -> Path:
    """Create ``path`` if needed and prove we can write there, or raise one clear line."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=p, prefix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise RadiovisualError(f"output directory {p} is not writable: {e.strerror or e}") from None
    return p


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """torch.save to a temp file then rename; load back with ``load_checkpoint``."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> dict[str, Any]:
    """Safe load (``weights_only=True``): tensors, numbers, strings, lists and dicts only."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise RadiovisualError(f"checkpoint not found: {p}")
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # corrupt or foreign file
        raise RadiovisualError(f"cannot load checkpoint {p}: {str(e).splitlines()[0]}") from None
