"""``radiovisual export-cruw``: write a radiovisual store in the ROD2021 layout. See ``docs/cruw.md``.

So that RODNet-style code can train on synthetic data, everything is put on CRUW's own grids:
* RA maps are resampled onto CRUW's 128 x 128 (range, azimuth) bin centres (linear interpolation of dB
  over range and sin(azimuth), the axis the angle FFT is uniform in; cells outside our coverage take the
  map's minimum) and written as (re, im) = (sqrt(linear power), 0): our heatmaps carry no phase.
  One snapshot per frame, so the four chirp files of a frame are identical.
* the target (one per frame) is annotated as a ``car`` quantised on the label grid (range k * 0.22304 m,
  whole degrees); frames whose target lies outside that grid get no annotation (counted).
* ``cam_0.yaml`` holds K in OpenCV's pixel convention (cx - 0.5) and zero distortion; the full camera
  pose (rotation, translation, radar height), which CRUW's translation-only rig cannot express, goes to
  ``radiovisual_export.json`` so that ``import-cruw`` restores it. That file is written last: its
  presence marks a finished export.
* ``detections/<SEQ>.txt`` (not part of ROD2021): the store's own target box per frame as a perfect
  detector's output, for ``import-cruw --detections ROOT/detections``.
Our splits become sequences ``2000_01_01_RV<SPLIT><id:04d>`` under ``sequences/train`` (with labels).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from ..utils.io import atomic_path, write_json, write_text
from . import cruw
from .format import open_dataset

DATE = "2000_01_01"


def sequence_name(split: str, seq: int) -> str:
    return f"{DATE}_RV{split.upper()}{seq:04d}"


def resample_to_cruw(db: np.ndarray, rb: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """dB map [R, A] on our grid -> [128, 128] dB on CRUW's grid (linear in range and sin(az))."""
    from scipy.interpolate import RegularGridInterpolator

    f = RegularGridInterpolator((rb, np.sin(ab)), np.asarray(db, np.float64), bounds_error=False,
                                fill_value=float(np.min(db)))
    rr, ss = np.meshgrid(cruw.range_grid_m(), np.sin(cruw.azimuth_grid_rad()), indexing="ij")
    return f(np.stack([rr, ss], axis=-1))


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, arr)


def _calib_yaml(K: np.ndarray, w: int, h: int) -> str:
    Ko = K.copy()
    Ko[0, 2] -= 0.5  # our pixel index i is centred at u = i + 0.5; OpenCV's at u = i
    Ko[1, 2] -= 0.5
    k = ", ".join(f"{v:.9g}" for v in Ko.ravel())
    p = ", ".join(f"{v:.9g}" for v in np.concatenate([Ko, np.zeros((3, 1))], axis=1).ravel())
    return (f"image_width: {w}\nimage_height: {h}\ncamera_name: cam_0\n"
            f"camera_matrix:\n  rows: 3\n  cols: 3\n  data: [{k}]\n"
            "distortion_model: plumb_bob\ndistortion_coefficients:\n  rows: 1\n  cols: 5\n  data: [0, 0, 0, 0, 0]\n"
            "rectification_matrix:\n  rows: 3\n  cols: 3\n  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]\n"
            f"projection_matrix:\n  rows: 3\n  cols: 4\n  data: [{p}]\n")


def export_cruw(data: str | Path, out: str | Path, splits: tuple[str, ...] | None = None,
                chirps: tuple[int, ...] = cruw.CHIRP_IDS, progress: bool = True) -> dict[str, Any]:
    """Write ``data`` as a ROD2021 tree at ``out``; returns the export summary (also in the sidecar)."""
    from PIL import Image

    data, out = Path(data), Path(out)
    bad = [c for c in chirps if c not in cruw.CHIRP_IDS]
    if bad or not chirps:
        raise DatasetError(f"chirps must be a non-empty subset of {cruw.CHIRP_IDS}, got {list(chirps)}")
    # Exporting labelled files is a conversion, not a method: the GT is written as annotations.
    ds = open_dataset(data, labels=True)
    splits = tuple(splits or ds.splits)
    missing = [s for s in splits if s not in ds.splits]
    if missing:
        raise DatasetError(f"{data} has no split(s) {', '.join(missing)} (has: {', '.join(ds.splits)})")
    side = out / cruw.EXPORT_SIDECAR
    if out.exists() and any(out.iterdir()) and not side.is_file():
        raise DatasetError(f"--out {out} is a non-empty directory that is not a finished export; use a new --out")
    side.unlink(missing_ok=True)  # re-export: unfinished until the sidecar is back
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    cam = ds.attrs.get("camera") or {}
    if "K" not in cam:
        raise DatasetError(f"{data}: camera attrs lack the intrinsics K; cannot write cam_0.yaml")
    K = np.asarray(cam["K"], np.float64).reshape(3, 3)
    summary: dict[str, Any] = {"source": str(data.resolve()), "frames": 0, "annotated": 0,
                               "outside_label_grid": 0, "sequences": {}}
    wh = None
    for split in splits:
        sv = ds.split(split)
        if len(sv) == 0:   # nothing to write (a store may carry an empty test split)
            continue
        seq, frm = sv.read("sequence"), sv.read("frame")
        polar = sv.read("target_polar").astype(np.float64)
        idx_all = range(len(sv))
        if progress:
            from tqdm import tqdm

            idx_all = tqdm(idx_all, desc=f"export-cruw {split}", unit="frame")
        ann: dict[str, list[str]] = {}
        dets: dict[str, list[str]] = {}
        bbox = sv.read("bbox").astype(np.float64) if "bbox" in sv else None
        visible = sv.read("mask").reshape(len(sv), -1).any(axis=1) if "mask" in sv else None
        for i in idx_all:
            name = sequence_name(split, int(seq[i]))
            f = int(frm[i])
            base = out / "sequences" / "train" / name
            db = resample_to_cruw(sv.read("radar", i), rb, ab)
            amp = np.sqrt(np.power(10.0, db / 10.0))
            ra = np.stack([amp, np.zeros_like(amp)], axis=-1).astype(np.float32)
            for c in chirps:
                _save_npy(base / cruw.RADAR_DIR / f"{f:06d}_{c:04d}.npy", ra)
            img = sv.read("image", i)
            wh = (img.shape[1], img.shape[0])
            with atomic_path(base / cruw.IMAGE_DIR / f"{f:010d}.jpg") as tmp:
                Image.fromarray(img).save(tmp, format="JPEG", quality=95)
            lines = ann.setdefault(name, [])
            dl = dets.setdefault(name, [])
            if bbox is not None and visible[i] and np.isfinite(bbox[i]).all():
                dl.append(f"{f} " + " ".join(f"{v:.3f}" for v in bbox[i]) + " 1.0 car")
            summary["frames"] += 1
            if cruw.on_label_grid(polar[i]) and np.isfinite(polar[i]).all():
                r, a = cruw.quantise_to_label_grid(polar[i])
                lines.append(f"{f} {r:.5f} {a:.6f} car")
                summary["annotated"] += 1
            else:
                summary["outside_label_grid"] += 1
        for name, lines in ann.items():
            write_text(out / "annotations" / "train" / f"{name}.txt", "\n".join(lines) + ("\n" if lines else ""))
            write_text(out / "detections" / f"{name}.txt", "\n".join(dets[name]) + ("\n" if dets[name] else ""))
            summary["sequences"][name] = {"split": split, "annotated_frames": len(lines)}
    if wh is None:
        raise DatasetError(f"{data}: the chosen splits hold no samples")
    write_text(out / "calib" / DATE / "cam_0.yaml", _calib_yaml(K, *wh))
    pose = {k: cam[k] for k in ("R_cam_from_radar", "t_cam_from_radar_m", "radar_height_m") if k in cam}
    radio = ds.attrs.get("radio") or {}
    dt = ((ds.attrs.get("config") or {}).get("scene") or {}).get("frame_dt_s")
    # the source's resolution and frame period: import-cruw restores them (windows, kernels, speed gate)
    summary.update({"radio": {k: radio[k] for k in ("range_resolution_m", "array") if k in radio},
                    "frame_dt_s": dt})
    summary.update({"camera_pose": pose, "chirps": list(chirps),
                    "radar": "dB resampled to CRUW's grid (linear in range and sin az); re = sqrt(power), im = 0",
                    "label_grid": "range k * 0.22304 m (k = 3..124), whole degrees in [-60, 60]"})
    write_json(side, summary)
    return summary


def read_export_summary(root: str | Path) -> dict[str, Any]:
    p = Path(root) / cruw.EXPORT_SIDECAR
    if not p.is_file():
        raise DatasetError(f"{root} is not a finished export-cruw tree (no {cruw.EXPORT_SIDECAR})")
    return json.loads(p.read_text())
