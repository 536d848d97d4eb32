"""One study point = the benchmark's own stages under a few config overrides (``docs/studies.md``).

A point with no overrides lives in the study's ``OUT`` with the benchmark's layout (``OUT/pretrain/<m>/seed<k>``,
``OUT/selflabels/<m>-seed<k>-{train,val}.zarr``, ``OUT/localise/<m>/seed<k>``), so it is shared by every study in
the same ``OUT`` and by a benchmark run into it. A point with overrides lives in
``OUT/points/<name>-<hash of the overrides>`` with the same layout inside. Every stage is a ``StageDir``: a rerun
reuses finished stages and resumes the unfinished one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import from_dict, merge, parse_overrides, to_dict
from ..dataset.format import open_dataset
from ..pipeline.config import BenchmarkConfig
from ..pipeline.run import Timer, pretrain_and_label, selflabel_split
from ..utils.stage import stage_key
from .config import StudyConfig


@dataclass
class Context:
    """What every point of a study shares: the trees, the dataset, OUT and the run flags."""

    bench: BenchmarkConfig
    study: StudyConfig
    data: Path
    out: Path
    progress: bool = False
    force: bool = False
    log: Callable[[str], None] = print
    timer: Timer = field(init=False)
    _val_radar: np.ndarray | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.timer = Timer(lambda _s: None)   # stage timings are kept; the study prints one line per point

    @property
    def val_radar(self) -> np.ndarray:
        if self._val_radar is None:
            self._val_radar = open_dataset(self.data, labels=False).split("val").read("radar")
        return self._val_radar

    def n_train(self) -> int:
        return len(open_dataset(self.data, labels=False).split("train"))


def with_overrides(bench: BenchmarkConfig, overrides: dict[str, Any]) -> BenchmarkConfig:
    """The tree with dotted ``overrides`` ({"pretrain.loss.mask_pad_px": 2}) applied and validated."""
    if not overrides:
        return bench
    items = [f"{k}={v}" for k, v in overrides.items()]
    return from_dict(BenchmarkConfig, merge(to_dict(bench), parse_overrides(items)))


def point_root(ctx: Context, name: str, overrides: dict[str, Any]) -> Path:
    return ctx.out if not overrides else ctx.out / "points" / f"{name}-{stage_key(overrides)[:8]}"


def pretrain_point(ctx: Context, method: str, s: int, overrides: dict[str, Any], name: str) -> dict[str, Any]:
    """Seed index ``s`` of ``method`` under ``overrides``: the benchmark's pretraining (+ its label-free restart
    rule) and self-labels on train and val. Returns {"tree", "root", "tag", "run", "train", "val"}."""
    cfg = with_overrides(ctx.bench, overrides)
    root = point_root(ctx, name, overrides)
    run, paths, tag = pretrain_and_label(cfg, method, s, ctx.data, root, ctx.timer, ctx.progress, ctx.log,
                                          ctx.force)
    if "val" not in paths:   # the benchmark labels val for seed 0 only; a study scores every seed
        paths["val"] = selflabel_split(run, ctx.data, "val", root / "selflabels" / f"{method}-{tag}-val.zarr",
                                   cfg.selflabel_for(method, cfg.seed + s), ctx.progress, ctx.force)
    return {"tree": cfg, "root": root, "tag": tag, "run": run, **paths}


def selflabel_metrics(ctx: Context, val_store: Path) -> dict[str, Any]:
    """Tab. 7 deviation of the val self-labels (D_W range m², angle deg²; D_KL, MI nats). Reporting only."""
    from ..evaluate.score import score_selflabels
    from ..selflabel import load_labels

    return score_selflabels(load_labels(val_store), ctx.data, "val")


def subset_indices(n: int, frac: float, seed: int, min_subset: int) -> np.ndarray | None:
    """The first ``frac`` of one seeded permutation of the train split (nested: 1 % ⊂ 3 % ⊂ ...); None = all."""
    k = min(n, max(min_subset, int(round(frac * n))))
    if k >= n:
        return None
    return np.sort(np.random.default_rng([seed, 61]).permutation(n)[:k])


def localise_point(ctx: Context, cfg: BenchmarkConfig, root: Path, method: str, tag: str, s: int, labels: Any,
                   subset: np.ndarray | None = None, label_free: bool = True) -> dict[str, Any]:
    """Train the common localiser (on ``subset`` of train if given) and score it on val (reporting only)."""
    from dataclasses import replace

    from ..evaluate.score import score_predictions
    from ..localise import predict, train_localiser

    lcfg = cfg.localise
    path = root / "localise" / method / tag
    if subset is not None:
        # small subsets get at least study.min_steps optimiser steps (else 1 % of labels = 1 % of training)
        n_fit = max(1, int(round(len(subset) * (1 - lcfg.holdout_frac))))
        per_epoch = math.ceil(n_fit / lcfg.batch_size)
        if ctx.study.min_steps:
            lcfg = replace(lcfg, epochs=max(lcfg.epochs, math.ceil(ctx.study.min_steps / per_epoch)))
        path = root / "localise" / method / f"n{len(subset)}-{tag}"
    with ctx.timer.stage(f"localise:{method}"):
        run = train_localiser(ctx.data, labels, path, cfg=lcfg, seed=cfg.seed + s, progress=ctx.progress,
                              label_free=label_free if not isinstance(labels, str) else False, force=ctx.force,
                              subset=subset)
        pred = predict(run, ctx.val_radar)
    m = score_predictions(pred, ctx.data, "val")
    return {"p50_m": m["p50_m"], "p90_m": m["p90_m"], "mean_m": m["mean_m"], "n_train_labels":
            int(len(subset)) if subset is not None else ctx.n_train(), "localiser": str(run)}


class Progress:
    """One line per point: ``[study NAME] 3/15 mcl frac=0.1 seed0: p50 0.41 m, p90 0.90 m (12.3 s)``."""

    def __init__(self, name: str, total: int, log: Callable[[str], None]):
        self.name, self.total, self.log, self.i = name, total, log, 0
        self.t = time.perf_counter()

    def __call__(self, what: str, metrics: dict[str, Any]) -> None:
        self.i += 1
        parts = []
        for k, unit in (("p50_m", "m"), ("p90_m", "m")):
            if k in metrics:
                parts.append(f"{k[:3]} {metrics[k]:.3f} {unit}")
        for k in ("range", "angle"):
            if isinstance(metrics.get("D_W"), dict) and k in metrics["D_W"]:
                parts.append(f"D_W {k} {metrics['D_W'][k]:.3g}")
        dt = time.perf_counter() - self.t
        self.t = time.perf_counter()
        self.log(f"[study {self.name}] {self.i}/{self.total} {what}: {', '.join(parts) or 'done'} ({dt:.1f} s)")
