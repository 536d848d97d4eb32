"""Detection sets: several scored, classed objects per frame (issue 20), one format for every stage.

A frame's detections (or labels) are a float array [D, 4]: (range [m], azimuth [rad], class id, score).
Class ids follow ``scene.objects.CLASSES`` and ``evaluate.ols.CLASSES``: pedestrian 0, cyclist 1, car 2.
The score is a confidence in [0, 1] (cruw-devkit refuses scores above 1); for training labels it is the
label's weight. A split's detections are stored packed: [N, D_max, 4] float32, NaN rows pad a frame.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import DatasetError

CLASSES = ("pedestrian", "cyclist", "car")
FIELDS = ("range_m", "azimuth_rad", "class_id", "score")


def pack(frames: Sequence[np.ndarray], d_max: int | None = None) -> np.ndarray:
    """List of [D_i, 4] -> [N, D_max, 4] float32, NaN-padded; ``d_max`` caps D (keeps the first rows)."""
    rows = [np.asarray(f, np.float64).reshape(-1, 4) for f in frames]
    d = max([len(r) for r in rows] + [1]) if d_max is None else int(d_max)
    out = np.full((len(rows), max(d, 1), 4), np.nan, np.float32)
    for i, r in enumerate(rows):
        r = r[:d]
        out[i, :len(r)] = r
    return out


def unpack(packed: np.ndarray) -> list[np.ndarray]:
    """[N, D, 4] -> list of [D_i, 4] float64 (padding rows, those with a NaN position, dropped)."""
    p = np.asarray(packed, np.float64)
    if p.ndim != 3 or p.shape[-1] != 4:
        raise DatasetError(f"detections must be [N, D, 4] (range, azimuth, class, score), got {list(p.shape)}")
    return [f[np.isfinite(f[:, :2]).all(1)] for f in p]


def check_frames(frames: Sequence[np.ndarray], where: str = "detections") -> list[np.ndarray]:
    """Validate a list of per-frame [D, 4] arrays: finite positions, known classes, scores in [0, 1]."""
    out = []
    for i, f in enumerate(frames):
        f = np.asarray(f, np.float64).reshape(-1, 4)
        if len(f) and not np.isfinite(f[:, :3]).all():
            raise DatasetError(f"{where}: frame {i} has a non-finite position or class")
        if len(f) and not np.isin(f[:, 2], np.arange(len(CLASSES))).all():
            raise DatasetError(f"{where}: frame {i} has a class id outside 0..{len(CLASSES) - 1}")
        if len(f) and ((f[:, 3] < 0) | (f[:, 3] > 1) | ~np.isfinite(f[:, 3])).any():
            raise DatasetError(f"{where}: frame {i} has a score outside [0, 1]")
        out.append(f)
    return out
