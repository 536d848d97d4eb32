"""Detector inference -> (mask, bbox, score) per image, in memory (training scores val with it; ``predict.py``
writes the masks store with it).

Post-processing: pixels with sigmoid probability > ``threshold`` form a binary map; its largest
8-connected component is the target instance (the dataset has one target per image). Its box
is the component's extent in the dataset's convention (x0, y0, x1, y1, inclusive pixels) and
its score the mean probability inside it. No component of at least ``min_area_px`` pixels ->
empty mask, NaN box, score 0 (the same "no target" encoding as the dataset's ``bbox``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..dataset.format import iter_batches
from .model import image_to_input

__all__ = ["postprocess", "predict_arrays"]


def postprocess(prob: np.ndarray, threshold: float = 0.5, min_area_px: int = 4
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float [N, H, W] probabilities -> mask bool [N, H, W], bbox float32 [N, 4], score float32 [N]."""
    from scipy import ndimage

    prob = np.asarray(prob, dtype=np.float32)
    n = len(prob)
    mask = np.zeros(prob.shape, bool)
    bbox = np.full((n, 4), np.nan, np.float32)
    score = np.zeros(n, np.float32)
    eight = np.ones((3, 3), bool)
    for i in range(n):
        lab, k = ndimage.label(prob[i] > threshold, structure=eight)
        if k == 0:
            continue
        sizes = np.bincount(lab.ravel())[1:]
        j = int(np.argmax(sizes)) + 1
        if sizes[j - 1] < min_area_px:
            continue
        comp = lab == j
        ys, xs = np.nonzero(comp)
        mask[i] = comp
        bbox[i] = (xs.min(), ys.min(), xs.max(), ys.max())
        score[i] = float(prob[i][comp].mean())
    return mask, bbox, score


@torch.no_grad()
def predict_arrays(model: torch.nn.Module, image: np.ndarray, cfg: Any, batch: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 [N, H, W, 3] -> (mask [N, H, W], bbox [N, 4], score [N]) with ``cfg``'s post-processing."""
    model.eval()
    probs = []
    for sl in iter_batches(len(image), int(batch or cfg.predict_batch)):
        probs.append(torch.sigmoid(model(image_to_input(image[sl])))[:, 0].numpy())
    prob = np.concatenate(probs) if probs else np.zeros((0,) + tuple(image.shape[1:3]), np.float32)
    return postprocess(prob, cfg.threshold, cfg.min_area_px)
