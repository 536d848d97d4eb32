"""The pretraining loop (plain PyTorch): CPU or CUDA, bf16 AMP on CUDA, torchrun DDP, exact resume.

Run directory ``RUN/``: ``config.json`` (resolved config, data path and fingerprints),
``checkpoint.pt`` (method incl. EMA nets and queues, optimiser, step, RNG; atomic),
``metrics.jsonl`` (rank 0); ``stage.json``/``done.json`` are the ``StageDir`` markers (``utils/stage.py``):
``done.json`` is written last, and a run directory made with another config or dataset is refused.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..config import fingerprint, from_dict, to_dict
from ..dataset.resolution import store_resolution
from ..errors import ConfigError, DatasetError, RadiovisualError
from ..utils.env import keep_freed_memory
from ..utils.io import load_checkpoint, save_checkpoint, write_json, write_text
from ..utils.runs import resolve_run
from ..utils.stage import StageDir
from .config import MASKED_METHODS, QUEUE_METHODS, PretrainConfig, resolve_pretrain_config


def _lr_at(step: int, total: int, tcfg: Any) -> float:
    """Linear warm-up then cosine decay to 5% of the peak."""
    if step < tcfg.warmup_steps:
        return tcfg.lr * (step + 1) / tcfg.warmup_steps
    t = (step - tcfg.warmup_steps) / max(1, total - tcfg.warmup_steps)
    return tcfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


# Bumped when a method's objective changes under the same name and config, so a stored run of the old
# objective is refused in one line (or replaced with --force) instead of being reused. scl 2: issue 8 per-bin SCL
# with the smooth-max warm-up, twins with gradient and all in-batch twins as negatives.
STAGE_VERSIONS = {"scl": 2}


def stage_version(method: str) -> int:
    return STAGE_VERSIONS.get(method, 1)


def stage_config(cfg: PretrainConfig) -> dict[str, Any]:
    """The config as keyed: the ``loss.scl_*`` knobs only for ``scl``, so adding them left the keys of stored
    runs of the other methods unchanged (they do not read them)."""
    d = to_dict(cfg)
    if cfg.method != "scl":
        d["loss"] = {k: v for k, v in d["loss"].items() if not k.startswith("scl_")}
    if cfg.backbone.radio_stem() == (1, 1):
        # the native stem is the network stored runs were trained with: their keys stay valid (issue 13)
        d["backbone"] = {k: v for k, v in d["backbone"].items() if not k.startswith("radio_stem_")}
    return d


def _data_fingerprint(ds: Any) -> str:
    fp = ds.attrs.get("config_fingerprint")
    return str(fp) if fp else fingerprint(ds.attrs.get("config", {}))


def _truncate_metrics(path: Path, last_step: int) -> None:
    if not path.is_file():
        return
    keep = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln).get("step", 0) <= last_step]
    write_text(path, "".join(ln + "\n" for ln in keep))


def run_pretrain(data: str | Path, method: str | None, out: str | Path, preset: str = "quick",
                 overrides: list[str] | None = None, resume: bool = True, progress: bool = True,
                 seed: int | None = None, yaml_path: str | None = None, stop_after: int | None = None, *,
                 cfg: PretrainConfig | None = None, force: bool = False, pause_at: float | None = None) -> Path:
    """Pretrain on the train split of ``data`` (label-free) into ``out``; return ``out``.

    ``cfg`` wins over ``method``/``preset``/``overrides``/``yaml_path``/``seed``. ``out`` is a ``StageDir``
    keyed by the config and the dataset (path and fingerprint): a finished run with the same key is
    returned as is, one with another key is refused in one line unless ``force``. Inside the stage an
    unfinished run resumes from its last checkpoint (``resume=False``: from scratch). ``stop_after``
    (tests only) simulates a crash: the loop exits after that many total steps without finishing.
    ``pause_at`` (a fraction of the run's steps) stops there with a checkpoint and without finishing, so a
    caller can look at the unfinished model (``load_backbones(out, allow_unfinished=True)``) and then either
    resume it (call again without ``pause_at``) or drop it: the benchmark's early health check.
    """
    from ..dataset.format import open_dataset

    if cfg is None:
        cfg = resolve_pretrain_config(method, preset, overrides, yaml_path, seed)
    ds = open_dataset(data, labels=False)
    if "train" not in ds.splits:
        raise DatasetError(f"dataset {data} has no train split")
    # "auto" radio stems -> integers for this store's grid, before keying (config.json records them)
    cfg = replace(cfg, backbone=cfg.backbone.for_grid(store_resolution(ds)))
    sd = StageDir(out, "pretrain", stage_config(cfg), {"data": ds.fingerprint()}, force=force,
                  version=stage_version(cfg.method))
    if sd.done:
        return sd.path
    job = _prepare(cfg, ds, data)
    info = {"fingerprint": sd.key, "method": cfg.method, "preset": preset, "config": to_dict(cfg),
            "data": {"path": str(Path(data).resolve()), "config_fingerprint": _data_fingerprint(ds),
                     "n_train_used": len(job.src), "radar_shape": list(job.src.info["radar_shape"]),
                     "image_shape": list(job.src.info["image_shape"])},
            "steps": job.total, "world_size": job.world}
    from . import dist

    if dist.is_main():
        sd.begin()
    if pause_at is not None:
        stop_after = max(1, int(round(pause_at * job.total)))
        if stop_after >= job.total:
            stop_after = None
    step = _train(cfg, job, sd, info, resume, progress, stop_after, save_at_stop=pause_at is not None)
    if step is not None and dist.is_main():
        sd.finish({"steps": step, "method": cfg.method})
    dist.barrier()
    return sd.path


@dataclass
class _Job:
    """What one pretraining run is made of, checked before any output is written."""
    src: Any            # PairSource over the train split
    device: Any
    rank: int
    world: int
    per_epoch: int      # optimiser steps per epoch (global batch)
    total: int          # optimiser steps of the whole run


def _prepare(cfg: PretrainConfig, ds: Any, data: str | Path) -> _Job:
    """Load: the device, the train pairs, and every config-vs-data check (one-line errors)."""
    from . import dist
    from .data import PairSource

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
    return _Job(src, device, rank, world, per_epoch, total)


def _restore(model: Any, opt: Any, job: _Job, ckpt_path: Path, metrics_path: Path, key: str, resume: bool) -> int:
    """Resume inside the stage: the last checkpoint of THIS key (a stale one is discarded). Returns the step."""
    import torch

    from . import dist

    ck = load_checkpoint(ckpt_path, map_location=str(job.device)) if resume and ckpt_path.is_file() else None
    if ck is None or ck.get("fingerprint") != key:
        if dist.is_main():
            for p in (ckpt_path, metrics_path):
                p.unlink(missing_ok=True)
        return 0
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    torch.set_rng_state(ck["rng_cpu"])
    if torch.cuda.is_available() and ck.get("rng_cuda") is not None:
        torch.cuda.set_rng_state(ck["rng_cuda"].cpu(), job.device)
    step = int(ck["step"])
    if dist.is_main():
        _truncate_metrics(metrics_path, step)
    return step


def _train(cfg: PretrainConfig, job: _Job, sd: StageDir, info: dict[str, Any], resume: bool, progress: bool,
           stop_after: int | None, save_at_stop: bool = False) -> int | None:
    """Compute: the optimisation loop with atomic checkpoints. Returns the final step (None: stopped early)."""
    import torch

    from . import dist
    from .methods import build_method

    T, device, total = cfg.train, job.device, job.total
    if T.threads:
        torch.set_num_threads(T.threads)
    if device.type == "cpu":
        keep_freed_memory()          # large CPU tensors reuse heap pages instead of faulting in fresh ones
    torch.manual_seed(cfg.seed)
    model = build_method(cfg).to(device)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=T.lr, weight_decay=T.weight_decay)
    ckpt_path, metrics_path = sd.path / "checkpoint.pt", sd.path / "metrics.jsonl"
    step = _restore(model, opt, job, ckpt_path, metrics_path, sd.key, resume)
    if dist.is_main():
        write_json(sd.path / "config.json", info)

    def save(at: int) -> None:
        if dist.is_main():
            save_checkpoint(ckpt_path, {
                "model": model.state_dict(), "optimizer": opt.state_dict(), "step": at,
                "rng_cpu": torch.get_rng_state(),
                "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                "config": to_dict(cfg), "fingerprint": sd.key, "method": cfg.method, "data": info["data"]})

    fwd = model
    if job.world > 1:
        fwd = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False)
    amp = T.amp and device.type == "cuda"
    bar = None
    if progress and dist.is_main():
        from ..utils.progress import tqdm

        bar = tqdm(total=total, initial=step, desc=f"pretrain {cfg.method}", unit="step", dynamic_ncols=True)
    model.train()
    metrics = open(metrics_path, "a") if dist.is_main() else None
    t_log, n_log = time.perf_counter(), 0
    try:
        for batch in job.src.batches(T.batch_size, cfg.seed, step, total, job.rank, job.world):
            if stop_after is not None and step >= stop_after:
                if save_at_stop:
                    save(step)
                return None
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
                    metrics.write(json.dumps({"step": step, "epoch": (step - 1) // job.per_epoch, **vals, "lr": lr,
                                              "pairs_per_s": n_log / max(dt, 1e-9)}) + "\n")
                    metrics.flush()
                if bar is not None:
                    bar.set_postfix(loss=f"{vals['loss']:.3f}", pps=f"{n_log / max(dt, 1e-9):.0f}")
                t_log, n_log = time.perf_counter(), 0
            if step % T.ckpt_every == 0 and step < total:
                save(step)
        save(step)
    finally:
        if metrics is not None:
            metrics.close()
        if bar is not None:
            bar.close()
    return step


def _load_checkpoint(run: str | Path, allow_unfinished: bool) -> dict[str, Any]:
    # a benchmark METHOD directory (OUT/pretrain/mcl) resolves to its kept seed run, or says which exist
    run = Path(run) if allow_unfinished else resolve_run(run, "pretraining")
    if not (run / "checkpoint.pt").is_file():
        raise RadiovisualError(f"{run} has no checkpoint.pt; not a pretraining run")
    return load_checkpoint(run / "checkpoint.pt")


def _frozen_method(ck: dict[str, Any]) -> Any:
    from .methods import build_method

    model = build_method(from_dict(PretrainConfig, ck["config"]))
    model.load_state_dict(ck["model"])
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def load_method(run: str | Path, allow_unfinished: bool = False):
    """(whole method module incl. projectors, in eval mode on CPU, checkpoint dict) of a run."""
    ck = _load_checkpoint(run, allow_unfinished)
    return _frozen_method(ck), ck


@dataclass(frozen=True)
class Backbones:
    """A pretraining run's frozen backbones and what readers need to know about them.

    Feature bin (i, j) of ``radio`` is centred on radar input bin ``stride * (i, j) + offset``.
    """
    radio: Any                       # f_r: radar [B,1,R,A] -> features [B,C,h,w], eval mode, CPU
    vision: Any                      # f_v: image [B,3,H,W] -> features [B,C,h',w'], eval mode, CPU
    config: PretrainConfig           # the run's resolved config (method included)
    stride: tuple[float, float]      # radar input bins per feature bin (rows, cols)
    offset: tuple[float, float]      # radar input bin of feature bin (0, 0)'s centre
    data: dict[str, Any]             # the run's ``config.json`` data block (path, fingerprint, shapes)
    model: Any = None                # the whole method module (projectors, MIL head), eval mode

    @property
    def method(self) -> str:
        return self.config.method


def load_backbones(run: str | Path, allow_unfinished: bool = False) -> Backbones:
    """The frozen backbones of a pretraining run directory, typed (see ``Backbones``)."""
    from .backbones import feature_geometry

    ck = _load_checkpoint(run, allow_unfinished)
    model = _frozen_method(ck)
    data = dict(ck.get("data", {}))
    geo = feature_geometry(model.radio, tuple(data.get("radar_shape", (0, 0))))
    return Backbones(radio=model.radio, vision=model.vision, config=from_dict(PretrainConfig, ck["config"]),
                     stride=tuple(float(v) for v in geo["stride"]), offset=tuple(float(v) for v in geo["offset"]),
                     data=data, model=model)
