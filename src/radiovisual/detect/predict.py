"""The masks store ``detect predict`` writes (per-image inference and its post-processing are ``infer.py``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ..config import fingerprint, to_dict
from ..dataset.format import iter_batches, open_dataset
from ..errors import DatasetError, StageChangedError
from ..utils.io import jsonable
from ..utils.stage import stage_key
from .infer import postprocess, predict_arrays
from .masks import MASKS_VERSION, open_pred_masks

__all__ = ["postprocess", "predict_arrays", "predict_detector"]


def _write_split(g: Any, sv: Any, model: torch.nn.Module, cfg: Any, hw: tuple[int, ...], progress: bool) -> int:
    """Predict every image of split ``sv`` into group ``g``; returns N."""
    n = len(sv)
    arrs = {"mask": g.create_array("mask", shape=(n,) + hw, dtype=bool, chunks=(max(1, min(64, n)),) + hw),
            "bbox": g.create_array("bbox", shape=(n, 4), dtype="float32", chunks=(max(1, n), 4)),
            "score": g.create_array("score", shape=(n,), dtype="float32", chunks=(max(1, n),))}
    blocks = list(iter_batches(n, 256))
    if progress:
        from ..utils.progress import tqdm

        blocks = tqdm(blocks, desc=f"detect {sv.name}", leave=False)
    for sl in blocks:
        m, b, sc = predict_arrays(model, sv.read("image", sl), cfg)
        arrs["mask"][sl], arrs["bbox"][sl], arrs["score"][sl] = m, b, sc
    return n


def predict_detector(det: str | Path, data: str | Path, out: str | Path, force: bool = False,
                     progress: bool = True) -> Path:
    """Write ``out`` (zarr v3): per split ``mask`` bool [N,H,W], ``bbox`` float32 [N,4], ``score`` float32 [N].

    Built in a hidden sibling directory and renamed into place, ``complete`` set before the rename,
    so ``out`` either does not exist or is whole. An existing store of the same detector and
    dataset is reused; a different one is refused unless ``force``.
    """
    import zarr

    from .train import load_detector

    model, cfg, meta = load_detector(det)
    ds = open_dataset(data, labels=False)
    out = Path(out)
    key = stage_key({"detector": meta["key"], "data": ds.fingerprint(), "version": MASKS_VERSION})
    if out.exists():
        try:
            if open_pred_masks(out).attrs.get("key") == key:
                return out
        except DatasetError:
            pass
        if not force:
            raise StageChangedError(f"{out} already exists and was not made by this detector on this dataset; "
                                    "use --force to replace it or choose another --out")
    hw = tuple(meta["image_hw"])
    for s in ds.splits:
        ims = ds.split(s).shape("image")
        if len(ims) != 4 or tuple(ims[1:3]) != hw or ims[3] != 3:
            raise DatasetError(f"{data}: split '{s}' images are {ims}, the detector was trained on [N, {hw[0]}, "
                               f"{hw[1]}, 3]")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        root = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        counts = {s: _write_split(root.require_group(s), ds.split(s), model, cfg, hw, progress)
                  for s in ds.splits}
        root.attrs.update(jsonable({
            "source": "detector", "masks_version": MASKS_VERSION, "key": key, "detector": str(Path(det).resolve()),
            "detector_key": meta["key"], "detector_fingerprint": meta["fingerprint"],
            "detector_config_fingerprint": fingerprint(cfg),
            "detector_config": to_dict(cfg), "data": ds.fingerprint(), "n": counts,
            "bbox_convention": "x0, y0, x1, y1 inclusive pixels; NaN = no detection",
            "uses_ground_truth": False, "complete": True}))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
