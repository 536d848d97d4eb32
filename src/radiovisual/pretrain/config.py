"""Pretraining configuration: frozen dataclasses + presets (smoke / quick / paper).

Resolve with ``resolve_pretrain_config(method, preset, overrides=[...])``. The resolved
config (method and seed included) is written to ``RUN/config.json`` and every checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..config import resolve
from ..dataset.resolution import GridResolution, stem_steps
from ..detect.masks import pred_store
from ..errors import ConfigError

METHODS = ("mcl", "mcl-paper", "scl", "scl-paper", "cl", "clip")
MASKED_METHODS = ("mcl", "mcl-paper", "scl", "scl-paper")
QUEUE_METHODS = ("mcl", "mcl-paper", "cl")


@dataclass(frozen=True)
class BackboneConfig:
    """Both backbones: ``len(widths)`` stride-2 conv stages, then ``blocks`` 3x3 convs, then 1x1 -> C."""

    channels: int = 32                  # C: feature size per spatial bin (same for radio and vision)
    widths: tuple[int, ...] = (16, 32)  # one stride-2 stage each -> total stride 2**len(widths)
    blocks: int = 1                     # extra stride-1 3x3 convs at the output resolution
    coord_channels: bool = True         # append normalised (row, col) inputs so features know "where"
    coord_freqs: int = 0                # + sin/cos(pi 2^k row|col), k < coord_freqs (Fourier position features)
    groups: int = 8                     # GroupNorm groups (per-sample norm: no BN cross-rank coupling)
    # The RADIO backbone's first conv spans radio_stem_* bins per stride-2 step (kernel 2s+1, stride 2s), so one
    # feature bin covers the same resolution cells on every grid ("auto": ``dataset.resolution.stem_steps`` of
    # the store, resolved before the stage is keyed). Quick resolves to 1, 1 (the plain 3x3 stride-2 conv);
    # CRUW to 1, 4 (15.9 azimuth bins per beam). The vision backbone is not affected.
    radio_stem_range: int | str = "auto"
    radio_stem_azimuth: int | str = "auto"

    def validate(self) -> None:
        if self.channels < 2 or not self.widths or min(self.widths) < 1 or self.blocks < 0:
            raise ConfigError("backbone.channels must be >= 2, backbone.widths non-empty and >= 1, blocks >= 0")
        for k in ("radio_stem_range", "radio_stem_azimuth"):
            v = getattr(self, k)
            if isinstance(v, bool) or (isinstance(v, str) and v != "auto") or (not isinstance(v, str) and v < 1):
                raise ConfigError(f"backbone.{k} must be 'auto' or an integer >= 1, got {v!r}")
        for w in self.widths:
            if w % self.groups:
                raise ConfigError(f"backbone.widths ({w}) must be divisible by backbone.groups ({self.groups})")


    def radio_stem(self) -> tuple[int, int]:
        """Integer stem steps; an unresolved "auto" means the native (1, 1): checkpoints from before the grid
        rule, and backbones built without a store (tests), have the plain 3x3 stride-2 first conv."""
        sr, sa = (1 if v == "auto" else int(v) for v in (self.radio_stem_range, self.radio_stem_azimuth))
        return sr, sa

    def for_grid(self, grid: GridResolution) -> "BackboneConfig":
        """This config with "auto" radio stems resolved on ``grid``."""
        sr, sa = stem_steps(grid)
        out = {k: v for k, v in (("radio_stem_range", sr), ("radio_stem_azimuth", sa)) if getattr(self, k) == "auto"}
        return replace(self, **out) if out else self


@dataclass(frozen=True)
class LossConfig:
    temperature: float = 0.1       # tau in sim(x, y) = x.y / tau (mcl, cl, scl, scl-paper) and CLIP's initial tau
    queue_size: int = 256          # K negatives per modality (mcl, cl); keep K + batch well below N train
    momentum: float = 0.99         # EMA coefficient of the key backbones/projectors
    proj_hidden: int = 128         # 2-layer MLP projector: C -> hidden -> dim
    proj_dim: int = 64
    proj_norm: bool = True         # global-batch BatchNorm in the projector's hidden layer
    mask_pad_px: int = 0           # + dilates, - erodes the target mask [image pixels]
    mask_source: str = "mask"      # "mask" (per-pixel), "bbox" (filled box), "pred:PATH" (detector masks store) or
    #                                "pred-bbox:PATH" (its boxes, filled: what the paper's Yolo rows used) or
    #                                "instances": one pair per camera object (instance_mask), several per frame
    radio_pool: str = "mean"       # how the radio projector collapses C x h x w: "mean" or "max"
    learn_temperature: bool = True  # clip: learnable logit scale (LIP-Loc/CLIP)
    shared_projector: bool = False  # mcl-paper/cl: one g for both modalities (g_r = g_v) to align feature spaces
    smooth_max_tau: float = 0.05   # mcl: tau_s of the smooth max over bins, s = tau_s log sum_n exp(a_n / tau_s)
    mirror_augment: bool = True    # mcl, scl: flip image+mask and reverse radar azimuth together (p = 1/2)
    mirror_negatives: bool = True  # mcl, scl: each sample's mirrored twin is an extra hard negative
    scl_twin_grad: bool = True     # scl: the mirrored twins are embedded with gradient (False: stop-gradient)
    scl_smooth_steps: int = 180    # scl: first steps score pairs by the smooth max (tau_s = smooth_max_tau), then hard
    #                                max; 180 = 1/3 of the quick preset's 540 steps (issue 8: docs/pretraining.md)
    scl_all_twins: bool = True     # scl: every in-batch sample's mirrored twin is a negative (False: only its own)

    def validate(self) -> None:
        if not 0 < self.temperature <= 10:
            raise ConfigError(f"loss.temperature must be in (0, 10], got {self.temperature}")
        if self.queue_size < 1:
            raise ConfigError("loss.queue_size must be >= 1")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"loss.momentum must be in [0, 1), got {self.momentum}")
        if self.proj_hidden < 1 or self.proj_dim < 1:
            raise ConfigError("loss.proj_hidden and loss.proj_dim must be >= 1")
        if self.mask_source not in ("mask", "bbox", "instances") and pred_store(self.mask_source) is None:
            raise ConfigError(f"loss.mask_source must be 'mask', 'bbox', 'instances', 'pred:PATH' or 'pred-bbox:PATH' (a "
                              f"`radiovisual detect predict` store), got {self.mask_source!r}")
        if not 0 < self.smooth_max_tau <= 10:
            raise ConfigError(f"loss.smooth_max_tau must be in (0, 10], got {self.smooth_max_tau}")
        if self.scl_smooth_steps < 0:
            raise ConfigError(f"loss.scl_smooth_steps must be >= 0, got {self.scl_smooth_steps}")
        if self.radio_pool not in ("mean", "max"):
            raise ConfigError(f"loss.radio_pool must be 'mean' or 'max', got {self.radio_pool!r}")


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 64           # GLOBAL batch (split evenly over ranks)
    epochs: int = 10
    max_steps: int = 0             # > 0 caps the number of optimiser steps
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 20
    amp: bool = True               # bf16 autocast, CUDA only (ignored on CPU)
    num_workers: int = 0           # DataLoader workers (spawn context) for the lazy zarr path
    in_memory: bool = True         # hold the train split in RAM (else lazy per-worker zarr reads)
    ckpt_every: int = 100          # steps between periodic checkpoints
    log_every: int = 10            # steps between JSONL metric lines
    threads: int = 0               # torch intra-op threads (0: leave as is)

    def validate(self) -> None:
        if self.batch_size < 2:
            raise ConfigError("train.batch_size must be >= 2 (contrastive losses need negatives)")
        if self.epochs < 1 or self.max_steps < 0:
            raise ConfigError("train.epochs must be >= 1 and train.max_steps >= 0")
        if not self.lr > 0 or self.weight_decay < 0 or self.warmup_steps < 0:
            raise ConfigError("train.lr must be > 0, weight_decay and warmup_steps >= 0")
        if self.num_workers < 0 or self.ckpt_every < 1 or self.log_every < 1 or self.threads < 0:
            raise ConfigError("train.num_workers >= 0, ckpt_every >= 1, log_every >= 1, threads >= 0 required")


@dataclass(frozen=True)
class PretrainConfig:
    method: str = "mcl"
    seed: int = 0
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"unknown method '{self.method}' (choose from {', '.join(METHODS)})")
        for part in (self.backbone, self.loss, self.train):
            part.validate()


PRETRAIN_PRESETS: dict[str, dict[str, Any]] = {
    # seconds, for tests: tiny nets, a few dozen steps. Batch 8 + queue 8 fit the 18 train samples of
    # `synth --preset smoke`, so presets of one name compose across stages.
    "smoke": {
        "backbone": {"channels": 16, "widths": [8, 16], "blocks": 1},
        "loss": {"queue_size": 8, "proj_hidden": 32, "proj_dim": 16},
        "train": {"batch_size": 8, "epochs": 8, "lr": 3e-3, "warmup_steps": 5, "ckpt_every": 10,
                  "log_every": 1},
    },
    # 2 CPU cores, ~1200 train pairs (radar 128x64, image 96x128): mcl ~4 min, the others ~1-2 min.
    # 30 epochs: the per-bin MIL model (mcl) is still improving its held-out-free training loss at 10.
    "quick": {"train": {"epochs": 30}},
    # GPU: wider/deeper nets, bigger C, batch and queue, more epochs
    "paper": {
        "backbone": {"channels": 128, "widths": [32, 64, 128], "blocks": 3, "groups": 16},
        "loss": {"queue_size": 4096, "proj_hidden": 512, "proj_dim": 128, "momentum": 0.999},
        "train": {"batch_size": 256, "epochs": 100, "lr": 1e-3, "warmup_steps": 500, "ckpt_every": 500,
                  "log_every": 20, "num_workers": 4, "in_memory": False},
    },
}


def resolve_pretrain_config(method: str | None = None, preset: str = "quick", overrides: list[str] | None = None,
                            yaml_path: str | None = None, seed: int | None = None) -> PretrainConfig:
    """Preset <- YAML <- (method, seed) <- --set overrides."""
    extra: dict[str, Any] = {}
    if method is not None:
        extra["method"] = method
    if seed is not None:
        extra["seed"] = seed
    return resolve(PretrainConfig, PRETRAIN_PRESETS, preset, yaml_path, overrides, extra)
