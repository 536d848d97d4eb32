"""Label-free health check of a self-label store: do the labels sit on the object the camera sees?

A pretraining whose attention does not localise leaves self-labels on the wrong return (a parked car, a
wall, one azimuth for every sample). Camera and radar then stop agreeing, which is measurable without labels
on the radar returns the labels rest on:

* ``azimuth``: the returns' azimuths follow the masks across the image: Spearman rank correlation between
  the mask centroid column and the return's azimuth >= ``MIN_RANK_CORRELATION`` (a camera and a radar that
  look the same way give close to 1; labels stuck on clutter give about 0);
* ``range``: the returns' ranges follow the masks' foot rows (lower in the image = nearer on a ground plane):
  rank correlation <= -``MIN_RANK_CORRELATION``;
* ``map``: the camera model's robust residual against the returns moved to their centres stays within the
  radar's half-power beamwidth, 0.886 / (N d) in sin(az) for N elements at spacing d wavelengths (from the
  store's grid, ``dataset.resolution``): a camera model that misses the radar by more than a beam is not
  localising.

The thresholds are not tuned numbers: 0.5 is "more agreement than disagreement" for a rank correlation, and a
beamwidth is the radar's own resolution. docs/selflabel-localise.md ("Health check") lists the signals of
the dev stores of all three scenarios and of the failures they must catch; the validation split is never
used.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

MIN_RANK_CORRELATION = 0.5


def half_power_beamwidth_rad(attrs: Mapping[str, Any], range_bins_m: np.ndarray, azimuth_bins_rad: np.ndarray) -> float:
    """0.886 x the Rayleigh cell of the store's array, in rad at boresight (``dataset.resolution``)."""
    from ..dataset.resolution import boresight_sin_spacing, grid_resolution

    g = grid_resolution(attrs, range_bins_m, azimuth_bins_rad)
    return float(0.886 * g.azimuth_bins_per_cell * boresight_sin_spacing(azimuth_bins_rad))


def health_signals(u: np.ndarray, v_foot: np.ndarray, returns_polar: np.ndarray,
                   calibration: Mapping[str, Any]) -> dict[str, float]:
    """The signals of the module docstring: rank correlations of the mask columns / foot rows with the returns'
    azimuths / ranges, and the final camera model's robust residual [rad] (NaN where absent)."""
    from scipy.stats import spearmanr

    def rho(a: np.ndarray, b: np.ndarray) -> float:
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 5 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
            return float("nan")
        return float(spearmanr(a[ok], b[ok]).correlation)

    fits = sorted(k for k in calibration if k.startswith("centre_map_fit")) or \
        sorted(k for k in calibration if k.startswith("azimuth_map_fit"))
    sig = calibration[fits[-1]].get("sigma_rad", float("nan")) if fits else float("nan")
    return {"rho_column_azimuth": rho(u, returns_polar[:, 1]), "rho_foot_range": rho(v_foot, returns_polar[:, 0]),
            "map_sigma_rad": float(sig) if sig is not None else float("nan")}


def label_health(signals: Mapping[str, float], beamwidth_rad: float) -> dict[str, Any]:
    """{"ok", "failed": [names], "checks": {name: {"value", "threshold", "ok", "what"}}}; a signal that could
    not be computed (NaN: no masks' foot rows, too few samples) does not fail its check."""
    def check(value: float, ok: bool, threshold: float, what: str) -> dict[str, Any]:
        return {"value": value, "threshold": threshold, "ok": bool(ok or not np.isfinite(value)), "what": what}

    ra, rr, sig = (signals.get(k, float("nan")) for k in ("rho_column_azimuth", "rho_foot_range", "map_sigma_rad"))
    checks = {
        "azimuth": check(ra, ra >= MIN_RANK_CORRELATION, MIN_RANK_CORRELATION,
                         "rank correlation of mask column and return azimuth >= threshold"),
        "range": check(rr, rr <= -MIN_RANK_CORRELATION, -MIN_RANK_CORRELATION,
                       "rank correlation of mask foot row and return range <= threshold"),
        "map": check(sig, sig <= beamwidth_rad, beamwidth_rad,
                     "camera model residual [rad] <= the radar's half-power beamwidth"),
    }
    failed = [k for k, c in checks.items() if not c["ok"]]
    return {"ok": not failed, "failed": failed, "checks": checks}
