"""Label-free scale calibration of the column->azimuth map from the radar's own Doppler.

Why: the map ``geometry.fit_column_azimuth`` is fitted to the azimuths of the snapped radar returns. A car's
strongest return is a scatterer on its body (a wheel arch, an end of its near face), not its box centre, and
off boresight it sits systematically further out in azimuth (on the dev store, seed 7, a ground-truth
diagnostic measured about +1.3 deg at 10-17 deg azimuth). A robust fit inherits that as a map slope about 6-9 %
too steep, which scales the cross-range error of every label with |azimuth|.

The radar measures a second, independent quantity: the radial velocity (range rate) of the target, from the
range-Doppler map, v_r = V . u(az) for a target moving with velocity V seen along the unit line of sight
u(az) = (sin az, cos az). Along a 15-frame sequence (about 3 s) a car drives at nearly constant velocity, so V
follows from a line fit to the self-label track p_k(t) = r(t) u(az_k(t)), where az_k is the map with its
column-dependent part scaled by k. Only the right scale makes the tracks' radial velocities agree with the
Doppler:

    k* = argmin_k  median_i | v_r,i  -  V_k,seq(i) . u(az_k,i) |,     k in [1 - s, 1 + s].

Inputs: radar range-Doppler maps, the snapped ranges, mask columns, sequence and frame ids and the frame period
(capture metadata). No labels, no stored calibration. Stores without a range-Doppler map (CRUW) skip it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .geometry import column_to_azimuth


def radial_velocity(rd_db: np.ndarray, rows: np.ndarray, doppler_mps: np.ndarray) -> np.ndarray:
    """Range rate [m/s] (positive = receding) of the strongest Doppler cell at each sample's target range.

    rd_db [N, R, D] range-Doppler power [dB]; rows [N] fractional range bins of the target (the snapped
    radar return); doppler_mps [D] ascending bin centres with the format's convention, positive = approaching.
    The peak over rows +-1 is refined by a parabola through the peak and its two neighbours (in dB).
    """
    P = np.asarray(rd_db, np.float64)
    N, R, D = P.shape
    r = np.clip(np.round(np.asarray(rows, np.float64)).astype(int), 0, R - 1)
    lo, hi = np.clip(r - 1, 0, R - 1), np.clip(r + 1, 0, R - 1)
    prof = np.maximum(np.maximum(P[np.arange(N), lo], P[np.arange(N), r]), P[np.arange(N), hi])   # [N, D]
    k = prof.argmax(1)
    kk = np.clip(k, 1, D - 2)
    y0, y1, y2 = (prof[np.arange(N), kk + d] for d in (-1, 0, 1))
    den = y0 - 2.0 * y1 + y2
    frac = np.where((k == kk) & (den < 0), 0.5 * (y0 - y2) / np.where(den < 0, den, -1.0), 0.0)
    step = float(np.median(np.diff(doppler_mps)))
    return -(np.asarray(doppler_mps, np.float64)[k] + frac * step)   # approaching (positive bin) = range falling


def moving_range_rows(rd_db: np.ndarray, doppler_mps: np.ndarray, guard_cells: int = 1) -> np.ndarray:
    """[N] fractional range row of each sample's strongest *moving* return (NaN where the map has no bins
    outside the static band).

    rd_db [N, R, D] range-Doppler power [dB]; doppler_mps [D] bin centres [m/s]. Static clutter (walls, parked
    cars, trees) sits in the zero-velocity bin and leaks into its neighbours through the Doppler window, so the
    bins within ``guard_cells`` Doppler resolution cells of 0 m/s are left out; the row of the strongest
    remaining cell is refined by a parabola through it and its two range neighbours (in dB). A target with no
    radial speed at all (crossing at boresight) has no moving return: its row is whatever moves most,
    which the temporal-jitter choice in ``mil_readout`` weighs against the attention's range.
    """
    P = np.asarray(rd_db, np.float64)
    N, R, D = P.shape
    v = np.asarray(doppler_mps, np.float64)
    step = float(np.median(np.abs(np.diff(v)))) if D > 1 else 1.0
    moving = np.abs(v) > (guard_cells + 0.5) * step
    if not moving.any():
        return np.full(N, np.nan)
    prof = P[:, :, moving].max(axis=2)                                  # [N, R]
    r = prof.argmax(1)
    rr = np.clip(r, 1, R - 2)
    y0, y1, y2 = (prof[np.arange(N), rr + d] for d in (-1, 0, 1))
    den = y0 - 2.0 * y1 + y2
    frac = np.where((r == rr) & (den < 0), 0.5 * (y0 - y2) / np.where(den < 0, den, -1.0), 0.0)
    return r + frac


def _robust_slope(t: np.ndarray, y: np.ndarray) -> float:
    """d y / d t of a line fitted by least squares, then refitted twice on |residual| < 3 robust sigmas."""
    c = np.polyfit(t, y, 1)
    for _ in range(2):
        res = y - np.polyval(c, t)
        ok = np.abs(res) < 3.0 * (1.4826 * np.median(np.abs(res)) + 1e-9)
        if ok.sum() < 4:
            break
        c = np.polyfit(t[ok], y[ok], 1)
    return float(c[0])


def doppler_residual(range_m: np.ndarray, az: np.ndarray, v_r: np.ndarray, sequence: np.ndarray,
                     frame: np.ndarray, frame_dt_s: float) -> np.ndarray:
    """Per-sample v_r - V_seq . u(az) [m/s] for sequences with >= 5 frames (others NaN)."""
    out = np.full(len(range_m), np.nan)
    xy = np.stack([range_m * np.sin(az), range_m * np.cos(az)], 1)
    for s in np.unique(sequence):
        m = np.flatnonzero(sequence == s)
        if len(m) < 5:
            continue
        t = frame[m].astype(np.float64) * frame_dt_s
        V = np.array([_robust_slope(t, xy[m, 0]), _robust_slope(t, xy[m, 1])])
        out[m] = v_r[m] - (np.sin(az[m]) * V[0] + np.cos(az[m]) * V[1])
    return out


def doppler_map_scale(range_m: np.ndarray, u: np.ndarray, fit: dict[str, Any], v_r: np.ndarray,
                      sequence: np.ndarray, frame: np.ndarray, frame_dt_s: float, span: float = 0.2,
                      step: float = 0.01) -> dict[str, Any]:
    """Grid search of the map scale k (module docstring). Returns {"scale", "fit" (the scaled map), "curve"}.

    ``curve`` lists (k, median |residual| [m/s]) for the report; samples without a mask column (u NaN) or a
    finite residual are left out of the median.
    """
    coef = np.asarray(fit["coef"], np.float64)
    ok_u = np.isfinite(u)
    scales = np.round(np.arange(1.0 - span, 1.0 + span + step / 2, step), 6)
    curve = []
    for k in scales:
        f = {**fit, "coef": list(np.r_[coef[:-1] * k, coef[-1:]])}
        az = np.where(ok_u, column_to_azimuth(np.where(ok_u, u, 0.0), f), np.nan)
        res = doppler_residual(range_m, az, v_r, sequence, frame, frame_dt_s)
        good = np.isfinite(res)
        curve.append((float(k), float(np.median(np.abs(res[good]))) if good.sum() >= 10 else float("nan")))
    vals = np.array([c[1] for c in curve])
    if not np.isfinite(vals).any():
        return {"scale": 1.0, "fit": fit, "curve": curve, "used": False}
    k = float(scales[int(np.nanargmin(vals))])
    scaled = {**fit, "coef": [float(c) for c in np.r_[coef[:-1] * k, coef[-1:]]]}
    scaled["slope"] = scaled["coef"][-2]
    return {"scale": k, "fit": scaled, "curve": curve, "used": True}
