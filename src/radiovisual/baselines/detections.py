"""Label-free multi-object detection baselines (issue 20): several scored, classed detections per frame.

Every function returns a split's detections packed as ``dataset.detections.pack`` does: [N, D_max, 4] float32
(range [m], azimuth [rad], class id, score in [0, 1]), NaN rows pad a frame. None of them reads ground truth:
the store is opened label-free (``open_dataset(..., labels=False)``), so a read of ``objects`` /
``target_polar`` would raise. Camera annotations (``instance_mask``, ``instance_class``, the stand-in for an
instance segmenter) and the camera calibration are inputs a real rig has.

* ``cfar_detections``: the CFAR -> DBSCAN pipeline of ``cfar_pipeline`` (same CFAR call, same DBSCAN call,
  same range-Doppler confirmation as ``detect_frame``; the candidates are identical), EVERY candidate cluster
  a detection at its power-weighted centroid.
  - score = 1 - exp(-m / ``snr_scale_db``), m = the cluster's largest margin over the CFAR threshold [dB]
    (max over its cells of 10 log10(power / threshold) >= 0): 0 dB -> 0, 10 dB -> 0.63, 20 dB -> 0.86.
    Monotone in the detection margin, which is all AP needs (only the ranking matters).
  - class by a physics rule (``classify``), thresholds from priors, never fitted to labels:
    extent >= ``car_extent_m`` -> car; else radial speed >= ``cyclist_speed_mps`` -> cyclist; else pedestrian.
    Extent = the larger of the cluster's range extent (rows spanned x bin spacing) and its cross-range extent
    (r x span in sin(az) / cos(az)), each less one resolution cell (range c/2B; the Rayleigh cell 1/(N d) of
    the array in sin(az)): a point target's cluster spans about one cell. ``extent_db`` > 0 measures the
    main-lobe footprint (cells within that many dB of the peak) instead. Radial speed = |v| of
    the strongest MOVING range-Doppler cluster whose range extent overlaps the cluster's (the overlap rule
    of ``detect_frame``); 0 without a range-Doppler map or a moving match.
* ``peak_detections``: the untrained floor. The top-k 3 x 3 local maxima of the heatmap beyond
  ``cfar.min_range_m``, at least ``min_separation`` bins apart (Chebyshev, greedy strongest first);
  score = 1 - exp(-max(0, peak dB - the map's median dB) / ``peak_scale_db``); class = car (the floor knows
  no classes; car is the class of the primary target and the largest OLS size).
* ``teacher_detections``: the RODNet-style camera teacher of ``rodnet.teacher_labels_detailed`` for several
  objects: one label per camera instance (every non-zero id of ``instance_mask``), class from
  ``instance_class``, its box = the instance's pixel bounds (``sensors.camera_model.bbox_from_mask``), its
  ground-plane position from ``rodnet.bbox_to_polar`` with per-class height / half-depth priors, fused with
  the CFAR candidate nearest in the camera's own error metric (``rodnet.camera_sigmas``) when within
  ``gate_sigma``: score 1 when fused (the radar centroid), 0.5 camera-only (the camera estimate). With
  ``unique_clusters`` a cluster serves at most one instance (pairs taken greedily by normalised distance);
  with several objects two nearby instances would otherwise collapse onto one peak.
Each takes ``cfg``: a ``DetectionConfig`` (``resolve_detection_config``), or a ``CFARConfig`` /
``rodnet.TeacherConfig`` whose fields it fills in (``as_detection_config``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import resolve
from ..dataset.detections import pack
from ..dataset.resolution import store_resolution
from ..errors import ConfigError, DatasetError
from .cfar import cfar_2d, db_to_power
from .cfar_pipeline import CFAR_PRESETS, CFARConfig, as_dataset
from .cluster import Cluster, cluster_detections

PEDESTRIAN, CYCLIST, CAR = 0, 1, 2


@dataclass(frozen=True)
class DetectionConfig:
    cfar: CFARConfig = field(default_factory=CFARConfig)
    # --- class rule (cfar_detections). Sources: CRUW's object reference sizes pedestrian 0.5 m, cyclist
    # 1.0 m, car 3.0 m (cruw-devkit, evaluate.ols.CLASS_SIZES_M); a car is 4-5 m long and 1.8 m wide, so
    # any view of it spans >= ~2 m, a person or a bicycle seen from any side <= ~1.8 m.
    car_extent_m: float = 2.0
    # typical walking speed 1.4 m/s, cycling 4-6 m/s (urban cycling studies): the midpoint-ish 2.5 m/s
    # separates them. Radial speed only: a crossing cyclist reads slow and is called a pedestrian.
    cyclist_speed_mps: float = 2.5
    # Extent = the span of the cluster's CFAR cells (``extent_db`` = 0) or of its cells within ``extent_db`` of
    # its peak (the main lobe's footprint, SNR-independent), less a point target's footprint in resolution
    # cells (range c/2B; azimuth the Rayleigh cell 1/(N d) in sin(az)). Default: all CFAR cells less one cell
    # each way (a point target's CFAR cluster spans about one cell; a strong one more, which counts towards
    # car: radar cross-section is a class cue too). For the lobe variant, the -6 dB full widths of our
    # synthetic stores' windows are: azimuth Taylor (nbar 4, 30 dB; sensors.radar) 1.56 cells (1.21
    # untapered), range Hann 2.0 cells (computed from the array factors).
    extent_db: float = 0.0
    point_width_azimuth_cells: float = 1.0
    point_width_range_cells: float = 1.0
    # --- scores
    snr_scale_db: float = 10.0            # cfar: score = 1 - exp(-margin over CFAR threshold [dB] / this)
    peak_scale_db: float = 20.0           # peaks: score = 1 - exp(-(peak - median) [dB] / this)
    # --- camera teacher: class priors (the centre of a body's 3-D box = what ``objects`` refers to).
    # Car: rodnet.TeacherConfig's (typical car height 1.5 m; near side -> centre between W/2 and L/2).
    car_height_m: float = 1.5
    car_half_depth_m: float = 1.2
    # Pedestrian: adult stature ~1.7 m; torso depth ~0.5 m -> half 0.25 m.
    pedestrian_height_m: float = 1.7
    pedestrian_half_depth_m: float = 0.25
    # Cyclist: rider on a bicycle ~1.7 m tall; bicycle ~1.7-1.8 m long, seen at any aspect -> ~0.6 m.
    cyclist_height_m: float = 1.7
    cyclist_half_depth_m: float = 0.6
    range_sigma_prior_m: float = 0.5      # as rodnet.TeacherConfig
    az_sigma_px: float = 1.5
    gate_sigma: float = 3.0
    fusion: str = "radar"                 # "radar": gated cluster centroid | "camera": camera estimate only
    unique_clusters: bool = True          # one CFAR cluster fuses with at most one camera instance

    def validate(self) -> None:
        self.cfar.validate()
        if not (self.car_extent_m > 0 and self.cyclist_speed_mps > 0 and self.snr_scale_db > 0
                and self.peak_scale_db > 0 and self.extent_db >= 0):
            raise ConfigError("detections: car_extent_m, cyclist_speed_mps, snr_scale_db, peak_scale_db must be > 0 "
                              "and extent_db >= 0")
        if min(self.point_width_azimuth_cells, self.point_width_range_cells) < 0:
            raise ConfigError("detections: point_width_*_cells must be >= 0")
        if min(self.car_height_m, self.pedestrian_height_m, self.cyclist_height_m, self.range_sigma_prior_m,
               self.az_sigma_px, self.gate_sigma) <= 0 or min(self.car_half_depth_m, self.pedestrian_half_depth_m,
                                                               self.cyclist_half_depth_m) < 0:
            raise ConfigError("detections: heights, sigmas and gate_sigma must be > 0, half depths >= 0")
        if self.fusion not in ("radar", "camera"):
            raise ConfigError(f"detections.fusion must be 'radar' or 'camera', got '{self.fusion}'")

    def priors(self, class_id: int) -> tuple[float, float]:
        """(height [m], half depth [m]) of a class."""
        return {PEDESTRIAN: (self.pedestrian_height_m, self.pedestrian_half_depth_m),
                CYCLIST: (self.cyclist_height_m, self.cyclist_half_depth_m)}.get(
                    int(class_id), (self.car_height_m, self.car_half_depth_m))


DETECTION_PRESETS: dict[str, dict[str, Any]] = {name: {"cfar": dict(p)} for name, p in CFAR_PRESETS.items()}


def as_detection_config(cfg: Any = None) -> DetectionConfig:
    """``DetectionConfig`` from None (defaults), itself, a ``CFARConfig`` (the CFAR part; the rest default) or a
    ``rodnet.TeacherConfig`` (its CFAR, car priors, camera sigmas, gate and fusion; the rest default)."""
    if cfg is None:
        return DetectionConfig()
    if isinstance(cfg, DetectionConfig):
        return cfg
    if isinstance(cfg, CFARConfig):
        return DetectionConfig(cfar=cfg)
    from .rodnet import TeacherConfig   # imports the localiser (torch): only when needed

    if isinstance(cfg, TeacherConfig):
        return DetectionConfig(cfar=cfg.cfar, car_height_m=cfg.car_height_m, car_half_depth_m=cfg.car_half_depth_m,
                               range_sigma_prior_m=cfg.range_sigma_prior_m, az_sigma_px=cfg.az_sigma_px,
                               gate_sigma=cfg.gate_sigma, fusion=cfg.fusion)
    raise ConfigError(f"detections: expected a DetectionConfig, CFARConfig or TeacherConfig, got {type(cfg).__name__}")


def resolve_detection_config(preset: str = "quick", overrides: list[str] | None = None,
                             yaml_path: str | None = None) -> DetectionConfig:
    return resolve(DetectionConfig, DETECTION_PRESETS, preset, yaml_path, overrides)


# ------------------------------------------------------------------------ per-frame clusters

@dataclass
class FrameCluster:
    cluster: Cluster
    margin_db: float          # max over cells of 10 log10(power / CFAR threshold), >= 0
    confirmed: bool = False   # range-matched to a range-Doppler cluster
    speed_mps: float = 0.0    # |v| of the strongest moving RD cluster overlapping in range (0: none)

    @property
    def polar(self) -> np.ndarray:
        return self.cluster.centroid


def _range_extent(c: Cluster, rb: np.ndarray) -> tuple[float, float]:
    return float(rb[c.rows.min()]), float(rb[c.rows.max()])


def frame_clusters(ra_db: np.ndarray, rd_db: np.ndarray | None, rb: np.ndarray, ab: np.ndarray,
                   vb: np.ndarray | None, cfg: CFARConfig) -> list[FrameCluster]:
    """The candidates of ``cfar_pipeline.detect_frame`` (same CFAR, DBSCAN and range-Doppler confirmation;
    ``cfg`` resolved for the grid) with what a class rule and a score need: cells, CFAR margin, radial speed.
    Strongest (summed power) first. No fallback: a frame without a cluster has no detection."""
    if not cfg.resolved:
        raise ConfigError("frame_clusters needs a CFAR config resolved for the store's grid (cfg.for_grid)")
    ra = db_to_power(ra_db)
    near = rb < cfg.min_range_m
    ra[near] = 0.0
    det, thr = cfar_2d(ra, cfg.variant, (cfg.guard_range, cfg.guard_azimuth), (cfg.train_range, cfg.train_azimuth),
                       cfg.pfa, cfg.os_rank, ("shrink", "shrink"))
    det[near] = False
    clusters = cluster_detections(det, ra, rb, ab, cfg.eps, cfg.min_samples, cfg.cluster_space)
    out = []
    for c in clusters:
        with np.errstate(divide="ignore"):
            m = 10.0 * np.log10(c.power / thr[c.rows, c.cols])
        out.append(FrameCluster(c, float(max(np.max(m), 0.0))))
    if rd_db is not None and cfg.use_doppler and out:
        rd = db_to_power(rd_db)
        rd[near] = 0.0
        rdet, _ = cfar_2d(rd, cfg.variant, (cfg.guard_range, cfg.guard_doppler), (cfg.train_range, cfg.train_doppler),
                          cfg.pfa, cfg.os_rank, ("shrink", "wrap"))
        rdet[near] = False
        rd_clusters = cluster_detections(rdet, rd, rb, vb, 1.5, cfg.min_samples, "bins")  # strongest first
        groups = [(abs(float(c.centroid[1])), _range_extent(c, rb)) for c in rd_clusters]
        for fc in out:
            lo, hi = _range_extent(fc.cluster, rb)
            for speed, (glo, ghi) in groups:
                if lo - cfg.match_tol_m <= ghi and glo <= hi + cfg.match_tol_m:
                    fc.confirmed = True
                    if speed >= cfg.min_speed_mps and fc.speed_mps == 0.0:
                        fc.speed_mps = speed      # the strongest overlapping moving RD cluster
        if any(fc.confirmed for fc in out):
            out = [fc for fc in out if fc.confirmed]
    return out


def cluster_extent_m(c: Cluster, rb: np.ndarray, ab: np.ndarray, point_range_m: float, point_u: float,
                     extent_db: float) -> float:
    """Physical extent [m] of a cluster: max(range extent, cross-range extent) of its cells (those within
    ``extent_db`` of its peak; all when ``extent_db`` is 0), each less a point target's footprint. Clipped at 0.

    Range: (rows spanned + 1) x bin spacing - ``point_range_m``. Cross-range: centroid range x (span in
    u = sin(az) over the columns + one bin - ``point_u``) / cos(az).
    """
    sel = c.power >= c.peak * 10.0 ** (-extent_db / 10.0) if extent_db > 0 else np.ones(c.size, bool)
    rows, cols = c.rows[sel], c.cols[sel]
    dr = float(np.median(np.diff(rb))) if len(rb) > 1 else 0.0
    r_ext = (int(rows.max()) - int(rows.min()) + 1) * dr - point_range_m
    u = np.sin(ab)
    du = float(np.median(np.abs(np.diff(u)))) if len(u) > 1 else 0.0
    span_u = float(u[cols.max()] - u[cols.min()]) + du
    r, az = float(c.centroid[0]), float(c.centroid[1])
    x_ext = r * (span_u - point_u) / max(float(np.cos(az)), 0.2)
    return max(r_ext, x_ext, 0.0)


def classify(extent_m: float, speed_mps: float, cfg: DetectionConfig) -> int:
    """Class id from physics priors: extent >= car_extent_m -> car; else radial speed >= cyclist_speed_mps ->
    cyclist; else pedestrian."""
    if extent_m >= cfg.car_extent_m:
        return CAR
    if speed_mps >= cfg.cyclist_speed_mps:
        return CYCLIST
    return PEDESTRIAN


def _grid(ds: Any, cfg: DetectionConfig) -> tuple[CFARConfig, float, float]:
    """(CFAR config in this grid's bins, point-target footprint in range [m] and in sin(az) at ``extent_db``)."""
    grid = store_resolution(ds)
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    dr = float(np.median(np.diff(rb))) if len(rb) > 1 else 1.0
    u = np.sin(ab)
    du = float(np.median(np.abs(np.diff(u)))) if len(u) > 1 else 1.0
    return (cfg.cfar.for_grid(grid), cfg.point_width_range_cells * grid.range_bins_per_cell * dr,
            cfg.point_width_azimuth_cells * grid.azimuth_bins_per_cell * du)


def _doppler_bins(ds: Any, sv: Any, use: bool) -> np.ndarray | None:
    if not (use and "range_doppler" in sv):
        return None
    if "doppler_bins_mps" not in ds.attrs:
        raise DatasetError(f"{ds.path}: has range_doppler but no 'doppler_bins_mps' attribute")
    return np.asarray(ds.attrs["doppler_bins_mps"], dtype=np.float64)


def _score(margin_db: np.ndarray | float, scale_db: float) -> np.ndarray:
    return 1.0 - np.exp(-np.maximum(np.asarray(margin_db, np.float64), 0.0) / scale_db)


def cfar_detections_detailed(data: Any, split: str = "val", cfg: Any = None,
                             limit: int | None = None) -> tuple[np.ndarray, dict]:
    """(packed [N, D_max, 4], stats). Label-free: every CFAR candidate cluster, scored and classed."""
    cfg = as_detection_config(cfg)
    cfg.validate()
    ds = as_dataset(data, labels=False)
    sv = ds.split(split)
    ccfg, point_r, point_u = _grid(ds, cfg)
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    vb = _doppler_bins(ds, sv, ccfg.use_doppler)
    n = len(sv) if limit is None else min(limit, len(sv))
    frames: list[np.ndarray] = []
    counts = np.zeros(3, int)
    for s in range(0, n, ccfg.batch):
        e = min(n, s + ccfg.batch)
        ra = sv.read("radar", slice(s, e))
        rd = sv.read("range_doppler", slice(s, e)) if vb is not None else None
        for k in range(e - s):
            rows = []
            for fc in frame_clusters(ra[k], None if rd is None else rd[k], rb, ab, vb, ccfg):
                ext = cluster_extent_m(fc.cluster, rb, ab, point_r, point_u, cfg.extent_db)
                cls = classify(ext, fc.speed_mps, cfg)
                counts[cls] += 1
                rows.append((fc.polar[0], fc.polar[1], cls, float(_score(fc.margin_db, cfg.snr_scale_db))))
            frames.append(np.asarray(rows, np.float64).reshape(-1, 4))
    stats = {"n": n, "detections_per_frame": float(counts.sum()) / max(n, 1),
             "class_counts": {name: int(c) for name, c in zip(("pedestrian", "cyclist", "car"), counts)},
             "doppler_used": vb is not None, "point_width_range_m": point_r, "point_width_u": point_u,
             "label_free": True}
    return pack(frames), stats


def cfar_detections(data: Any, split: str = "val", cfg: Any = None) -> np.ndarray:
    """Packed [N, D_max, 4] detections of the label-free CFAR + DBSCAN pipeline (module docstring)."""
    return cfar_detections_detailed(data, split, cfg)[0]


def local_peaks(map_db: np.ndarray, k: int, min_separation: int, valid_rows: np.ndarray | None = None
                ) -> list[tuple[int, int]]:
    """Up to ``k`` (row, col) 3 x 3 local maxima, strongest first, pairwise >= ``min_separation`` bins apart
    (Chebyshev); rows where ``valid_rows`` is False are skipped."""
    from scipy.ndimage import maximum_filter

    m = np.asarray(map_db, np.float64)
    is_max = m >= maximum_filter(m, size=3, mode="nearest")
    if valid_rows is not None:
        is_max &= np.asarray(valid_rows, bool)[:, None]
    rr, cc = np.nonzero(is_max)
    order = np.argsort(-m[rr, cc], kind="mergesort")
    kept: list[tuple[int, int]] = []
    for i in order:
        r, c = int(rr[i]), int(cc[i])
        if all(max(abs(r - a), abs(c - b)) >= min_separation for a, b in kept):
            kept.append((r, c))
            if len(kept) == k:
                break
    return kept


def peak_detections(data: Any, split: str = "val", k: int = 5, min_separation: int = 3,
                    cfg: Any = None) -> np.ndarray:
    """Packed [N, k, 4]: the untrained floor, the top-k heatmap maxima (3 x 3 local maxima at least
    ``min_separation`` bins apart) as cars (module docstring). ``cfg``: ``peak_scale_db``, ``cfar.min_range_m``."""
    cfg = as_detection_config(cfg)
    cfg.validate()
    k, sep = int(k), int(min_separation)
    if k < 1 or sep < 1:
        raise ConfigError("peak_detections: k and min_separation must be >= 1")
    ds = as_dataset(data, labels=False)
    sv = ds.split(split)
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    valid = rb >= cfg.cfar.min_range_m
    frames = []
    for s in range(0, len(sv), cfg.cfar.batch):
        ra = sv.read("radar", slice(s, min(len(sv), s + cfg.cfar.batch))).astype(np.float64)
        for m in ra:
            med = float(np.median(m[valid])) if valid.any() else float(np.median(m))
            rows = [(rb[r], ab[c], CAR, float(_score(m[r, c] - med, cfg.peak_scale_db)))
                    for r, c in local_peaks(m, k, sep, valid)]
            frames.append(np.asarray(rows, np.float64).reshape(-1, 4))
    return pack(frames, d_max=k)


def teacher_detections_detailed(data: Any, split: str = "train", cfg: Any = None
                                ) -> tuple[np.ndarray, dict]:
    """(packed [N, D_max, 4], stats): one label per camera instance (module docstring). Label-free."""
    from ..sensors.camera_model import bbox_from_mask
    from .rodnet import TeacherConfig, bbox_to_polar, camera_sigmas, open_camera_split

    cfg = as_detection_config(cfg)
    cfg.validate()
    ds, sv, cam = open_camera_split(data, split)
    if "instance_mask" not in sv:
        raise DatasetError(f"{ds.path}: split '{split}' has no 'instance_mask'; the multi-object teacher needs "
                           "camera instance masks (synthesise with scene.objects)")
    has_cls = "instance_class" in sv
    ccfg, _, _ = _grid(ds, cfg)
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    vb = _doppler_bins(ds, sv, ccfg.use_doppler)
    n = len(sv)
    frames: list[np.ndarray] = []
    counts = {"fused": 0, "camera_only": 0, "unusable": 0, "class_unknown": 0}
    for s in range(0, n, ccfg.batch):
        e = min(n, s + ccfg.batch)
        inst = sv.read("instance_mask", slice(s, e))
        icls = sv.read("instance_class", slice(s, e)) if has_cls else None
        ra = sv.read("radar", slice(s, e))
        rd = sv.read("range_doppler", slice(s, e)) if vb is not None else None
        for f in range(e - s):
            ids = [int(i) for i in np.unique(inst[f]) if i != 0]
            if not ids:
                frames.append(np.zeros((0, 4)))
                continue
            cls = []
            for i in ids:
                c = int(icls[f, i - 1]) if icls is not None and i - 1 < icls.shape[1] else -1
                if c not in (PEDESTRIAN, CYCLIST, CAR):
                    counts["class_unknown"] += 1   # no class from the segmenter: the teacher calls it a car
                    c = CAR
                cls.append(c)
            boxes = bbox_from_mask(np.stack([inst[f] == i for i in ids])).astype(np.float64)
            est = np.full((len(ids), 2), np.nan)
            sig = np.ones((len(ids), 2))
            for j, c in enumerate(cls):
                h, d = cfg.priors(c)
                tcfg = TeacherConfig(car_height_m=h, car_half_depth_m=d, range_sigma_prior_m=cfg.range_sigma_prior_m,
                                     az_sigma_px=cfg.az_sigma_px, gate_sigma=cfg.gate_sigma, cfar=ccfg)
                est[j] = bbox_to_polar(boxes[j:j + 1], cam, h, d)[0]
                sr, sa = camera_sigmas(boxes[j:j + 1], cam, tcfg)
                sig[j] = (sr[0], sa[0])
            cands = frame_clusters(ra[f], None if rd is None else rd[f], rb, ab, vb, ccfg) \
                if cfg.fusion == "radar" else []
            # normalised distance of every (instance, cluster) pair, as rodnet.teacher_labels_detailed
            P = np.array([fc.polar for fc in cands]).reshape(-1, 2)
            dist = np.hypot((P[None, :, 0] - est[:, None, 0]) / sig[:, None, 0],
                            (P[None, :, 1] - est[:, None, 1]) / sig[:, None, 1])
            dist[~np.isfinite(dist)] = np.inf
            assign = _gate(dist, cfg.gate_sigma, cfg.unique_clusters)
            rows = []
            for j, c in enumerate(cls):
                if assign[j] >= 0:
                    rows.append((P[assign[j], 0], P[assign[j], 1], c, 1.0))
                    counts["fused"] += 1
                elif np.isfinite(est[j]).all():
                    rows.append((est[j, 0], est[j, 1], c, 0.5))
                    counts["camera_only"] += 1
                else:
                    counts["unusable"] += 1    # the ray through the box bottom misses the ground: no label
            frames.append(np.asarray(rows, np.float64).reshape(-1, 4))
    total = sum(counts[k] for k in ("fused", "camera_only", "unusable"))
    stats = {"n": n, "instances": total, **counts,
             "fused_frac": counts["fused"] / max(total, 1), "label_free": True}
    return pack(frames), stats


def _gate(dist: np.ndarray, gate: float, unique: bool) -> np.ndarray:
    """[I] cluster index per instance (-1: none within ``gate``). Not unique: each instance's nearest;
    unique: pairs in increasing distance, each instance and cluster used once (greedy)."""
    I, C = dist.shape
    out = -np.ones(I, int)
    if C == 0:
        return out
    if not unique:
        j = np.argmin(dist, axis=1)
        ok = dist[np.arange(I), j] <= gate
        out[ok] = j[ok]
        return out
    used = np.zeros(C, bool)
    for flat in np.argsort(dist, axis=None, kind="mergesort"):
        i, c = divmod(int(flat), C)
        if dist[i, c] > gate:
            break
        if out[i] < 0 and not used[c]:
            out[i], used[c] = c, True
    return out


def teacher_detections(data: Any, split: str = "train", cfg: Any = None) -> np.ndarray:
    """Packed [N, D_max, 4]: RODNet-style camera teacher labels, one per camera instance; never reads GT."""
    return teacher_detections_detailed(data, split, cfg)[0]
