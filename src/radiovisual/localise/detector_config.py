"""Radar-only multi-object detector configuration (issue 20, item 2): ``DetectorConfig`` and its presets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import resolve
from ..errors import ConfigError


@dataclass(frozen=True)
class DetectorConfig:
    width: int = 16               # channels of the stride-2 stage; later stages use 2x and 4x, full res width // 2
    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    holdout_frac: float = 0.1     # slice of TRAIN (whole sequences) for early stopping on the same labels
    patience: int = 8             # epochs without held-out improvement before stopping (2nd half only)
    restarts: int = 1             # initialisations raced on the held-out loss; the lowest goes on (detect_train)
    restart_decide_frac: float = 0.5   # ... up to this fraction of the epochs
    flip_augment: bool = True     # mirror azimuth with the labels (az -> -az); only on a symmetric azimuth grid
    threads: int = 0              # torch CPU threads (0 = leave torch's default)
    focal_alpha: float = 2.0      # CenterNet penalty-reduced focal loss exponents
    focal_beta: float = 4.0
    offset_weight: float = 1.0    # weight of the L1 sub-bin offset loss
    # decoding: 3x3 local maxima of the class probability at least this. 0 = no floor, as CenterNet decodes for
    # AP (its top-K keeps any score): AP ranks detections, so a low-score peak can only add recall, and any
    # floor would be a value to choose. (0.1, the first default, dropped every cyclist of a label-free run on the
    # validation split: not a choice made there, the floor is simply gone; max_detections caps the list.)
    peak_threshold: float = 0.0
    nms_ols: float = 0.3          # decoding: drop a peak whose OLS to a kept stronger peak of its class exceeds this
    max_detections: int = 20      # decoding: per frame, strongest first
    min_sigma_bins: float = 0.7   # targets: a Gaussian at least this wide in bins (beside the OLS Gaussian)
    n_classes: int = 3            # pedestrian, cyclist, car (dataset.detections.CLASSES)
    seed: int = 0

    def validate(self) -> None:
        if self.width < 2:
            raise ConfigError(f"width must be >= 2, got {self.width}")
        if self.epochs < 1 or self.batch_size < 2:
            raise ConfigError("epochs must be >= 1 and batch_size >= 2 (BatchNorm)")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ConfigError(f"lr must be > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}")
        if not 0 < self.holdout_frac < 0.5:
            raise ConfigError(f"holdout_frac must be in (0, 0.5), got {self.holdout_frac}")
        if self.restarts < 1:
            raise ConfigError(f"restarts must be >= 1, got {self.restarts}")
        if not 0 < self.restart_decide_frac <= 1:
            raise ConfigError(f"restart_decide_frac must be in (0, 1], got {self.restart_decide_frac}")
        if self.patience < 1:
            raise ConfigError(f"patience must be >= 1, got {self.patience}")
        if self.focal_alpha < 0 or self.focal_beta < 0 or self.offset_weight < 0:
            raise ConfigError("focal_alpha, focal_beta and offset_weight must be >= 0")
        if not 0 <= self.peak_threshold < 1:
            raise ConfigError(f"peak_threshold must be in [0, 1), got {self.peak_threshold}")
        if not 0 < self.nms_ols <= 1:
            raise ConfigError(f"nms_ols must be in (0, 1], got {self.nms_ols}")
        if self.max_detections < 1:
            raise ConfigError(f"max_detections must be >= 1, got {self.max_detections}")
        if self.min_sigma_bins < 0:
            raise ConfigError(f"min_sigma_bins must be >= 0, got {self.min_sigma_bins}")
        if not 1 <= self.n_classes <= 3:
            raise ConfigError(f"n_classes must be 1..3 (pedestrian, cyclist, car), got {self.n_classes}")


# applied when predicting, not when training: not part of a detector run's stage key
DECODE_FIELDS = ("peak_threshold", "nms_ols", "max_detections")

DETECTOR_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"width": 8, "epochs": 3, "patience": 3},
    # two initialisations raced to half the epochs (detect_train._fit): on self-labels one detector seed in four
    # never learns to place peaks (docs/detection.md); smoke keeps one (3 epochs decide nothing)
    "quick": {"restarts": 2},
    "paper": {"width": 24, "epochs": 80, "patience": 15, "restarts": 2},
}


def resolve_detector_config(preset: str = "quick", overrides: list[str] | None = None,
                            yaml_path: str | None = None) -> DetectorConfig:
    """Preset <- YAML file <- dotted ``key=value`` overrides (``radiovisual.config.resolve``)."""
    return resolve(DetectorConfig, DETECTOR_PRESETS, preset, yaml_path, overrides)
