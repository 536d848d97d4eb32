"""Train / apply the radio-only localiser (paper §4.3) on any labels: self-labels, teacher labels or GT.

Every method gets the same architecture and training config. Model selection and early stopping
use a held-out slice of TRAIN (whole sequences) scored against the SAME labels the model is
trained on, so label-free methods never touch ground truth and nothing is tuned on validation.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import to_dict
from ..dataset.format import bins_to_polar, open_dataset, polar_to_bins
from ..dataset.resolution import store_resolution
from ..errors import RadiovisualError
from ..utils.io import load_checkpoint, save_checkpoint, write_json
from ..utils.runs import resolve_run
from ..utils.stage import StageDir
from .config import resolve_localise_config
from .loop import EpochLoop, optimiser_step
from .model import Localiser, build_model

MODEL_VERSION = 1


def _labels_fingerprint(labels: Any) -> str:
    if isinstance(labels, str):
        return labels
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.float64).tobytes()).hexdigest()[:16]


def _holdout_mask(sequence: np.ndarray, frac: float, seed: int) -> np.ndarray:
    """Hold out whole sequences (adjacent frames are near-duplicates) of the train split."""
    n = len(sequence)
    rng = np.random.default_rng(seed)
    seqs = np.unique(sequence)
    if len(seqs) >= 4:
        pick = rng.permutation(seqs)[:max(1, int(round(frac * len(seqs))))]
        hold = np.isin(sequence, pick)
    else:
        hold = np.zeros(n, bool)
        hold[rng.permutation(n)[:max(1, int(round(frac * n)))]] = True
    if hold.all() or not hold.any():
        hold = np.zeros(n, bool)
        hold[: max(1, n // 10)] = True
    return hold


def _load(data: str | Path, labels: Any) -> tuple[Any, np.ndarray, str]:
    """(dataset, train labels [N,2] polar float64, kind). Only ``labels == "gt"`` opens ground truth."""
    if isinstance(labels, str):
        if labels != "gt":
            raise RadiovisualError(f"labels must be an [N,2] polar array or 'gt', got '{labels}'")
        ds = open_dataset(data, labels=True)  # supervised: the only path reading GT for training
        y_polar = ds.split("train").read("target_polar").astype(np.float64)
        kind = "gt (supervised)"
    else:
        ds = open_dataset(data, labels=False)
        y_polar = np.asarray(labels, dtype=np.float64)
        kind = "provided labels (label-free unless their producer used GT)"
    n = len(ds.split("train"))
    if y_polar.ndim != 2 or y_polar.shape[1] != 2:
        raise RadiovisualError(f"labels must have shape [N,2] (range m, azimuth rad), got {list(y_polar.shape)}")
    if len(y_polar) != n:
        raise RadiovisualError(f"labels have {len(y_polar)} rows but the train split of {data} has {n} samples")
    if not np.isfinite(y_polar).all():
        raise RadiovisualError("labels contain NaN or inf values")
    if n < 2:
        raise RadiovisualError(f"the train split of {data} has only {n} samples; need at least 2")
    return ds, y_polar, kind


def _loss(pred: torch.Tensor, y: torch.Tensor, scale: torch.Tensor, kind: str = "distance",
          w: torch.Tensor | None = None) -> torch.Tensor:
    """Mean distance (or, ``kind="mse"``, mean squared distance) between (row, col) [B,2] positions
    normalised by the heatmap size [2] -> scalar.

    The distance is what the benchmark scores (its p50 is a median of distances), and its minimiser is the
    labels' spatial median: a few labels on the wrong object (heavy-tailed self-label errors) pull it far
    less than the squared distance, whose gradient also vanishes close to the target.
    """
    d2 = (((pred - y) / scale) ** 2).sum(dim=1)                       # [B]
    per = d2 if kind == "mse" else torch.sqrt(d2 + 1e-10)
    return per.mean() if w is None else (per * w).sum() / w.sum()     # w [B]: localise.label_weights


def _holdout_loss(model: Any, radar: torch.Tensor, target: torch.Tensor, i_hold: torch.Tensor,
                  scale: torch.Tensor, kind: str = "distance", w: torch.Tensor | None = None) -> float:
    model.eval()
    with torch.inference_mode():
        tot = 0.0
        for s in range(0, len(i_hold), 256):
            idx = i_hold[s:s + 256]
            wi = None if w is None else w[idx]
            tot += float(_loss(model(radar[idx]), target[idx], scale, kind, wi)) * len(idx)
    return tot / max(1, len(i_hold))


def _train_epoch(model: Any, opt: Any, sched: Any, radar: torch.Tensor, target: torch.Tensor,
                 perm: torch.Tensor, g: torch.Generator, flip_ok: bool, batch_size: int,
                 scale: torch.Tensor, kind: str = "distance", w: torch.Tensor | None = None) -> float:
    """One pass over ``perm``; returns the summed (per-sample-weighted) training loss."""
    A = int(scale[1])
    model.train()
    tot = 0.0
    for s in range(0, len(perm), batch_size):
        idx = perm[s:s + batch_size]
        if len(idx) < 2 and len(perm) > 2:  # BatchNorm needs >1 sample
            continue
        x, y = radar[idx], target[idx].clone()
        if flip_ok:
            f = torch.rand(len(idx), generator=g) < 0.5
            x = torch.where(f.view(-1, 1, 1, 1), x.flip(-1), x)
            y[f, 1] = (A - 1) - y[f, 1]
        tot += optimiser_step(_loss(model(x), y, scale, kind, None if w is None else w[idx]), opt, sched) * len(idx)
    return tot


def _fit(cfg: Any, ds: Any, y_polar: np.ndarray, seed: int, ckpt: Path, key: str,
         progress: bool, subset: np.ndarray | None = None) -> tuple[dict, dict, dict]:
    """The training loop (resumable from ``ckpt``): (best state_dict, state, facts for config.json)."""
    tr = ds.split("train")
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(seed)
    radar = torch.from_numpy(np.ascontiguousarray(tr.read("radar"), dtype=np.float32))[:, None]  # [N,1,R,A]
    target = torch.from_numpy(polar_to_bins(y_polar, rb, ab)).float()  # [N,2] fractional bins
    scale = torch.tensor([float(len(rb)), float(len(ab))])
    seq = tr.read("sequence")
    w = None
    if getattr(cfg, "label_weights", "none") != "none":   # label-free: the labels' own smoothness
        from .weights import label_weights

        w = torch.from_numpy(label_weights(y_polar, seq, cfg.label_weights)).float()
    # ``subset``: train only on these train indices (label-density studies); hold-out drawn inside it
    use = np.arange(len(seq)) if subset is None else np.asarray(subset, np.int64)
    hold = _holdout_mask(seq[use], cfg.holdout_frac, seed)
    i_fit, i_hold = torch.from_numpy(use[~hold]), torch.from_numpy(use[hold])
    flip_ok = bool(cfg.flip_augment and np.allclose(ab, -ab[::-1], atol=1e-6))

    model = build_model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(i_fit) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.15)
    loop = EpochLoop(ckpt, key, model, opt, sched, cfg.epochs, cfg.patience)
    for ep in loop.epochs(progress, f"localise seed{seed}"):
        g = torch.Generator().manual_seed(seed * 100_003 + ep)
        perm = i_fit[torch.randperm(len(i_fit), generator=g)]
        tot = _train_epoch(model, opt, sched, radar, target, perm, g, flip_ok, cfg.batch_size, scale, cfg.loss, w)
        hl = _holdout_loss(model, radar, target, i_hold, scale, cfg.loss, w)
        if loop.end(ep, hl, {"epoch": ep, "train_loss": tot / len(perm), "holdout_loss": hl, "loss": cfg.loss}):
            break
    facts = {"flip_augment_used": flip_ok, "n_fit": int(len(i_fit)), "n_holdout": int(len(i_hold))}
    return loop.best_state_dict(), loop.state, facts


def train_localiser(data: str | Path, labels: Any, out: str | Path, preset: str = "quick",
                    overrides: list[str] | None = None, seed: int = 0, progress: bool = True, *,
                    cfg: Any = None, yaml_path: str | Path | None = None, label_free: bool | None = None,
                    force: bool = False, subset: np.ndarray | None = None) -> Path:
    """Train on ``labels`` ([N_train,2] polar array, or "gt" = supervised); returns the run dir.

    ``cfg`` (a ``LocaliserConfig``) wins over ``preset``/``yaml_path``/``overrides``. ``label_free``
    is what the label PRODUCER says about its labels (e.g. the self-label store's ``label_free``
    attribute); it is recorded, never inferred here. ``subset`` (train indices) fits on those samples only
    (label-density studies). A run directory made with another config,
    dataset, labels or seed is refused (``StageChangedError``) unless ``force``.
    """

    if cfg is None:
        cfg = resolve_localise_config(preset, overrides, yaml_path)
    ds, y_polar, kind = _load(data, labels)
    grid = store_resolution(ds)
    cfg = cfg.for_grid(grid)  # "auto" stems -> integers for this store's grid; the stage key holds them
    if isinstance(labels, str):
        label_free = False  # "gt" is supervised by definition
    labels_fp = _labels_fingerprint(labels if isinstance(labels, str) else y_polar)
    inputs = {"data": ds.fingerprint(), "labels": labels_fp, "seed": int(seed)}
    if subset is not None:   # only then, so the keys of full-split runs are unchanged
        subset = np.unique(np.asarray(subset, np.int64))
        if len(subset) < 2 or subset[0] < 0 or subset[-1] >= len(y_polar):
            raise RadiovisualError(f"subset must hold >= 2 train indices in [0, {len(y_polar)})")
        inputs["subset"] = hashlib.sha256(subset.tobytes()).hexdigest()[:16]
    sd = StageDir(out, "localise", cfg, inputs, force=force, version=MODEL_VERSION)
    if sd.done:
        return sd.path
    out = sd.begin()
    t0 = time.perf_counter()
    best_sd, state, facts = _fit(cfg, ds, y_polar, int(seed), out / "last.pt", sd.key, progress, subset)

    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    R, A = len(rb), len(ab)
    meta = {"config": to_dict(cfg), "preset": preset, "overrides": list(overrides or []), "seed": int(seed),
            "labels": kind, "label_free": label_free, "labels_fingerprint": labels_fp,
            "data": ds.fingerprint()["path"], "range_bins_m": rb.tolist(), "azimuth_bins_rad": ab.tolist(),
            "heatmap_hw": [R, A], "grid_resolution": grid.as_dict(), **facts, "model_version": MODEL_VERSION}
    save_checkpoint(out / "model.pt", {"state_dict": best_sd, "width": int(cfg.width),
                                       "stem": [int(cfg.stem_range), int(cfg.stem_azimuth)],
                                       "heatmap_hw": [R, A], "model_version": MODEL_VERSION})
    write_json(out / "config.json", meta)
    write_json(out / "history.json", state["history"])
    sd.finish({"best_epoch": state["best_epoch"], "holdout_loss": state["best"], "epochs_run": state["epoch"],
               "label_free": label_free, "train_seconds": round(time.perf_counter() - t0, 2)})
    (out / "last.pt").unlink(missing_ok=True)
    return out


# A few frozen models, least recently used first: alternating predictions between runs must not re-trace.
_CACHE: "OrderedDict[tuple[str, int], tuple[Any, dict[str, Any]]]" = OrderedDict()
_CACHE_SIZE = 8


def load_frozen(run: str | Path) -> tuple[Any, dict[str, Any]]:
    """(frozen inference model: BatchNorm folded, TorchScript; its ``config.json``) of a finished run, cached
    per run and ``model.pt`` mtime. Outputs heatmap bins; ``radiovisual.load_localiser`` gives the trainable
    module with polar outputs. ``run`` may be a benchmark ``METHOD`` directory naming one seed."""

    run = resolve_run(run, "localiser")
    mp = run / "model.pt"
    k = (str(mp.resolve()), mp.stat().st_mtime_ns if mp.exists() else 0)
    if k in _CACHE:
        _CACHE.move_to_end(k)
        return _CACHE[k]
    model, meta = load_eager(run)
    R, A = meta["heatmap_hw"]
    try:  # fold BatchNorm into the convs and fuse ReLUs (TorchScript); plain eager model otherwise
        import warnings

        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript deprecation notices
            fast = torch.jit.optimize_for_inference(torch.jit.trace(model, torch.zeros(2, 1, R, A)))
    except Exception:
        fast = model
    _CACHE[k] = (fast, meta)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return fast, meta


# the old name: kept for existing importers (benchmarks/localiser_inference.py)
load_localiser = load_frozen


def load_eager(run: str | Path) -> tuple[Localiser, dict[str, Any]]:
    """(the plain ``Localiser`` in eval mode with the run's weights, its ``config.json``); not cached."""
    run = resolve_run(run, "localiser")
    ck = load_checkpoint(run / "model.pt")
    meta = json.loads((run / "config.json").read_text())
    model = Localiser(width=int(ck["width"]), stem=tuple(ck.get("stem", (1, 1))))
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, meta


def predict(run: str | Path, radar: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Radar heatmaps [N,R,A] (dB) -> predicted target [N,2] polar (range m, azimuth rad)."""

    model, meta = load_frozen(run)
    radar = np.asarray(radar, dtype=np.float32)
    R, A = meta["heatmap_hw"]
    if radar.ndim != 3 or tuple(radar.shape[1:]) != (R, A):
        raise RadiovisualError(f"radar must be [N,{R},{A}] for this localiser, got {list(radar.shape)}")
    out = np.empty((len(radar), 2))
    with torch.inference_mode():
        for s in range(0, len(radar), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(radar[s:s + batch_size]))[:, None]
            out[s:s + len(x)] = model(x).double().numpy()
    return bins_to_polar(out, np.asarray(meta["range_bins_m"]), np.asarray(meta["azimuth_bins_rad"]))
