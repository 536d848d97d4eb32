"""``detect train``: fit the U-Net on the TRAIN split's images and target masks, score on val.

Vision labels of the train split (``mask``) are the detector's training data, as in the paper
(App. G: Yolo v5 trained from scratch on the synthetic images); the store is opened with
``labels=False`` so no radar ground truth is reachable. Training runs a fixed number of epochs
(no early stopping, no validation-based selection); val is only scored at the end.

Run directory DET: ``stage.json`` / ``done.json`` (``utils.stage``), ``config.yaml``,
``train_state.pt`` (per-epoch resume state, removed at the end), ``detector.pt`` (weights +
config, ``torch.load(weights_only=True)``), ``metrics.json``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import fingerprint, to_dict, to_yaml
from ..dataset.format import open_dataset
from ..errors import DatasetError, RadiovisualError
from ..utils.io import load_checkpoint, save_checkpoint, write_json, write_text
from ..utils.stage import StageDir, is_done
from .config import DetectorConfig, resolve_detect_config
from .metrics import detection_metrics
from .model import TinyUNet, image_to_input, mask_loss

WEIGHTS = "detector.pt"
STATE = "train_state.pt"


def _check_split(sv: Any) -> tuple[int, int]:
    ims, ms = sv.shape("image"), sv.shape("mask")
    if len(ims) != 4 or ims[-1] != 3 or tuple(ms) != tuple(ims[:3]):
        raise DatasetError(f"split '{sv.name}': image {ims} and mask {ms} do not match (want [N,H,W,3] and [N,H,W])")
    if ims[0] == 0:
        raise DatasetError(f"split '{sv.name}' is empty")
    return int(ims[1]), int(ims[2])


def _epoch(model: torch.nn.Module, opt: Any, sched: Any, image: np.ndarray, mask: np.ndarray,
           cfg: DetectorConfig, seed: int, epoch: int, bar: Any) -> float:
    model.train()
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(image))
    steps = max(1, len(perm) // cfg.batch_size)
    losses = []
    for k in range(steps):
        idx = np.sort(perm[k * cfg.batch_size:(k + 1) * cfg.batch_size])
        x = image_to_input(image[idx])                                   # [B, 3, H, W]
        y = torch.as_tensor(mask[idx]).float().unsqueeze(1)              # [B, 1, H, W]
        if cfg.flip_augment:
            flip = torch.as_tensor(rng.random(len(idx)) < 0.5).view(-1, 1, 1, 1)
            x, y = torch.where(flip, x.flip(-1), x), torch.where(flip, y.flip(-1), y)
        loss = mask_loss(model(x), y, cfg.pos_weight, cfg.dice_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{losses[-1]:.3f}")
    return float(np.mean(losses))


def train_detector(data: str | Path, out: str | Path, cfg: DetectorConfig | None = None, seed: int = 0,
                   progress: bool = True, force: bool = False) -> Path:
    """Train (or resume, or reuse a finished) detector in ``out``; returns ``out``."""
    cfg = cfg or resolve_detect_config("quick")
    ds = open_dataset(data, labels=False)
    tr = ds.split("train")
    hw = _check_split(tr)
    sd = StageDir(out, "detect", cfg, {"data": ds.fingerprint(), "seed": int(seed)}, force=force)
    if sd.done:
        return sd.path
    sd.begin()
    # `detect train --config DET/config.yaml --seed S` reproduces the run
    write_text(sd.path / "config.yaml", f"# seed: {int(seed)}\n" + to_yaml(cfg))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    n = len(tr) if not cfg.max_train else min(len(tr), cfg.max_train)
    image, mask = tr.read("image", slice(0, n)), tr.read("mask", slice(0, n))
    torch.manual_seed(seed)
    model = TinyUNet(cfg.width, cfg.depth)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = cfg.epochs * max(1, n // cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    start, history, elapsed = 0, [], 0.0
    state_p = sd.path / STATE
    if state_p.is_file():
        st = load_checkpoint(state_p)
        if st.get("key") == sd.key:   # our own interrupted run: resume after its last full epoch
            model.load_state_dict(st["model"])
            opt.load_state_dict(st["opt"])
            sched.load_state_dict(st["sched"])
            start, history, elapsed = int(st["epoch"]), list(st["history"]), float(st["elapsed_s"])
    bar = None
    if progress:
        from ..utils.progress import tqdm

        bar = tqdm(total=total, initial=start * (total // cfg.epochs), desc="detect train", leave=False)
    for ep in range(start, cfg.epochs):
        t0 = time.perf_counter()
        history.append(_epoch(model, opt, sched, image, mask, cfg, seed, ep, bar))
        elapsed += time.perf_counter() - t0
        save_checkpoint(state_p, {"key": sd.key, "model": model.state_dict(), "opt": opt.state_dict(),
                                  "sched": sched.state_dict(), "epoch": ep + 1, "history": history,
                                  "elapsed_s": elapsed})
    if bar is not None:
        bar.close()
    fp = fingerprint({"config": to_dict(cfg), "seed": int(seed), "data": ds.fingerprint()})
    save_checkpoint(sd.path / WEIGHTS, {"model": model.state_dict(), "config": to_dict(cfg), "seed": int(seed),
                                        "key": sd.key, "fingerprint": fp, "image_hw": list(hw)})
    metrics: dict[str, Any] = {"train_loss": history, "train_time_s": elapsed, "n_train": n,
                               "uses_labels": "train split vision labels (mask) for training; val vision labels "
                                              "(mask, bbox) for reporting only"}
    if "val" in ds.splits:
        from .infer import predict_arrays

        va = ds.split("val")
        if tuple(va.shape("image")[1:3]) == hw:
            m, b, s = predict_arrays(model, va.read("image"), cfg)
            metrics["val"] = detection_metrics(m, b, s, va.read("mask"), va.read("bbox"))
    write_json(sd.path / "metrics.json", metrics)
    sd.finish({"train_time_s": elapsed, "final_loss": history[-1], "fingerprint": fp})
    state_p.unlink(missing_ok=True)
    return sd.path


def load_detector(det: str | Path) -> tuple[torch.nn.Module, DetectorConfig, dict[str, Any]]:
    """(model in eval mode, its config, {key, fingerprint, image_hw, seed}) of a finished run."""
    from ..config import from_dict

    det = Path(det)
    if not det.is_dir():
        raise RadiovisualError(f"detector run not found: {det}")
    if not is_done(det) or not (det / WEIGHTS).is_file():
        raise RadiovisualError(f"{det} is not a finished detector run (run `radiovisual detect train` first)")
    ck = load_checkpoint(det / WEIGHTS)
    cfg = from_dict(DetectorConfig, ck["config"])
    model = TinyUNet(cfg.width, cfg.depth)
    model.load_state_dict(ck["model"])
    model.eval()
    meta = {k: ck[k] for k in ("key", "fingerprint", "image_hw", "seed")}
    return model, cfg, meta
