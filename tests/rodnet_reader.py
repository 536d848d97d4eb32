"""A test-only reader of a ROD2021 tree that follows RODNet's data-preparation rules, so our export is checked
against them without RODNet, cruw-devkit or a download.

Written from RODNet's ``tools/prepare_dataset/prepare_data.py`` and ``rodnet/datasets/CRDataset.py`` and from
cruw-devkit's ``CRUW()`` and ``sensor_config_rod2021.json`` (read, not copied; facts in
``shared/notes/rodnet-roundtrip.md``). Each rule raises ``RodnetRuleError`` naming what RODNet would do:

* split folders: ``prepare_data --split S`` lists ``sequences/S`` (absent: it fails);
* frames: ``n_frame`` = number of ``IMAGES_0/*.jpg``; ``RADAR_RA_H`` must hold exactly 4 * n_frame files (an
  ``assert`` without message: "Error while preparing ...: " and the sequence is dropped); radar paths are
  ``%06d_%04d.npy`` for frames 0..n_frame-1 and chirps 0, 64, 128, 192, images pair with frames by sorted
  position, so frame numbers must be contiguous from 0;
* annotations ``annotations/S/<SEQ>.txt`` (required for train: ``CRDataset`` asserts labels there): 4 fields,
  frame id < n_frame (else "list index out of range"), a known class, (range, azimuth) on the devkit's label
  grid, mapped to RA indices by nearest bin (``ra2idx``);
* windows: ``CRDataset`` gives a sequence (n_frame - (win * step - 1)) // stride (+1 if a remainder) samples,
  with win 16, step 1, stride 4 (train) or 8 (test) in the shipped configs: it must be positive;
* radar files: float32 (128, 128, 2); besides RODNet's own checks, what ROD2021 data is: 4 distinct chirps per
  frame with phase (imaginary part not all zero), at a scale cruw-devkit's 0..1 colour map shows;
* calibration: ``CRUW()`` loads ``calib/<date>/cam_0.yaml`` for every date of its table (any missing: it warns
  "loading calibration data failed"), and a sequence's date must be in the table;
* frame period: ROD2021 is 30 frames/s (the devkit's ``frame_rate``); the tree states its own in the export
  sidecar, which must agree.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from radiovisual.dataset import cruw

CHIRP_IDS = (0, 64, 128, 192)
CLASSES = ("pedestrian", "cyclist", "car")
WIN, STEP, STRIDE = 16, 1, {"train": 4, "test": 8}     # config_rodnet_*_win16.py
DEVKIT_CALIB = {"2019_04_09": "2019_05_09", "2019_04_30": "2019_05_09", "2019_05_09": "2019_05_09",
                "2019_05_23": "2019_05_09", "2019_05_29": "2019_05_09", "2019_09_29": "2019_09_29"}
FRAME_RATE_HZ = 30.0
SCALE = (0.1, 1.5)   # the brightest cell of a sequence on cruw-devkit's 0..1 view: visible, not saturated


class RodnetRuleError(AssertionError):
    pass


def n_windows(n_frame: int, split: str, win: int = WIN) -> int:
    """CRDataset's samples per sequence."""
    stride = STRIDE[split]
    rest = n_frame - (win * STEP - 1)
    return rest // stride + (1 if rest % stride > 0 else 0)


def ra2idx(r: float, a: float) -> tuple[int, int]:
    """Nearest RA bin of (range m, azimuth rad) on cruw-devkit's grids."""
    return int(np.argmin(np.abs(cruw.range_grid_m() - r))), int(np.argmin(np.abs(cruw.azimuth_grid_rad() - a)))


def check_calibration(root: Path) -> None:
    import yaml

    for date in sorted(set(DEVKIT_CALIB.values())):
        p = root / "calib" / date / "cam_0.yaml"
        if not p.is_file():
            raise RodnetRuleError(f"cruw-devkit: warning: loading calibration data failed (no {p})")
        K = yaml.safe_load(p.read_text())["camera_matrix"]
        if np.asarray(K["data"], float).size != 9:
            raise RodnetRuleError(f"cruw-devkit cannot parse the camera matrix of {p}")


def check_frame_rate(root: Path) -> None:
    side = json.loads((root / cruw.EXPORT_SIDECAR).read_text())
    dt = side.get("frame_dt_s")
    if not dt or abs(1.0 / dt - FRAME_RATE_HZ) > 0.5:
        raise RodnetRuleError(f"frames are {dt} s apart; ROD2021 (and RODNet's 16-frame window) is 30 frames/s")


def _load_anno(path: Path, n_frame: int) -> list[list[tuple[str, int, int]]]:
    frames: list[list[tuple[str, int, int]]] = [[] for _ in range(n_frame)]
    lr, la = cruw.label_range_grid_m(), cruw.label_azimuth_grid_rad()
    for line in path.read_text().splitlines():
        fid, r, a, cls = line.rstrip().split()
        fid, r, a = int(fid), float(r), float(a)
        if fid >= n_frame:
            raise RodnetRuleError(f"{path}: frame {fid} of a {n_frame}-frame sequence: list index out of range")
        if cls not in CLASSES:
            raise RodnetRuleError(f"{path}: unknown class {cls}")
        if np.min(np.abs(lr - r)) > 5e-5 or np.min(np.abs(la - a)) > 5e-6:
            raise RodnetRuleError(f"{path}: ({r}, {a}) is not on cruw-devkit's label grid")
        frames[fid].append((cls, *ra2idx(r, a)))
    return frames


def prepare_sequence(root: Path, split: str, seq: str) -> dict:
    """What ``prepare_data`` pickles for one sequence (paths, n_frame, per-frame objects with RA indices)."""
    d = root / "sequences" / split / seq
    images = sorted(p.name for p in (d / "IMAGES_0").iterdir() if p.name.endswith("jpg"))
    n_frame = len(images)
    radar_dir = d / "RADAR_RA_H"
    if len(list(radar_dir.iterdir())) != n_frame * len(CHIRP_IDS):
        raise RodnetRuleError(f"Error while preparing {d}: (RADAR_RA_H holds {len(list(radar_dir.iterdir()))} "
                              f"files, not 4 chirps x {n_frame} frames)")
    if images != [f"{f:010d}.jpg" for f in range(n_frame)]:
        raise RodnetRuleError(f"{d}: images are not frames 0..{n_frame - 1} (frame numbers must be contiguous)")
    paths = [[radar_dir / f"{f:06d}_{c:04d}.npy" for c in CHIRP_IDS] for f in range(n_frame)]
    gone = [p for fp in paths for p in fp if not p.is_file()]
    if gone:
        raise RodnetRuleError(f"{d}: radar file {gone[0].name} missing (frame numbers must be contiguous from 0)")
    anno = root / "annotations" / split / f"{seq}.txt"
    if split == "train" and not anno.is_file():
        raise RodnetRuleError(f"{anno} missing: CRDataset asserts labels for train")
    objs = _load_anno(anno, n_frame) if anno.is_file() else None
    windows = n_windows(n_frame, split)
    if windows <= 0:
        raise RodnetRuleError(f"{d}: {n_frame} frames give {windows} samples for a {WIN}-frame window "
                              "(num_samples=0 / negative length)")
    return {"name": seq, "n_frame": n_frame, "radar_paths": paths, "objects": objs, "windows": windows}


def check_radar(seq: dict) -> float:
    """Every file float32 (128, 128, 2), finite; 4 distinct chirps with phase; returns the brightest magnitude."""
    peak = 0.0
    for f, fp in enumerate(seq["radar_paths"]):
        ch = [np.load(p) for p in fp]
        for p, a in zip(fp, ch):
            if a.shape != (128, 128, 2) or a.dtype != np.float32 or not np.isfinite(a).all():
                raise RodnetRuleError(f"{p}: {a.dtype} {a.shape}, not finite float32 (128, 128, 2)")
        if any(np.array_equal(ch[0], c) for c in ch[1:]):
            raise RodnetRuleError(f"{seq['name']} frame {f}: identical chirps (ROD2021's 4 chirps differ)")
        if not any(np.any(c[..., 1] != 0) for c in ch):
            raise RodnetRuleError(f"{seq['name']} frame {f}: imaginary parts all zero (no phase)")
        peak = max(peak, float(max(np.hypot(c[..., 0], c[..., 1]).max() for c in ch)))
    if not SCALE[0] <= peak <= SCALE[1]:
        raise RodnetRuleError(f"{seq['name']}: brightest magnitude {peak:.3g} is outside {SCALE} "
                              "(cruw-devkit's 0..1 colour scale)")
    return peak


def load_window(seq: dict, start: int) -> np.ndarray:
    """CRDataset (MNet, 4 chirps) sample: float32 [2, WIN, 4, 128, 128] (re/im, frame, chirp, range, azimuth)."""
    frames = range(start, start + WIN * STEP, STEP)
    w = np.stack([np.stack([np.load(p) for p in seq["radar_paths"][f]]) for f in frames])
    return np.transpose(w, (4, 0, 1, 2, 3)).astype(np.float32)


def read_tree(root: str | Path, splits: tuple[str, ...] = ("train", "test"), radar: bool = True) -> dict:
    """Apply every rule to ``root``; returns {split: [prepared sequences]}."""
    root = Path(root)
    check_calibration(root)
    check_frame_rate(root)
    out = {}
    for split in splits:
        base = root / "sequences" / split
        if not base.is_dir():
            raise RodnetRuleError(f"prepare_data --split {split}: {base} does not exist")
        seqs = []
        for name in sorted(p.name for p in base.iterdir()):
            if not re.match(r"^\d{4}_\d{2}_\d{2}_", name) or name[:10] not in DEVKIT_CALIB:
                raise RodnetRuleError(f"{name}: its date is not in cruw-devkit's calibration table")
            s = prepare_sequence(root, split, name)
            if radar:
                s["peak"] = check_radar(s)
            seqs.append(s)
        if not seqs:
            raise RodnetRuleError(f"{base} holds no sequence")
        out[split] = seqs
    return out
