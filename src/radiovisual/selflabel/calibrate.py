"""One-off, ground-truth-free calibration of self-label coordinates (paper §4.2 "Rescaling and calibration").

What it uses (and nothing else):
1. The radio backbone itself: the *effective receptive-field centre* of every feature row and
   column, measured as the centre of mass of |d ||f_row i||^2 / d input| over the heatmap rows
   (resp. columns), averaged over a few unlabelled training heatmaps. This replaces the nominal
   stride geometry n*s + (s-1)/2 when the backbone's padding/pooling shifts its receptive fields
   (e.g. at the borders). No labels are read.
2. An optional constant range shift from a physical prior (``range_shift_m``): the radar sees the
   visible face of a car, while a dataset's ``target_point`` may be the car's centre; half a
   typical car length/width (~0.9 m) is the prior. OFF by default (0.0): it is only justified when
   the dataset's documented ``target_point`` is a body centre, and it is a prior, not a fit.
A ground-truth-fitted offset would be a "*-genie" variant; none is implemented here.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def nominal_centres(n: int, size: int, stride: float | None = None, offset: float = 0.0) -> np.ndarray:
    """Heatmap coordinate of feature bins 0..n-1: stride*i + offset when the backbone states its
    geometry, else the centre of the i-th of n equal cells, (i + 0.5) * size / n - 0.5."""
    i = np.arange(n, dtype=np.float64)
    if stride is not None:
        return stride * i + offset
    return (i + 0.5) * size / n - 0.5


def receptive_field_centres(backbone: Any, radar: Any, max_samples: int = 8,
                            stride: tuple[float, float] | None = None,
                            offset: tuple[float, float] = (0.0, 0.0)) -> dict[str, Any]:
    """Measured receptive-field centres of a radio backbone's feature rows/columns.

    radar: [N,1,R,A] float tensor (unlabelled inputs). Returns {"rows": [h], "cols": [w] heatmap
    coordinates, "nominal_rows", "nominal_cols", "max_abs_shift_bins"}.
    """
    import torch

    x = radar[:max_samples].detach().clone().float().requires_grad_(True)
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.enable_grad():
            f = backbone(x)  # [n,C,h,w]
            _, _, h, w = f.shape
            R, A = x.shape[-2:]
            energy_rows = (f ** 2).sum(dim=(0, 1, 3))  # [h]
            energy_cols = (f ** 2).sum(dim=(0, 1, 2))  # [w]
            rows = np.empty(h)
            cols = np.empty(w)
            for i in range(h):
                (g,) = torch.autograd.grad(energy_rows[i], x, retain_graph=True)
                prof = g.abs().sum(dim=(0, 1, 3)).double().numpy()
                rows[i] = _centre_of_mass(prof, (i + 0.5) * R / h - 0.5, R / h)
            for j in range(w):
                (g,) = torch.autograd.grad(energy_cols[j], x, retain_graph=(j < w - 1))
                prof = g.abs().sum(dim=(0, 1, 2)).double().numpy()
                cols[j] = _centre_of_mass(prof, (j + 0.5) * A / w - 0.5, A / w)
    finally:
        backbone.train(was_training)
    nom_r = nominal_centres(h, R, None if stride is None else stride[0], offset[0])
    nom_c = nominal_centres(w, A, None if stride is None else stride[1], offset[1])
    shift = float(max(np.abs(rows - nom_r).max(), np.abs(cols - nom_c).max()))
    return {"rows": rows, "cols": cols, "nominal_rows": nom_r, "nominal_cols": nom_c,
            "max_abs_shift_bins": shift}


def _centre_of_mass(profile: np.ndarray, fallback: float, stride: float) -> float:
    """Centre of mass of the gradient profile above its median.

    Normalisation layers (GroupNorm) spread a weak, nearly uniform gradient over the whole map;
    the 25th percentile (the far field, as a receptive field covers well under 3/4 of the map) removes that
    floor so it does not pull the centre towards the middle of the map.
    """
    if not np.all(np.isfinite(profile)) or profile.max() <= 0:
        return float(fallback)
    p = np.clip(profile - np.percentile(profile, 25), 0, None)
    if p.sum() <= 0:
        return float(np.argmax(profile))
    return float((p * np.arange(len(p))).sum() / p.sum())


def apply_range_shift(polar: np.ndarray, range_shift_m: float, range_bins_m: np.ndarray) -> np.ndarray:
    """Add a constant range shift [m] (physical prior), clipped to the heatmap's range span."""
    out = np.array(polar, dtype=np.float64, copy=True)
    if range_shift_m:
        out[:, 0] = np.clip(out[:, 0] + range_shift_m, range_bins_m.min(), range_bins_m.max())
    return out


def temporal_jitter(xy: np.ndarray, sequence: np.ndarray, frame: np.ndarray) -> dict[str, float]:
    """Label-free quality proxy: RMS second difference [m] of positions along each sequence.

    A target moves smoothly over consecutive frames, so frame-to-frame noise in the self-labels
    shows up as acceleration. Uses only capture metadata (sequence id, frame index), never GT.
    Returns {"rms_m", "median_m", "n_triplets"} (NaN when no sequence has 3 consecutive frames).
    """
    xy = np.asarray(xy, dtype=np.float64)
    acc = []
    order = np.lexsort((frame, sequence))
    s, f, p = sequence[order], frame[order], xy[order]
    ok = (s[2:] == s[:-2]) & (s[1:-1] == s[:-2]) & (f[1:-1] == f[:-2] + 1) & (f[2:] == f[:-2] + 2)
    if ok.any():
        d2 = p[2:] - 2 * p[1:-1] + p[:-2]
        acc = np.linalg.norm(d2[ok], axis=1)
    if len(acc) == 0:
        return {"rms_m": float("nan"), "median_m": float("nan"), "n_triplets": 0}
    return {"rms_m": float(np.sqrt(np.mean(acc ** 2))), "median_m": float(np.median(acc)),
            "n_triplets": int(len(acc))}


def debias_attention(att: np.ndarray, power_db: np.ndarray) -> tuple[np.ndarray, float, dict]:
    """Label-free dataset-level calibration of attention maps.

    att      [N,h,w]  raw cross-modal attention h_n (Eq. 2) for every sample of a split
    power_db [N,h,w]  radar power pooled onto the same grid [dB above each sample's median]

    1. Systematic offset: subtract the split-mean map mean_i h_n(i). Any bin preference shared by all
       samples (coordinate channels, padding, the scene's static layout) carries no information about
       where *this* sample's target is.
    2. Sign: the raw dot product between radio and vision features has no fixed sign (Eq. 1 aligns
       the projected vectors), so pick s in {+1, -1} that maximises the mean radar power at the peaks
       of s * (h - mean h): the target is a reflector. Uses the radar input only, never labels.
    Returns (signed centred maps, sign, info).
    """
    centred = att - att.mean(axis=0, keepdims=True)
    n = len(att)
    flat = centred.reshape(n, -1)
    pw = power_db.reshape(n, -1)
    info: dict = {"method": "subtract split-mean attention map; sign by mean radar power at peaks",
                  "uses_ground_truth": False}
    best = None
    for s in (1.0, -1.0):
        peaks = np.argmax(s * flat, axis=1)
        p = float(pw[np.arange(n), peaks].mean())
        info[f"peak_power_db_sign{'+' if s > 0 else '-'}"] = p
        if best is None or p > best[1]:
            best = (s, p)
    sign = best[0]
    info["sign"] = sign
    return sign * centred, sign, info
