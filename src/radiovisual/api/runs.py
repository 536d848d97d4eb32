"""Runs from Python: find the one you mean, load its models, predict, self-label and score.

Every function takes the paths the CLI and the benchmark write: a run directory, or a benchmark ``METHOD``
directory (``runs/quick/localise/mcl``), which resolves to its kept ``seedS[-retryK]`` run (``load_run``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import RadiovisualError
from ..utils.runs import SEED_DIR, kept_tags, resolve_run

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from ..dataset.format import Dataset
    from ..localise.polar import PolarLocaliser
    from ..pretrain.train import Backbones


@dataclass(frozen=True)
class Run:
    """A finished run directory and what it says about itself. ``os.PathLike``: pass it wherever a path goes.

    ``stage`` (``localise``, ``pretrain``, ``selflabel``, ...), ``config`` (its resolved config), ``summary``
    (its ``done.json`` facts), ``seed``/``tag`` (from a ``seedS[-retryK]`` directory name) and ``healthy``
    (the label-free health check of its self-labels as the benchmark recorded it; None when unknown).
    """

    path: Path
    stage: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    tag: str | None = None
    healthy: bool | None = None

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)


def load_run(path: str | os.PathLike, seed: int | None = None) -> Run:
    """Resolve ``path`` to a finished run: the directory itself, or the kept seed/retry run of a benchmark
    ``METHOD`` directory (``OUT/localise/mcl`` -> ``OUT/localise/mcl/seed0-retry1``; ``metrics.json`` names the
    kept one). With several seeds, ``seed`` picks one; without it a one-line ``RadiovisualError`` lists them."""
    p = resolve_run(Path(path), "run", seed)
    done = json.loads((p / "done.json").read_text())
    spec = done.get("spec", {})
    m = SEED_DIR.match(p.name)
    s = int(m.group(1)) if m else None
    entry = kept_tags(p.parent).get(s, {}) if m else {}
    healthy = entry.get("healthy") if entry.get("run") == p.name else None
    summary = {k: v for k, v in done.items() if k not in ("spec", "key")}
    return Run(p, done.get("stage"), dict(spec.get("config", {})), summary, s, p.name if m else None, healthy)


def load_backbones(run: str | os.PathLike) -> "Backbones":
    """The frozen radio and vision backbones of a pretraining run (``pretrain.Backbones``: ``radio``,
    ``vision``, ``config``, feature ``stride``/``offset``, the whole method as ``model``), eval mode, CPU."""
    from ..pretrain import load_backbones as _load

    return _load(resolve_run(Path(run), "pretraining"))


def load_localiser(run: str | os.PathLike, train: bool = False) -> "PolarLocaliser":
    """A finished localiser run as a trainable ``torch.nn.Module``: radar dB [B, R, A] -> [B, 2] polar
    (range [m], azimuth [rad]). Eval mode unless ``train``; ``.save(out)`` writes a run ``predict`` reads."""
    from ..localise.polar import load_polar

    return load_polar(resolve_run(Path(run), "localiser"), train=train)


def new_localiser(data: "str | os.PathLike | Dataset", width: int = 8) -> "PolarLocaliser":
    """A freshly initialised localiser (the benchmark's architecture) for the radar grid of store ``data``."""
    from ..dataset.format import Dataset, open_dataset
    from ..localise.polar import new_polar

    ds = data if isinstance(data, Dataset) else open_dataset(Path(data), labels=False)
    return new_polar(ds.range_bins_m, ds.azimuth_bins_rad, width=width)


def predict(model: "str | os.PathLike | PolarLocaliser", radar: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Radar dB heatmaps [N, R, A] -> [N, 2] polar (range [m], azimuth [rad]), float64.

    ``model`` is a localiser run (the frozen fast path: BatchNorm folded, TorchScript, cached for the last few
    runs) or a module from ``load_localiser``/``new_localiser`` (run in eval mode, its mode restored after)."""
    import torch

    from ..localise import predict as _predict

    if not isinstance(model, torch.nn.Module):
        return _predict(resolve_run(Path(model), "localiser"), radar, batch_size)
    radar = np.asarray(radar, dtype=np.float32)
    if radar.ndim != 3:
        raise RadiovisualError(f"radar must be [N, R, A], got {list(radar.shape)}")
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out = [model(torch.from_numpy(radar[s:s + batch_size])).double().numpy()
                   for s in range(0, len(radar), batch_size)]
    finally:
        model.train(was)
    return np.concatenate(out) if out else np.zeros((0, 2))


def make_selflabels(run: str | os.PathLike, data: str | os.PathLike, split: str = "train",
              out: str | os.PathLike | None = None, track: bool = False, overrides: list[str] | None = None,
              progress: bool = False, force: bool = False) -> Path:
    """Self-label ``split`` of ``data`` with pretraining ``run`` (label-free); returns the label store's path.

    ``track`` smooths the labels along each sequence (MCL+track); ``overrides`` are ``SelfLabelConfig``
    ``key=value`` strings. A finished store of the same inputs is reused. Read it with ``load_labels``."""
    from ..selflabel import run_selflabel
    from ..selflabel.config import resolve_selflabel_config

    cfg = resolve_selflabel_config("track" if track else "default", overrides)
    return Path(run_selflabel(resolve_run(Path(run), "pretraining"), Path(data), split=split,
                              out=None if out is None else Path(out), cfg=cfg, progress=progress, force=force))


def load_labels(store: str | os.PathLike) -> np.ndarray:
    """Self-labels [N, 2] polar (range [m], azimuth [rad]) of a label store (``selflabel``'s output)."""
    from ..selflabel import load_labels as _load

    return _load(Path(store))


def label_health(store: str | os.PathLike) -> dict[str, Any] | None:
    """The label-free health check a self-label store recorded (``ok``, ``failed``, ``checks``, ``signals``):
    do camera and radar agree on where the labelled objects are? None for read-outs without the check."""
    from ..selflabel import open_labels

    return dict(open_labels(Path(store)).attrs).get("health")


def score(pred: "np.ndarray | str | os.PathLike", data: "str | os.PathLike | Dataset", split: str = "val"
          ) -> dict[str, Any]:
    """Location error of predictions against ground truth of ``split`` (reads labels: reporting only).

    ``pred`` is an [N, 2] polar array, a self-label store (``.zarr``) or a localiser run (predicted here).
    Returns ``p50_m``, ``p90_m``, ``mean_m`` (metres, after polar -> x-y) and ``n``; for self-labels also
    ``deviation`` (Tab. 7: D_W, D_KL, MI of range and angle)."""
    from ..dataset.format import Dataset, open_dataset
    from ..evaluate.score import score_predictions, score_selflabels

    ds = data if isinstance(data, Dataset) else open_dataset(Path(data), labels=True)
    if isinstance(pred, (str, os.PathLike)):
        p = Path(pred)
        if (p / "polar" / "zarr.json").is_file():
            labels = load_labels(p)
            return {**score_predictions(labels, ds, split), "deviation": score_selflabels(labels, ds, split)}
        pred = predict(p, ds.label_free().split(split).read("radar"))
    return score_predictions(np.asarray(pred, np.float64), ds, split)
