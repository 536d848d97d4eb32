"""Reading a detector masks store (``mask_source = "pred:PATH"`` masks, ``"pred-bbox:PATH"`` filled boxes) the
way pretraining reads masks.

A masks store is what ``radiovisual detect predict`` writes: a zarr v3 group with attrs
``source = "detector"`` and ``complete = true`` and, per split, ``mask`` bool [N, H, W],
``bbox`` float32 [N, 4] and ``score`` float32 [N] aligned with the dataset's samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError

MASKS_VERSION = 1
PRED_PREFIX = "pred:"
PRED_BOX_PREFIX = "pred-bbox:"   # the detector's boxes, filled: the paper's Tab. 6 / Tab. 7 ^Y rows (Yolo boxes)


def pred_store(mask_source: str) -> str | None:
    """PATH of a ``pred:PATH`` / ``pred-bbox:PATH`` mask source, else None."""
    for pre in (PRED_PREFIX, PRED_BOX_PREFIX):
        if mask_source.startswith(pre) and len(mask_source) > len(pre):
            return mask_source[len(pre):]
    return None

_cache: dict[str, tuple[float, Any]] = {}


def open_pred_masks(path: str | Path) -> Any:
    """The store's root group (cached per path and ``zarr.json`` mtime), or one-line DatasetError."""
    p = Path(path)
    meta = p / "zarr.json"
    if not meta.is_file():
        raise DatasetError(f"{p} is not a detector masks store (no zarr.json); "
                           "make it with `radiovisual detect predict`")
    key = str(p.resolve())
    mtime = meta.stat().st_mtime
    hit = _cache.get(key)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    import zarr

    try:
        g = zarr.open_group(str(p), mode="r", zarr_format=3)
    except Exception as e:
        raise DatasetError(f"cannot open masks store {p}: {str(e).splitlines()[0]}") from None
    attrs = dict(g.attrs)
    if attrs.get("source") != "detector":
        raise DatasetError(f"{p} is not a detector masks store (source={attrs.get('source')!r})")
    if attrs.get("complete") is not True:
        raise DatasetError(f"{p} is incomplete; re-run `radiovisual detect predict`")
    _cache[key] = (mtime, g)
    return g


def _split_group(path: str | Path, split: str) -> Any:
    g = open_pred_masks(path)
    if (Path(path) / split / "zarr.json").is_file():
        return g[split]
    raise DatasetError(f"masks store {path} has no split '{split}'")


def check_pred_masks(path: str | Path, split: str, want: tuple[int, ...]) -> None:
    """Refuse a store whose ``split/mask`` is not [N, H, W] of the dataset split it is paired with."""
    shape = tuple(_split_group(path, split)["mask"].shape)
    if shape != tuple(want):
        raise DatasetError(f"masks store {path}: split '{split}' mask is {shape}, the dataset needs {tuple(want)}")


def read_pred_masks(path: str | Path, split: str, idx: Any = slice(None)) -> np.ndarray:
    """bool [n, H, W] predicted target masks of ``split`` at ``idx`` (a slice, an index array or an int)."""
    arr = _split_group(path, split)["mask"]
    try:
        return np.asarray(arr[idx] if not isinstance(idx, np.ndarray) else arr.get_orthogonal_selection(idx),
                          dtype=bool)
    except (IndexError, ValueError) as e:
        raise DatasetError(f"masks store {path}: cannot read split '{split}' at {idx!r}: {e}") from None


def read_pred_boxes(path: str | Path, split: str, idx: Any = slice(None)) -> np.ndarray:
    """float [n, 4] predicted target boxes (x0, y0, x1, y1 inclusive px; NaN = no detection) at ``idx``."""
    arr = _split_group(path, split)["bbox"]
    try:
        return np.asarray(arr[idx] if not isinstance(idx, np.ndarray) else arr.get_orthogonal_selection(idx),
                          dtype=np.float64)
    except (IndexError, ValueError) as e:
        raise DatasetError(f"masks store {path}: cannot read split '{split}' boxes at {idx!r}: {e}") from None
