"""Benchmark configuration: which dataset, which methods, which stage presets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

LABEL_FREE = ("mcl", "scl", "cl", "clip")
BASELINES = ("cfar-genie", "cfar", "rodnet")


@dataclass(frozen=True)
class BenchmarkConfig:
    scenario: str = "parking_lot"
    seed: int = 0
    synth_preset: str = "quick"
    pretrain_preset: str = "quick"
    localise_preset: str = "quick"
    methods: tuple[str, ...] = ("mcl",)
    baselines: tuple[str, ...] = BASELINES
    seeds: int = 1                   # localiser seeds per method (mean +- std when > 1)
    n: int = 0                       # 0 = the synth preset's sizes
    refine: str = "parabolic"
    export_examples: int = 6
    # dotted overrides forwarded to the stage configs (e.g. "loss.queue_size=8")
    pretrain_overrides: tuple[str, ...] = ()
    localise_overrides: tuple[str, ...] = ()

    def validate(self) -> None:
        bad = [m for m in self.methods if m not in LABEL_FREE]
        if bad:
            raise ConfigError(f"unknown method '{bad[0]}' (choose from {', '.join(LABEL_FREE)} or 'all')")
        bad = [b for b in self.baselines if b not in BASELINES]
        if bad:
            raise ConfigError(f"unknown baseline '{bad[0]}' (choose from {', '.join(BASELINES)})")
        if self.seeds < 1:
            raise ConfigError("seeds must be >= 1")
        if self.n < 0:
            raise ConfigError("n must be >= 0")


BENCH_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"synth_preset": "smoke", "pretrain_preset": "smoke", "localise_preset": "smoke", "n": 36,
              "pretrain_overrides": ["loss.queue_size=8", "train.batch_size=8"]},
    "quick": {},
    "paper": {"synth_preset": "paper", "pretrain_preset": "paper", "localise_preset": "paper",
              "methods": ["mcl", "scl", "cl", "clip"], "seeds": 3},
}
