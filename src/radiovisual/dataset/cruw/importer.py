"""``radiovisual import-cruw``: write a ROD2021 tree as a radiovisual store (format v1). See ``docs/cruw.md``.

Every input is checked before the store is touched (one ``DatasetError`` line per malformed piece);
the store is written with ``complete=false``, verified, then marked complete, like the synthesiser's.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ...config import fingerprint, resolve, to_dict
from ...errors import ConfigError, DatasetError
from ...utils.io import check_writable_dir, write_text
from .. import cruw
from ..store.format import SHARD_SAMPLES, create_root, mark_complete, open_dataset

TARGET_POINT = ("the annotated CRUW object nearest to the radar (smallest annotated range) in each frame; "
                "all annotated objects are in 'objects' [N, K, 3] = (range m, azimuth rad, class id), NaN-padded")


@dataclass(frozen=True)
class CruwImportConfig:
    sequences: tuple[str, ...] = ()   # names, fnmatch globs or scene codes (PL, CR, CS, HW); () = all
    chirp: str = "0"                  # "0" | "64" | "128" | "192" | "mean" (mean power of the four chirps)
    val_fraction: float = 0.2         # share of sequences carved from train into val (by sequence)
    val_sequences: tuple[str, ...] = ()  # explicit val sequence names (override val_fraction)
    seed: int = 0                     # fixes the val draw
    store_complex: bool = False       # also store the chosen chirp's complex RA map as 'radar_complex'
    max_image_width: int = 480        # images are reduced by the smallest integer factor reaching this
    radar_height_m: float = cruw.DEFAULT_RADAR_HEIGHT_M  # above ground; not published, an assumption
    floor_db: float = -120.0          # dB floor so that log-power stays finite
    detections: str = ""              # folder of <SEQ>.txt vision detections (the named mask source)
    frame_dt_s: float = cruw.FRAME_DT_S  # ROD2021 is 30 fps; stored where synthetic stores state it

    def validate(self) -> None:
        if self.chirp != "mean" and self.chirp not in {str(c) for c in cruw.CHIRP_IDS}:
            raise ConfigError(f"chirp must be one of {cruw.CHIRP_IDS} or 'mean', got {self.chirp!r}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.max_image_width < 1 or not self.radar_height_m > 0:
            raise ConfigError("max_image_width must be >= 1 and radar_height_m > 0")
        if not self.frame_dt_s > 0:
            raise ConfigError(f"frame_dt_s must be > 0, got {self.frame_dt_s}")


def resolve_import_config(overrides: list[str] | None = None, yaml_path: str | None = None,
                          **kw: Any) -> CruwImportConfig:
    cfg = resolve(CruwImportConfig, {"default": {}}, "default", yaml_path, overrides)
    cfg = replace(cfg, **{k: v for k, v in kw.items() if v is not None})
    cfg.validate()
    return cfg


def split_sequences(names: list[str], cfg: CruwImportConfig) -> dict[str, list[str]]:
    """Carve val from train by whole sequences (seeded draw, or the explicit list)."""
    if cfg.val_sequences:
        bad = [v for v in cfg.val_sequences if v not in names]
        if bad:
            raise DatasetError(f"val sequence(s) not among the imported ones: {', '.join(bad)}")
        val = sorted(cfg.val_sequences)
    else:
        n_val = int(math.ceil(cfg.val_fraction * len(names))) if cfg.val_fraction > 0 else 0
        if n_val >= len(names) and n_val > 0:
            raise DatasetError(f"val_fraction {cfg.val_fraction} would leave no train sequence "
                               f"({len(names)} sequence(s) imported)")
        val = sorted(np.random.default_rng(cfg.seed).permutation(names)[:n_val].tolist())
    return {"train": [n for n in names if n not in val], "val": val}


def _splits(names: list[str], tests: list[str], cfg: CruwImportConfig, side: dict | None) -> dict[str, list[str]]:
    """Train sequences split by ``split_sequences``; labelled sequences under ``sequences/test`` (an export-cruw
    tree's val and test) go back to the split the export's sidecar names, or to val when listed in
    ``val_sequences``, else to test."""
    was = {n: v.get("split") for n, v in ((side or {}).get("sequences") or {}).items() if isinstance(v, dict)}
    to_val = [n for n in tests if n in cfg.val_sequences or was.get(n) == "val"]
    own = tuple(v for v in cfg.val_sequences if v not in tests)
    if cfg.val_sequences and not own:   # an explicit val list, all of it under test: carve nothing from train
        splits = {"train": list(names), "val": []}
    else:
        splits = split_sequences(names, replace(cfg, val_sequences=own))
    splits["val"] = sorted(splits["val"] + to_val)
    rest = [n for n in tests if n not in to_val]
    if rest:
        splits["test"] = rest
    return splits


def _image_factor(width: int, max_w: int) -> int:
    return max(1, int(math.ceil(width / max_w)))


def _read_image(path: Path, wh: tuple[int, int], factor: int) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != wh:
                raise DatasetError(f"image {path} is {im.size[0]}x{im.size[1]}, expected {wh[0]}x{wh[1]} "
                                   "like the sequence's first image")
            if factor > 1:
                im = im.reduce(factor)  # box average over factor x factor blocks
            return np.asarray(im, np.uint8)
    except DatasetError:
        raise
    except Exception as e:
        raise DatasetError(f"cannot read image {path}: {type(e).__name__}: {e}") from None


def _camera_attrs(calib: dict, wh: tuple[int, int], factor: int, cfg: CruwImportConfig,
                  sidecar: dict | None) -> dict[str, Any]:
    """Our pixel convention centres pixel i at u = i + 0.5 (OpenCV: u = i), so cx += 0.5, then / factor."""
    K = calib["K"].copy()
    K[0, 2] += 0.5
    K[1, 2] += 0.5
    K[:2] /= factor
    pose = (sidecar or {}).get("camera_pose") or {}
    return {
        "K": K.tolist(), "width": wh[0] // factor, "height": wh[1] // factor,
        "distortion": calib["D"].tolist(), "distortion_model": "plumb_bob (k1, k2, p1, p2, k3), OpenCV",
        "image_reduction": factor,
        "R_cam_from_radar": pose.get("R_cam_from_radar", [list(r) for r in cruw.R_CAM_FROM_RADAR]),
        "t_cam_from_radar_m": pose.get("t_cam_from_radar_m", list(cruw.T_CAM_FROM_RADAR_M)),
        "radar_height_m": float(pose.get("radar_height_m", cfg.radar_height_m)),
        "radar_height_source": "export sidecar" if "radar_height_m" in pose else "import config (assumed)",
        "convention": "see radiovisual.sensors.camera_model.CONVENTION; K in the i + 0.5 pixel-centre "
                      "convention of the stored (reduced) image; distortion applies to normalised coordinates",
    }


def _radio_attrs(cfg: CruwImportConfig, sidecar: dict | None) -> dict[str, Any]:
    """The sensor facts, with the resolution keys of synthetic stores (``dataset.resolution`` reads them).

    An exported synthetic tree keeps its source's resolution (the sidecar's ``radio``): resampling onto
    CRUW's bins does not change the beam that made the maps.
    """
    radio = {"sensor": "TI AWR1843 (2 TX, 4 RX), 77 GHz FMCW", "sample_freq_hz": cruw.SAMPLE_FREQ_HZ,
             "sweep_slope_hz_per_s": cruw.SWEEP_SLOPE_HZ_PER_S, "chirp": cfg.chirp,
             "chirp_ids": list(cruw.CHIRP_IDS), "doppler": "none (range and angle FFTs only)",
             "range_resolution_m": cruw.RANGE_RESOLUTION_M,
             "array": {"rows": 1, "cols": cruw.VIRTUAL_ELEMENTS,
                       "spacing_wavelengths": cruw.ELEMENT_SPACING_WAVELENGTHS,
                       "kind": "virtual ULA of 2 TX x 4 RX (MIMO), 128-point angle FFT"},
             "resolution_source": "AWR1843 (ROD2021)"}
    src = (sidecar or {}).get("radio") or {}
    if src.get("range_resolution_m") and (src.get("array") or {}).get("cols"):
        radio.update(sensor="radiovisual synthetic radar resampled to CRUW's grid (export-cruw)",
                     range_resolution_m=float(src["range_resolution_m"]), array=dict(src["array"]),
                     resolution_source="export sidecar (the source store's radio)")
    return radio


def _frame_dt(cfg: CruwImportConfig, sidecar: dict | None) -> float:
    dt = (sidecar or {}).get("frame_dt_s")
    return float(dt) if dt else float(cfg.frame_dt_s)


def _sidecar(root: Path) -> dict | None:
    p = root / cruw.EXPORT_SIDECAR
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except ValueError as e:
        raise DatasetError(f"{p} is not valid JSON: {e}") from None


def import_cruw(root: str | Path, out: str | Path, cfg: CruwImportConfig | None = None,
                progress: bool = True) -> Path:
    """Validate the whole tree, then write ``out`` (train + val) and mark it complete."""
    cfg = cfg or CruwImportConfig()
    cfg.validate()
    root, out = Path(root), Path(out)
    side = _sidecar(root)
    rb, ab = cruw.range_grid_m(), cruw.azimuth_grid_rad()
    names = cruw.list_sequences(root, cfg.sequences)
    tests = [n for n in cruw.labelled_test_sequences(root, cfg.sequences) if n not in names]
    det_dir = Path(cfg.detections) if cfg.detections else None
    seqs = {n: cruw.scan_sequence(root, n, det_dir) for n in names}
    seqs.update({n: cruw.scan_sequence(root, n, det_dir, "test") for n in tests})
    empty = [n for n, s in seqs.items() if not s.frames]
    if empty:
        raise DatasetError(f"sequence(s) without any annotated frame: {', '.join(empty)}")
    chirps = cruw.CHIRP_IDS if cfg.chirp == "mean" else (int(cfg.chirp),)
    for s in seqs.values():  # headers only: every malformed file fails before the store is touched
        for f in s.frames:
            for c in chirps:
                cruw.check_ra_header(cruw.radar_path(root, s.name, f, c, s.subset), cruw.RA_SHAPE)
    calib = {n: cruw.read_calib(s.calib) for n, s in seqs.items()}
    first = calib[names[0]]
    for n in seqs:
        if not (np.allclose(calib[n]["K"], first["K"]) and np.allclose(calib[n]["D"], first["D"])):
            raise DatasetError(f"sequence {n} uses a different camera calibration than {names[0]}; "
                               "import sequences of one calibration per store (--sequences)")
    from PIL import Image

    s0 = seqs[names[0]]
    with Image.open(cruw.image_path(root, s0.name, s0.frames[0])) as im:
        wh = im.size
    factor = _image_factor(wh[0], cfg.max_image_width)
    splits = _splits(names, tests, cfg, side)
    fp = fingerprint({"root": str(root.resolve()), "config": to_dict(cfg)})
    _prepare(out, fp)
    from ..synthesis.synth import read_root_attrs

    if (read_root_attrs(out) or {}).get("complete"):
        return out  # the same import finished before
    K_obj = max(len(v) for s in seqs.values() for v in s.objects.values())
    K_det = max([len(v) for s in seqs.values() if s.detections for v in s.detections.values()] + [1])
    cam = _camera_attrs(first, wh, factor, cfg, side)
    shape = (len(rb), len(ab), 2)
    attrs = {
        "scenario": "cruw", "source": "CRUW ROD2021 (import-cruw)",
        # config.scene.frame_dt_s is where synthetic stores state the frame period (mcl+track's speed gate)
        "config": {**to_dict(cfg), "scene": {"frame_dt_s": _frame_dt(cfg, side)}},
        "config_fingerprint": fp, "target_point": TARGET_POINT, "camera": cam,
        "range_bins_m": rb.tolist(), "azimuth_bins_rad": ab.tolist(), "radio": _radio_attrs(cfg, side),
        "object_classes": list(cruw.CLASSES), "object_sizes_m": cruw.CLASS_SIZES_M,
        "sequence_names": splits, "scenes": {n: cruw.SCENE_OF.get(n) for n in names},
        "vision_source": "detections: " + cfg.detections if cfg.detections else "none (mask empty, bbox NaN)",
        "frames_per_sequence": None, "software": _software(),
    }
    from ..store.format import _jsonable

    rootg = create_root(out, _jsonable(attrs))
    counts = {}
    gain = float((side or {}).get("radar_gain") or 1.0)   # export-cruw's scale, divided out again
    for split, members in splits.items():
        if members:
            counts[split] = _write_split(rootg, split, [seqs[n] for n in members], root, shape, cfg, factor, wh,
                                         K_obj, K_det, progress, gain)
    sheet = _datasheet(attrs, counts)
    rootg.attrs.update(_jsonable({"splits": counts, "sequences": {s: len(v) for s, v in splits.items() if v},
                                  "datasheet": sheet,
                                  "provenance": {"finalized_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}))
    _verify(out, counts)
    write_text(out / "DATASHEET.md", sheet)
    mark_complete(rootg)
    return out


def _software() -> dict[str, str | None]:
    from ..synthesis.synth import software_versions

    return software_versions()


def _prepare(out: Path, fp: str) -> None:
    """A store of the same import (root + config) is rewritten in place; any other store or folder is refused."""
    if out.exists() and not out.is_dir():
        raise DatasetError(f"--out {out} exists and is not a directory")
    if (out / "zarr.json").is_file():
        from ..synthesis.synth import read_root_attrs

        a = read_root_attrs(out) or {}
        if a.get("config_fingerprint") != fp:
            raise DatasetError(f"--out {out} already holds a different store; use a new --out or delete it")
        return  # same import, complete or not: rewritten (overwrite=True) and re-verified
    if out.is_dir() and any(out.iterdir()):
        raise DatasetError(f"--out {out} is a non-empty directory that is not a radiovisual store")
    check_writable_dir(out)


def _write_split(g: Any, split: str, seqs: list[cruw.Sequence], root: Path, shape: tuple[int, ...],
                 cfg: CruwImportConfig, factor: int, wh: tuple[int, int], K_obj: int, K_det: int,
                 progress: bool, gain: float = 1.0) -> int:
    """Stream sequences into the split's arrays (memory: one sequence). ``gain``: the export's radar scale
    (sidecar ``radar_gain``; 1 for ROD2021 itself), divided out so an exported store comes back in dBm."""
    N = sum(len(s.frames) for s in seqs)
    H, W = wh[1] // factor, wh[0] // factor
    R, A = shape[:2]
    specs = {"radar": ((R, A), "float32"), "image": ((H, W, 3), "uint8"), "mask": ((H, W), "bool"),
             "bbox": ((4,), "float32"), "target_polar": ((2,), "float32"), "target_xy": ((2,), "float32"),
             "sequence": ((), "int32"), "frame": ((), "int32"), "objects": ((K_obj, 3), "float32")}
    if seqs[0].detections is not None:
        specs.update({"det_boxes": ((K_det, 4), "float32"), "det_scores": ((K_det,), "float32"),
                      "det_class": ((K_det,), "int8")})
    if cfg.store_complex:
        specs["radar_complex"] = ((R, A), "complex64")
    sg = g.require_group(split)
    arr = {k: sg.create_array(k, shape=(N,) + s, dtype=dt, chunks=(1,) + s,
                              shards=(max(1, min(SHARD_SAMPLES, N)),) + s, overwrite=True)
           for k, (s, dt) in specs.items()}
    chirps = cruw.CHIRP_IDS if cfg.chirp == "mean" else (int(cfg.chirp),)
    it = enumerate(seqs)
    if progress:
        from ...utils.progress import tqdm

        it = tqdm(list(it), desc=f"import-cruw {split}", unit="seq")
    pos = 0
    for sid, s in it:
        fr = s.frames
        T = len(fr)
        blk: dict[str, np.ndarray] = {k: np.zeros((T,) + sp, dt) for k, (sp, dt) in specs.items()}
        blk["objects"][:] = np.nan
        for i, f in enumerate(fr):
            maps = [cruw.load_ra(cruw.radar_path(root, s.name, f, c, s.subset), shape) / np.float32(gain)
                    for c in chirps]
            power = np.mean([np.square(m[..., 0].astype(np.float64)) + np.square(m[..., 1]) for m in maps], 0)
            with np.errstate(divide="ignore"):
                blk["radar"][i] = np.maximum(10 * np.log10(power), cfg.floor_db)
            if cfg.store_complex:
                blk["radar_complex"][i] = maps[0][..., 0] + 1j * maps[0][..., 1]
            blk["image"][i] = _read_image(cruw.image_path(root, s.name, f, s.subset), wh, factor)
            objs = sorted(s.objects[f])  # nearest first
            blk["objects"][i, :len(objs)] = objs
            blk["target_polar"][i] = objs[0][:2]
            _fill_vision(blk, i, (s.detections or {}).get(f, []) if s.detections is not None else None, factor)
        blk["target_xy"] = np.stack([blk["target_polar"][:, 0] * np.sin(blk["target_polar"][:, 1]),
                                     blk["target_polar"][:, 0] * np.cos(blk["target_polar"][:, 1])], 1)
        blk["sequence"][:], blk["frame"][:] = sid, fr
        for k, a in arr.items():
            a[pos:pos + T] = blk[k].astype(specs[k][1], copy=False)
        pos += T
    return N


def _fill_vision(blk: dict, i: int, dets: list | None, factor: int) -> None:
    """Detections -> det_* arrays; ``bbox``/``mask`` = the box lowest in the image (nearest on the ground)."""
    if dets is None or not dets:
        blk["bbox"][i] = np.nan
        if dets is not None:
            blk["det_boxes"][i], blk["det_scores"][i], blk["det_class"][i] = np.nan, np.nan, -1
        return
    d = np.asarray(dets, np.float64)
    boxes = (d[:, :4] + 0.5) / factor - 0.5  # index i is centred at u = i + 0.5 in both images
    k = len(d)
    blk["det_boxes"][i] = np.nan
    blk["det_scores"][i] = np.nan
    blk["det_class"][i] = -1
    blk["det_boxes"][i, :k], blk["det_scores"][i, :k], blk["det_class"][i, :k] = boxes, d[:, 4], d[:, 5]
    b = boxes[int(np.argmax(boxes[:, 3]))]
    blk["bbox"][i] = b
    H, W = blk["mask"].shape[1:]
    x0, y0 = int(np.clip(np.floor(b[0]), 0, W - 1)), int(np.clip(np.floor(b[1]), 0, H - 1))
    x1, y1 = int(np.clip(np.floor(b[2]), 0, W - 1)), int(np.clip(np.floor(b[3]), 0, H - 1))
    blk["mask"][i, y0:y1 + 1, x0:x1 + 1] = True


def _verify(out: Path, counts: dict[str, int]) -> None:
    ds = open_dataset(out, allow_incomplete=True)
    for s, n in counts.items():
        sv = ds.split(s)
        for name in sv.arrays:
            if sv.shape(name)[0] != n:
                raise DatasetError(f"verify {s}/{name}: {sv.shape(name)[0]} samples, expected {n}")
        if not np.isfinite(sv.read("radar")).all() or not np.isfinite(sv.read("target_polar")).all():
            raise DatasetError(f"verify {s}: non-finite radar or target values")


def _datasheet(attrs: dict, counts: dict[str, int]) -> str:
    seqs = attrs["sequence_names"]
    return (
        "# Datasheet: CRUW (ROD2021) imported by radiovisual\n\n"
        "**Motivation.** Real 77 GHz radar + camera data for the paper's CRUW column (Tab. 4).\n\n"
        f"**Composition.** {counts} samples; train sequences {seqs['train']}, val sequences {seqs['val']} "
        "(val carved from ROD2021 train by whole sequences; ROD2021 test has no labels and no images and is "
        "not imported; labelled sequences under sequences/test, as export-cruw writes them, become test: "
        f"{seqs.get('test', [])}). Only frames with at least one annotated object are imported. "
        f"Target: {TARGET_POINT}.\n\n"
        "**Collection.** Wang et al., CRUW / ROD2021 (TI AWR1843, 1440x864 camera, 30 fps). Radar = RA power "
        f"[dB] of chirp {attrs['config']['chirp']}; images reduced by {attrs['camera']['image_reduction']}.\n\n"
        "**Uses.** Radar localisation research under the CRUW licence (academic, non-commercial).\n\n"
        f"**Vision.** {attrs['vision_source']}.\n"
    )
