"""Train / apply the radar-only multi-object detector (issue 20, item 2) on GT, self-labels or teacher labels.

``train_detector(data, labels, out)``: ``labels`` is "gt" (supervised: the store's ``objects``, the ONLY
path here that reads ground truth) or a packed [N_train, D, 4] array (range m, azimuth rad, class id,
score; ``dataset.detections``) whose score is the label's weight. As in ``localise.train``, early stopping
uses a held-out slice of TRAIN (whole sequences) scored against the same labels, so label-free labels
keep the detector label-free. ``predict_detections(run, radar)`` -> packed [N, max_detections, 4].
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import to_dict
from ..dataset.detections import CLASSES, check_frames, pack, unpack
from ..dataset.format import open_dataset
from ..errors import RadiovisualError
from ..utils.io import load_checkpoint, save_checkpoint, write_json
from ..utils.runs import resolve_run
from ..utils.stage import StageDir
from .detector import RadarDetector, TargetMaker, decode, detection_loss, flip_targets
from .detector_config import DECODE_FIELDS, DetectorConfig, resolve_detector_config
from .loop import EpochLoop, optimiser_step
from .train import _holdout_mask

MODEL_VERSION = 1
# The heat (and weight) targets of the whole train split are computed once and kept when they take at most this
# many bytes (float32, identical to recomputing them per batch, which larger splits do; that costs about a
# third of a training step on a 128 x 128 grid).
TARGET_CACHE_BYTES = 1 << 30
# candidate r > 0 of ``detector.restarts`` initialises from seed + r * this (far from the other runs' seeds)
RESTART_SEED_STRIDE = 7919


def _labels_fingerprint(labels: Any) -> str:
    if isinstance(labels, str):
        return labels
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.float64).tobytes()).hexdigest()[:16]


def gt_labels(ds: Any, split: str = "train") -> np.ndarray:
    """Packed [N, D, 4] labels of ``split`` from the store's ``objects`` (range, az, class; rows with a NaN
    dropped; score 1), or, for a store without ``objects``, its single target as a car. Reads ground truth."""
    sv = ds.split(split)
    if "objects" in sv:
        obj = sv.read("objects").astype(np.float64)[..., :3]                  # [N,K,3]
        frames = [np.concatenate([o[np.isfinite(o).all(1)], np.ones((int(np.isfinite(o).all(1).sum()), 1))], 1)
                  for o in obj]
    else:
        t = sv.read("target_polar").astype(np.float64)
        frames = [np.array([[p[0], p[1], float(CLASSES.index("car")), 1.0]]) for p in t]
    return pack(frames).astype(np.float64)


def _load(data: str | Path, labels: Any, n_classes: int) -> tuple[Any, np.ndarray, str]:
    """(dataset, train labels [N,D,4] float64, kind). Only ``labels == "gt"`` opens ground truth."""
    if isinstance(labels, str):
        if labels != "gt":
            raise RadiovisualError(f"labels must be a packed [N,D,4] array (range, azimuth, class, score) or 'gt', "
                                   f"got '{labels}'")
        ds = open_dataset(data, labels=True)  # supervised: the only path reading GT here
        lab, kind = gt_labels(ds, "train"), "gt (supervised)"
    else:
        ds = open_dataset(data, labels=False)
        lab = np.asarray(labels, dtype=np.float64)
        kind = "provided labels (label-free unless their producer used GT)"
    n = len(ds.split("train"))
    if lab.ndim != 3 or lab.shape[-1] != 4:
        raise RadiovisualError(f"labels must have shape [N,D,4] (range m, azimuth rad, class id, score), "
                               f"got {list(lab.shape)}")
    if len(lab) != n:
        raise RadiovisualError(f"labels have {len(lab)} frames but the train split of {data} has {n} samples")
    if n < 4:
        raise RadiovisualError(f"the train split of {data} has only {n} samples; need at least 4")
    rows = np.concatenate(check_frames(unpack(lab), where="labels"))   # finite class, known class, score in [0, 1]
    if len(rows) and rows[:, 2].max() >= n_classes:
        raise RadiovisualError(f"labels hold class id {int(rows[:, 2].max())} but the detector has "
                               f"n_classes={n_classes}")
    return ds, lab, kind


class _Targets:
    """Training targets of train-split frames by index; heat/weight maps cached when they fit (exact either way).
    ``weight`` is None when every label's score is 1 (the focal loss is then unweighted: the same loss)."""

    def __init__(self, make: TargetMaker, lab: np.ndarray):
        self.make, self.lab = make, lab
        sc = lab[..., 3][np.isfinite(lab[..., :2]).all(-1)]
        self.weighted = bool((np.nan_to_num(sc, nan=1.0) < 1.0).any())
        N, C, R, A = len(lab), make.C, len(make.rb), len(make.ab)
        self.heat = self.weight = None
        if N * C * R * A * 4 * (2 if self.weighted else 1) <= TARGET_CACHE_BYTES:
            hw = [make.maps(lab[s:s + 64]) for s in range(0, N, 64)]
            self.heat = torch.cat([h for h, _ in hw])
            self.weight = torch.cat([w for _, w in hw]) if self.weighted else None

    def __call__(self, idx: torch.Tensor) -> dict[str, Any]:
        i = idx.numpy()
        if self.heat is not None:
            heat, weight = self.heat[idx], None if self.weight is None else self.weight[idx]
        else:
            heat, weight = self.make.maps(self.lab[i])
            weight = weight if self.weighted else None
        offset, mask = self.make.points(self.lab[i])
        return {"heat": heat, "weight": weight, "offset": offset, "mask": mask}


def _batches(idx: torch.Tensor, batch_size: int, drop_single: bool) -> list[torch.Tensor]:
    out = [idx[s:s + batch_size] for s in range(0, len(idx), batch_size)]
    return [b for b in out if len(b) > 1] if drop_single and len(idx) > 2 else out   # BatchNorm needs > 1


def _holdout_loss(model: Any, radar: torch.Tensor, targets: _Targets, i_hold: torch.Tensor, cfg: Any) -> float:
    model.eval()
    tot = 0.0
    with torch.inference_mode():
        for idx in _batches(i_hold, 128, False):
            tot += float(detection_loss(model(radar[idx]), targets(idx), cfg)) * len(idx)
    return tot / max(1, len(i_hold))


def _fit(cfg: DetectorConfig, ds: Any, lab: np.ndarray, seed: int, ckpt: Path, key: str,
         progress: bool) -> tuple[dict, dict, dict]:
    """Train on the labels; (best state_dict, its state, facts for config.json).

    ``cfg.restarts`` > 1 races that many initialisations on one held-out slice up to ``restart_decide_frac``
    of the epochs, then only the one of lowest held-out loss goes on (label-free: the loss is against the
    training labels). Why: on self-labels about one seed in four never makes the drop of held-out loss (from
    about 2.3 to 1.5 on the dev store) that comes when the detector starts placing peaks, and by half of the
    epochs the runs that will make it have made it."""
    tr = ds.split("train")
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    radar = torch.from_numpy(np.ascontiguousarray(tr.read("radar"), dtype=np.float32))[:, None]   # [N,1,R,A]
    hold = _holdout_mask(tr.read("sequence"), cfg.holdout_frac, seed)
    i_fit, i_hold = torch.from_numpy(np.nonzero(~hold)[0]), torch.from_numpy(np.nonzero(hold)[0])
    flip_ok = bool(cfg.flip_augment and np.allclose(ab, -ab[::-1], atol=1e-6))
    data = (radar, _Targets(TargetMaker(rb, ab, cfg.n_classes, cfg.min_sigma_bins), lab), i_fit, i_hold, flip_ok)
    decide = cfg.epochs if cfg.restarts == 1 else max(1, int(np.ceil(cfg.restart_decide_frac * cfg.epochs)))
    runs = []
    for r in range(cfg.restarts):
        # candidate 0 is the single run of restarts=1 (the same numbers); the others draw their own init/order
        init = seed if r == 0 else seed + RESTART_SEED_STRIDE * r
        path = ckpt if r == 0 else ckpt.with_name(f"{ckpt.stem}-restart{r}{ckpt.suffix}")
        run = _Run(cfg, init, path, key, f"detector seed{seed}" + (f" restart{r}" if r else ""), len(i_fit))
        run.train(data, decide, progress)
        runs.append(run)
    at_decision = [float(r.loop.state["best"]) for r in runs]
    best = int(np.argmin(at_decision))
    runs[best].train(data, cfg.epochs, progress)
    facts = {"flip_augment_used": flip_ok, "n_fit": int(len(i_fit)), "n_holdout": int(len(i_hold)),
             "n_labels": int(np.isfinite(lab[..., 0]).sum()), "restart_kept": best,
             "restart_decide_epoch": decide, "restart_holdout_losses": [round(v, 5) for v in at_decision]}
    return runs[best].loop.best_state_dict(), runs[best].loop.state, facts


class _Run:
    """One initialisation's model, optimiser, one-cycle schedule and ``EpochLoop`` (resumable from ``ckpt``)."""

    def __init__(self, cfg: DetectorConfig, seed: int, ckpt: Path, key: str, desc: str, n_fit: int):
        torch.manual_seed(seed)
        self.cfg, self.seed, self.desc = cfg, seed, desc
        self.model = RadarDetector(cfg.width, cfg.n_classes)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps = cfg.epochs * max(1, len(_batches(torch.arange(n_fit), cfg.batch_size, True)))
        self.sched = torch.optim.lr_scheduler.OneCycleLR(self.opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.15)
        self.loop = EpochLoop(ckpt, key, self.model, self.opt, self.sched, cfg.epochs, cfg.patience)

    def train(self, data: tuple, until: int, progress: bool) -> None:
        """Epochs up to ``until`` (or an early stop)."""
        radar, targets, i_fit, i_hold, flip_ok = data
        cfg, model, opt, sched = self.cfg, self.model, self.opt, self.sched
        for ep in self.loop.epochs(progress, self.desc, until):
            t0 = time.perf_counter()
            g = torch.Generator().manual_seed(self.seed * 100_003 + ep)
            model.train()
            tot = 0.0
            for idx in _batches(i_fit[torch.randperm(len(i_fit), generator=g)], cfg.batch_size, True):
                x, t = radar[idx], targets(idx)
                if flip_ok:
                    f = torch.rand(len(idx), generator=g) < 0.5
                    x, t = torch.where(f.view(-1, 1, 1, 1), x.flip(-1), x), flip_targets(t, f)
                tot += optimiser_step(detection_loss(model(x), t, cfg), opt, sched) * len(idx)
            hl = _holdout_loss(model, radar, targets, i_hold, cfg)
            tl = tot / max(1, len(i_fit))
            if self.loop.end(ep, hl, {"epoch": ep, "train_loss": tl, "holdout_loss": hl,
                                      "seconds": round(time.perf_counter() - t0, 3)}):
                break


def train_detector(data: str | Path, labels: Any, out: str | Path, cfg: DetectorConfig | None = None,
                   preset: str = "quick", overrides: list[str] | None = None, seed: int | None = None,
                   progress: bool = True, force: bool = False, *, yaml_path: str | Path | None = None) -> Path:
    """Train a ``RadarDetector`` on ``labels`` ("gt", or packed [N_train, D, 4] train-split labels); returns
    the run directory (``model.pt``, ``config.json``, ``history.json``, ``done.json``).

    ``cfg`` wins over ``preset``/``yaml_path``/``overrides``; ``seed`` (default: the config's) replaces
    ``cfg.seed``. A finished run with the same key is returned as it is; a directory holding another
    config, dataset, labels or seed is refused (``StageChangedError``) unless ``force``.
    """
    if cfg is None:
        cfg = resolve_detector_config(preset, overrides, None if yaml_path is None else str(yaml_path))
    if seed is not None and int(seed) != cfg.seed:
        cfg = dataclasses.replace(cfg, seed=int(seed))
    cfg.validate()
    seed = int(cfg.seed)
    ds, lab, kind = _load(data, labels, cfg.n_classes)
    labels_fp = _labels_fingerprint(labels if isinstance(labels, str) else lab)
    # the key holds what training depends on: decoding (DECODE_FIELDS) is applied at prediction, so changing it
    # reuses the trained model (``predict_detections`` takes it from the caller's config)
    train_cfg = {k: v for k, v in to_dict(cfg).items() if k not in DECODE_FIELDS}
    if train_cfg.get("restarts") == 1:   # one training, as before the option: runs made then keep their key
        del train_cfg["restarts"], train_cfg["restart_decide_frac"]
    sd = StageDir(out, "detector", train_cfg, {"data": ds.fingerprint(), "labels": labels_fp, "seed": seed},
                  force=force, version=MODEL_VERSION)
    if sd.done:
        return sd.path
    out = sd.begin()
    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    try:
        best_sd, state, facts = _fit(cfg, ds, lab, seed, out / "last.pt", sd.key, progress)
    finally:
        torch.set_num_threads(threads)   # cfg.threads applies to this training only
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    hw = [len(rb), len(ab)]
    meta = {"config": to_dict(cfg), "preset": preset, "overrides": list(overrides or []), "seed": seed,
            "labels": kind, "labels_fingerprint": labels_fp, "data": ds.fingerprint()["path"],
            "classes": list(CLASSES[:cfg.n_classes]), "range_bins_m": rb.tolist(), "azimuth_bins_rad": ab.tolist(),
            "heatmap_hw": hw, **facts, "model_version": MODEL_VERSION}
    save_checkpoint(out / "model.pt", {"state_dict": best_sd, "width": int(cfg.width), "n_classes": int(cfg.n_classes),
                                       "heatmap_hw": hw, "model_version": MODEL_VERSION})
    write_json(out / "config.json", meta)
    write_json(out / "history.json", state["history"])
    sd.finish({"best_epoch": state["best_epoch"], "holdout_loss": state["best"], "epochs_run": state["epoch"],
               "train_seconds": round(time.perf_counter() - t0, 2)})
    for f in out.glob("last*.pt"):
        f.unlink(missing_ok=True)
    return out


def load_detector(run: str | Path) -> tuple[RadarDetector, dict[str, Any]]:
    """(the ``RadarDetector`` in eval mode with the run's weights, its ``config.json``)."""
    run = resolve_run(run, "detector")
    ck = load_checkpoint(run / "model.pt")
    meta = json.loads((run / "config.json").read_text())
    model = RadarDetector(width=int(ck["width"]), n_classes=int(ck["n_classes"]))
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, meta


def predict_detections(run: str | Path, radar: np.ndarray, batch: int = 128, flip_tta: bool = False,
                       threshold: float | None = None, nms_ols: float | None = None,
                       max_detections: int | None = None) -> np.ndarray:
    """Radar heatmaps [N,R,A] (dB) -> packed detections [N, max_detections, 4] float32 (range m, azimuth rad,
    class id, score in [0,1]; NaN rows pad). Decoding defaults to the run's config; ``flip_tta`` averages
    with the azimuth-mirrored prediction (only on a symmetric azimuth grid)."""
    model, meta = load_detector(run)
    c = meta["config"]
    thr = c["peak_threshold"] if threshold is None else float(threshold)
    nms = c["nms_ols"] if nms_ols is None else float(nms_ols)
    dmax = int(c["max_detections"] if max_detections is None else max_detections)
    rb, ab = np.asarray(meta["range_bins_m"]), np.asarray(meta["azimuth_bins_rad"])
    radar = np.asarray(radar, dtype=np.float32)
    R, A = meta["heatmap_hw"]
    if radar.ndim != 3 or tuple(radar.shape[1:]) != (R, A):
        raise RadiovisualError(f"radar must be [N,{R},{A}] for this detector, got {list(radar.shape)}")
    tta = bool(flip_tta and np.allclose(ab, -ab[::-1], atol=1e-6))
    out = np.full((len(radar), dmax, 4), np.nan, np.float32)
    with torch.inference_mode():
        for s in range(0, len(radar), max(1, int(batch))):
            x = torch.from_numpy(np.ascontiguousarray(radar[s:s + batch]))[:, None]
            o = model(x)
            heat, off = torch.sigmoid(o["heat"]), o["offset"]
            if tta:
                of = model(x.flip(-1))
                heat = 0.5 * (heat + torch.sigmoid(of["heat"]).flip(-1))
                off = 0.5 * (off + of["offset"].flip(-1) * torch.tensor([1.0, -1.0]).view(1, 2, 1, 1))
            heat, off = heat.double().numpy(), off.double().numpy()
            for i in range(len(x)):
                d = decode(heat[i], off[i], rb, ab, thr, nms, dmax)
                out[s + i, :len(d)] = d
    return out
