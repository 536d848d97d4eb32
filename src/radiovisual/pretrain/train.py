"""The pretraining loop (plain PyTorch): CPU or CUDA, bf16 AMP on CUDA, torchrun DDP, exact resume.

Run directory ``RUN/``: ``config.json`` (resolved config, data path and fingerprints),
``checkpoint.pt`` (method incl. EMA nets and queues, optimiser, step, RNG; atomic),
``metrics.jsonl`` (rank 0), and ``done.json`` written last.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from ..config import fingerprint, to_dict
from ..errors import ConfigError, DatasetError, RadiovisualError
from ..utils.io import load_checkpoint, save_checkpoint, write_json, write_text
from .config import MASKED_METHODS, QUEUE_METHODS, resolve_pretrain_config


def _lr_at(step: int, total: int, tcfg: Any) -> float:
    """Linear warm-up then cosine decay to 5% of the peak."""
    if step < tcfg.warmup_steps:
        return tcfg.lr * (step + 1) / tcfg.warmup_steps
    t = (step - tcfg.warmup_steps) / max(1, total - tcfg.warmup_steps)
    return tcfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def _data_fingerprint(ds: Any) -> str:
    fp = ds.attrs.get("config_fingerprint")
    return str(fp) if fp else fingerprint(ds.attrs.get("config", {}))


def _truncate_metrics(path: Path, last_step: int) -> None:
    if not path.is_file():
        return
    keep = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln).get("step", 0) <= last_step]
    write_text(path, "".join(ln + "\n" for ln in keep))


def run_pretrain(data: str | Path, method: str, out: str | Path, preset: str = "quick",
                 overrides: list[str] | None = None, resume: bool = True, progress: bool = True,
                 seed: int | None = None, yaml_path: str | None = None, stop_after: int | None = None) -> Path:
    """Pretrain ``method`` on the train split of ``data`` (label-free) into ``out``; return ``out``.

    Returns immediately when ``out/done.json`` matches this config. ``stop_after`` (tests only)
    simulates a crash: the loop exits after that many total steps without finishing.
    """
    import torch

    from ..dataset.format import open_dataset
    from . import dist
    from .data import PairSource
    from .methods import build_method

    cfg = resolve_pretrain_config(method, preset, overrides, yaml_path, seed)
    out = Path(out)
    ds = open_dataset(data, labels=False)
    if "train" not in ds.splits:
        raise DatasetError(f"dataset {data} has no train split")
    data_fp = _data_fingerprint(ds)
    fp = fingerprint({"config": to_dict(cfg), "data": data_fp})
    done = out / "done.json"
    if done.is_file():
        have = json.loads(done.read_text()).get("fingerprint")
        if have == fp:
            return out
        raise ConfigError(f"{out} holds a finished run with a different config or dataset; choose another --out")

    device = dist.setup()
    rank, world = dist.rank(), dist.world_size()
    T, L = cfg.train, cfg.loss
    if T.batch_size % world:
        raise ConfigError(f"train.batch_size={T.batch_size} is not divisible by the world size {world}")
    if cfg.method in QUEUE_METHODS and L.queue_size % T.batch_size:
        raise ConfigError(f"loss.queue_size K={L.queue_size} must be a multiple of the global batch "
                          f"train.batch_size={T.batch_size}")
    masked = cfg.method in MASKED_METHODS
    src = PairSource(ds, data, masked, L.mask_source, L.mask_pad_px, T.in_memory, T.num_workers)
    if len(src) < T.batch_size:
        what = "samples with a non-empty target mask" if masked else "samples"
        raise DatasetError(f"train split has {len(src)} usable {what}, fewer than train.batch_size={T.batch_size}")
    if cfg.method in QUEUE_METHODS and L.queue_size + T.batch_size > len(src):
        # the queue would hold older keys of the very samples in the batch: false negatives of the positive
        raise ConfigError(f"loss.queue_size K={L.queue_size} plus train.batch_size={T.batch_size} exceeds the "
                          f"{len(src)} usable train samples; lower loss.queue_size")
    per_epoch = len(src) // T.batch_size
    total = per_epoch * T.epochs if T.max_steps == 0 else min(T.max_steps, per_epoch * T.epochs)

    if T.threads:
        torch.set_num_threads(T.threads)
    torch.manual_seed(cfg.seed)
    model = build_method(cfg).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=T.lr, weight_decay=T.weight_decay)
    ckpt_path, metrics_path = out / "checkpoint.pt", out / "metrics.jsonl"
    info = {"fingerprint": fp, "method": cfg.method, "preset": preset, "config": to_dict(cfg),
            "data": {"path": str(Path(data).resolve()), "config_fingerprint": data_fp, "n_train_used": len(src),
                     "radar_shape": list(src.info["radar_shape"]), "image_shape": list(src.info["image_shape"])},
            "steps": total, "world_size": world}
    step = 0
    if resume and ckpt_path.is_file():
        ck = load_checkpoint(ckpt_path, map_location=str(device))
        if ck.get("fingerprint") != fp:
            raise ConfigError(f"{ckpt_path} was written with a different config or dataset; "
                              "use another --out or --no-resume")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step = int(ck["step"])
        torch.set_rng_state(ck["rng_cpu"])
        if torch.cuda.is_available() and ck.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(ck["rng_cuda"].cpu(), device)
        if dist.is_main():
            _truncate_metrics(metrics_path, step)
    elif dist.is_main():
        for p in (ckpt_path, metrics_path):
            p.unlink(missing_ok=True)
    if dist.is_main():
        write_json(out / "config.json", info)

    def save(at: int) -> None:
        if not dist.is_main():
            return
        save_checkpoint(ckpt_path, {
            "model": model.state_dict(), "optimizer": opt.state_dict(), "step": at,
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "config": to_dict(cfg), "fingerprint": fp, "method": cfg.method, "data": info["data"]})

    fwd = model
    if world > 1:
        fwd = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False)
    amp = T.amp and device.type == "cuda"
    bar = None
    if progress and dist.is_main():
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, desc=f"pretrain {cfg.method}", unit="step", dynamic_ncols=True)
    model.train()
    metrics = open(metrics_path, "a") if dist.is_main() else None
    t_log, n_log = time.perf_counter(), 0
    try:
        for batch in src.batches(T.batch_size, cfg.seed, step, total, rank, world):
            if stop_after is not None and step >= stop_after:
                return out
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            lr = _lr_at(step, total, T)
            for g in opt.param_groups:
                g["lr"] = lr
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                loss, stats = fwd(batch)
            if not torch.isfinite(loss):
                raise RadiovisualError(f"pretraining diverged at step {step} (loss {loss.item()}); lower train.lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            n_log += T.batch_size
            if bar is not None:
                bar.update(1)
            if step % T.log_every == 0 or step == total:
                vals = {k: float(dist.all_reduce_mean(v.detach().float())) for k, v in {"loss": loss, **stats}.items()}
                dt = time.perf_counter() - t_log
                if metrics is not None:
                    metrics.write(json.dumps({"step": step, "epoch": (step - 1) // per_epoch, **vals, "lr": lr,
                                              "pairs_per_s": n_log / max(dt, 1e-9)}) + "\n")
                    metrics.flush()
                if bar is not None:
                    bar.set_postfix(loss=f"{vals['loss']:.3f}", pps=f"{n_log / max(dt, 1e-9):.0f}")
                t_log, n_log = time.perf_counter(), 0
            if step % T.ckpt_every == 0 and step < total:
                save(step)
        save(step)
        if dist.is_main():
            write_json(done, {"fingerprint": fp, "steps": step, "method": cfg.method})
        dist.barrier()
    finally:
        if metrics is not None:
            metrics.close()
        if bar is not None:
            bar.close()
    return out


def load_method(run: str | Path, allow_unfinished: bool = False):
    """(whole method module incl. projectors, in eval mode on CPU, checkpoint config dict) of a run."""
    from .config import PretrainConfig
    from ..config import from_dict
    from .methods import build_method

    run = Path(run)
    if not allow_unfinished and not (run / "done.json").is_file():
        raise RadiovisualError(f"{run} is not a finished pretraining run (no done.json)")
    ck = load_checkpoint(run / "checkpoint.pt")
    model = build_method(from_dict(PretrainConfig, ck["config"]))
    model.load_state_dict(ck["model"])
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, ck


def load_backbones(run: str | Path, allow_unfinished: bool = False):
    """(radio f_r, vision f_v, cfg) in eval mode on CPU from a pretraining run directory.

    ``cfg`` is the resolved config dict plus ``stride``/``offset`` (feature bin (i, j) is centred on
    input (stride*i + offset)), ``method`` and the ``data`` block of ``config.json``.
    """
    from .backbones import feature_geometry
    from .config import PretrainConfig
    from ..config import from_dict
    from .methods import build_method

    run = Path(run)
    if not allow_unfinished and not (run / "done.json").is_file():
        raise RadiovisualError(f"{run} is not a finished pretraining run (no done.json)")
    ck = load_checkpoint(run / "checkpoint.pt")
    cfg = from_dict(PretrainConfig, ck["config"])
    model = build_method(cfg)
    model.load_state_dict(ck["model"])
    radio, vision = model.radio.eval(), model.vision.eval()
    for p in list(radio.parameters()) + list(vision.parameters()):
        p.requires_grad_(False)
    d = dict(ck["config"])
    d["method"] = ck["method"]
    d["data"] = ck.get("data", {})
    rs = tuple(d["data"].get("radar_shape", (0, 0)))
    geo = feature_geometry(radio, rs)
    d["stride"], d["offset"] = list(geo["stride"]), list(geo["offset"])
    return radio, vision, d
