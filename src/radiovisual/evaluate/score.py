"""The one scorer: predictions + dataset -> metrics. Every ground-truth read made for SCORING lives here.

Label-free stages (pretrain, selflabel, localise on self-labels, the non-genie baselines) never
import this module; the CLI and the benchmark call it after a stage has finished. Scoring is
reporting only: nothing here feeds back into training, calibration or selection, except
``train_scorer``, which exists for explicitly genie-named tuning (``cfar --tune --genie``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..dataset.format import Dataset, open_dataset
from .metrics import error_summary, location_errors, seeds_summary, selflabel_deviation


def _labelled(data: str | Path | Dataset) -> Dataset:
    if isinstance(data, Dataset):
        return data if data.labels else open_dataset(data.path, labels=True)
    return open_dataset(data, labels=True)


def ground_truth(data: str | Path | Dataset, split: str = "val", n: int | None = None) -> np.ndarray:
    """[N, 2] polar (range [m], azimuth [rad]) targets of ``split`` (the first ``n`` when given)."""
    sv = _labelled(data).split(split)
    return sv.read("target_polar", slice(0, n)).astype(np.float64)


def score_predictions(pred: np.ndarray, data: str | Path | Dataset, split: str = "val") -> dict[str, Any]:
    """{"p50_m", "p90_m", "mean_m", "n"} of ``pred`` [N, 2] polar against the first N targets of ``split``."""
    pred = np.asarray(pred, dtype=np.float64)
    return error_summary(location_errors(pred, ground_truth(data, split, len(pred))))


def score_seeds(preds: Sequence[np.ndarray], data: str | Path | Dataset, split: str = "val") -> dict[str, Any]:
    """One method, one prediction array per seed -> the seed-summary shape (``metrics.seeds_summary``)."""
    gt = ground_truth(data, split)
    return seeds_summary([error_summary(location_errors(np.asarray(p, np.float64), gt[:len(p)])) for p in preds])


def score_methods(preds: Mapping[str, Sequence[np.ndarray]], data: str | Path | Dataset,
                  split: str = "val") -> dict[str, dict[str, Any]]:
    """{method: [pred per seed]} -> {method: seed summary}; reads the targets once."""
    gt = ground_truth(data, split)
    return {name: seeds_summary([error_summary(location_errors(np.asarray(p, np.float64), gt[:len(p)]))
                                 for p in runs]) for name, runs in preds.items()}


def score_by_scenario(preds: Mapping[str, Sequence[np.ndarray]], data: str | Path | Dataset,
                      split: str = "val") -> dict[str, dict[str, dict[str, Any]]]:
    """{scenario: {method: seed summary}} on the samples of each scenario of a mixed store (its per-sample
    ``scenario_id``, capture metadata); {} when the split holds one scenario only."""
    from ..scene.layouts import MIX_SCENARIOS, SCENARIOS_EXTRA

    names = MIX_SCENARIOS + SCENARIOS_EXTRA   # scenario_id -> name (dataset.synthesis.generate.scenario_index)
    ds = _labelled(data)
    sv = ds.split(split)
    if "scenario_id" not in sv:
        return {}
    sid = sv.read("scenario_id")
    ids = [int(i) for i in np.unique(sid) if 0 <= i < len(names)]
    if len(ids) < 2:
        return {}
    gt = ground_truth(ds, split)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for i in ids:
        m = sid == i
        out[names[i]] = {
            name: seeds_summary([error_summary(location_errors(np.asarray(p, np.float64)[m[:len(p)]],
                                                               gt[:len(p)][m[:len(p)]])) for p in runs])
            for name, runs in preds.items()}
    return out


def score_localiser(run: str | Path, data: str | Path | Dataset, split: str = "val") -> dict[str, Any]:
    """Error summary of a finished localiser run on ``split`` plus the raw ``errors`` and ``pred``."""
    from ..localise import predict

    ds = _labelled(data)
    pred = predict(run, ds.split(split).read("radar"))
    err = location_errors(pred, ground_truth(ds, split))
    return {"split": split, **error_summary(err), "errors": err, "pred": pred}


def score_selflabels(labels_polar: np.ndarray, data: str | Path | Dataset, split: str) -> dict[str, Any]:
    """Tab. 7 deviation of self-labels from the targets of ``split`` (``metrics.selflabel_deviation``)."""
    return selflabel_deviation(np.asarray(labels_polar, np.float64), ground_truth(data, split))


def train_scorer(data: str | Path | Dataset, n: int) -> Callable[[np.ndarray], float]:
    """Median x-y error [m] of [n, 2] predictions against the first ``n`` TRAIN targets.

    Only for genie-named tuning (it reads train ground truth); never touches val.
    """
    gt = ground_truth(data, "train", n)
    return lambda pred: float(np.median(location_errors(np.asarray(pred, np.float64)[:len(gt)], gt)))
