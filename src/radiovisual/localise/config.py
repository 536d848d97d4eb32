"""Localiser configuration (identical for every method: self-labels, teacher labels or GT)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from ..config import resolve
from ..dataset.resolution import GridResolution, stem_steps
from ..errors import ConfigError


@dataclass(frozen=True)
class LocaliserConfig:
    FINGERPRINT_OMIT_DEFAULTS: ClassVar[tuple[str, ...]] = ("label_weights",)

    width: int = 8                # channels of the first stage; later stages use 2x and 4x
    epochs: int = 20
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    holdout_frac: float = 0.1     # slice of TRAIN (by sequence) for model selection / early stopping
    patience: int = 6             # epochs without held-out improvement before stopping (2nd half only)
    flip_augment: bool = True     # mirror azimuth (valid when azimuth bins are symmetric about 0)
    threads: int = 0              # torch CPU threads (0 = leave torch's default)
    predict_batch: int = 512
    # distance: the mean distance to the labels (what is scored; robust to labels on the wrong object);
    # mse: the mean squared distance (v0.2). Both in heatmap bins normalised by the heatmap size.
    loss: str = "distance"
    # none: every label counts the same (v0.2); jitter: a sequence whose labels zig-zag counts less
    # (localise.weights, label-free: the labels' own temporal smoothness)
    label_weights: str = "none"
    # The stem (first conv) spans stem_* bins per stride-2 step: kernel 2s+1, stride 2s. The net is built
    # for design_*_bins bins per resolution cell (our synthetic grids: 1 range bin, ~4 azimuth bins per
    # beamwidth); "auto" = max(1, round(store bins per cell / design)) from the store's grid
    # (``dataset.resolution``), so a grid sampling the beam 4x finer (CRUW, 15.9 bins per beam) gets
    # stem_azimuth = 4 and the same receptive field in beamwidths. The quick grid resolves to 1, 1.
    stem_range: int | str = "auto"
    stem_azimuth: int | str = "auto"
    design_range_bins: float = 1.0
    design_azimuth_bins: float = 4.0

    def validate(self) -> None:
        if self.width < 2:
            raise ConfigError(f"width must be >= 2, got {self.width}")
        if self.epochs < 1 or self.batch_size < 1 or self.predict_batch < 1:
            raise ConfigError("epochs, batch_size and predict_batch must be >= 1")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if not 0 < self.holdout_frac < 0.5:
            raise ConfigError(f"holdout_frac must be in (0, 0.5), got {self.holdout_frac}")
        if self.loss not in ("distance", "mse"):
            raise ConfigError(f"loss must be distance or mse, got {self.loss!r}")
        if self.label_weights not in ("none", "jitter"):
            raise ConfigError(f"label_weights must be none or jitter, got {self.label_weights!r}")
        if self.patience < 1:
            raise ConfigError(f"patience must be >= 1, got {self.patience}")
        for k in ("stem_range", "stem_azimuth"):
            v = getattr(self, k)
            if (isinstance(v, str) and v != "auto") or (not isinstance(v, str) and v < 1):
                raise ConfigError(f"{k} must be 'auto' or an integer >= 1, got {v!r}")
        if not (self.design_range_bins > 0 and self.design_azimuth_bins > 0):
            raise ConfigError("design_range_bins and design_azimuth_bins must be > 0")

    def for_grid(self, grid: GridResolution) -> "LocaliserConfig":
        """This config with "auto" stems resolved on ``grid`` (explicit stems are kept)."""
        sr, sa = stem_steps(grid, (self.design_range_bins, self.design_azimuth_bins))
        out = {k: v for k, v in (("stem_range", sr), ("stem_azimuth", sa)) if getattr(self, k) == "auto"}
        return replace(self, **out) if out else self


LOCALISE_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"width": 8, "epochs": 3, "patience": 3},
    "quick": {},
    "paper": {"width": 16, "epochs": 80, "patience": 15, "lr": 2e-3},
}


def resolve_localise_config(preset: str = "quick", overrides: list[str] | None = None,
                            yaml_path: str | None = None) -> LocaliserConfig:
    return resolve(LocaliserConfig, LOCALISE_PRESETS, preset, yaml_path, overrides)
