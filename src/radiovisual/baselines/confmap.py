"""RODNet-style confidence maps (optional output format; Wang et al. [77], see docs/baselines.md).

* ``confmap_target``: a Gaussian per object on the range-azimuth grid, sigma tied to the
  object's physical size seen at its range (RODNet: size-dependent sigma), peak value 1.
* ``ols``: object location similarity, exp(-d^2 / (2 s^2 kappa)) with d the x-y distance
  [m], s the reference range [m] and kappa = size / 100 (RODNet's implementation).
* ``confmap_peaks``: 3x3 local maxima above ``threshold``, then location-based NMS: a peak
  is suppressed when its OLS to an already kept (stronger) peak exceeds ``ols_threshold``.
"""

from __future__ import annotations

import numpy as np

CAR_SIZE_M = 3.0  # CRUW's reference size for the "car" class


def ols(xy_a: np.ndarray, xy_b: np.ndarray, ref_range_m: float, size_m: float = CAR_SIZE_M) -> np.ndarray:
    """Object location similarity in [0, 1]."""
    d2 = np.sum((np.asarray(xy_a, float) - np.asarray(xy_b, float)) ** 2, axis=-1)
    kappa = size_m / 100.0
    return np.exp(-d2 / (2.0 * max(ref_range_m, 1e-6) ** 2 * kappa))


def confmap_target(polar: np.ndarray, rb: np.ndarray, ab: np.ndarray, size_m: float = CAR_SIZE_M) -> np.ndarray:
    """[R, A] Gaussian confidence map of one object at (range [m], azimuth [rad])."""
    r0, a0 = float(polar[0]), float(polar[1])
    rr, aa = np.meshgrid(rb, ab, indexing="ij")
    # Same x-y metric as OLS, so a cell's confmap value is its OLS to the object.
    x, y = rr * np.sin(aa), rr * np.cos(aa)
    return ols(np.stack([x, y], -1), np.array([r0 * np.sin(a0), r0 * np.cos(a0)]), r0, size_m)


def confmap_peaks(conf: np.ndarray, rb: np.ndarray, ab: np.ndarray, threshold: float = 0.3,
                  ols_threshold: float = 0.3, size_m: float = CAR_SIZE_M) -> list[tuple[np.ndarray, float]]:
    """[(polar [2], score)] after peak picking and OLS-based NMS, strongest first."""
    from scipy.ndimage import maximum_filter

    conf = np.asarray(conf, dtype=np.float64)
    is_peak = (conf == maximum_filter(conf, size=3, mode="nearest")) & (conf >= threshold)
    rows, cols = np.nonzero(is_peak)
    order = np.argsort(-conf[rows, cols], kind="stable")
    kept: list[tuple[np.ndarray, float]] = []
    for i in order:
        p = np.array([rb[rows[i]], ab[cols[i]]])
        xy = np.array([p[0] * np.sin(p[1]), p[0] * np.cos(p[1])])
        if any(ols(xy, np.array([k[0] * np.sin(k[1]), k[0] * np.cos(k[1])]), k[0], size_m) > ols_threshold
               for k, _ in kept):
            continue
        kept.append((p, float(conf[rows[i], cols[i]])))
    return kept
