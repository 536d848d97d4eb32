"""``radiovisual export-cruw``: a radiovisual store as a ROD2021 tree RODNet trains on unedited. See ``docs/cruw.md``.

What RODNet's ``prepare_data`` and ``CRDataset`` need (``shared/notes/rodnet-roundtrip.md``) and what this writes:
* ``sequences/train/<SEQ>`` (our train split) and ``sequences/test/<SEQ>`` (our val and test splits: RODNet
  trains on every sequence under ``train`` and never on ``test``), each with ``RADAR_RA_H/%06d_%04d.npy`` for
  chirps 0, 64, 128, 192 and ``IMAGES_0/%010d.jpg``; ``annotations/{train,test}/<SEQ>.txt``. The lists of
  our three splits are in ``splits/*.txt`` and, as RODNet's ``dataset_cfg`` entries, in ``rodnet_splits.py``.
* frames renumbered 0..T-1 per sequence in stored order (RODNet indexes frames by position): the source
  frame of each is in ``radiovisual_frame_map.json``. ``window`` refuses sequences shorter than RODNet's window,
  or with ``pad`` repeats their last frame up to it (marked in the map).
* radar chirps from ``cruw_radar`` (complex chirps when the store has them, else magnitude only), scaled by
  one store gain; ``calib/2019_05_09/cam_0.yaml`` and ``calib/2019_09_29/cam_0.yaml``: the folders of
  cruw-devkit's date table, all of which ``CRUW()`` loads (another name makes it warn that calibration failed),
  and sequences are dated 2019_05_09 so its per-date lookup finds our camera.
* the target as a ``car`` on the label grid (range k * 0.22304 m, whole degrees); ``detections/<SEQ>.txt``
  (not ROD2021): the store's target box, for ``import-cruw --detections``.
* ``radiovisual_export.json`` (written last: marks a finished export): camera pose, radio, frame period,
  gain, notes, counts.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DatasetError
from ...utils.io import atomic_path, write_json, write_text
from .. import cruw
from .radar import RadarWriter, store_gain
from ..store.format import open_dataset

DATE = "2019_05_09"                        # a date of cruw-devkit's calibration table (see the docstring)
CALIB_DATES = ("2019_05_09", "2019_09_29")  # every folder the devkit's table names
RODNET_WINDOW = 16                          # win_size of RODNet's shipped configs
FRAME_MAP = "radiovisual_frame_map.json"
SUBSET_OF = {"train": "train", "val": "test", "test": "test"}
OWNED = ("sequences", "annotations", "detections", "calib", "splits", "rodnet_splits.py", FRAME_MAP)


def sequence_name(split: str, seq: int) -> str:
    return f"{DATE}_RV{split.upper()}{seq:04d}"


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


def plan_sequences(ds, splits: tuple[str, ...], window: int | None, pad: bool) -> list[dict[str, Any]]:
    """One entry per exported sequence: name, split, subset, source sample indices (renumbered 0..T-1 in
    stored frame order; padded with the last one when asked). Refuses short sequences under ``window``."""
    plan, short = [], []
    for split in splits:
        sv = ds.split(split)
        if len(sv) == 0:
            continue
        seq, frm = sv.read("sequence"), sv.read("frame")
        src_names = (ds.attrs.get("sequence_names") or {}).get(split) or []   # imported stores name theirs
        for s in np.unique(seq):
            idx = np.flatnonzero(seq == s)
            idx = idx[np.argsort(frm[idx], kind="stable")]
            e = {"name": sequence_name(split, int(s)), "split": split, "subset": SUBSET_OF[split],
                 "sequence": int(s), "source_name": src_names[s] if s < len(src_names) else None,
                 "index": idx.tolist(), "source_frames": frm[idx].astype(int).tolist(), "padded_frames": 0}
            if window and len(idx) < window:
                short.append(e)
                if pad:
                    e["padded_frames"] = window - len(idx)
                    e["index"] += [e["index"][-1]] * e["padded_frames"]
            plan.append(e)
    if not plan:
        raise DatasetError(f"{ds.path}: the chosen splits hold no samples")
    if short and not pad:
        first = min(short, key=lambda e: len(e["index"]))
        raise DatasetError(f"{len(short)} of {len(plan)} sequences are shorter than --window {window} (shortest: "
                           f"{first['name']}, {len(first['index'])} frames); synthesise longer ones (--preset cruw "
                           f"or --set scene.n_frames={window}) or add --pad to repeat each one's last frame")
    return plan


def export_notes(ds, plan: list[dict], writer: RadarWriter, window: int | None) -> list[str]:
    """One line per thing a RODNet user must know about this export (printed by the CLI, kept in the sidecar)."""
    notes = []
    win = window or RODNET_WINDOW
    short = [e for e in plan if len(e["index"]) < win]
    if short:
        n = min(len(e["index"]) for e in short)
        notes.append(f"{len(short)} of {len(plan)} sequences are shorter than RODNet's {win}-frame window (shortest "
                     f"{n} frames), so RODNet finds no training window in them; synthesise with --preset cruw or "
                     f"--set scene.n_frames={win}, or export with --window {win} --pad")
    if not writer.complex:
        notes.append("the store has no complex chirps (radio.cube_chirps=0): the 4 chirp files of a frame hold one "
                     "magnitude-only map (imaginary part 0), with no phase and no chirp-to-chirp change, so a RODNet "
                     "model trained on it does not carry over to ROD2021; synthesise with --preset cruw or "
                     "--set radio.cube_chirps=4")
    dt = frame_period(ds)
    if dt is None:
        notes.append("the store does not state its frame period; ROD2021 and RODNet assume 30 frames/s")
    elif abs(1.0 / dt - 1.0 / cruw.FRAME_DT_S) > 0.5:
        notes.append(f"frames are {dt:.4g} s apart ({1 / dt:.3g} frames/s); ROD2021 and RODNet assume 30 frames/s, "
                     f"so a {win}-frame window spans {win * dt:.2f} s here and {win * cruw.FRAME_DT_S:.2f} s there; "
                     "synthesise with --preset cruw or --set scene.frame_dt_s=0.0333333")
    return notes


def frame_period(ds) -> float | None:
    dt = ds.attrs.get("frame_dt_s") or ((ds.attrs.get("config") or {}).get("scene") or {}).get("frame_dt_s")
    return float(dt) if dt else None


def _prepare_out(out: Path) -> None:
    side = out / cruw.EXPORT_SIDECAR
    if out.exists() and not out.is_dir():
        raise DatasetError(f"--out {out} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not side.is_file():
        raise DatasetError(f"--out {out} is a non-empty directory that is not a finished export; use a new --out")
    side.unlink(missing_ok=True)  # re-export: unfinished until the sidecar is back
    for name in OWNED:            # a finished export of ours: replaced whole, so no stale sequence lingers
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def export_cruw(data: str | Path, out: str | Path, splits: tuple[str, ...] | None = None,
                window: int | None = None, pad: bool = False, progress: bool = True) -> dict[str, Any]:
    """Write ``data`` as a ROD2021 tree at ``out``; returns the export summary (also in the sidecar)."""
    data, out = Path(data), Path(out)
    if window is not None and window < 1:
        raise DatasetError(f"--window must be >= 1, got {window}")
    if pad and not window:
        raise DatasetError("--pad needs --window (the length to pad short sequences to)")
    # Exporting labelled files is a conversion, not a method: the GT is written as annotations.
    ds = open_dataset(data, labels=True)
    splits = tuple(splits or ds.splits)
    missing = [s for s in splits if s not in ds.splits]
    if missing:
        raise DatasetError(f"{data} has no split(s) {', '.join(missing)} (has: {', '.join(ds.splits)})")
    cam = ds.attrs.get("camera") or {}
    if "K" not in cam:
        raise DatasetError(f"{data}: camera attrs lack the intrinsics K; cannot write cam_0.yaml")
    plan = plan_sequences(ds, splits, window, pad)      # every refusal happens before anything is written
    gain, p_max = store_gain(ds)
    writer = RadarWriter(ds, tuple(dict.fromkeys(e["split"] for e in plan)), gain)
    notes = export_notes(ds, plan, writer, window)
    _prepare_out(out)
    summary: dict[str, Any] = {"source": str(data.resolve()), "frames": 0, "annotated": 0, "outside_label_grid": 0,
                               "padded_frames": 0, "sequences": {}}
    wh = None
    it = plan
    if progress:
        from ...utils.progress import tqdm

        it = tqdm(plan, desc="export-cruw", unit="seq")
    for e in it:
        wh = _write_sequence(ds.split(e["split"]), e, out, writer, summary)
    K = np.asarray(cam["K"], np.float64).reshape(3, 3)
    for d in CALIB_DATES:
        write_text(out / "calib" / d / "cam_0.yaml", _calib_yaml(K, *wh))
    _write_lists(out, plan)
    dt = frame_period(ds)
    radio = ds.attrs.get("radio") or {}
    summary.update({
        "camera_pose": {k: cam[k] for k in ("R_cam_from_radar", "t_cam_from_radar_m", "radar_height_m") if k in cam},
        # the source's resolution and frame period: import-cruw restores them (windows, kernels, speed gate)
        "radio": {k: radio[k] for k in ("range_resolution_m", "array") if k in radio},
        "frame_dt_s": dt, "frame_rate_hz": (1.0 / dt) if dt else None, "window": window, "pad": pad,
        "radar": writer.describe(), "radar_complex": writer.complex, "radar_gain": gain,
        "radar_gain_rule": f"10^(-P_max/20), P_max = {p_max:.3f} dB, the store's highest radar (chirp 0) value",
        "chirps": list(cruw.CHIRP_IDS), "notes": notes,
        "splits": {"train": "sequences/train", "val": "sequences/test", "test": "sequences/test",
                   "lists": "splits/{train,val,test}.txt, rodnet_splits.py"},
        "frame_map": FRAME_MAP, "calib_dates": list(CALIB_DATES),
        "label_grid": "range k * 0.22304 m (k = 3..124), whole degrees in [-60, 60]"})
    write_json(out / cruw.EXPORT_SIDECAR, summary)
    return summary


def _write_sequence(sv, e: dict, out: Path, writer: RadarWriter, summary: dict) -> tuple[int, int]:
    """Radar chirps, images, annotation and detection lines of one planned sequence; returns the image (w, h)."""
    from PIL import Image

    name, base = e["name"], out / "sequences" / e["subset"] / e["name"]
    polar = sv.read("target_polar").astype(np.float64)
    bbox = sv.read("bbox").astype(np.float64) if "bbox" in sv else None
    mask = sv.array("mask") if "mask" in sv else None
    lines, dets = [], []
    wh = (0, 0)
    for f, i in enumerate(e["index"]):
        for c, ri in zip(cruw.CHIRP_IDS, writer.frame(sv, i)):
            _save_npy(base / cruw.RADAR_DIR / f"{f:06d}_{c:04d}.npy", ri)
        img = sv.read("image", i)
        wh = (img.shape[1], img.shape[0])
        with atomic_path(base / cruw.IMAGE_DIR / f"{f:010d}.jpg") as tmp:
            Image.fromarray(img).save(tmp, format="JPEG", quality=95)
        if bbox is not None and np.isfinite(bbox[i]).all() and bool(np.asarray(mask[i]).any()):
            dets.append(f"{f} " + " ".join(f"{v:.3f}" for v in bbox[i]) + " 1.0 car")
        summary["frames"] += 1
        if np.isfinite(polar[i]).all() and cruw.on_label_grid(polar[i]):
            r, a = cruw.quantise_to_label_grid(polar[i])
            lines.append(f"{f} {r:.5f} {a:.6f} car")
            summary["annotated"] += 1
        else:
            summary["outside_label_grid"] += 1
    write_text(out / "annotations" / e["subset"] / f"{name}.txt", "".join(ln + "\n" for ln in lines))
    write_text(out / "detections" / f"{name}.txt", "".join(ln + "\n" for ln in dets))
    summary["padded_frames"] += e["padded_frames"]
    summary["sequences"][name] = {"split": e["split"], "subset": e["subset"], "frames": len(e["index"]),
                                  "annotated_frames": len(lines), "padded_frames": e["padded_frames"]}
    return wh


def _write_lists(out: Path, plan: list[dict]) -> None:
    """``splits/{train,val,test}.txt``, ``rodnet_splits.py`` (RODNet ``dataset_cfg`` entries) and the frame map."""
    by = {s: [e["name"] for e in plan if e["split"] == s] for s in ("train", "val", "test")}
    for s, names in by.items():
        write_text(out / "splits" / f"{s}.txt", "".join(n + "\n" for n in names))
    cfg = {"train": {"subdir": "train", "seqs": by["train"]}, "valid": {"subdir": "test", "seqs": by["val"]},
           "test": {"subdir": "test", "seqs": by["test"]}}
    write_text(out / "rodnet_splits.py",
               "# radiovisual export-cruw: our splits as entries of a RODNet config's dataset_cfg.\n"
               "# RODNet's shipped configs need none of this: they train on every sequence under sequences/train\n"
               "# (our train split) and test on every one under sequences/test (our val and test splits).\n"
               "# To score val and test apart, copy these into dataset_cfg (keys train, valid, test).\n"
               + "".join(f"{k} = dict(subdir={v['subdir']!r}, seqs={v['seqs']!r})\n" for k, v in cfg.items()))
    fmap = {e["name"]: {"split": e["split"], "sequence": e["sequence"], "source_name": e["source_name"],
                        "source_frames": e["source_frames"],
                        "padded_frames": e["padded_frames"],
                        "rule": "exported frame f is source_frames[f]; frames past len(source_frames) repeat the last"}
            for e in plan}
    write_json(out / FRAME_MAP, fmap)


def read_export_summary(root: str | Path) -> dict[str, Any]:
    p = Path(root) / cruw.EXPORT_SIDECAR
    if not p.is_file():
        raise DatasetError(f"{root} is not a finished export-cruw tree (no {cruw.EXPORT_SIDECAR})")
    return json.loads(p.read_text())
