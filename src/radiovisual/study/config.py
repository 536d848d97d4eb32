"""The studies' own config: a frozen dataclass under ``study.*`` next to the benchmark tree (``docs/studies.md``).

``radiovisual study NAME --preset P --set study.offsets=[-2,0,2] --set pretrain.train.epochs=5``: keys that
start with ``study.`` land here, every other key in the ``BenchmarkConfig`` tree (``pipeline/config.py``), so a
study point's stage configs are exactly the benchmark's plus the point's own overrides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..config import from_dict, merge, parse_overrides
from ..errors import ConfigError
from ..pipeline.config import LABEL_FREE, BenchmarkConfig, build_benchmark_config

STUDIES = ("label-density", "mask-offset", "dimensionality", "backbones", "detector-masks")


@dataclass(frozen=True)
class StudyConfig:
    # label-density (Fig. 6): fractions of the train split whose (self-)labels train the localiser
    fractions: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)
    min_subset: int = 8             # a fraction never trains on fewer samples than this
    # optimiser steps a subset's localiser gets at least (epochs scaled up for small subsets, so 1 % of the
    # labels is not also 1 % of the training); 0 = the localise config's epochs as they are
    min_steps: int = 300
    density_methods: tuple[str, ...] = ("supervised", "mcl", "scl")
    # mask-offset (Fig. 7): loss.mask_pad_px values (+ dilates, - erodes the target mask, image pixels)
    offsets: tuple[int, ...] = (-4, -2, 0, 2, 4, 6)
    # dimensionality (Fig. 8): backbone.channels C per bin; proj_scale x projector (hidden and out) for MCL
    channels: tuple[int, ...] = (16, 32, 64)
    dim_methods: tuple[str, ...] = ("mcl", "scl")
    proj_scale: int = 4
    # backbones (Tab. 5): the pretraining rows (+ Supervised as the reference)
    backbone_methods: tuple[str, ...] = ("mcl", "scl", "cl")
    # detector-masks (Tab. 6): the rows re-pretrained on predicted masks; a finished `detect train` run to use
    # ("" = train one in OUT/detect with the detect preset of the study's preset)
    detector_methods: tuple[str, ...] = ("mcl", "scl")
    detector: str = ""
    detector_sets: tuple[str, ...] = ()   # `detect train --set` overrides of the trained detector (key=value)
    # + rows pretrained on the detector's BOXES, filled (``loss.mask_source=pred-bbox:``): the paper's Tab. 6/7 ^Y
    # rows used Yolo v5 boxes, so this is the like-for-like comparison; off at quick (two more pretrainings)
    detector_boxes: bool = False
    # > 0: pretrain.train.epochs of the SWEPT pretrainings (mask-offset, dimensionality), so six offsets fit
    # the quick budget; the swept points then all share it (the zero-offset point included)
    sweep_epochs: int = 0

    def validate(self) -> None:
        if not self.fractions or not all(0 < f <= 1 for f in self.fractions):
            raise ConfigError("study.fractions must be non-empty, each in (0, 1]")
        if self.min_subset < 2 or self.min_steps < 0 or self.sweep_epochs < 0:
            raise ConfigError("study.min_subset must be >= 2, study.min_steps and study.sweep_epochs >= 0")
        if not self.offsets or not self.channels or min(self.channels) < 2 or self.proj_scale < 1:
            raise ConfigError("study.offsets and study.channels must be non-empty, channels >= 2, proj_scale >= 1")
        for key, allowed in (("density_methods", ("supervised", "mcl", "scl", "cl", "clip")),
                             ("dim_methods", ("mcl", "scl", "cl", "clip")),
                             ("backbone_methods", LABEL_FREE), ("detector_methods", ("mcl", "scl"))):
            bad = [m for m in getattr(self, key) if m not in allowed or m == "peak"]
            if bad or not getattr(self, key):
                raise ConfigError(f"study.{key}: '{bad[0] if bad else ''}' is not one of {', '.join(allowed)}")


# Per preset. quick: 2 CPU cores, <= 20 min per study (docs/studies.md has the arithmetic); paper: a GPU.
STUDY_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"fractions": [0.3, 1.0], "min_subset": 4, "min_steps": 0, "offsets": [-1, 0, 1],
              "channels": [8, 16], "proj_scale": 2},
    # quick sweeps pretrain 20 epochs: at 10 the MCL training loss was 4.99 (5.44 at the start, 3.0 at 30 epochs),
    # so the swept models had barely begun to learn (label-free: the loss curves, docs/studies.md)
    # dimensionality sweeps C upward from the tree's 32, as the paper doubles C from its design point; the 4x
    # projector alone took 575 s at quick (the MIL loss head scales with the projector's output width), so 2x here
    "quick": {"sweep_epochs": 20, "offsets": [-4, -2, 0, 2, 4, 6], "channels": [32, 64], "proj_scale": 2},
    "paper": {"fractions": [0.01, 0.03, 0.1, 0.3, 1.0], "min_steps": 2000, "channels": [128, 256, 512, 1024],
              "backbone_methods": ["mcl", "scl", "cl", "clip"], "offsets": [-4, -2, 0, 2, 4, 6],
              "detector_boxes": True},
}


def build_study_config(preset: str = "quick", yaml_path: str | None = None, overrides: list[str] | None = None,
                       extra: Mapping[str, Any] | None = None) -> tuple[BenchmarkConfig, StudyConfig]:
    """(benchmark tree, study config): ``study.*`` overrides go to the study, the rest to the tree."""
    overrides = list(overrides or [])
    mine = [o[len("study."):] for o in overrides if o.strip().startswith("study.")]
    rest = [o for o in overrides if not o.strip().startswith("study.")]
    bench = build_benchmark_config(preset, yaml_path, rest, extra)
    bench.validate()
    study = from_dict(StudyConfig, merge(STUDY_PRESETS.get(preset or "", {}), parse_overrides(mine)),
                      prefix="study.")
    study.validate()
    return bench, study
