"""Detector configuration: a frozen dataclass with smoke / quick / paper presets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import resolve
from ..errors import ConfigError


@dataclass(frozen=True)
class DetectorConfig:
    width: int = 8                # channels of the first U-Net level; level k has width * 2**k
    depth: int = 3                # number of 2x down-samplings (receptive field grows with it)
    epochs: int = 8
    batch_size: int = 16
    lr: float = 3e-3              # AdamW, cosine-decayed to 5 % over all steps
    weight_decay: float = 1e-4
    pos_weight: float = 4.0       # BCE weight of target pixels (the target covers ~2 % of the image)
    dice_weight: float = 1.0      # soft-Dice term: optimises overlap directly, insensitive to class balance
    flip_augment: bool = False    # mirror image+mask; off by default: the scene layout is not symmetric
    threshold: float = 0.5        # sigmoid probability above which a pixel is "target"
    min_area_px: int = 4          # smaller connected components are treated as no detection
    max_train: int = 0            # use only the first N train samples (0 = all)
    threads: int = 0              # torch CPU threads (0 = leave torch's default)
    predict_batch: int = 64

    def validate(self) -> None:
        if self.width < 2 or not 1 <= self.depth <= 5:
            raise ConfigError(f"width must be >= 2 and depth in 1..5, got {self.width}, {self.depth}")
        if self.epochs < 1 or self.batch_size < 1 or self.predict_batch < 1:
            raise ConfigError("epochs, batch_size and predict_batch must be >= 1")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ConfigError(f"lr must be > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}")
        if not self.pos_weight > 0 or self.dice_weight < 0:
            raise ConfigError("pos_weight must be > 0 and dice_weight >= 0")
        if not 0 < self.threshold < 1:
            raise ConfigError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.min_area_px < 1 or self.max_train < 0 or self.threads < 0:
            raise ConfigError("min_area_px must be >= 1, max_train and threads >= 0")


DETECT_PRESETS: dict[str, dict[str, Any]] = {
    # 40 epochs (80 steps on the 18 train images of `synth --preset smoke`): 2 epochs predicted empty masks, so the
    # smoke detector-masks study had no samples to pretrain on (issue 23); 40 find the target in every smoke image
    "smoke": {"width": 6, "depth": 2, "epochs": 40, "batch_size": 8},
    # 2 shared CPU cores, 1200 train images 96x128: ~0.5-1 s per step of 16, 75 steps per epoch
    "quick": {},
    "paper": {"width": 32, "depth": 4, "epochs": 60, "batch_size": 32, "lr": 2e-3},   # for a GPU
}


def resolve_detect_config(preset: str | None = "quick", overrides: list[str] | None = None,
                          yaml_path: str | None = None) -> DetectorConfig:
    return resolve(DetectorConfig, DETECT_PRESETS, preset, yaml_path, overrides)
