"""Vision detector trained from scratch (paper Tab. 6 / App. G): target-car segmentation + box.

Sits between ``dataset`` and ``pretrain``: it reads camera images and the TRAIN split's vision
labels (``mask``, ``bbox``; camera annotations, not radar ground truth) and writes a masks store
that pretraining and self-labelling read through ``loss.mask_source=pred:PATH``.
"""

from .config import DetectorConfig, DETECT_PRESETS, resolve_detect_config
from .masks import check_pred_masks, open_pred_masks, read_pred_masks
from .metrics import box_ap50, detection_metrics, mask_iou
from .model import TinyUNet, mask_loss
from .predict import postprocess, predict_detector
from .train import load_detector, train_detector

__all__ = ["DetectorConfig", "DETECT_PRESETS", "resolve_detect_config", "TinyUNet", "mask_loss",
           "train_detector", "load_detector", "predict_detector", "postprocess", "read_pred_masks",
           "open_pred_masks", "check_pred_masks", "box_ap50", "mask_iou", "detection_metrics"]
