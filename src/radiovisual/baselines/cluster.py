"""Group CFAR detections into one point cloud per object (DBSCAN) and summarise each cloud.

Clustering runs either in bin units (row, col scaled per axis) or in metres (cells placed
at x = r sin az, y = r cos az), so the same ``eps`` means the same thing across the
non-uniform azimuth grids of real radars. Centroids are power-weighted, computed in the
(range [m], azimuth [rad]) coordinates of the cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError


@dataclass
class Cluster:
    rows: np.ndarray          # [M] detection rows (range bins)
    cols: np.ndarray          # [M] detection columns (azimuth or Doppler bins)
    power: np.ndarray         # [M] linear power of the cells
    centroid: np.ndarray      # [2] power-weighted (axis-0 value, axis-1 value) in grid units (m, rad|m/s)
    peak: float               # max linear power in the cluster
    total: float              # summed linear power

    @property
    def size(self) -> int:
        return int(len(self.rows))


def weighted_centroid(values0: np.ndarray, values1: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Power-weighted mean of two coordinates: sum(w v) / sum(w)."""
    w = np.asarray(weights, dtype=np.float64)
    s = w.sum()
    if not s > 0:
        w, s = np.ones_like(w), float(len(w))
    return np.array([np.dot(w, values0) / s, np.dot(w, values1) / s])


def cluster_detections(det: np.ndarray, power: np.ndarray, grid0: np.ndarray, grid1: np.ndarray,
                       eps: float, min_samples: int, space: str = "bins",
                       bin_scale: tuple[float, float] = (1.0, 1.0)) -> list[Cluster]:
    """DBSCAN over the detected cells of one map.

    det, power: [R, C] bool / linear power. grid0 [R], grid1 [C]: bin centres of both axes
    (range [m] and azimuth [rad] or velocity [m/s]). space: "bins" (coordinates row*s0,
    col*s1) or "metres" (x-y of range-azimuth cells; only meaningful for RA maps).
    Noise points (DBSCAN label -1) are dropped. Clusters are sorted by total power, strongest first.
    """
    from sklearn.cluster import DBSCAN

    if eps <= 0 or min_samples < 1:
        raise ConfigError(f"DBSCAN needs eps > 0 and min_samples >= 1 (got {eps}, {min_samples})")
    rows, cols = np.nonzero(det)
    if len(rows) == 0:
        return []
    if space == "bins":
        pts = np.stack([rows * bin_scale[0], cols * bin_scale[1]], axis=1).astype(np.float64)
    elif space == "metres":
        r, a = grid0[rows], grid1[cols]
        pts = np.stack([r * np.sin(a), r * np.cos(a)], axis=1)
    else:
        raise ConfigError(f"cluster space '{space}' is not one of ('bins', 'metres')")
    labels = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(pts)
    out = []
    for lab in np.unique(labels):
        if lab < 0:
            continue
        sel = labels == lab
        rr, cc = rows[sel], cols[sel]
        pw = np.asarray(power[rr, cc], dtype=np.float64)
        out.append(Cluster(rows=rr, cols=cc, power=pw,
                           centroid=weighted_centroid(grid0[rr], grid1[cc], pw),
                           peak=float(pw.max()), total=float(pw.sum())))
    out.sort(key=lambda c: -c.total)
    return out
