"""Benchmark configuration: which dataset, which methods, which stage presets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

# label-free rows: pretrained methods (self-labels -> localiser) and the untrained floor ``peak``.
# ``mcl+track`` shares ``mcl``'s pretraining and differs only in its (sequence-aware) self-labels.
LABEL_FREE = ("mcl", "mcl+track", "mcl-paper", "scl", "cl", "clip", "peak")
DEFAULT_METHODS = ("mcl", "mcl+track", "mcl-paper", "scl", "cl", "peak")
PRETRAIN_OF = {"mcl+track": "mcl"}       # benchmark row -> pretrain method (default: the row's own name)
SELFLABEL_OF = {"mcl+track": ["track=true"]}  # benchmark row -> extra self-label overrides
BASELINES = ("cfar-genie", "cfar", "rodnet")
OPTIONAL_BASELINES = ("pseudo",)   # pseudo-supervised (paper §5.2); automatic on an imported CRUW store
EVALS = ("probe", "retrieval")


@dataclass(frozen=True)
class BenchmarkConfig:
    scenario: str = "parking_lot"
    seed: int = 0
    synth_preset: str = "quick"
    pretrain_preset: str = "quick"
    localise_preset: str = "quick"
    methods: tuple[str, ...] = DEFAULT_METHODS
    baselines: tuple[str, ...] = BASELINES
    seeds: int = 1                   # seeds per method: pretraining, self-labels and localiser (mean +- std)
    data: str = ""                   # an existing complete dataset store to use instead of OUT/data
    pretrain_retries: int = 1        # mcl: re-pretrain (seed + 1000) when the label-free proxies fail
    max_map_residual_rad: float = 0.1  # proxy threshold: robust residual of the learned column->azimuth map
    n: int = 0                       # 0 = the synth preset's sizes
    refine: str = "parabolic"
    export_examples: int = 6
    # dotted overrides forwarded to the stage configs (e.g. "loss.queue_size=8")
    pretrain_overrides: tuple[str, ...] = ()
    localise_overrides: tuple[str, ...] = ()
    selflabel_overrides: tuple[str, ...] = ()
    # supervised *evaluations* of each pretraining (seed 0): "probe" (linear probe), "retrieval" (Recall@k)
    evals: tuple[str, ...] = ()

    def validate(self) -> None:
        bad = [m for m in self.methods if m not in LABEL_FREE]
        if bad:
            raise ConfigError(f"unknown method '{bad[0]}' (choose from {', '.join(LABEL_FREE)} or 'all')")
        bad = [b for b in self.baselines if b not in BASELINES + OPTIONAL_BASELINES]
        if bad:
            raise ConfigError(f"unknown baseline '{bad[0]}' (choose from {', '.join(BASELINES + OPTIONAL_BASELINES)})")
        bad = [e for e in self.evals if e not in EVALS]
        if bad:
            raise ConfigError(f"unknown evaluation '{bad[0]}' (choose from {', '.join(EVALS)})")
        if self.seeds < 1:
            raise ConfigError("seeds must be >= 1")
        if self.pretrain_retries < 0 or not self.max_map_residual_rad > 0:
            raise ConfigError("pretrain_retries must be >= 0 and max_map_residual_rad > 0")
        if self.n < 0:
            raise ConfigError("n must be >= 0")


BENCH_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"synth_preset": "smoke", "pretrain_preset": "smoke", "localise_preset": "smoke", "n": 36,
              "methods": ["mcl", "mcl+track", "peak"],
              "pretrain_overrides": ["loss.queue_size=8", "train.batch_size=8"]},
    "quick": {},
    "paper": {"synth_preset": "paper", "pretrain_preset": "paper", "localise_preset": "paper",
              "methods": list(DEFAULT_METHODS) + ["clip"], "seeds": 3},
}
