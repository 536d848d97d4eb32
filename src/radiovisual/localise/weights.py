"""Per-sample loss weights from the labels themselves (``localise.label_weights``), label-free.

``jitter``: a road user moves smoothly over a 3 s sequence, so a sequence whose labels zig-zag holds wrong
labels. Each sequence's jitter is the RMS residual [m] of a quadratic-in-time fit to its labels (radar-frame
x, y); its weight is 1 / (1 + (jitter / median jitter)^2), the same for all its samples: a typical
sequence counts half as much as a perfectly smooth one, one three times as jittery a tenth. Reads only
the labels and the sequence ids (capture metadata), never ground truth, so it applies unchanged to every
row (self-labels, teacher labels, ground truth).
"""

from __future__ import annotations

import numpy as np

LABEL_WEIGHTS = ("none", "jitter")
MIN_FRAMES_FOR_FIT = 4     # a quadratic through fewer points has no residual to speak of


def sequence_jitter_m(polar: np.ndarray, sequence: np.ndarray) -> dict[int, float]:
    """{sequence id: RMS residual [m] of a quadratic-in-frame fit to its labels} (NaN below 4 frames).

    polar [N, 2] = (slant range [m], azimuth [rad]); samples of a sequence are in frame order."""
    p = np.asarray(polar, np.float64)
    xy = np.stack([p[:, 0] * np.sin(p[:, 1]), p[:, 0] * np.cos(p[:, 1])], 1)
    out: dict[int, float] = {}
    for s in np.unique(sequence):
        q = xy[sequence == s]
        if len(q) < MIN_FRAMES_FOR_FIT:
            out[int(s)] = float("nan")
            continue
        t = np.arange(len(q), dtype=np.float64)
        res = [q[:, k] - np.polyval(np.polyfit(t, q[:, k], 2), t) for k in range(2)]
        out[int(s)] = float(np.sqrt(np.mean(np.square(res))))
    return out


def label_weights(polar: np.ndarray, sequence: np.ndarray, kind: str = "none") -> np.ndarray:
    """[N] weights (mean 1) for the localiser's loss; ``none`` -> ones."""
    n = len(polar)
    if kind == "none":
        return np.ones(n)
    if kind != "jitter":
        raise ValueError(f"label_weights must be one of {', '.join(LABEL_WEIGHTS)}, got {kind!r}")
    jit = sequence_jitter_m(polar, sequence)
    vals = np.array([v for v in jit.values() if np.isfinite(v)])
    med = float(np.median(vals)) if len(vals) else float("nan")
    if not np.isfinite(med) or med <= 0:
        return np.ones(n)      # nothing to tell the sequences apart by
    per = {s: (1.0 / (1.0 + (j / med) ** 2) if np.isfinite(j) else 1.0) for s, j in jit.items()}
    w = np.array([per[int(s)] for s in sequence])
    return w / w.mean()
