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
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RadiovisualError

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


def train_localiser(data: str | Path, labels: Any, out: str | Path, preset: str = "quick",
                    overrides: list[str] | None = None, seed: int = 0, progress: bool = True) -> Path:
    """Train on ``labels`` ([N_train,2] polar array, or "gt" = supervised); returns the run dir."""
    import torch

    from ..config import to_dict
    from ..dataset.format import open_dataset, polar_to_bins
    from ..utils.io import check_writable_dir, load_checkpoint, save_checkpoint, write_json
    from .config import resolve_localise_config
    from .model import build_model

    cfg = resolve_localise_config(preset, overrides)
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
    tr = ds.split("train")
    n = len(tr)
    if y_polar.ndim != 2 or y_polar.shape[1] != 2:
        raise RadiovisualError(f"labels must have shape [N,2] (range m, azimuth rad), got {list(y_polar.shape)}")
    if len(y_polar) != n:
        raise RadiovisualError(f"labels have {len(y_polar)} rows but the train split of {data} has {n} samples")
    if not np.isfinite(y_polar).all():
        raise RadiovisualError("labels contain NaN or inf values")
    if n < 2:
        raise RadiovisualError(f"the train split of {data} has only {n} samples; need at least 2")

    out = check_writable_dir(out)
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    R, A = len(rb), len(ab)
    fp = {"config": to_dict(cfg), "labels": _labels_fingerprint(labels if isinstance(labels, str) else y_polar),
          "data": {"path": str(Path(data).resolve()), "config": json.dumps(ds.attrs.get("config", {}), sort_keys=True,
                                                                            default=str)[:4096], "n": n},
          "seed": int(seed), "version": MODEL_VERSION}
    key = hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16]
    done = out / "done.json"
    if done.is_file():
        try:
            if json.loads(done.read_text()).get("key") == key:
                return out
        except (OSError, ValueError):
            pass
        done.unlink()

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(seed)
    radar = torch.from_numpy(np.ascontiguousarray(tr.read("radar"), dtype=np.float32))[:, None]  # [N,1,R,A]
    target = torch.from_numpy(polar_to_bins(y_polar, rb, ab)).float()  # [N,2] fractional bins
    scale = torch.tensor([float(R), float(A)])
    hold = torch.from_numpy(_holdout_mask(tr.read("sequence"), cfg.holdout_frac, seed))
    i_fit, i_hold = torch.nonzero(~hold)[:, 0], torch.nonzero(hold)[:, 0]
    flip_ok = bool(cfg.flip_augment and np.allclose(ab, -ab[::-1], atol=1e-6))

    model = build_model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(i_fit) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.15)
    state = {"epoch": 0, "best": float("inf"), "best_epoch": -1, "bad": 0, "history": []}
    best_sd = None
    ckpt = out / "last.pt"
    if ckpt.is_file():  # resume after a crash
        try:
            c = load_checkpoint(ckpt)
            if c.get("key") == key:
                model.load_state_dict(c["model"])
                opt.load_state_dict(c["opt"])
                sched.load_state_dict(c["sched"])
                best_sd = c["best_model"]
                state = json.loads(c["state"])
        except RadiovisualError:
            pass

    def loss_fn(pred: Any, y: Any) -> Any:  # MSE on coordinates normalised by the heatmap size
        return (((pred - y) / scale) ** 2).sum(dim=1).mean()

    def holdout_loss() -> float:
        model.eval()
        with torch.inference_mode():
            tot = 0.0
            for s in range(0, len(i_hold), 256):
                idx = i_hold[s:s + 256]
                tot += float(loss_fn(model(radar[idx]), target[idx])) * len(idx)
        return tot / max(1, len(i_hold))

    t0 = time.perf_counter()
    epochs = range(state["epoch"], cfg.epochs)
    if progress:
        from tqdm import tqdm

        epochs = tqdm(epochs, desc=f"localise seed{seed}", leave=False, initial=state["epoch"], total=cfg.epochs)
    for ep in epochs:
        model.train()
        g = torch.Generator().manual_seed(seed * 100_003 + ep)
        perm = i_fit[torch.randperm(len(i_fit), generator=g)]
        tot = 0.0
        for s in range(0, len(perm), cfg.batch_size):
            idx = perm[s:s + cfg.batch_size]
            if len(idx) < 2 and len(perm) > 2:  # BatchNorm needs >1 sample
                continue
            x, y = radar[idx], target[idx].clone()
            if flip_ok:
                f = torch.rand(len(idx), generator=g) < 0.5
                x = torch.where(f.view(-1, 1, 1, 1), x.flip(-1), x)
                y[f, 1] = (A - 1) - y[f, 1]
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched.last_epoch + 1 < sched.total_steps:
                sched.step()
            tot += float(loss.detach()) * len(idx)
        hl = holdout_loss()
        state["history"].append({"epoch": ep, "train_mse": tot / len(perm), "holdout_mse": hl})
        if hl < state["best"]:
            state.update(best=hl, best_epoch=ep, bad=0)
            best_sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            state["bad"] += 1
        state["epoch"] = ep + 1
        if progress and hasattr(epochs, "set_postfix"):
            epochs.set_postfix(train=f"{tot / len(perm):.4f}", hold=f"{hl:.4f}")
        save_checkpoint(ckpt, {"key": key, "model": model.state_dict(), "opt": opt.state_dict(),
                               "sched": sched.state_dict(), "best_model": best_sd, "state": json.dumps(state)})
        # early stopping only once the one-cycle LR has come down (the high-LR phase is noisy)
        if state["bad"] >= cfg.patience and ep + 1 >= cfg.epochs // 2:
            break

    if best_sd is None:  # holdout loss never finite: keep the last weights rather than nothing
        best_sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    meta = {"config": to_dict(cfg), "preset": preset, "overrides": list(overrides or []), "seed": int(seed),
            "labels": kind, "labels_fingerprint": fp["labels"], "data": fp["data"]["path"],
            "range_bins_m": rb.tolist(), "azimuth_bins_rad": ab.tolist(), "heatmap_hw": [R, A],
            "flip_augment_used": flip_ok, "n_fit": int(len(i_fit)), "n_holdout": int(len(i_hold)),
            "model_version": MODEL_VERSION}
    save_checkpoint(out / "model.pt", {"state_dict": best_sd, "width": int(cfg.width),
                                       "heatmap_hw": [R, A], "model_version": MODEL_VERSION})
    write_json(out / "config.json", meta)
    write_json(out / "history.json", state["history"])
    write_json(done, {"key": key, "best_epoch": state["best_epoch"], "holdout_mse": state["best"],
                      "epochs_run": state["epoch"], "train_seconds": round(time.perf_counter() - t0, 2)})
    ckpt.unlink(missing_ok=True)
    return out


_CACHE: dict[tuple[str, int], Any] = {}


def load_localiser(run: str | Path) -> tuple[Any, dict[str, Any]]:
    """(eval model ready for inference, config.json dict); cached per run and model.pt mtime."""
    import torch

    from ..utils.io import load_checkpoint
    from .model import Localiser

    run = Path(run)
    if not (run / "done.json").is_file():
        raise RadiovisualError(f"{run} is not a finished localiser run (no done.json)")
    mp = run / "model.pt"
    k = (str(mp.resolve()), mp.stat().st_mtime_ns if mp.exists() else 0)
    if k in _CACHE:
        return _CACHE[k]
    ck = load_checkpoint(mp)
    meta = json.loads((run / "config.json").read_text())
    model = Localiser(width=int(ck["width"]))
    model.load_state_dict(ck["state_dict"])
    model.eval()
    R, A = meta["heatmap_hw"]
    try:  # fold BatchNorm into the convs and fuse ReLUs (TorchScript); plain eager model otherwise
        import warnings

        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript deprecation notices
            fast = torch.jit.optimize_for_inference(torch.jit.trace(model, torch.zeros(2, 1, R, A)))
    except Exception:
        fast = model
    _CACHE.clear()
    _CACHE[k] = (fast, meta)
    return fast, meta


def predict(run: str | Path, radar: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Radar heatmaps [N,R,A] (dB) -> predicted target [N,2] polar (range m, azimuth rad)."""
    import torch

    from ..dataset.format import bins_to_polar

    model, meta = load_localiser(run)
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


def evaluate_localiser(run: str | Path, data: str | Path, split: str = "val") -> dict[str, Any]:
    """Location errors of a trained localiser on ``split`` (reporting only: reads GT to score)."""
    from ..dataset.format import open_dataset
    from ..evaluate.metrics import error_summary, location_errors

    ds = open_dataset(data, labels=True)
    sv = ds.split(split)
    pred = predict(run, sv.read("radar"))
    err = location_errors(pred, sv.read("target_polar"))
    return {"split": split, **error_summary(err), "errors": err, "pred": pred}
