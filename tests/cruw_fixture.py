"""A tiny ROD2021 tree in exactly the release's layout, for the CRUW importer's tests.

Two sequences, a few frames each, the four released chirps per frame, ``calib/<date>/cam_0.yaml`` in
ROS camera_info layout, annotations quantised on CRUW's label grid (range k * 0.22304 m, whole
degrees). Images are small (the importer does not require 1440 x 864, only one size per store).

Scene per frame: the annotated objects, each a Gaussian blob in the complex RA map at its true
(range, azimuth) bin position, a strong UNannotated static reflector, and complex noise. Images show
each object as a box drawn where the camera sees it; ``detections/<SEQ>.txt`` holds those boxes as a
perfect vision detector would report them (the named mask source for the pseudo-label pipeline).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from radiovisual.dataset import cruw
from radiovisual.sensors.camera_model import project_points

SEQS = ("2019_04_09_BMS1000", "2019_04_09_PMS1000")
W, H = 160, 96
FX = 120.0
RADAR_HEIGHT_M = cruw.DEFAULT_RADAR_HEIGHT_M
HALF_DEPTH = {0: 0.15, 1: 0.4, 2: 1.2}   # the pseudo-label config's priors, so the camera sees them
HEIGHT = {0: 1.7, 1: 1.7, 2: 1.5}
CLUTTER = (12.0, np.deg2rad(-25.0))     # static, unannotated reflector (range m, azimuth rad)


def camera_dict() -> dict:
    """Our-convention camera attrs of the fixture rig (as the importer will build them)."""
    return {"K": [[FX, 0, W / 2], [0, FX, H / 2], [0, 0, 1]], "width": W, "height": H,
            "R_cam_from_radar": [list(r) for r in cruw.R_CAM_FROM_RADAR],
            "t_cam_from_radar_m": list(cruw.T_CAM_FROM_RADAR_M), "radar_height_m": RADAR_HEIGHT_M}


def object_box(r: float, az: float, cls: int) -> np.ndarray:
    """Inclusive pixel box (x0, y0, x1, y1) of an object whose centre is at slant (r, az), height/2 above ground."""
    cam = camera_dict()
    z_c = -RADAR_HEIGHT_M + HEIGHT[cls] / 2
    x = r * np.sin(az)
    y = np.sqrt(max(r * r - x * x - z_c * z_c, 1e-6))
    c_xy = -np.asarray(cam["R_cam_from_radar"]).T @ np.asarray(cam["t_cam_from_radar_m"])
    u = np.array([x, y]) - c_xy[:2]
    g = np.array([x, y]) - HALF_DEPTH[cls] * u / np.linalg.norm(u)  # near-side ground contact
    bottom = project_points(np.array([[g[0], g[1], -RADAR_HEIGHT_M]]), cam)[0]
    top = project_points(np.array([[x, y, -RADAR_HEIGHT_M + HEIGHT[cls]]]), cam)[0]
    half_w = 0.5 * cruw.CLASS_SIZES_M[cruw.CLASSES[cls]] * FX / y
    return np.array([bottom[0] - 0.5 - half_w, top[1] - 0.5, bottom[0] - 0.5 + half_w, bottom[1] - 0.5])


def _blob(rb: np.ndarray, ab: np.ndarray, r: float, az: float, amp: float) -> np.ndarray:
    row = np.interp(r, rb, np.arange(len(rb)))
    col = np.interp(az, ab, np.arange(len(ab)))
    rr, cc = np.meshgrid(np.arange(len(rb)), np.arange(len(ab)), indexing="ij")
    return amp * np.exp(-0.5 * (((rr - row) / 1.0) ** 2 + ((cc - col) / 1.2) ** 2))


def scene(seq: int, n_frames: int) -> dict[int, list[tuple[float, float, int]]]:
    """Annotated objects per frame on the label grid: a car moving away and (in seq 1) a pedestrian."""
    out = {}
    for f in range(n_frames):
        # wraps around so that any number of frames stays inside the label grid
        car = (cruw.LABEL_RANGE_STEP_M * (30 + 6 * seq + (2 * f) % 60), np.deg2rad(-8 + 5 * seq + (2 * f) % 30), 2)
        objs = [car]
        if seq == 1:
            objs.append((cruw.LABEL_RANGE_STEP_M * 60, np.deg2rad(20.0), 0))
        out[f] = objs
    return out


def write_fixture(root: str | Path, n_frames: int = 4, seed: int = 0, detections: bool = True) -> Path:
    from PIL import Image, ImageDraw

    root = Path(root)
    rng = np.random.default_rng(seed)
    rb, ab = cruw.range_grid_m(), cruw.azimuth_grid_rad()
    calib = root / "calib" / "2019_05_09"
    calib.mkdir(parents=True, exist_ok=True)
    (calib / "cam_0.yaml").write_text(
        f"image_width: {W}\nimage_height: {H}\ncamera_name: cam_0\n"
        f"camera_matrix:\n  rows: 3\n  cols: 3\n  data: [{FX}, 0, {W / 2 - 0.5}, 0, {FX}, {H / 2 - 0.5}, 0, 0, 1]\n"
        "distortion_model: plumb_bob\ndistortion_coefficients:\n  rows: 1\n  cols: 5\n  data: [0, 0, 0, 0, 0]\n"
        "rectification_matrix:\n  rows: 3\n  cols: 3\n  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]\n"
        f"projection_matrix:\n  rows: 3\n  cols: 4\n  data: [{FX}, 0, {W / 2 - 0.5}, 0, 0, {FX}, {H / 2 - 0.5}, 0, "
        "0, 0, 1, 0]\n")
    (root / "annotations" / "train").mkdir(parents=True, exist_ok=True)
    if detections:
        (root / "detections").mkdir(parents=True, exist_ok=True)
    for s, name in enumerate(SEQS):
        base = root / "sequences" / "train" / name
        (base / cruw.RADAR_DIR).mkdir(parents=True, exist_ok=True)
        (base / cruw.IMAGE_DIR).mkdir(parents=True, exist_ok=True)
        objs = scene(s, n_frames)
        ann, det = [], []
        for f in range(n_frames):
            amp = sum(_blob(rb, ab, r, a, 1.0) for r, a, _ in objs[f]) + _blob(rb, ab, *CLUTTER, 1.5)
            for c in cruw.CHIRP_IDS:
                ph = np.exp(1j * rng.uniform(0, 2 * np.pi))
                z = amp * ph + 0.01 * (rng.standard_normal(amp.shape) + 1j * rng.standard_normal(amp.shape))
                np.save(cruw.radar_path(root, name, f, c), np.stack([z.real, z.imag], -1).astype(np.float32))
            im = Image.new("RGB", (W, H), (90, 90, 90))
            draw = ImageDraw.Draw(im)
            for r, a, cls in objs[f]:
                ann.append(f"{f} {r:.4f} {a:.4f} {cruw.CLASSES[cls]}")
                b = object_box(r, a, cls)
                draw.rectangle([int(round(v)) for v in b], fill=(200, 40, 40))
                det.append(f"{f} {b[0]:.3f} {b[1]:.3f} {b[2]:.3f} {b[3]:.3f} 0.95 {cruw.CLASSES[cls]}")
            im.save(cruw.image_path(root, name, f), quality=95)
        (root / "annotations" / "train" / f"{name}.txt").write_text("\n".join(ann) + "\n")
        if detections:
            (root / "detections" / f"{name}.txt").write_text("\n".join(det) + "\n")
    return root
