"""Localisation metrics (paper §5.3) and self-label deviation from ground truth (paper Tab. 7).

Conventions
- Location error: polar (range [m], azimuth [rad], positive right) -> Cartesian x = r sin az,
  y = r cos az; Euclidean distance [m]. Percentiles use numpy's linear interpolation.
- Seeds: mean and *sample* standard deviation (ddof=1; 0 for a single seed).
- D_W: the 1-D optimal-transport cost with quadratic cost c(d) = d^2, i.e. the integral
  int_0^1 |F_a^-1(u) - F_b^-1(u)|^2 du = W2^2 (squared 2-Wasserstein, NO square root), exactly as
  the paper's definition reads. Computed exactly for empirical distributions of any sizes.
- Histogram estimators (D_KL, MI): ``bins`` equal-width bins spanning [min, max] of the pooled
  samples (both variables share the same edges since they measure the same quantity), unless
  explicit edges are given. D_KL(p_a || p_b) adds a pseudo-count ``alpha`` (default 0.5, the
  Krichevsky-Trofimov/Jeffreys prior) to every bin of both histograms before normalising, so it
  stays finite when the estimate misses a bin. MI is the plug-in estimate (no smoothing) of the
  joint 2-D histogram, in nats; it is biased upwards for small N (roughly (bins-1)^2 / (2N) nats,
  e.g. ~2.5 nats of pure bias at 32 bins and N=200), so compare MI only at equal N and bins.
- ``selflabel_deviation`` uses range in metres and angle in DEGREES (D_W in m^2 and deg^2).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

DEFAULT_BINS = 32
DEFAULT_ALPHA = 0.5


def location_errors(pred_polar: np.ndarray, gt_polar: np.ndarray) -> np.ndarray:
    """Euclidean error [m] between predicted and true polar positions, [N]."""
    from ..dataset.format import polar_to_xy

    pred_polar, gt_polar = np.asarray(pred_polar, np.float64), np.asarray(gt_polar, np.float64)
    if pred_polar.shape != gt_polar.shape or pred_polar.ndim != 2 or pred_polar.shape[1] != 2:
        raise ValueError(f"pred {pred_polar.shape} and gt {gt_polar.shape} must both be [N,2]")
    return np.linalg.norm(polar_to_xy(pred_polar) - polar_to_xy(gt_polar), axis=1)


def error_summary(errors: np.ndarray) -> dict[str, float]:
    """{"p50_m", "p90_m", "mean_m", "n"} of location errors [m]."""
    e = np.asarray(errors, dtype=np.float64)
    if e.size == 0:
        return {"p50_m": float("nan"), "p90_m": float("nan"), "mean_m": float("nan"), "n": 0}
    return {"p50_m": float(np.percentile(e, 50)), "p90_m": float(np.percentile(e, 90)),
            "mean_m": float(e.mean()), "n": int(e.size)}


def seeds_summary(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """THE seed-summary shape (benchmark, report, ``localise`` CLI): the mean over seeds of each
    numeric key, plus ``<key-without-_m>_std_m`` sample std (ddof=1) only when there are several
    seeds, ``<key-without-_m>_worst_m`` (the largest over seeds, the worst seed of an error) with them,
    ``n`` (samples per seed, when given) and ``n_seeds``.

    ``[{"p50_m": 1, "p90_m": 2, "n": 5}, {"p50_m": 3, ...}]`` ->
    ``{"p50_m": 2.0, "p50_std_m": 1.41, "p90_m": ..., "n": 5, "n_seeds": 2}``.
    """
    if not summaries:
        raise ValueError("seeds_summary needs at least one summary")
    out: dict[str, Any] = {"n_seeds": len(summaries)}
    for k in summaries[0]:
        if k == "n":
            out["n"] = int(summaries[0]["n"])
            continue
        v = np.array([s[k] for s in summaries], dtype=np.float64)
        out[k] = float(v.mean())
        if len(v) > 1:
            out[(k[:-2] if k.endswith("_m") else k) + "_std_m"] = float(v.std(ddof=1))
            out[(k[:-2] if k.endswith("_m") else k) + "_worst_m"] = float(v.max())   # errors: worst = largest
    return out


def _quantile_fn(x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Left-continuous inverse CDF of the empirical distribution of x at levels u in (0,1]."""
    xs = np.sort(x)
    idx = np.ceil(u * len(xs)).astype(np.int64) - 1
    return xs[np.clip(idx, 0, len(xs) - 1)]


def wasserstein_1d(a: np.ndarray, b: np.ndarray, p: float = 2) -> float:
    """int_0^1 |F_a^-1(u) - F_b^-1(u)|^p du for empirical samples (= W_p^p; p=2 gives the paper's D_W).

    Both quantile functions are step functions; the integral is exact over the merged breakpoints
    {i/n_a} U {j/n_b}. For p=1 this equals ``scipy.stats.wasserstein_distance``.
    """
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.size == 0 or b.size == 0:
        raise ValueError("wasserstein_1d needs non-empty samples")
    u = np.union1d(np.arange(1, a.size + 1) / a.size, np.arange(1, b.size + 1) / b.size)
    u = np.concatenate([[0.0], u[u <= 1.0]])
    if u[-1] < 1.0:
        u = np.append(u, 1.0)
    widths = np.diff(u)
    mid = (u[:-1] + u[1:]) / 2  # any point inside each interval gives the step value there
    d = np.abs(_quantile_fn(a, mid) - _quantile_fn(b, mid))
    return float(np.sum(widths * d ** p))


def _edges(a: np.ndarray, b: np.ndarray, bins: int | np.ndarray) -> np.ndarray:
    if np.ndim(bins) == 1:
        return np.asarray(bins, np.float64)
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    if hi <= lo:
        hi = lo + 1e-9
    return np.linspace(lo, hi, int(bins) + 1)


def histogram_pmf(x: np.ndarray, edges: np.ndarray, alpha: float = 0.0) -> np.ndarray:
    """Normalised histogram (values outside the edges are clipped into the end bins) + pseudo-count."""
    x = np.clip(np.asarray(x, np.float64).ravel(), edges[0], edges[-1])
    c = np.histogram(x, bins=edges)[0].astype(np.float64) + alpha
    return c / c.sum()


def kl_divergence(a: np.ndarray, b: np.ndarray, bins: int | np.ndarray = DEFAULT_BINS,
                  alpha: float = DEFAULT_ALPHA) -> float:
    """D_KL(p_a || p_b) [nats] from histograms on shared edges (see module docstring)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    e = _edges(a, b, bins)
    p, q = histogram_pmf(a, e, alpha), histogram_pmf(b, e, alpha)
    nz = p > 0
    if np.any(q[nz] == 0):
        return float("inf")
    return float(np.sum(p[nz] * np.log(p[nz] / q[nz])))


def mutual_information(a: np.ndarray, b: np.ndarray, bins: int | np.ndarray = DEFAULT_BINS) -> float:
    """I(a; b) [nats] of paired samples: plug-in estimate on a 2-D histogram with shared edges."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError("mutual_information needs paired samples of equal length")
    e = _edges(a, b, bins)
    a, b = np.clip(a, e[0], e[-1]), np.clip(b, e[0], e[-1])
    j = np.histogram2d(a, b, bins=[e, e])[0]
    j /= j.sum()
    pa, pb = j.sum(1, keepdims=True), j.sum(0, keepdims=True)
    nz = j > 0
    return float(np.sum(j[nz] * np.log(j[nz] / (pa @ pb)[nz])))


def selflabel_deviation(labels_polar: np.ndarray, gt_polar: np.ndarray, bins: int = DEFAULT_BINS,
                        alpha: float = DEFAULT_ALPHA) -> dict[str, dict[str, float]]:
    """Tab. 7: {"range": {"D_W","D_KL","MI"}, "angle": {...}}; D_KL(p_gt || p_est).

    Range in metres (D_W in m^2), angle in degrees (D_W in deg^2); D_KL and MI in nats.
    """
    lab, gt = np.asarray(labels_polar, np.float64), np.asarray(gt_polar, np.float64)
    if lab.shape != gt.shape:
        raise ValueError(f"labels {lab.shape} and ground truth {gt.shape} differ in shape")
    out = {}
    for name, k, f in (("range", 0, 1.0), ("angle", 1, 180.0 / np.pi)):
        est, ref = lab[:, k] * f, gt[:, k] * f
        out[name] = {"D_W": wasserstein_1d(ref, est, p=2), "D_KL": kl_divergence(ref, est, bins, alpha),
                     "MI": mutual_information(ref, est, bins)}
    return out
