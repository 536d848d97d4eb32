"""Vision metrics of the detector on a labelled split (REPORTING only: never used for selection).

* **mAP@0.5 (box)**: one class (the target car), at most one detection per image. Detections
  of all images are ranked by score; a detection is a true positive when its box IoU with the
  image's target box is >= 0.5, otherwise a false positive. AP is the area under the
  precision envelope (all-point interpolation, PASCAL VOC 2010+/COCO style) of the
  precision-recall curve, recall over the images whose target is visible. With one class,
  mAP = AP.
* **mask IoU**: per image with a visible target, |pred & gt| / |pred | gt| (an empty prediction
  scores 0); the mean over those images.
* **wrong-object rate** ("picks a parked car"): among images with a visible target, the fraction
  whose predicted mask is non-empty but has IoU < 0.1 with the target mask, i.e. the
  detector confidently segmented something else. In our scenes the only car-like things are
  the parked cars, so this is the rate at which the mask lands on a parked car (no instance
  labels exist for parked cars, so this is an upper bound that also counts other spurious blobs).
* **miss rate**: visible target, empty prediction. **False-alarm rate**: no target, non-empty prediction.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of inclusive-pixel boxes [N, 4] (x0, y0, x1, y1); NaN boxes give 0."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + 1
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) + 1
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area = lambda x: (x[:, 2] - x[:, 0] + 1) * (x[:, 3] - x[:, 1] + 1)  # noqa: E731
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / (area(a) + area(b) - inter)
    return np.nan_to_num(iou, nan=0.0)


def box_ap50(pred_bbox: np.ndarray, score: np.ndarray, gt_bbox: np.ndarray, gt_present: np.ndarray,
             iou_thr: float = 0.5) -> float:
    """AP at IoU >= iou_thr with at most one detection per image (NaN box = no detection)."""
    pred_bbox, score = np.asarray(pred_bbox, np.float64), np.asarray(score, np.float64)
    gt_present = np.asarray(gt_present, bool)
    n_gt = int(gt_present.sum())
    if n_gt == 0:
        return float("nan")
    det = np.all(np.isfinite(pred_bbox), axis=1)
    tp = det & gt_present & (box_iou(pred_bbox, gt_bbox) >= iou_thr)
    order = np.argsort(-score[det], kind="stable")
    tp_sorted = tp[det][order].astype(np.float64)
    if len(tp_sorted) == 0:
        return 0.0
    ctp, cfp = np.cumsum(tp_sorted), np.cumsum(1 - tp_sorted)
    recall = ctp / n_gt
    precision = ctp / (ctp + cfp)
    # precision envelope, then sum precision over recall steps
    mrec = np.concatenate([[0.0], recall])
    mpre = np.concatenate([[1.0], precision])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    return float(np.sum((mrec[1:] - mrec[:-1]) * mpre[1:]))


def mask_iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-image IoU of bool masks [N, H, W] -> [N]; both empty -> NaN (undefined)."""
    p, g = np.asarray(pred, bool).reshape(len(pred), -1), np.asarray(gt, bool).reshape(len(gt), -1)
    inter, union = (p & g).sum(1), (p | g).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1), np.nan)


def detection_metrics(pred_mask: np.ndarray, pred_bbox: np.ndarray, score: np.ndarray,
                      gt_mask: np.ndarray, gt_bbox: np.ndarray) -> dict[str, Any]:
    """Every metric in the module docstring for one split."""
    gt_present = np.asarray(gt_mask, bool).reshape(len(gt_mask), -1).any(1)
    pred_present = np.asarray(pred_mask, bool).reshape(len(pred_mask), -1).any(1)
    iou = mask_iou(pred_mask, gt_mask)
    vis = gt_present
    n_vis, n_abs = int(vis.sum()), int((~vis).sum())
    frac = lambda m, d: float(m.sum() / d) if d else float("nan")  # noqa: E731
    biou = box_iou(pred_bbox, gt_bbox)
    return {
        "n": int(len(gt_mask)), "n_target_visible": n_vis,
        "map50": box_ap50(pred_bbox, score, gt_bbox, gt_present),
        "mask_iou_mean": float(np.mean(iou[vis])) if n_vis else float("nan"),
        "mask_iou_median": float(np.median(iou[vis])) if n_vis else float("nan"),
        "box_iou_mean": float(np.mean(biou[vis])) if n_vis else float("nan"),
        "wrong_object_rate": frac(vis & pred_present & (np.nan_to_num(iou) < 0.1), n_vis),
        "miss_rate": frac(vis & ~pred_present, n_vis),
        "false_alarm_rate": frac(~vis & pred_present, n_abs),
    }
