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


def mask_centroid_rows(mask: np.ndarray) -> np.ndarray:
    """bool [N, H, W] -> [N] mean image row of the mask pixels, normalised to [-1, 1] (rows grow downwards)."""
    m = np.asarray(mask, dtype=np.float64)
    H = m.shape[1]
    rows = m.sum(axis=2)
    tot = rows.sum(axis=1)
    v = 2.0 * (rows * np.arange(H)).sum(axis=1) / np.where(tot > 0, tot, 1.0) / max(H - 1, 1) - 1.0
    v[tot == 0] = np.nan
    return v


def pixel_to_azimuth(u: np.ndarray, v: np.ndarray, fit: dict[str, Any]) -> np.ndarray:
    """Radar azimuth [rad] of normalised image points (u, v) through a ``fit_pixel_azimuth`` camera model.

    A pinhole camera beside the radar, looking along its boresight with a pitch only (no yaw, no roll:
    its x axis is the array axis), sees a point in direction d = (x_n, y_n, 1) in camera coordinates with
    x_n = s (u - u0), y_n = s k (v - v0) (s = (W - 1) / (2 f), k = (H - 1) / (W - 1), square pixels). The
    array measures the cone angle to its own axis, sin(az) = x_n / |d| (ULA geometry), whatever the pitch:
        sin(az) = x_n / sqrt(1 + x_n^2 + y_n^2).
    """
    xn = fit["s"] * (np.asarray(u, np.float64) - fit["u0"])
    yn = fit["s"] * fit["k"] * (np.asarray(v, np.float64) - fit["v0"])
    return np.arcsin(np.clip(xn / np.sqrt(1.0 + xn ** 2 + yn ** 2), -1.0, 1.0))


def fit_pixel_azimuth(u: np.ndarray, v: np.ndarray, az: np.ndarray, k: float, seed: int = 0) -> dict[str, Any]:
    """Robust fit of the pinhole camera model of ``pixel_to_azimuth`` (scale s, principal column u0; the
    principal row v0 = 0, the image centre) to per-sample azimuths ``az`` [rad] of the radar returns.

    Started from the least-median-of-squares line of ``fit_column_azimuth`` (s = its slope, u0 = -icpt / s),
    then a soft-L1 least-squares fit (scipy) on its inliers. No labels and no stored calibration: the same
    unknowns a user's own rig would have. Returns {"model": "pinhole", "s", "u0", "v0", "k", "sigma_rad",
    "inlier_frac", "n", "slope"} ("slope" = s, the horizontal scale other stages use).
    """
    from scipy.optimize import least_squares

    u, v, az = (np.asarray(x, np.float64) for x in (u, v, az))
    ok = np.isfinite(u) & np.isfinite(v) & np.isfinite(az)
    line = fit_column_azimuth(u[ok], az[ok], seed=seed, degree=1)
    base = {"model": "pinhole", "v0": 0.0, "k": float(k), "n": int(ok.sum())}
    if not np.isfinite(line["slope"]) or abs(line["slope"]) < 1e-6:
        return {**base, "s": float("nan"), "u0": float("nan"), "slope": float("nan"), "sigma_rad": float("nan"),
                "inlier_frac": 0.0}
    uu, vv, aa = u[ok], v[ok], az[ok]
    p0 = np.array([line["slope"], -line["icpt"] / line["slope"]])
    sig = max(line["sigma_rad"], 1e-3)

    def res(p: np.ndarray, m: np.ndarray) -> np.ndarray:
        return pixel_to_azimuth(uu[m], vv[m], {**base, "s": p[0], "u0": p[1]}) - aa[m]

    inl = np.abs(res(p0, np.ones(len(uu), bool))) < 2.5 * sig
    p = p0
    for _ in range(3):
        if inl.sum() < 5:
            break
        p = least_squares(res, p, args=(inl,), loss="soft_l1", f_scale=sig).x
        r = res(p, np.ones(len(uu), bool))
        sig = max(float(1.4826 * np.median(np.abs(r - np.median(r)))), 1e-4)
        inl = np.abs(r) < 2.5 * sig
    return {**base, "s": float(p[0]), "u0": float(p[1]), "slope": float(p[0]), "sigma_rad": float(sig),
            "inlier_frac": float(inl.mean()) if len(inl) else 0.0}


def search_pixel_azimuth(power_db: np.ndarray, row_lo: np.ndarray, row_hi: np.ndarray, u: np.ndarray,
                         v: np.ndarray, k: float, azimuth_bins_rad: np.ndarray,
                         scales: np.ndarray = np.exp(np.linspace(np.log(0.25), np.log(4.0), 81)),
                         centres: np.ndarray = np.linspace(-0.4, 0.4, 33)) -> dict[str, Any]:
    """Calibrate the camera model of ``pixel_to_azimuth`` against the radar by search, label-free.

    Each sample's radar azimuth profile is its strongest return over the range rows [row_lo, row_hi] (dB
    above the profile's median, floored at 0). The target is where the camera says, at a different azimuth
    in every sample, while clutter does not follow the mask: the right (s, u0) puts the camera's azimuths
    on strong returns in most samples at once. The score of a candidate is the sum over samples of its
    profile at the predicted azimuth (a Hough vote); the grid spans focal lengths from 4x to 1/4x the
    image half-width and principal columns within 20 % of the centre. Returns a ``fit_pixel_azimuth``-style
    dict ("sigma_rad" NaN: a search has no residual) with the winning "score".
    """
    P = np.asarray(power_db, np.float64)
    N, R, A = P.shape
    prof = np.full((N, A), 0.0)
    for i in range(N):
        lo, hi = int(max(0, row_lo[i])), int(min(R, row_hi[i] + 1))
        if hi > lo:
            p = P[i, lo:hi].max(axis=0)
            prof[i] = np.maximum(p - np.median(p), 0.0)
    ok = np.isfinite(u) & np.isfinite(v)
    uu, vv, pr = u[ok], v[ok], prof[ok]
    base = {"model": "pinhole", "v0": 0.0, "k": float(k), "n": int(ok.sum())}
    best = (-np.inf, float("nan"), float("nan"))
    rows = np.arange(len(uu))
    for s_ in scales:
        for u0 in centres:
            idx = frac_index(pixel_to_azimuth(uu, vv, {**base, "s": s_, "u0": u0}), azimuth_bins_rad)
            score = float(pr[rows, np.clip(np.round(idx).astype(int), 0, A - 1)].sum())
            if score > best[0]:
                best = (score, float(s_), float(u0))
    return {**base, "s": best[1], "u0": best[2], "slope": best[1], "sigma_rad": float("nan"), "inlier_frac": 0.0,
            "score": best[0]}


def mask_extent_cols(mask: np.ndarray) -> np.ndarray:
    """bool [N, H, W] -> [N, 2] normalised columns of the mask's left and right pixel *edges* on the same
    [-1, 1] scale as ``mask_centroid_cols`` (NaN if empty): the silhouette's horizontal extent."""
    m = np.asarray(mask, dtype=bool)
    W = m.shape[-1]
    any_col = m.any(axis=1)                                          # [N, W]
    has = any_col.any(axis=1)
    left = np.where(has, any_col.argmax(axis=1), 0).astype(np.float64) - 0.5
    right = np.where(has, W - 1 - any_col[:, ::-1].argmax(axis=1), 0).astype(np.float64) + 0.5
    out = np.stack([left, right], 1) * 2.0 / max(W - 1, 1) - 1.0
    out[~has] = np.nan
    return out


def mask_bottom_rows(mask: np.ndarray) -> np.ndarray:
    """bool [N, H, W] -> [N] normalised row of the mask's lowest pixel edge in [-1, 1] (rows grow downwards):
    the object's foot point. NaN when the mask is empty or touches the image's bottom border (cut off)."""
    m = np.asarray(mask, dtype=bool)
    H = m.shape[1]
    rows = m.any(axis=2)                                              # [N, H]
    has = rows.any(axis=1)
    bottom = (H - 1 - rows[:, ::-1].argmax(axis=1)).astype(np.float64)
    v = (bottom + 0.5) * 2.0 / max(H - 1, 1) - 1.0
    v[~has | rows[:, -1]] = np.nan
    return v


def fit_ground_range(v: np.ndarray, r: np.ndarray, a: float, max_pitch_deg: float = 60.0,
                     step_deg: float = 0.1) -> dict[str, Any]:
    """Robust camera ground-plane model: the radar range of an object from its mask's foot row.

    A pinhole camera at height h above a flat ground, pitched down by tau, sees a ground point at depression
    angle delta(v) = tau + atan(a v) below the horizon, where v is the normalised image row (``mask_bottom_rows``)
    and a = (H - 1) / (2 f) the vertical angular scale (from the column map's slope: square pixels). The point's
    distance from the camera is then h / sin(delta) (the radar sits beside the camera). Given tau, h enters
    linearly, so tau is searched on a grid (least median of absolute residuals, h = median of r sin delta) and
    the fit refined on its inliers. Inputs are model inputs and radar ranges only (no labels, no calibration).
    Returns {"pitch_rad", "height_m", "sigma_m" (robust residual spread), "rel_sigma" (of r_pred / r - 1),
    "inlier_frac", "n"}; NaNs if fewer than 5 usable samples.
    """
    v, r = np.asarray(v, np.float64), np.asarray(r, np.float64)
    ok = np.isfinite(v) & np.isfinite(r) & (r > 0)
    v, r = v[ok], r[ok]
    nan = {"pitch_rad": float("nan"), "height_m": float("nan"), "sigma_m": float("nan"),
           "rel_sigma": float("nan"), "inlier_frac": 0.0, "n": int(len(v))}
    if len(v) < 5 or not np.isfinite(a) or a <= 0:
        return nan
    best = (np.inf, 0.0, 0.0)
    for tau in np.deg2rad(np.arange(-max_pitch_deg, max_pitch_deg + step_deg / 2, step_deg)):
        sd = np.sin(tau + np.arctan(a * v))
        good = sd > 1e-3
        if good.mean() < 0.5:
            continue
        h = float(np.median(r[good] * sd[good]))
        res = np.where(good, np.abs(r - h / np.where(good, sd, 1.0)), np.inf)
        med = float(np.median(res))
        if med < best[0]:
            best = (med, float(tau), h)
    if not np.isfinite(best[0]):
        return nan
    _, tau, h = best
    sd = np.sin(tau + np.arctan(a * v))
    rel = np.where(sd > 1e-3, h / np.maximum(sd, 1e-3) / r - 1.0, np.inf)
    sig = 1.4826 * np.median(np.abs(rel - np.median(rel)))
    inl = np.abs(rel) < 2.5 * max(sig, 1e-3)
    if inl.sum() >= 5:      # refine h on the inliers (tau kept)
        h = float(np.median(r[inl] * sd[inl]))
    rel = np.where(sd > 1e-3, h / np.maximum(sd, 1e-3) / r - 1.0, np.inf)
    res = r * rel
    return {"pitch_rad": tau, "height_m": h, "sigma_m": float(1.4826 * np.median(np.abs(res - np.median(res)))),
            "rel_sigma": float(1.4826 * np.median(np.abs(rel - np.median(rel)))),
            "inlier_frac": float(np.mean(np.abs(rel) < 2.5 * max(sig, 1e-3))), "n": int(len(v))}


def ground_range(v: np.ndarray, fit: dict[str, Any], a: float) -> np.ndarray:
    """Apply ``fit_ground_range``: normalised foot rows [N] -> camera range [m] (NaN above the horizon)."""
    sd = np.sin(fit["pitch_rad"] + np.arctan(a * np.asarray(v, np.float64)))
    return np.where(sd > 1e-3, fit["height_m"] / np.maximum(sd, 1e-3), np.nan)


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
