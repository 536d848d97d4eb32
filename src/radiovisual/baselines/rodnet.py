"""RODNet-style radio-visual teacher-student baseline (paper §5.1, after Wang et al. [77]).

Teacher (label-free: reads ``bbox``/``mask``/``radar``/``range_doppler`` and the stored
camera calibration, never ``target_polar``/``target_xy``):
 1. camera 3-D localisation by ground-plane geometry. The ray through the bottom-centre of
    the box (pixel-index convention of ``sensors.camera_model``) meets the ground z_radar = -radar_height_m at the
    car's near side (its lowest visible point). Two PRIORS (not GT) turn that into the box
    centre that ``target_polar`` refers to: push the point back along the ray's horizontal
    direction by ``car_half_depth_m`` and lift it to ``car_height_m / 2``. Range is the slant
    distance from the radar phase centre, azimuth = asin(x_right / range).
 2. radar peaks: the label-free CFAR pipeline (``cfar_pipeline.detect_frame``) lists the
    frame's clusters;
 3. fusion: the cluster centroid nearest to the camera estimate in the camera's own error
    metric — ((dr / sigma_r)^2 + (daz / sigma_az)^2)^0.5, where sigma_r is the ground
    footprint of one pixel row (it grows ~ d^2 / (h f): a 128-px camera 4 m up spans ~1 m of
    ground per row at 14 m) and sigma_az is ``az_sigma_px`` / f — if within ``gate_sigma``,
    is the label (confidence 1). The camera fixes the bearing and which peak is the car; the
    radar fixes the range. Otherwise the camera estimate (confidence 0.5); with no
    visible target (empty box/mask, or the ray misses the ground) the non-genie CFAR choice
    (confidence 0.1).
Student: the shared radio-only localiser (``radiovisual.localise.train_localiser``) on the
teacher's labels, single snapshot (no temporal convolution), as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import fingerprint, resolve, to_dict
from ..dataset.resolution import store_resolution
from ..errors import ConfigError, DatasetError
from ..localise import LOCALISE_PRESETS, LocaliserConfig, resolve_localise_config, train_localiser
from .cfar_pipeline import CFAR_PRESETS, CFARConfig, as_dataset, detect_frame, save_estimates, select

CAMERA_KEYS = ("K", "R_cam_from_radar", "t_cam_from_radar_m", "radar_height_m")


@dataclass(frozen=True)
class TeacherConfig:
    car_height_m: float = 1.5        # prior: typical car height [m] (centre lifted to half of it)
    car_half_depth_m: float = 1.2    # prior: near side -> box centre, horizontal [m] (between W/2 and L/2)
    range_sigma_prior_m: float = 0.5 # camera range std on top of the one-pixel-row footprint [m]
    az_sigma_px: float = 1.5         # camera bearing std [px] (box edges are whole pixels)
    gate_sigma: float = 3.0          # max normalised (Mahalanobis) distance camera <-> radar cluster
    fusion: str = "radar"            # "radar": gated cluster centroid | "camera": camera estimate only
    cfar: CFARConfig = field(default_factory=CFARConfig)

    def validate(self) -> None:
        if not (self.car_height_m > 0 and self.car_half_depth_m >= 0 and self.gate_sigma > 0
                and self.range_sigma_prior_m > 0 and self.az_sigma_px > 0):
            raise ConfigError("teacher: car_height_m, gate_sigma, range_sigma_prior_m, az_sigma_px must be > 0 "
                              "and car_half_depth_m >= 0")
        if self.fusion not in ("radar", "camera"):
            raise ConfigError(f"teacher.fusion must be 'radar' or 'camera', got '{self.fusion}'")
        self.cfar.validate()


# The teacher's CFAR windows ARE the CFAR baseline's presets (one definition, in cfar_pipeline).
TEACHER_PRESETS: dict[str, dict[str, Any]] = {name: {"cfar": dict(p)} for name, p in CFAR_PRESETS.items()}


def resolve_teacher_config(preset: str = "quick", overrides: list[str] | None = None,
                           yaml_path: str | None = None) -> TeacherConfig:
    return resolve(TeacherConfig, TEACHER_PRESETS, preset, yaml_path, overrides)


@dataclass(frozen=True)
class RodnetConfig:
    """The whole RODNet-style stage: ``teacher.*`` (incl. ``teacher.cfar.*``) and the student's
    ``localise.*`` — the same ``LocaliserConfig`` every other method gets."""

    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    localise: LocaliserConfig = field(default_factory=LocaliserConfig)

    def validate(self) -> None:
        self.teacher.validate()
        self.localise.validate()


RODNET_PRESETS: dict[str, dict[str, Any]] = {
    name: {"teacher": TEACHER_PRESETS[name], "localise": LOCALISE_PRESETS[name]}
    for name in TEACHER_PRESETS if name in LOCALISE_PRESETS}


def resolve_rodnet_config(preset: str = "quick", overrides: list[str] | None = None,
                          yaml_path: str | None = None) -> RodnetConfig:
    """Preset <- YAML <- ``--set`` with keys ``teacher.*`` / ``teacher.cfar.*`` / ``localise.*``."""
    return resolve(RodnetConfig, RODNET_PRESETS, preset, yaml_path, overrides)


# ------------------------------------------------------------------------ camera geometry

def camera_geometry(cam: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(K [3,3], R_cam_from_radar [3,3], t_cam_from_radar [3] m, radar_height [m]) from ``attrs['camera']``."""
    missing = [k for k in CAMERA_KEYS if k not in (cam or {})]
    if missing:
        raise DatasetError(f"camera attributes lack {', '.join(missing)}; the RODNet teacher needs the "
                           "camera intrinsics, its pose relative to the radar and the radar height")
    K = np.asarray(cam["K"], dtype=np.float64).reshape(3, 3)
    R = np.asarray(cam["R_cam_from_radar"], dtype=np.float64).reshape(3, 3)
    t = np.asarray(cam["t_cam_from_radar_m"], dtype=np.float64).reshape(3)
    return K, R, t, float(cam["radar_height_m"])


def bbox_to_polar(bbox: np.ndarray, cam: dict, car_height_m: float, car_half_depth_m: float) -> np.ndarray:
    """[N, 4] boxes -> [N, 2] (slant range [m], azimuth [rad]) of the car's box centre; NaN where unusable.

    ``bbox`` holds inclusive pixel indices (x0, y0, x1, y1) as in ``sensors.camera_model``
    (index i spans u in [i, i+1)), so the bottom-centre point is u = (x0 + x1)/2 + 0.5,
    v = y1 + 0.5 (centre of the lowest box row: the car's ground contact lies somewhere in that
    row, and its centre is the unbiased choice). On a low-resolution camera one pixel row spans
    ~h / (d^2 + h^2) / f^-1 metres of ground — about 1 m at 14 m for the quick 128-px camera —
    which bounds the camera-only accuracy; that is why the teacher fuses with radar peaks.
    """
    from ..sensors.camera_model import ground_points, pixel_rays

    bbox = np.asarray(bbox, dtype=np.float64).reshape(-1, 4)
    camera_geometry(cam)
    h = float(cam["radar_height_m"])
    uv = np.stack([(bbox[:, 0] + bbox[:, 2]) / 2 + 0.5, bbox[:, 3] + 0.5], axis=1)
    valid = np.isfinite(bbox).all(axis=1) & (bbox[:, 2] >= bbox[:, 0]) & (bbox[:, 3] >= bbox[:, 1])
    uv[~valid] = 0.0
    g = ground_points(uv, cam)                         # near-side ground contact [m], NaN if no hit
    d = pixel_rays(uv, cam)
    horiz = d[:, :2] / np.maximum(np.linalg.norm(d[:, :2], axis=1, keepdims=True), 1e-12)
    centre = np.empty_like(g)
    centre[:, :2] = g[:, :2] + car_half_depth_m * horiz
    centre[:, 2] = -h + car_height_m / 2
    rng = np.linalg.norm(centre, axis=1)
    az = np.arcsin(np.clip(centre[:, 0] / np.maximum(rng, 1e-12), -1, 1))
    out = np.stack([rng, az], axis=1)
    out[~(valid & np.isfinite(g).all(axis=1))] = np.nan
    return out


def camera_sigmas(bbox: np.ndarray, cam: dict, cfg: "TeacherConfig") -> tuple[np.ndarray, np.ndarray]:
    """Per-box std of the camera estimate: (range [m], azimuth [rad]).

    Range: the ground footprint of the bottom pixel row (finite difference of ``bbox_to_polar``
    over +-0.5 px in v) plus a prior for the unknown car depth; it grows ~ d^2 / (h f) with
    distance d. Azimuth: ``az_sigma_px`` pixels through the focal length.
    """
    bbox = np.asarray(bbox, dtype=np.float64).reshape(-1, 4)
    lo, hi = bbox.copy(), bbox.copy()
    lo[:, 3] -= 0.5
    hi[:, 3] += 0.5
    a = bbox_to_polar(lo, cam, cfg.car_height_m, cfg.car_half_depth_m)[:, 0]
    b = bbox_to_polar(hi, cam, cfg.car_height_m, cfg.car_half_depth_m)[:, 0]
    foot = np.where(np.isfinite(a) & np.isfinite(b), np.abs(b - a), 10.0)  # ray near the horizon: vague
    fx = float(np.asarray(cam["K"], dtype=np.float64)[0][0])
    return np.hypot(foot, cfg.range_sigma_prior_m), np.full(len(bbox), cfg.az_sigma_px / fx)


# ------------------------------------------------------------------------ teacher

def open_camera_split(data: Any, split: str) -> tuple[Any, Any, dict]:
    """(dataset opened label-free, its ``split`` view, camera attrs) for the camera-geometry teachers;
    a store without a usable camera model fails here, in one line, before any work."""
    ds = as_dataset(data, labels=False)
    cam = ds.attrs.get("camera") or {}
    camera_geometry(cam)
    return ds, ds.split(split), cam


def teacher_labels_detailed(data: Any, split: str = "train", cfg: TeacherConfig | None = None,
                            progress: bool = False) -> tuple[np.ndarray, np.ndarray, dict]:
    """(labels [N, 2] polar, confidence [N], stats). Opens the data label-free."""
    cfg = cfg or TeacherConfig()
    cfg.validate()
    ds, sv, cam = open_camera_split(data, split)
    cfg = replace(cfg, cfar=cfg.cfar.for_grid(store_resolution(ds)))  # CFAR windows in this grid's bins
    n = len(sv)
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    use_rd = cfg.cfar.use_doppler and "range_doppler" in sv
    vb = np.asarray(ds.attrs["doppler_bins_mps"], dtype=np.float64) if use_rd else None
    labels = np.zeros((n, 2))
    conf = np.zeros(n)
    counts = {"fused": 0, "camera_only": 0, "radar_only": 0}
    bs = cfg.cfar.batch
    it = range(0, n, bs)
    if progress:
        from ..utils.progress import tqdm

        it = tqdm(it, desc=f"rodnet teacher {split}", unit="batch")
    for s in it:
        e = min(n, s + bs)
        bbox = sv.read("bbox", slice(s, e))
        visible = sv.read("mask", slice(s, e)).reshape(e - s, -1).any(axis=1)
        cam_est = bbox_to_polar(bbox, cam, cfg.car_height_m, cfg.car_half_depth_m)
        sig_r, sig_a = camera_sigmas(bbox, cam, cfg)
        ra = sv.read("radar", slice(s, e))
        rd = sv.read("range_doppler", slice(s, e)) if use_rd else None
        for k in range(e - s):
            i = s + k
            res = detect_frame(ra[k], None if rd is None else rd[k], rb, ab, vb, cfg.cfar)
            c = cam_est[k]
            if not (visible[k] and np.isfinite(c).all()):
                labels[i], conf[i] = select(res, cfg.cfar), 0.1
                counts["radar_only"] += 1
                continue
            best, best_d = None, np.inf
            if cfg.fusion == "radar":
                for cand in res.candidates:
                    d = float(np.hypot((cand.polar[0] - c[0]) / sig_r[k], (cand.polar[1] - c[1]) / sig_a[k]))
                    if d < best_d:
                        best, best_d = cand, d
            if best is not None and best_d <= cfg.gate_sigma:
                labels[i], conf[i] = best.polar, 1.0
                counts["fused"] += 1
            else:
                labels[i], conf[i] = c, 0.5
                counts["camera_only"] += 1
    stats = {"n": n, **counts, **{f"{k}_frac": v / max(n, 1) for k, v in counts.items()},
             "doppler_used": bool(use_rd), "config": to_dict(cfg)}
    return labels, conf, stats


def teacher_labels(data: Any, split: str = "train", cfg: TeacherConfig | None = None) -> np.ndarray:
    """[N, 2] (range [m], azimuth [rad]) pseudo-labels from camera + CFAR fusion; never reads GT."""
    return teacher_labels_detailed(data, split, cfg)[0]


def run_teacher_stage(cfg: TeacherConfig, data: Any, out: str | Path, force: bool = False,
                      progress: bool = False) -> Path:
    """Teacher labels for TRAIN on the shared stage contract: ``labels.npy``, ``confidence.npy``, ``teacher.json``."""
    from ..utils.io import write_json
    from ..utils.stage import StageDir

    ds = as_dataset(data, labels=False)
    cfg = replace(cfg, cfar=cfg.cfar.for_grid(store_resolution(ds)))  # the stage records the bins used
    sd = StageDir(out, "rodnet-teacher", cfg, {"data": ds.fingerprint(), "split": "train"}, force=force)
    if sd.done:
        return sd.path
    out = sd.begin()
    labels, conf, stats = teacher_labels_detailed(ds, "train", cfg, progress=progress)
    save_estimates(out / "labels.npy", labels)
    save_estimates(out / "confidence.npy", conf)
    write_json(out / "teacher.json", {"fingerprint": fingerprint(cfg), "dataset": str(ds.path), "stats": stats,
                                      "label_free": True})
    sd.finish({"n": stats["n"]})
    return out


def run_rodnet(data: Any, out: str | Path, preset: str = "quick", seed: int = 0,
               overrides: list[str] | None = None, student_overrides: list[str] | None = None,
               progress: bool = False, *, cfg: RodnetConfig | None = None, force: bool = False) -> Path:
    """Teacher on train (``out/teacher``), then the shared localiser trained on its labels
    (``out/student``). Returns the student run dir. Both are stages: a re-run reuses them, a changed
    config is refused unless ``force``.

    Without ``cfg``: the preset (unknown names fall back to "quick" for the teacher) with
    ``overrides`` applied to the teacher and ``student_overrides`` to the student's localiser.
    """
    if cfg is None:
        tp = preset if preset in TEACHER_PRESETS else "quick"
        base = to_dict(resolve_rodnet_config(tp))
        base["localise"] = to_dict(resolve_localise_config(preset))
        ovr = [f"teacher.{o}" for o in overrides or []] + [f"localise.{o}" for o in student_overrides or []]
        cfg = resolve(RodnetConfig, {"base": base}, "base", None, ovr)
    out = Path(out)
    ds = as_dataset(data, labels=False)
    tdir = run_teacher_stage(cfg.teacher, ds, out / "teacher", force=force, progress=progress)
    labels = np.load(tdir / "labels.npy")
    # the teacher never reads GT, so its labels are label-free by construction
    return Path(train_localiser(str(ds.path), labels, out / "student", preset=preset, seed=seed,
                                progress=progress, cfg=cfg.localise, label_free=True, force=force))
