"""The paper's pseudo-label pipeline for real data (§5.2, after RODNet's teacher). See ``docs/cruw.md``.

Per frame, never reading ground truth:
 1. vision objects: boxes from a NAMED source — the store's own ``det_boxes``/``det_scores``/``det_class``
    (detections given to ``import-cruw``), else its single ``bbox`` (synthetic stores), or a user file
    ``.npz`` with ``boxes`` [N, K, 4] (+ optional ``scores``, ``classes``) aligned with the split;
 2. camera geometry to x-y: the bottom-centre of each box is undistorted (plumb-bob model of the stored
    calibration) and its ray meets the ground plane (``rodnet.bbox_to_polar``); per-class priors move the
    ground contact to the object centre;
 3. CFAR + DBSCAN on the RA map (``cfar_pipeline.detect_frame``, windows resolved for the store's grid);
 4. matching: Hungarian assignment of image objects to radar clusters on the camera's own error metric
    (``rodnet.camera_sigmas``), gated at ``gate_sigma``. A matched object takes the cluster centroid
    (confidence 1), an unmatched one the camera estimate (0.5); a frame with no usable box takes the
    non-genie CFAR choice (0.1).
The frame's label is its nearest vision object (smallest camera range) — the label-free counterpart of
the importer's target rule (nearest annotated object). Output: a label store with the layout of
``selflabel`` stores (``polar``, ``bins``, ``score``) plus ``objects``; attrs ``label_free: false``,
``method: "pseudo"``: a localiser trained on it is **pseudo-supervised** (the detector was trained
with labels, though not this data's).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import resolve, to_dict
from ..dataset.resolution import store_resolution
from ..errors import ConfigError, DatasetError
from .cfar_pipeline import CFARConfig, as_dataset, detect_frame, select
from .rodnet import TeacherConfig, bbox_to_polar, camera_sigmas, open_camera_split

LABELS_VERSION = 1


@dataclass(frozen=True)
class PseudoLabelConfig:
    # per class (pedestrian, cyclist, car): object height [m] and ground contact -> centre [m]; priors, not GT
    class_height_m: tuple[float, float, float] = (1.7, 1.7, 1.5)
    class_half_depth_m: tuple[float, float, float] = (0.15, 0.4, 1.2)
    default_class: int = 2            # class of boxes from a source without classes (synthetic: cars)
    min_score: float = 0.5            # detections below this are ignored
    range_sigma_prior_m: float = 0.5  # camera range std on top of the pixel-row footprint [m]
    az_sigma_px: float = 1.5          # camera bearing std [px]
    gate_sigma: float = 3.0           # max normalised camera <-> cluster distance for a match
    cfar: CFARConfig = field(default_factory=CFARConfig)

    def validate(self) -> None:
        if min(self.class_height_m) <= 0 or min(self.class_half_depth_m) < 0:
            raise ConfigError("pseudolabel class heights must be > 0 and half depths >= 0")
        if not 0 <= self.default_class < 3:
            raise ConfigError(f"pseudolabel.default_class must be 0, 1 or 2, got {self.default_class}")
        if not (self.gate_sigma > 0 and self.range_sigma_prior_m > 0 and self.az_sigma_px > 0):
            raise ConfigError("pseudolabel gate_sigma, range_sigma_prior_m and az_sigma_px must be > 0")
        self.cfar.validate()


def resolve_pseudolabel_config(overrides: list[str] | None = None, yaml_path: str | None = None) -> PseudoLabelConfig:
    cfg = resolve(PseudoLabelConfig, {"default": {}}, "default", yaml_path, overrides)
    cfg.validate()
    return cfg


def undistort_points(uv: np.ndarray, K: np.ndarray, dist: np.ndarray, iters: int = 20) -> np.ndarray:
    """Pixels [N, 2] of a distorted image -> ideal pinhole pixels (OpenCV plumb-bob k1, k2, p1, p2, k3).

    Fixed-point inversion of x_d = x (1 + k1 r^2 + k2 r^4 + k3 r^6) + [2 p1 x y + p2 (r^2 + 2 x^2),
    p1 (r^2 + 2 y^2) + 2 p2 x y] on normalised coordinates (Brown 1966; OpenCV's undistortPoints).
    """
    d = np.zeros(5)
    d[:min(5, len(dist))] = np.asarray(dist, np.float64)[:5]
    k1, k2, p1, p2, k3 = d
    uv = np.atleast_2d(np.asarray(uv, np.float64))
    if not d.any():
        return uv.copy()
    xd = (uv[:, 0] - K[0, 2]) / K[0, 0]
    yd = (uv[:, 1] - K[1, 2]) / K[1, 1]
    x, y = xd.copy(), yd.copy()
    for _ in range(iters):
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
        x = (xd - (2 * p1 * x * y + p2 * (r2 + 2 * x * x))) / radial
        y = (yd - (p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)) / radial
    return np.stack([x * K[0, 0] + K[0, 2], y * K[1, 1] + K[1, 2]], axis=1)


def distort_points(uv: np.ndarray, K: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Forward plumb-bob model (ideal -> distorted pixels); the reference for ``undistort_points``."""
    d = np.zeros(5)
    d[:min(5, len(dist))] = np.asarray(dist, np.float64)[:5]
    k1, k2, p1, p2, k3 = d
    uv = np.atleast_2d(np.asarray(uv, np.float64))
    x, y = (uv[:, 0] - K[0, 2]) / K[0, 0], (uv[:, 1] - K[1, 2]) / K[1, 1]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd * K[0, 0] + K[0, 2], yd * K[1, 1] + K[1, 2]], axis=1)


def read_vision(sv: Any, source: str, default_class: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(boxes [N, K, 4], scores [N, K], classes [N, K] int, description) from the named source."""
    n = len(sv)
    if source == "store":
        if "det_boxes" in sv:
            return (sv.read("det_boxes"), sv.read("det_scores"), sv.read("det_class").astype(np.int64),
                    "store det_boxes (detections given to import-cruw)")
        box = sv.read("bbox")[:, None].astype(np.float64)
        vis = sv.read("mask").reshape(n, -1).any(axis=1)
        box[~vis] = np.nan  # an empty mask means no visible target
        return box, np.where(vis, 1.0, np.nan)[:, None], np.full((n, 1), default_class), "store bbox/mask"
    p = Path(source)
    if p.suffix != ".npz" or not p.is_file():
        raise DatasetError(f"vision source {source!r} is neither 'store' nor an existing .npz file")
    try:
        with np.load(p, allow_pickle=False) as z:
            boxes = np.asarray(z["boxes"], np.float64)
            scores = np.asarray(z["scores"], np.float64) if "scores" in z.files else np.ones(boxes.shape[:2])
            classes = (np.asarray(z["classes"], np.int64) if "classes" in z.files
                       else np.full(boxes.shape[:2], default_class))
    except Exception as e:
        raise DatasetError(f"cannot read vision source {p}: {type(e).__name__}: {e}") from None
    if boxes.ndim != 3 or boxes.shape[0] != n or boxes.shape[2] != 4 or scores.shape != boxes.shape[:2] \
            or classes.shape != boxes.shape[:2]:
        raise DatasetError(f"{p}: boxes must be [N={n}, K, 4] with scores/classes [N, K]; got boxes "
                           f"{list(boxes.shape)}")
    return boxes, scores, classes, f"file {p}"


def _camera_objects(boxes: np.ndarray, classes: np.ndarray, cam: dict, cfg: PseudoLabelConfig
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes [M, 4] -> camera polar [M, 2], range sigma [M], azimuth sigma [M] (NaN where unusable)."""
    K = np.asarray(cam["K"], np.float64)
    uv = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2 + 0.5, boxes[:, 3] + 0.5], axis=1)
    uv = undistort_points(uv, K, np.asarray(cam.get("distortion") or [], np.float64))
    # a degenerate box whose bottom centre is the undistorted point (pixel index = u - 0.5)
    bc = np.stack([uv[:, 0] - 0.5, uv[:, 1] - 0.5, uv[:, 0] - 0.5, uv[:, 1] - 0.5], axis=1)
    polar, sr, sa = np.full((len(bc), 2), np.nan), np.full(len(bc), np.nan), np.full(len(bc), np.nan)
    for c in np.unique(classes):
        m = classes == c
        t = TeacherConfig(car_height_m=cfg.class_height_m[c], car_half_depth_m=cfg.class_half_depth_m[c],
                          range_sigma_prior_m=cfg.range_sigma_prior_m, az_sigma_px=cfg.az_sigma_px)
        polar[m] = bbox_to_polar(bc[m], cam, t.car_height_m, t.car_half_depth_m)
        sr[m], sa[m] = camera_sigmas(bc[m], cam, t)
    return polar, sr, sa


def match(cam_polar: np.ndarray, sig_r: np.ndarray, sig_a: np.ndarray, cl_polar: np.ndarray,
          gate: float) -> list[tuple[int, int]]:
    """Hungarian assignment of camera objects [M, 2] to cluster centroids [C, 2]; pairs within ``gate``."""
    from scipy.optimize import linear_sum_assignment

    if len(cam_polar) == 0 or len(cl_polar) == 0:
        return []
    d = np.hypot((cam_polar[:, None, 0] - cl_polar[None, :, 0]) / sig_r[:, None],
                 (cam_polar[:, None, 1] - cl_polar[None, :, 1]) / sig_a[:, None])  # [M, C]
    cost = np.where(d <= gate, d, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return [(int(i), int(j)) for i, j in zip(rows, cols) if d[i, j] <= gate]


def pseudo_labels(data: Any, split: str = "train", vision: str = "store", cfg: PseudoLabelConfig | None = None,
                  progress: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(labels [N, 2] polar, confidence [N], objects [N, K, 4] (r, az, class, conf), stats). Label-free read."""
    cfg = cfg or PseudoLabelConfig()
    cfg.validate()
    ds, sv, cam = open_camera_split(data, split)
    grid = store_resolution(ds)
    cfg = replace(cfg, cfar=cfg.cfar.for_grid(grid))  # CFAR windows in this grid's bins (resolution cells)
    n = len(sv)
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    boxes, scores, classes, desc = read_vision(sv, vision, cfg.default_class)
    if np.any((classes < -1) | (classes > 2)):
        raise DatasetError("vision classes must be -1 (padding), 0, 1 or 2")
    Kmax = boxes.shape[1]
    labels, conf = np.zeros((n, 2)), np.zeros(n)
    objects = np.full((n, Kmax, 4), np.nan)
    counts = {"fused": 0, "camera_only": 0, "radar_only": 0, "objects": 0, "objects_matched": 0}
    it = range(0, n, cfg.cfar.batch)
    if progress:
        from ..utils.progress import tqdm

        it = tqdm(it, desc=f"pseudolabel {split}", unit="batch")
    for s in it:
        e = min(n, s + cfg.cfar.batch)
        ra = sv.read("radar", slice(s, e))
        for k in range(e - s):
            i = s + k
            ok = np.isfinite(boxes[i]).all(axis=1) & (np.nan_to_num(scores[i], nan=-1) >= cfg.min_score) \
                & (classes[i] >= 0)
            idx = np.flatnonzero(ok)
            cp, sr, sa = _camera_objects(boxes[i, idx], classes[i, idx], cam, cfg)
            good = np.isfinite(cp).all(axis=1)
            idx, cp, sr, sa = idx[good], cp[good], sr[good], sa[good]
            res = detect_frame(ra[k], None, rb, ab, None, cfg.cfar)
            cl = np.array([c.polar for c in res.candidates]).reshape(-1, 2)
            pairs = dict(match(cp, sr, sa, cl, cfg.gate_sigma))
            for m in range(len(idx)):
                hit = m in pairs
                p = cl[pairs[m]] if hit else cp[m]
                objects[i, m] = (p[0], p[1], classes[i, idx[m]], 1.0 if hit else 0.5)
            counts["objects"] += len(idx)
            counts["objects_matched"] += len(pairs)
            if len(idx) == 0:
                labels[i], conf[i] = select(res, cfg.cfar), 0.1
                counts["radar_only"] += 1
                continue
            near = int(np.argmin(cp[:, 0]))  # nearest vision object, by the camera's own range
            labels[i], conf[i] = objects[i, near, :2], objects[i, near, 3]
            counts["fused" if near in pairs else "camera_only"] += 1
    stats = {"n": n, **counts, **{f"{k}_frac": counts[k] / max(n, 1) for k in ("fused", "camera_only", "radar_only")},
             "vision_source": desc, "config": to_dict(cfg), "grid_resolution": grid.as_dict()}
    return labels, conf, objects, stats


def run_pseudolabel(data: str | Path, out: str | Path, split: str = "train", vision: str = "store",
                    cfg: PseudoLabelConfig | None = None, progress: bool = True) -> Path:
    """Pseudo-label ``split`` and write a label store (selflabel layout) to ``out``; returns ``out``."""
    from ..dataset.format import polar_to_bins
    from ..selflabel.run import _write_labels

    cfg = cfg or PseudoLabelConfig()
    ds = as_dataset(data, labels=False)
    labels, conf, objects, stats = pseudo_labels(ds, split, vision, cfg, progress)
    bins = polar_to_bins(labels, ds.range_bins_m, ds.azimuth_bins_rad)
    attrs = {"labels_version": LABELS_VERSION, "method": "pseudo", "label_free": False,
             "label_kind": "pseudo-supervised: camera detector (trained with labels elsewhere) + CFAR/DBSCAN "
                           "matching (paper §5.2); this dataset's ground truth is never read",
             "data": {"path": str(Path(ds.path).resolve()), "split": split, "n": len(labels)},
             "config": stats["config"], "vision": vision, "stats": stats, "heatmap_hw": [len(ds.range_bins_m),
                                                                                     len(ds.azimuth_bins_rad)],
             "coordinates": "polar: range [m], azimuth [rad] (positive right); bins: fractional (row, col); "
                            "objects: (range, azimuth, class id, confidence) per vision object, NaN-padded"}
    _write_labels(Path(out), {"polar": labels.astype(np.float32), "bins": bins.astype(np.float32),
                              "score": conf.astype(np.float32), "objects": objects.astype(np.float32)}, attrs)
    return Path(out)


__all__ = ["PseudoLabelConfig", "resolve_pseudolabel_config", "pseudo_labels", "run_pseudolabel",
           "undistort_points", "distort_points", "match", "read_vision"]
