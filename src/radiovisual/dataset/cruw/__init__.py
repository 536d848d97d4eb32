"""CRUW (ROD2021 release) -> radiovisual dataset format v1. See ``docs/cruw.md``.

Facts used here (``shared/notes/cruw-format.md``, cruw-devkit's sensor config):
* radar: ``sequences/train/<SEQ>/RADAR_RA_H/<frame:06d>_<chirp:04d>.npy``, [128 range, 128 azimuth,
  (re, im)] after range and angle FFTs; chirps 0, 64, 128, 192 per frame. Range bin centres
  ``(arange(134) * Fs/134) * c / S / 2`` sliced [3:131] (FMCW beat frequency f -> range c f / (2 S));
  azimuth ``arcsin(linspace(-1, 1, 128))`` (angle FFT bins are uniform in sin(az)). Row 0 = nearest.
  Positive azimuth is to the right (cruw-devkit: x = r sin az is the camera's x), as in our format.
* annotations: ``annotations/train/<SEQ>.txt``, lines ``frame range_m azimuth_rad class``, quantised
  on the label grid: range k * (Fs/128) c / S / 2, k = 3..124, azimuth whole degrees in [-60, 60].
* camera: ``IMAGES_0/<frame:010d>.jpg`` 1440 x 864, ``calib/<date>/cam_0.yaml`` (ROS camera_info),
  camera -> horizontal radar translation only: p_cam = p_radar(cam axes) + t, t = [0.11, -0.05, 0.06] m.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DatasetError

C_MPS = 299_792_458.0
SAMPLE_FREQ_HZ = 4e6
SWEEP_SLOPE_HZ_PER_S = 21.0017e12
RANGE_FFT, RANGE_CROP, N_BINS = 134, 3, 128
LABEL_RANGE_FFT, LABEL_RANGE_K = 128, (3, 124)
LABEL_AZ_DEG = (-60, 60)
CHIRP_IDS = (0, 64, 128, 192)
FRAME_DT_S = 1.0 / 30.0    # ROD2021: camera and radar at 30 fps (shared/notes/cruw-format.md)
# AWR1843: 2 TX x 4 RX -> a virtual uniform linear array of 8 elements at lambda/2 (MIMO), angle-FFT'd to
# 128 bins: one Rayleigh cell is 1/(8 * 0.5) = 0.25 in sin(az), 15.9 bins (dataset.resolution).
VIRTUAL_ELEMENTS, ELEMENT_SPACING_WAVELENGTHS = 8, 0.5
RA_SHAPE = (N_BINS, N_BINS, 2)
CLASSES = ("pedestrian", "cyclist", "car")
CLASS_SIZES_M = {"pedestrian": 0.5, "cyclist": 1.0, "car": 3.0}
IMAGE_WH = (1440, 864)
# radar (x right, y forward, z up) -> camera (x right, y down, z forward); the rig has no rotation.
R_CAM_FROM_RADAR = ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0))
T_CAM_FROM_RADAR_M = (0.11, -0.05, 0.06)
# Not published with ROD2021: an assumption, overridable (`--set radar_height_m=...`), stored in attrs.
DEFAULT_RADAR_HEIGHT_M = 1.0
RADAR_DIR, IMAGE_DIR = "RADAR_RA_H", "IMAGES_0"
EXPORT_SIDECAR = "radiovisual_export.json"  # written last by export-cruw: full camera pose, provenance
# cruw-devkit's calibration table (sequence date -> calib date) and RODNet's scene of each train sequence.
CALIB_BY_DATE = {"2019_04_09": "2019_05_09", "2019_04_30": "2019_05_09", "2019_05_09": "2019_05_09",
                 "2019_05_23": "2019_05_09", "2019_05_29": "2019_05_09", "2019_09_29": "2019_09_29"}
_SCENE_SEQS = {
    "PL": "2019_04_09_BMS1000 2019_04_09_BMS1001 2019_04_09_BMS1002 2019_04_09_PMS1000 2019_04_09_PMS1001 "
          "2019_04_09_PMS2000 2019_04_09_PMS3000 2019_04_09_CMS1002 2019_04_30_PBMS003 2019_04_30_PM2S003 "
          "2019_05_23_PM2S011 2019_05_23_PM1S012 2019_05_23_PM1S015 2019_05_23_PM1S013 2019_05_23_PM1S014 "
          "2019_05_29_BM1S016 2019_05_29_BM1S017 2019_05_29_PBMS007 2019_05_29_PM2S015 2019_05_29_PM3S000 "
          "2019_04_30_PBMS002 2019_04_30_PM2S004",
    "CR": "2019_04_30_MLMS000 2019_05_09_BM1S008 2019_05_09_PCMS002 2019_04_30_MLMS001 2019_04_30_PCMS001 "
          "2019_05_09_CM1S004 2019_05_29_MLMS006 2019_04_30_MLMS002 2019_05_09_MLMS003 2019_05_29_BCMS000 "
          "2019_05_09_PBMS004 2019_05_29_PCMS005",
    "CS": "2019_09_29_ONRD002 2019_09_29_ONRD013 2019_09_29_ONRD001",
    "HW": "2019_09_29_ONRD011 2019_09_29_ONRD006 2019_09_29_ONRD005",
}
SCENE_OF = {s: code for code, names in _SCENE_SEQS.items() for s in names.split()}
_RADAR_RE = re.compile(r"^(\d{6})_(\d{4})\.npy$")


def range_grid_m() -> np.ndarray:
    """[128] range bin centres [m] of the RA maps: 0.639 .. 27.697 m, step 0.21305 m."""
    return (np.arange(RANGE_FFT) * (SAMPLE_FREQ_HZ / RANGE_FFT) * C_MPS / SWEEP_SLOPE_HZ_PER_S / 2)[
        RANGE_CROP:RANGE_FFT - RANGE_CROP]


def azimuth_grid_rad() -> np.ndarray:
    """[128] azimuth bin centres [rad], uniform in sin(az): ~0.9 deg apart at boresight, ~10 deg at the edges."""
    return np.arcsin(np.linspace(-1.0, 1.0, N_BINS))


LABEL_RANGE_STEP_M = (SAMPLE_FREQ_HZ / LABEL_RANGE_FFT) * C_MPS / SWEEP_SLOPE_HZ_PER_S / 2  # 0.22304 m
# Range resolution c / (2 B) with B = S * 128 / Fs the bandwidth swept over 128 ADC samples [m]: the same
# number as the label grid's step (the devkit's label grid is the unpadded 128-point FFT).
RANGE_RESOLUTION_M = LABEL_RANGE_STEP_M


def label_range_grid_m() -> np.ndarray:
    """[122] annotation range values k * 0.22304 m, k = 3..124, ascending."""
    return np.arange(LABEL_RANGE_K[0], LABEL_RANGE_K[1] + 1) * LABEL_RANGE_STEP_M


def label_azimuth_grid_rad() -> np.ndarray:
    """[121] annotation azimuths: whole degrees in [-60, 60], in radians."""
    return np.deg2rad(np.arange(LABEL_AZ_DEG[0], LABEL_AZ_DEG[1] + 1, dtype=np.float64))


def on_label_grid(polar: np.ndarray) -> np.ndarray:
    """Bool [...]: (range, azimuth) lies within the annotation grid's extent (half a step of slack)."""
    polar = np.asarray(polar, np.float64)
    lr = label_range_grid_m()
    r_ok = (polar[..., 0] >= lr[0] - LABEL_RANGE_STEP_M / 2) & (polar[..., 0] <= lr[-1] + LABEL_RANGE_STEP_M / 2)
    a_ok = np.abs(np.rad2deg(polar[..., 1])) <= LABEL_AZ_DEG[1] + 0.5
    return r_ok & a_ok


def quantise_to_label_grid(polar: np.ndarray) -> np.ndarray:
    """Round (range [m], azimuth [rad]) to the nearest annotation grid point (no bounds check)."""
    polar = np.asarray(polar, np.float64)
    k = np.clip(np.rint(polar[..., 0] / LABEL_RANGE_STEP_M), *LABEL_RANGE_K)
    deg = np.clip(np.rint(np.rad2deg(polar[..., 1])), *LABEL_AZ_DEG)
    return np.stack([k * LABEL_RANGE_STEP_M, np.deg2rad(deg)], axis=-1)


def ra_to_db(ra: np.ndarray, floor_db: float) -> np.ndarray:
    """[..., 2] (re, im) -> power 10 log10(re^2 + im^2) [dB], floored so the map stays finite."""
    p = np.square(ra[..., 0].astype(np.float64)) + np.square(ra[..., 1].astype(np.float64))
    with np.errstate(divide="ignore"):
        return np.maximum(10.0 * np.log10(p), floor_db).astype(np.float32)


# ----------------------------------------------------------------------------- reading one tree
@dataclass
class Sequence:
    name: str
    n_frames: int
    calib: Path
    objects: dict[int, list[tuple[float, float, int]]]  # frame -> [(range m, azimuth rad, class id)]
    detections: dict[int, list[tuple[float, float, float, float, float, int]]] | None = None
    subset: str = "train"  # the folder under sequences/ and annotations/ (train, or test when labelled)

    @property
    def frames(self) -> list[int]:
        """Imported frames: those with at least one annotated object (see docs/cruw.md)."""
        return sorted(self.objects)


def _fail(msg: str) -> None:
    raise DatasetError(msg)


def list_sequences(root: Path, patterns: tuple[str, ...]) -> list[str]:
    """Train sequence names matching ``patterns`` (names, fnmatch globs or scene codes PL/CR/CS/HW)."""
    base = root / "sequences" / "train"
    if not base.is_dir():
        _fail(f"{root} is not a ROD2021 tree: {base} does not exist")
    names = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        _fail(f"{base} holds no sequence directories")
    if not patterns:
        return names
    keep: list[str] = []
    for pat in patterns:
        hit = _match(names, pat)
        if not hit:
            _fail(f"--sequences {pat!r} matches no sequence under {base}")
        keep += [n for n in hit if n not in keep]
    return sorted(keep)


def _match(names: list[str], pat: str) -> list[str]:
    return [n for n in names if (SCENE_OF.get(n) == pat if pat in _SCENE_SEQS else fnmatch.fnmatch(n, pat))]


def labelled_test_sequences(root: Path, patterns: tuple[str, ...]) -> list[str]:
    """Sequences under ``sequences/test`` that have ``annotations/test/<SEQ>.txt`` (an export-cruw tree's val and
    test; ROD2021's own test split has no labels, so none), filtered by ``patterns`` without requiring a match."""
    base = root / "sequences" / "test"
    if not base.is_dir():
        return []
    names = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")
                   and (root / "annotations" / "test" / f"{p.name}.txt").is_file())
    if patterns:
        names = sorted({n for pat in patterns for n in _match(names, pat)})
    return names


def radar_path(root: Path, name: str, frame: int, chirp: int, subset: str = "train") -> Path:
    return root / "sequences" / subset / name / RADAR_DIR / f"{frame:06d}_{chirp:04d}.npy"


def image_path(root: Path, name: str, frame: int, subset: str = "train") -> Path:
    return root / "sequences" / subset / name / IMAGE_DIR / f"{frame:010d}.jpg"


def _scan_radar(root: Path, name: str, subset: str = "train") -> int:
    """Number of frames; every frame 0..T-1 must have every released chirp."""
    d = root / "sequences" / subset / name / RADAR_DIR
    if not d.is_dir():
        _fail(f"sequence {name}: missing radar folder {d}")
    have: dict[int, set[int]] = {}
    for p in d.iterdir():
        if p.name.startswith("."):
            continue
        m = _RADAR_RE.match(p.name)
        if not m:
            _fail(f"sequence {name}: unexpected file {p} (radar files are <frame:06d>_<chirp:04d>.npy)")
        f, c = int(m.group(1)), int(m.group(2))
        if c not in CHIRP_IDS:
            _fail(f"sequence {name}: {p} has chirp id {c}; ROD2021 releases chirps {CHIRP_IDS}")
        have.setdefault(f, set()).add(c)
    if not have:
        _fail(f"sequence {name}: no radar frames in {d}")
    T = max(have) + 1
    for f in range(T):
        for c in CHIRP_IDS:
            if c not in have.get(f, ()):
                _fail(f"sequence {name}: missing chirp {c} of frame {f} ({radar_path(root, name, f, c, subset)})")
    return T


def read_annotations(path: Path, n_frames: int, az_limit_deg: float = LABEL_AZ_DEG[1]
                     ) -> dict[int, list[tuple[float, float, int]]]:
    """``frame range azimuth class`` lines -> {frame: [(r, az, class id)]}; any bad line is one error."""
    if not path.is_file():
        _fail(f"missing annotation file {path}")
    out: dict[int, list[tuple[float, float, int]]] = {}
    for i, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        where = f"{path}:{i}"
        if len(parts) != 4:
            _fail(f"{where}: expected 'frame range_m azimuth_rad class', got {line.strip()!r}")
        try:
            f, r, a = int(parts[0]), float(parts[1]), float(parts[2])
        except ValueError:
            _fail(f"{where}: frame must be an integer and range/azimuth numbers, got {line.strip()!r}")
        if parts[3] not in CLASSES:
            _fail(f"{where}: unknown class {parts[3]!r} (classes: {', '.join(CLASSES)})")
        if not 0 <= f < n_frames:
            _fail(f"{where}: frame {f} is outside the sequence's {n_frames} radar frames")
        if not (np.isfinite(r) and np.isfinite(a)) or not on_label_grid(np.array([r, a])):
            _fail(f"{where}: object at range {r} m, azimuth {np.rad2deg(a):.2f} deg is outside the annotation "
                  f"grid ({label_range_grid_m()[0]:.3f}..{label_range_grid_m()[-1]:.3f} m, "
                  f"|az| <= {az_limit_deg} deg)")
        out.setdefault(f, []).append((r, a, CLASSES.index(parts[3])))
    return out


def read_detections(path: Path, n_frames: int) -> dict[int, list[tuple[float, float, float, float, float, int]]]:
    """Vision detections ``frame x0 y0 x1 y1 score class`` (pixels of the original image, inclusive)."""
    if not path.is_file():
        _fail(f"missing detection file {path} (--set detections=DIR needs one <SEQ>.txt per sequence)")
    out: dict[int, list] = {}
    for i, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            if len(parts) != 7 or parts[6] not in CLASSES:
                raise ValueError
            f, box, s = int(parts[0]), [float(v) for v in parts[1:5]], float(parts[5])
        except ValueError:
            _fail(f"{path}:{i}: expected 'frame x0 y0 x1 y1 score class' with a known class, got {line.strip()!r}")
        if not 0 <= f < n_frames or not np.isfinite(box + [s]).all() or box[2] < box[0] or box[3] < box[1]:
            _fail(f"{path}:{i}: bad frame id or box {line.strip()!r}")
        out.setdefault(f, []).append((*box, s, CLASSES.index(parts[6])))
    return out


def find_calib(root: Path, name: str) -> Path:
    """cam_0.yaml for a sequence: calib/<its date>, else cruw-devkit's table, else the only calib."""
    date = name[:10]
    cands = [root / "calib" / date / "cam_0.yaml"]
    if date in CALIB_BY_DATE:
        cands.append(root / "calib" / CALIB_BY_DATE[date] / "cam_0.yaml")
    for c in cands:
        if c.is_file():
            return c
    all_ = sorted((root / "calib").glob("*/cam_0.yaml")) if (root / "calib").is_dir() else []
    if len(all_) == 1:
        return all_[0]
    _fail(f"no camera calibration for sequence {name}: looked for {', '.join(str(c) for c in cands)}")
    raise AssertionError  # unreachable


def read_calib(path: Path) -> dict[str, Any]:
    """ROS camera_info YAML -> {K [3x3], D [n], width, height} (OpenCV pixel convention)."""
    import yaml

    try:
        d = yaml.safe_load(path.read_text())
        K = np.asarray(d["camera_matrix"]["data"], np.float64).reshape(d["camera_matrix"]["rows"],
                                                                         d["camera_matrix"]["cols"])
        D = np.asarray(d["distortion_coefficients"]["data"], np.float64).ravel()
    except Exception as e:  # malformed YAML, missing keys, wrong sizes: one line, not a traceback
        raise DatasetError(f"cannot read camera calibration {path}: {type(e).__name__}: {e}") from None
    if K.shape != (3, 3) or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
        _fail(f"{path}: camera_matrix must be a 3x3 matrix with positive focal lengths")
    return {"K": K, "D": D, "width": d.get("image_width"), "height": d.get("image_height")}


def load_ra(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """One RA npy as float32, checked for shape and finiteness (never a silent failure)."""
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as e:
        raise DatasetError(f"cannot read radar file {path}: {type(e).__name__}: {e}") from None
    if a.shape != tuple(shape):
        _fail(f"radar file {path} has shape {a.shape}, expected {tuple(shape)} (range, azimuth, re/im)")
    a = a.astype(np.float32, copy=False)
    if not np.isfinite(a).all():
        _fail(f"radar file {path} holds NaN or inf values")
    return a


def check_ra_header(path: Path, shape: tuple[int, ...]) -> None:
    """Shape/dtype from the npy header only (memory-mapped), so a whole tree is checked before writing."""
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:
        raise DatasetError(f"cannot read radar file {path}: {type(e).__name__}: {e}") from None
    if a.shape != tuple(shape):
        _fail(f"radar file {path} has shape {a.shape}, expected {tuple(shape)} (range, azimuth, re/im)")
    if a.dtype.kind != "f":
        _fail(f"radar file {path} has dtype {a.dtype}, expected floating point")


def scan_sequence(root: Path, name: str, detections_dir: Path | None, subset: str = "train") -> Sequence:
    T = _scan_radar(root, name, subset)
    objs = read_annotations(root / "annotations" / subset / f"{name}.txt", T)
    for f in sorted(objs):
        if not image_path(root, name, f, subset).is_file():
            _fail(f"sequence {name}: missing image {image_path(root, name, f, subset)} for annotated frame {f}")
    dets = read_detections(detections_dir / f"{name}.txt", T) if detections_dir is not None else None
    return Sequence(name, T, find_calib(root, name), objs, dets, subset)
