"""Toy point-target stores for unit tests of the learning stages (NOT the synthesiser).

The radar heatmap holds Gaussian blobs (the target plus ``n_clutter`` distractors of
comparable strength) over a noise floor; the image shows the target as a bright box
whose column follows its azimuth and whose size and row follow its range, plus grey
boxes for the distractors. Radar and image therefore share real, learnable structure
while everything stays tiny and fast. Written in the public format with
``complete=true``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..store.format import create_root, mark_complete, polar_to_xy, write_split


def _blob(R: int, A: int, r0: float, a0: float, sr: float = 1.2, sa: float = 1.2) -> np.ndarray:
    rr, aa = np.meshgrid(np.arange(R), np.arange(A), indexing="ij")
    return np.exp(-0.5 * (((rr - r0) / sr) ** 2 + ((aa - a0) / sa) ** 2))


def make_toy_split(n: int, seed: int, R: int = 32, A: int = 32, H: int = 48, W: int = 64,
                   n_clutter: int = 3, seq_len: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    range_bins = np.linspace(2.0, 2.0 + 0.5 * (R - 1), R)
    az_bins = np.deg2rad(np.linspace(-60, 60, A))
    radar = np.empty((n, R, A), np.float32)
    image = np.zeros((n, H, W, 3), np.uint8)
    mask = np.zeros((n, H, W), bool)
    bbox = np.zeros((n, 4), np.float32)
    polar = np.zeros((n, 2), np.float32)
    for i in range(n):
        r_idx = rng.uniform(4, R - 5)
        a_idx = rng.uniform(4, A - 5)
        power = _blob(R, A, r_idx, a_idx)
        image[i] = rng.integers(20, 60, size=(H, W, 3), dtype=np.uint8)
        for _ in range(n_clutter):
            cr, ca = rng.uniform(2, R - 3), rng.uniform(2, A - 3)
            power += rng.uniform(0.6, 1.0) * _blob(R, A, cr, ca)
            cx = int(ca / (A - 1) * (W - 1))
            cy = int(H * 0.4 + (cr / R) * H * 0.5)
            image[i, max(0, cy - 3):cy + 3, max(0, cx - 4):cx + 4] = 128
        noise = rng.exponential(0.01, size=(R, A))
        radar[i] = (10 * np.log10(power + noise)).astype(np.float32)
        cx = a_idx / (A - 1) * (W - 1)
        half = max(2.0, 10.0 * (1.0 - r_idx / R) + 2.0)
        cy = H * 0.4 + (r_idx / R) * H * 0.5
        x0, x1 = int(max(0, cx - half)), int(min(W, cx + half + 1))
        y0, y1 = int(max(0, cy - half * 0.6)), int(min(H, cy + half * 0.6 + 1))
        image[i, y0:y1, x0:x1] = (220, 40, 40)
        mask[i, y0:y1, x0:x1] = True
        bbox[i] = (x0, y0, x1 - 1, y1 - 1)
        polar[i] = (np.interp(r_idx, np.arange(R), range_bins), np.interp(a_idx, np.arange(A), az_bins))
    seq = np.arange(n, dtype=np.int32) // seq_len
    frame = np.arange(n, dtype=np.int32) % seq_len
    return {"radar": radar, "image": image, "mask": mask, "bbox": bbox, "target_polar": polar,
            "target_xy": polar_to_xy(polar).astype(np.float32), "sequence": seq, "frame": frame,
            "_range_bins": range_bins, "_az_bins": az_bins}


def make_toy_dataset(path: str | Path, n_train: int = 48, n_val: int = 12, n_test: int = 12, seed: int = 0,
                     **shape) -> Path:
    path = Path(path)
    splits = {s: make_toy_split(n, seed * 1000 + k, **shape)
              for k, (s, n) in enumerate((("train", n_train), ("val", n_val), ("test", n_test)))}
    rb, ab = splits["train"].pop("_range_bins"), splits["train"].pop("_az_bins")
    for s in ("val", "test"):
        splits[s].pop("_range_bins"), splits[s].pop("_az_bins")
    H, W = splits["train"]["image"].shape[1:3]
    f = (W / 2) / np.tan(np.deg2rad(50))
    attrs = {
        "range_bins_m": rb.tolist(), "azimuth_bins_rad": ab.tolist(),
        "radio": {"toy": True}, "scenario": "toy",
        "camera": {"K": [[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]], "width": W, "height": H},
        "config": {"toy": True, "seed": seed}, "software": {}, "target_point": "toy blob centre",
        "datasheet": "Toy point-target data for unit tests only.",
    }
    root = create_root(path, attrs)
    for s, arrays in splits.items():
        write_split(root, s, arrays)
    mark_complete(root)
    return path
