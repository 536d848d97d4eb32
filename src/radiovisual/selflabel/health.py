"""Label-free health check of a self-label store: do the labels sit on the object the camera sees?

A pretraining whose attention does not localise leaves self-labels on the wrong return (a parked car, a
wall, the mirrored azimuth). Both sensors then disagree, and that is measurable without labels:

* ``azimuth``: the column -> azimuth map's robust residual (the radar returns' azimuths against the mask
  columns, ``geometry.fit_column_azimuth``) must stay within the radar's half-power beamwidth,
  0.886 / (N d) in sin(az) for an N-element array of spacing d wavelengths (from the store's own grid,
  ``dataset.resolution``): a map that misses the returns by more than a beam is not localising.
* ``range``: the camera's ground-plane range of the mask's foot row (``geometry.fit_ground_range``) must
  agree with the radar range of the labels on most samples: inlier fraction >= ``MIN_RANGE_INLIERS`` with a
  relative robust spread <= ``MAX_RANGE_REL_SIGMA``. A camera pixel at our geometry is ~2-7 % of range, so
  agreement is a few pixels; labels on another object disagree by metres.

Thresholds are physical (a beam; a few pixels) and were checked on the dev stores of all three scenarios
(docs/selflabel-localise.md, "Health check"), never on a validation split.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

MIN_RANGE_INLIERS = 0.6
MAX_RANGE_REL_SIGMA = 0.15


def half_power_beamwidth_rad(attrs: Mapping[str, Any], range_bins_m: np.ndarray, azimuth_bins_rad: np.ndarray) -> float:
    """0.886 x the Rayleigh cell of the store's array, in rad at boresight (``dataset.resolution``)."""
    from ..dataset.resolution import boresight_sin_spacing, grid_resolution

    g = grid_resolution(attrs, range_bins_m, azimuth_bins_rad)
    return float(0.886 * g.azimuth_bins_per_cell * boresight_sin_spacing(azimuth_bins_rad))


def label_health(calibration: Mapping[str, Any], beamwidth_rad: float) -> dict[str, Any]:
    """{"ok", "checks": {name: {"value", "threshold", "ok"}}, "failed": [names]} from a label store's
    ``calibration`` attribute (the MIL read-out's label-free fits). Checks whose signal is absent pass
    (a paper read-out store, a store without masks' foot rows)."""
    checks: dict[str, dict[str, Any]] = {}
    fits = sorted(k for k in calibration if k.startswith("azimuth_map_fit"))
    if fits:
        sig = calibration[fits[-1]].get("sigma_rad")
        ok = sig is not None and bool(np.isfinite(sig)) and sig <= beamwidth_rad
        checks["azimuth"] = {"value": sig, "threshold": beamwidth_rad, "ok": ok,
                             "what": "column->azimuth map residual [rad] <= half-power beamwidth"}
    gr = calibration.get("ground_range_fit")
    if gr:
        inl, rel = gr.get("inlier_frac", 0.0), gr.get("rel_sigma", float("nan"))
        ok = bool(np.isfinite(rel)) and inl >= MIN_RANGE_INLIERS and rel <= MAX_RANGE_REL_SIGMA
        checks["range"] = {"value": {"inlier_frac": inl, "rel_sigma": rel},
                           "threshold": {"inlier_frac": MIN_RANGE_INLIERS, "rel_sigma": MAX_RANGE_REL_SIGMA},
                           "ok": ok, "what": "camera foot-row range agrees with the labels' radar range"}
    failed = [k for k, c in checks.items() if not c["ok"]]
    return {"ok": not failed, "checks": checks, "failed": failed}
