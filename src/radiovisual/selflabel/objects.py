"""Self-labels for every object the camera sees (issue 20, item 1): one label per visible instance mask.

Label-free: reads radar heatmaps, the camera's instance masks and their classes (what an instance segmenter
outputs, ``instance_mask`` / ``instance_class``), and the primary target's self-labels; never ``objects``.

Why it works: the primary target's self-labelling (``mil_readout``, the MCL attention -> camera model ->
radar snap chain) has *learned the camera* against the radar, without a stored calibration:
* a pinhole model pixel (u, v) -> radar azimuth (``geometry.fit_pixel_azimuth``), refitted here on the
  primary's final labels, and
* a ground-plane model foot row -> radar range (``geometry.fit_ground_range``), on the primary's radar returns.
Both are properties of the camera and the ground, not of the car, so they place any other object the camera
sees. Each object's label is then the radar return nearest to that camera prior (``nearest_return``; range
window: 3 robust sigmas of the ground model, at least ``range_window_m``; azimuth: at least
``min_azimuth_window_deg``). A second round refits the ground model per class and the pinhole model on every
object's own radar azimuth (``refit_pixel``: the other road users span the field of view, the primary's one
lane does not) and places the objects again. The range is moved from the seen face to the box centre by a class
prior when the store documents a box-centre target point, and the azimuth is the camera's (``final_azimuth``).
The primary target (instance 1, the ``mask``) keeps its own self-label from the full chain.

Confidence in [0, 1] (the detector's label weight): sqrt(agreement * snr), where agreement =
exp(-((r_radar - r_camera) / sigma_r)^2 / 2) says camera and radar put the object at the same range, and
snr = clip((blob peak - map median) [dB] / ``snr_span_db``, 0, 1) says there is a return to snap to.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset.detections import CLASSES
from . import geometry as geo

# Seen face -> box centre along the line of sight [m], per class (pedestrian, cyclist, car). Priors, never
# fitted: half the depth of TR 38.901's human sensing target (0.5 m torso) seen from the front; a cyclist's
# return is its rider's torso too (its pedal and frame points are weaker), so the same 0.15 m (the earlier
# 0.35 m, half a bicycle's length at 45 deg, put cyclist labels 0.16-0.22 m beyond the box centre on three
# dev stores, seeds 11-13); the car's is the self-label config's face_to_centre_m (half the 1.86 m width of the
# TR 38.901 vehicle target) or, with face_model=object, each car's own (``_car_offsets``).
FACE_TO_CENTRE_M = {"pedestrian": 0.15, "cyclist": 0.15}
SNR_SPAN_DB = 20.0
# 2: the pinhole model refitted on every object's radar azimuth (refit_pixel), cyclists' face prior 0.15 m
OBJECT_LABELS_VERSION = 2


def instance_geometry(inst: np.ndarray, ids: np.ndarray) -> dict[str, np.ndarray]:
    """inst [N, H, W] uint8 instance ids; ids [K] -> per (frame, id) mask geometry [N, K] in [-1, 1]:
    centroid column u, centroid row v, foot row (NaN when cut by the bottom border), top row (NaN when cut by
    the top border), pixel count."""
    N = len(inst)
    out = {k: np.full((N, len(ids)), np.nan) for k in ("u", "v", "foot", "top")}
    out["pixels"] = np.zeros((N, len(ids)))
    for j, i in enumerate(ids):
        m = inst == i
        out["u"][:, j] = geo.mask_centroid_cols(m)
        out["v"][:, j] = geo.mask_centroid_rows(m)
        out["foot"][:, j] = geo.mask_bottom_rows(m)
        out["top"][:, j] = mask_top_rows(m)
        out["pixels"][:, j] = m.sum(axis=(1, 2))
    return out


def mask_top_rows(mask: np.ndarray) -> np.ndarray:
    """bool [N, H, W] -> [N] normalised row of the mask's top pixel edge in [-1, 1] (as ``mask_bottom_rows``);
    NaN when empty or touching the image's top border."""
    m = np.asarray(mask, dtype=bool)
    H = m.shape[1]
    rows = m.any(axis=2)
    has = rows.any(axis=1)
    v = (rows.argmax(axis=1).astype(np.float64) - 0.5) * 2.0 / max(H - 1, 1) - 1.0
    v[~has | rows[:, 0]] = np.nan
    return v


def off_axis_factor(u: np.ndarray, v: np.ndarray, pix: dict[str, Any], a: float) -> np.ndarray:
    """sqrt(1 + y_n^2) / sqrt(1 + x_n^2 + y_n^2): the slant range of a ground point seen at image (u, v) is
    h sqrt(1 + x_n^2 + y_n^2) / (y_n cos(pitch) + sin(pitch)) (x_n = s (u - u0), y_n = a v, camera pitched by
    ``pitch``), while ``geometry.ground_range`` models the column's on-axis ray, h sqrt(1 + y_n^2) / (...). So
    range = ground_range(v) / factor; at 35 deg off axis the on-axis model reads 18 % short."""
    xn = float(pix["s"]) * (np.asarray(u, np.float64) - float(pix["u0"]))
    yn = a * np.asarray(v, np.float64)
    return np.sqrt(1.0 + yn ** 2) / np.sqrt(1.0 + xn ** 2 + yn ** 2)


def camera_models(u: np.ndarray, v: np.ndarray, foot: np.ndarray, az: np.ndarray, r_return: np.ndarray,
                  image_hw: tuple[int, int], seed: int = 0) -> dict[str, Any]:
    """The primary target's label-free camera models: pinhole pixel -> azimuth and ground foot row -> range."""
    H, W = image_hw
    k = (H - 1) / max(W - 1, 1)
    pix = geo.fit_pixel_azimuth(u, v, az, k, seed=seed)
    a = float(pix["s"]) * k     # vertical angular scale from the horizontal one (square pixels)
    ground = geo.fit_ground_range(foot, r_return * off_axis_factor(u, foot, pix, a), a)
    return {"pixel": pix, "ground": {**ground, "a": a}, "a": a}


def refit_pixel(models: dict[str, Any], u: np.ndarray, v: np.ndarray, az_radar: np.ndarray,
                gated: np.ndarray, min_n: int = 30) -> dict[str, Any]:
    """The pinhole model refitted on every gated object's radar azimuth (its blob centroid), or ``models``
    unchanged when too few objects are gated or the fit fails.

    Why: the primary's camera model is fitted on one target per frame, whose azimuths span a narrow band (one
    lane, mostly near boresight), so its focal scale s is poorly constrained: on the multi-object dev store it
    read 7 % short and compressed every off-axis object's azimuth (1.6 deg at 45 deg). The other road users
    spread across the whole field of view and give s its leverage; the soft-L1 fit keeps extended objects,
    whose returns lean to their near side, from pulling it."""
    ok = gated & np.isfinite(u) & np.isfinite(v) & np.isfinite(az_radar)
    if ok.sum() < min_n:
        return models
    pix = geo.fit_pixel_azimuth(u[ok], v[ok], az_radar[ok], float(models["pixel"]["k"]))
    if not (np.isfinite(pix["s"]) and np.isfinite(pix["u0"]) and pix["inlier_frac"] >= 0.5):
        return models
    return {**models, "pixel": pix, "a": float(pix["s"]) * float(pix["k"])}


def object_selflabels(power_db: np.ndarray, inst: np.ndarray, inst_class: np.ndarray | None,
                      primary_polar: np.ndarray, primary_return_m: np.ndarray, mask: np.ndarray,
                      rb: np.ndarray, ab: np.ndarray, cfg: Any, face_shift: bool, rounds: int = 2,
                      tracks: dict[str, Any] | None = None, refit: bool = True) -> dict[str, Any]:
    """power_db [N,R,A]; inst [N,H,W]; inst_class [N,K] (or None: every object a car); the primary's final
    self-labels [N,2] polar and its radar-return range [N] (m); mask [N,H,W] the primary's mask.

    Round 0 places every object with the primary's camera models (a range window widened to 10 % of the range:
    the ground model was fitted on car returns, whose foot row relates to the return differently from a
    walker's); each later round refits the ground model per class on that class's gated returns (label-free,
    a fixed point as in the primary's chain), and, with ``refit``, the pinhole model on every object's radar
    azimuth (``refit_pixel``), and places the objects again.
    Returns {"labels": [N, K, 4] (range, az, class, confidence; NaN rows where the camera sees nothing),
    "instance": [N, K] instance ids, "info": fits and counts}.
    """
    N = len(power_db)
    K = int(inst.max()) if inst.size else 0
    g = instance_geometry(inst, np.arange(1, K + 1))
    models = camera_models(geo.mask_centroid_cols(mask), geo.mask_centroid_rows(mask), geo.mask_bottom_rows(mask),
                           primary_polar[:, 1], primary_return_m, inst.shape[1:3], cfg.seed)
    cls = (np.asarray(inst_class[:, :K], int) if inst_class is not None
           else np.full((N, K), CLASSES.index("car")))
    f, j = np.nonzero((g["pixels"] > 0) & (cls >= 0))          # every (frame, object) the camera sees
    c = cls[f, j]
    foot, top = g["foot"][f, j], g["top"][f, j]
    u, v = g["u"][f, j], g["v"][f, j]
    az_cam, axis = _camera_view(models, u, v, foot, top)
    ground = {k: dict(models["ground"], rel_sigma=max(float(models["ground"]["rel_sigma"]), 0.1))
              for k in range(len(CLASSES))}
    tops: dict[int, dict[str, Any]] = {}
    fits: dict[str, Any] = {}
    for it in range(max(1, rounds)):
        res = _place(power_db, f, c, az_cam, foot, top, axis, ground, tops, models["a"], rb, ab, cfg)
        if it == rounds - 1:
            break
        if refit:
            models = refit_pixel(models, u, v, np.interp(res["snapped"][:, 1], np.arange(len(ab)), ab),
                                 res["gated"])
            fits[f"pixel_round{it + 1}"] = models["pixel"]
            az_cam, axis = _camera_view(models, u, v, foot, top)
        for k in range(len(CLASSES)):
            # refit per class on its own gated returns: the foot row's model, and the top row's (the same form,
            # r = h' / sin(pitch' + atan(a v)), a plane at the class's height) for objects whose foot the image
            # cuts off (near objects)
            sel = (c == k) & res["gated"] & np.isfinite(foot)
            for name, rows, store in (("foot", foot, ground), ("top", top, tops)):
                ok = sel & np.isfinite(rows)
                fit = ({**geo.fit_ground_range(rows[ok], res["r_ret"][ok] * axis[name][ok], models["a"]),
                        "a": models["a"]} if ok.sum() >= 30 else {})
                if np.isfinite(fit.get("rel_sigma", np.nan)) and fit.get("inlier_frac", 0) >= 0.5:
                    store[k] = fit
                    fits[f"{CLASSES[k]}_{name}_round{it + 1}"] = fit
    offset = np.array([FACE_TO_CENTRE_M.get(CLASSES[k], cfg.face_to_centre_m) for k in c])
    if face_shift and tracks is not None and cfg.face_model == "object":
        offset = _car_offsets(offset, res["r_ret"], az_cam, f, j, c, inst, models["pixel"], tracks)
    rng = res["r_ret"] + (offset if face_shift else 0.0)
    az_radar = np.interp(res["snapped"][:, 1], np.arange(len(ab)), ab)
    az = {"map": az_cam, "radar": az_radar}.get(cfg.final_azimuth, 0.5 * (az_cam + az_radar))
    # the primary target (instance 1 where it is the mask): the full chain's own label, so the single-target
    # path keeps its meaning
    prim = (j == 0) & ((inst[f] == 1).reshape(len(f), -1).sum(1) == mask[f].reshape(len(f), -1).sum(1))
    rng, az = np.where(prim, primary_polar[f, 0], rng), np.where(prim, primary_polar[f, 1], az)
    labels = np.full((N, max(K, 1), 4), np.nan)
    labels[f, j] = np.stack([rng, az, c, np.clip(res["confidence"], 0.0, 1.0)], 1)
    inst_ids = np.zeros((N, max(K, 1)), np.int16)
    inst_ids[f, j] = j + 1
    info = {"camera_models": models, "ground_per_class": fits, "n_labels": int(len(f)),
            "gated_frac": float(res["gated"].mean()) if len(f) else float("nan"),
            "per_class": {n: int((c == k).sum()) for k, n in enumerate(CLASSES)},
            "confidence_median": float(np.median(res["confidence"])) if len(f) else float("nan")}
    return {"labels": labels, "instance": inst_ids, "info": info}


def _camera_view(models: dict[str, Any], u: np.ndarray, v: np.ndarray, foot: np.ndarray,
                 top: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Camera azimuth [rad] of each object and the off-axis factors of its foot and top rows."""
    pix, a = models["pixel"], models["a"]
    return geo.pixel_to_azimuth(u, v, pix), {"foot": off_axis_factor(u, foot, pix, a),
                                             "top": off_axis_factor(u, top, pix, a)}


def _car_offsets(offset: np.ndarray, r_ret: np.ndarray, az_cam: np.ndarray, f: np.ndarray, j: np.ndarray,
                 c: np.ndarray, inst: np.ndarray, pix: dict[str, Any], tracks: dict[str, Any]) -> np.ndarray:
    """Each car's own seen-face -> centre range offset (``objgeom.object_geometry``, as the primary's ``centre``
    stage): heading from its track (one track per sequence and camera instance), size from its mask's angular
    width through the pinhole model; the constant prior where neither is known."""
    from .objgeom import object_geometry

    car = c == CLASSES.index("car")
    if not car.any() or not tracks.get("dt"):
        return offset
    k = np.nonzero(car)[0]
    ext = np.full(len(k), np.nan)
    for q, (fi, ji) in enumerate(zip(f[k], j[k])):
        span = geo.mask_extent_cols((inst[fi] == ji + 1)[None])[0]
        v = geo.mask_centroid_rows((inst[fi] == ji + 1)[None])[0]
        if np.isfinite(span).all():
            ext[q] = abs(geo.pixel_to_azimuth(span[1], v, pix) - geo.pixel_to_azimuth(span[0], v, pix))
    seq = tracks["sequence"][f[k]].astype(np.int64) * 256 + j[k]     # one track per (sequence, instance)
    g = object_geometry(r_ret[k], az_cam[k], az_cam[k], ext, seq, tracks["frame"][f[k]], float(tracks["dt"]))
    out = offset.copy()
    out[k] = np.where(np.isfinite(g["range_offset"]), g["range_offset"], offset[k])
    return out


def _place(power_db: np.ndarray, f: np.ndarray, c: np.ndarray, az_cam: np.ndarray, foot: np.ndarray,
           top: np.ndarray, axis: dict[str, np.ndarray], ground: dict[int, dict[str, Any]],
           tops: dict[int, dict[str, Any]], a: float,
           rb: np.ndarray, ab: np.ndarray, cfg: Any) -> dict[str, Any]:
    """One placement of the (frame f, class c) objects: camera prior (foot row, else top row) -> nearest gated
    radar return."""
    dr, da = float(np.median(np.diff(rb))), float(np.median(np.diff(ab)))
    r_cam, rel = np.full(len(f), np.nan), np.full(len(f), np.nan)
    for rows, fac, models in ((top, axis["top"], tops), (foot, axis["foot"], ground)):   # foot wins if both
        for k, gm in models.items():
            sel = (c == k) & np.isfinite(rows)
            if sel.any() and np.isfinite(gm.get("rel_sigma", np.nan)):
                r_cam[sel] = geo.ground_range(rows[sel], gm, float(gm.get("a", a))) / fac[sel]
                rel[sel] = gm["rel_sigma"]
    ok_r = np.isfinite(r_cam) & (r_cam >= rb[0]) & (r_cam <= rb[-1])
    sig_r = np.maximum(cfg.range_window_m, 3.0 * np.nan_to_num(rel, nan=1.0) * np.nan_to_num(r_cam))   # 3 sigma
    # without a foot row (cut by the border) the whole range strip at the camera's azimuth is searched
    half_r = np.where(ok_r, np.maximum(1, np.round(sig_r / dr)), len(rb)).astype(int)
    prior_r = np.where(ok_r, geo.frac_index(np.nan_to_num(r_cam), rb), (len(rb) - 1) / 2)
    half_c = max(1, int(round(np.deg2rad(cfg.min_azimuth_window_deg) / da)))
    sig_rb = np.where(ok_r, np.maximum(sig_r / 3.0, dr), np.inf) / dr
    snapped, gated = nearest_return(power_db[f], prior_r, geo.frac_index(az_cam, ab), half_r, half_c, sig_rb,
                                    max(half_c / 3.0, 1.0), cfg)
    r_ret = np.interp(snapped[:, 0], np.arange(len(rb)), rb)
    # a return outside the 3-sigma gate is not this object's (a stronger neighbour, clutter): the camera's own
    # range then, at half the confidence, as the RODNet-style teacher does
    gated &= ok_r
    r_ret = np.where(gated | ~ok_r, r_ret, np.nan_to_num(r_cam))
    agree = np.where(gated, np.exp(-0.5 * ((r_ret - np.nan_to_num(r_cam)) / sig_r * 3.0) ** 2),
                     np.where(ok_r, 0.5, 0.25))
    peak = power_db[f, np.clip(np.round(snapped[:, 0]).astype(int), 0, len(rb) - 1),
                    np.clip(np.round(snapped[:, 1]).astype(int), 0, len(ab) - 1)]
    snr = np.clip((peak - np.median(power_db[f].reshape(len(f), -1), axis=1)) / SNR_SPAN_DB, 0, 1)
    return {"snapped": snapped, "r_ret": r_ret, "gated": gated, "confidence": np.sqrt(agree * snr)}



def nearest_return(power_db: np.ndarray, prior_r: np.ndarray, prior_c: np.ndarray, half_r: np.ndarray,
                   half_c: int, sigma_r: np.ndarray, sigma_c: float, cfg: Any, k: int = 8,
                   floor_db: float = 25.0) -> tuple[np.ndarray, np.ndarray]:
    """The radar return nearest to each camera prior in the camera's own error metric, not the strongest one.

    A pedestrian beside a car: the car's return is 15-20 dB stronger and inside the window, so "strongest in
    the window" labels the car. Instead: the ``k`` strongest 3x3 local maxima in the window that lie within
    ``floor_db`` of the window's maximum, and of those the one of least normalised distance
    ((dr / sigma_r)^2 + (dc / sigma_c)^2)^0.5; its blob centroid. Returns ([N, 2] fractional (row, col),
    gated [N]: that distance <= 3, or the prior's range unknown)."""
    N, R, A = power_db.shape
    out, gated = np.zeros((N, 2)), np.zeros(N, bool)
    for i in range(N):
        r, c = int(round(prior_r[i])), int(round(prior_c[i]))
        cand = geo.local_maxima(power_db[i], k, (r - half_r[i], r + half_r[i] + 1), (c - half_c, c + half_c + 1))
        if not cand:
            out[i] = (min(max(prior_r[i], 0), R - 1), min(max(prior_c[i], 0), A - 1))
            continue
        top = max(power_db[i][q] for q in cand)
        cand = [q for q in cand if power_db[i][q] >= top - floor_db]
        d = [np.hypot((q[0] - prior_r[i]) / sigma_r[i], (q[1] - prior_c[i]) / sigma_c) for q in cand]
        j = int(np.argmin(d))
        out[i] = geo.blob_centroid(power_db[i], cand[j][0], cand[j][1], (4, 2), cfg.centroid_db)
        gated[i] = d[j] <= 3.0 or not np.isfinite(sigma_r[i])
    return out, gated


def read_instance_classes(sv: Any) -> np.ndarray | None:
    """``instance_class`` of a split, or None (with a warning: every object is then labelled a car)."""
    if "instance_class" in sv:
        return sv.read("instance_class")
    warnings.warn("the store has no instance_class (synthesised before v0.3): every object is labelled a car",
                  stacklevel=2)
    return None


def run_object_selflabels(labels: str | Path, data: str | Path, out: str | Path, split: str = "train",
                          cfg: Any = None, force: bool = False) -> Path:
    """Per-object self-labels of ``split`` from a finished self-label store ``labels`` of that split (its
    primary-target chain); a ``StageDir`` at ``out`` holding ``labels.npy`` [N, K, 4] (range, az, class,
    confidence) and ``instance.npy`` [N, K]. Returns ``out``. Label-free (the store is opened without labels)."""
    from ..config import to_dict
    from ..dataset.format import open_dataset
    from ..errors import RadiovisualError
    from ..utils.io import atomic_path
    from ..utils.stage import StageDir
    from .config import resolve_selflabel_config
    from .run import face_shift_m, open_labels

    cfg = cfg or resolve_selflabel_config()
    ds = open_dataset(data, labels=False)
    sv = ds.split(split)
    if "instance_mask" not in sv:
        raise RadiovisualError(f"{data} has no instance_mask: per-object self-labels need the camera's instance "
                               "masks (synthesise with scene.objects, or import them)")
    g = open_labels(labels)
    key = {"labels": {"path": str(Path(labels).resolve()), "key": g.attrs.get("key")}, "data": ds.fingerprint()}
    # "version" changes with the labelling method, so a run directory made by an earlier one is refused
    # (StageChangedError: use --force) instead of silently reused
    sd = StageDir(out, "selflabel-objects", {**to_dict(cfg), "split": split, "version": OBJECT_LABELS_VERSION},
                  key, force=force)
    if sd.done:
        return sd.path
    sd.begin()
    polar = np.asarray(g["polar"][...], np.float64)
    ret = np.asarray(g["bins_snap"][...] if "bins_snap" in g else g["bins"][...], np.float64)
    if len(polar) != len(sv):
        raise RadiovisualError(f"{labels} holds {len(polar)} labels but split '{split}' of {data} has {len(sv)}")
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    res = object_selflabels(sv.read("radar").astype(np.float64), sv.read("instance_mask"),
                            read_instance_classes(sv), polar, np.interp(ret[:, 0], np.arange(len(rb)), rb),
                            sv.read("mask"), rb, ab, cfg, bool(face_shift_m(cfg, ds.attrs)),
                            tracks={"sequence": sv.read("sequence"), "frame": sv.read("frame"),
                                    "dt": (ds.attrs.get("config") or {}).get("scene", {}).get("frame_dt_s")})
    for name in ("labels", "instance"):
        with atomic_path(Path(out) / f"{name}.npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, res[name].astype(np.float32 if name == "labels" else np.int16))
    sd.finish({"n": len(sv), **res["info"], "label_free": True, "uses_ground_truth": False})
    return sd.path


def load_object_labels(run: str | Path) -> np.ndarray:
    """Packed per-object self-labels [N, K, 4] of a finished ``run_object_selflabels`` directory."""
    from ..utils.stage import is_done

    if not is_done(run):
        from ..errors import RadiovisualError

        raise RadiovisualError(f"{run} is not a finished per-object self-label run (no done.json)")
    return np.load(Path(run) / "labels.npy")
