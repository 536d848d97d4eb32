"""Label-free geometry for self-labels: mask columns, the learned column->azimuth map, radar peak snapping.

Everything here reads model inputs only (radar heatmaps, target masks) and never labels or the stored
camera calibration. Coordinates: heatmap (row, col) = (range bin, azimuth bin), fractional.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def mask_centroid_cols(mask: np.ndarray) -> np.ndarray:
    """bool [N, H, W] -> [N] mean image column of the mask pixels, normalised to [-1, 1] (NaN if empty)."""
    m = np.asarray(mask, dtype=np.float64)
    W = m.shape[-1]
    cols = m.sum(axis=1)                                           # [N, W] pixels per column
    tot = cols.sum(axis=1)
    u = (cols * np.arange(W)).sum(axis=1) / np.where(tot > 0, tot, 1.0)
    u = 2.0 * u / max(W - 1, 1) - 1.0
    u[tot == 0] = np.nan
    return u


def fit_column_azimuth(u: np.ndarray, az: np.ndarray, seed: int = 0, n_pairs: int = 2000,
                       max_abs_az: float = np.deg2rad(85.0), degree: int = 3) -> dict[str, Any]:
    """Robust monotone map from normalised image column u to radar azimuth [rad], fitted across a dataset.

    Model: tan(az) = slope * u + icpt, the exact form for a pinhole camera whose optical axis is parallel
    to the radar boresight (az = atan((x - c_x) / f_x)), with slope and intercept unknown (no stored
    calibration). ``az`` are per-sample azimuths from the attention (noisy, with outliers), so the fit is
    least-median-of-squares over ``n_pairs`` seeded random sample pairs, then least squares on the inliers
    (|residual| < 2.5 x 1.4826 x MAD). Returns {"slope", "icpt", "sigma_rad" (robust residual spread in
    azimuth), "inlier_frac", "n"}.
    """
    u, az = np.asarray(u, np.float64), np.asarray(az, np.float64)
    ok = np.isfinite(u) & np.isfinite(az) & (np.abs(az) < max_abs_az)
    u, t = u[ok], np.tan(az[ok])
    n = len(u)
    if n < 3:
        return {"coef": [float("nan"), float("nan")], "slope": float("nan"), "icpt": float("nan"), "sigma_rad": float("nan"), "inlier_frac": 0.0,
                "n": int(n)}
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, n, size=(2, n_pairs))
    good = np.abs(u[i] - u[j]) > 1e-3
    i, j = i[good], j[good]
    slopes = (t[i] - t[j]) / (u[i] - u[j])
    icpts = t[i] - slopes * u[i]
    # median of squared azimuth residuals of every candidate line (vectorised in chunks)
    best, best_med = 0, np.inf
    for s in range(0, len(slopes), 256):
        pred = np.arctan(slopes[s:s + 256, None] * u[None] + icpts[s:s + 256, None])
        med = np.median((pred - np.arctan(t)[None]) ** 2, axis=1)
        k = int(np.argmin(med))
        if med[k] < best_med:
            best, best_med = s + k, float(med[k])
    coef = np.array([slopes[best], icpts[best]])
    for it in range(6):  # refine: least squares on the inliers of the current curve (line first, then poly)
        res = np.arctan(np.polyval(coef, u)) - np.arctan(t)
        sig = 1.4826 * np.median(np.abs(res - np.median(res)))
        inl = np.abs(res) < 2.5 * max(sig, 1e-4)
        deg = 1 if it < 2 else degree
        if inl.sum() < 3 * (deg + 1):
            break
        coef = np.polyfit(u[inl], t[inl], deg)
    res = np.arctan(np.polyval(coef, u)) - np.arctan(t)
    sig = float(1.4826 * np.median(np.abs(res - np.median(res))))
    return {"coef": [float(c) for c in coef], "slope": float(coef[-2]), "icpt": float(coef[-1]), "sigma_rad": sig,
            "inlier_frac": float(np.mean(np.abs(res) < 2.5 * sig)), "n": int(n)}


def column_to_azimuth(u: np.ndarray, fit: dict[str, Any]) -> np.ndarray:
    """Apply ``fit_column_azimuth``'s map: [N] normalised column -> [N] azimuth [rad]."""
    return np.arctan(np.polyval(np.asarray(fit["coef"]), np.asarray(u, np.float64)))


def frac_index(x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Fractional index of values x on a monotone increasing 1-D grid (clipped to its ends)."""
    return np.interp(x, grid, np.arange(len(grid), dtype=np.float64))


def blob_centroid(p: np.ndarray, r: int, c: int, half: tuple[int, int], db: float) -> tuple[float, float]:
    """Power-weighted centroid (linear power) of bins within ``db`` of p[r, c] inside a (2h+1)x(2w+1) box."""
    R, A = p.shape
    r0, r1 = max(0, r - half[0]), min(R, r + half[0] + 1)
    c0, c1 = max(0, c - half[1]), min(A, c + half[1] + 1)
    win = p[r0:r1, c0:c1]
    w = np.where(win >= p[r, c] - db, 10.0 ** ((win - p[r, c]) / 10.0), 0.0)
    rr, cc = np.mgrid[r0:r1, c0:c1]
    return float((w * rr).sum() / w.sum()), float((w * cc).sum() / w.sum())


def snap_to_radar(power_db: np.ndarray, row_prior: np.ndarray, col_prior: np.ndarray,
                  half_rows: np.ndarray | int, half_cols: np.ndarray | int, centroid_db: float = 6.0,
                  centroid_half: tuple[int, int] = (4, 2)) -> np.ndarray:
    """The strongest radar return inside a window around each prior position, refined to its blob centroid.

    power_db [N, R, A]; row_prior/col_prior [N] fractional heatmap coordinates; half_rows/half_cols: the
    window half-sizes in bins (scalars or [N]). The target is a reflector, so inside the window where
    vision + attention put it, its main lobe is the strongest return; the power-weighted centroid of the
    bins within ``centroid_db`` of that peak gives a sub-bin position that averages the car's scatterers
    (its near face, corners and wheels) rather than the single brightest one.
    Returns [N, 2] fractional (row, col).
    """
    P = np.asarray(power_db, np.float64)
    N, R, A = P.shape
    hr = np.broadcast_to(np.asarray(half_rows), (N,)).astype(int)
    hc = np.broadcast_to(np.asarray(half_cols), (N,)).astype(int)
    out = np.zeros((N, 2))
    for i in range(N):
        r, c = int(round(float(row_prior[i]))), int(round(float(col_prior[i])))
        r, c = min(max(r, 0), R - 1), min(max(c, 0), A - 1)
        r0, r1 = max(0, r - hr[i]), min(R, r + hr[i] + 1)
        c0, c1 = max(0, c - hc[i]), min(A, c + hc[i] + 1)
        k = int(np.argmax(P[i, r0:r1, c0:c1]))
        pr, pc = r0 + k // (c1 - c0), c0 + k % (c1 - c0)
        out[i] = blob_centroid(P[i], pr, pc, centroid_half, centroid_db)
    return out


def strongest_return(power_db: np.ndarray, centroid_db: float = 6.0,
                     centroid_half: tuple[int, int] = (4, 2)) -> np.ndarray:
    """The label-free floor ``peak``: [N, R, A] -> [N, 2] (row, col) blob centroid of each map's maximum."""
    P = np.asarray(power_db, np.float64)
    N, R, A = P.shape
    flat = P.reshape(N, -1).argmax(axis=1)
    return np.array([blob_centroid(P[i], int(f // A), int(f % A), centroid_half, centroid_db)
                     for i, f in enumerate(flat)]).reshape(N, 2)


def local_maxima(p: np.ndarray, k: int, rows: tuple[int, int], cols: tuple[int, int]) -> list[tuple[int, int]]:
    """Up to ``k`` strongest 3x3 local maxima of p [R, A] inside rows [r0, r1) x cols [c0, c1)."""
    R, A = p.shape
    r0, r1 = max(0, rows[0]), min(R, rows[1])
    c0, c1 = max(0, cols[0]), min(A, cols[1])
    if r1 <= r0 or c1 <= c0:
        return []
    pad = np.pad(p, 1, mode="edge")   # a border bin is compared with its own copies, not with -inf
    sub = p[r0:r1, c0:c1]
    nb = np.stack([pad[r0 + 1 + dr:r1 + 1 + dr, c0 + 1 + dc:c1 + 1 + dc]
                   for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc])
    is_max = (sub >= nb.max(axis=0)) & (sub > nb.min(axis=0))   # no flat plateaus
    rr, cc = np.nonzero(is_max)
    order = np.argsort(-sub[rr, cc])[:k]
    return [(int(r0 + rr[o]), int(c0 + cc[o])) for o in order]
