"""The benchmark driver: a composition of stages. Each stage is a ``StageDir`` (``utils/stage.py``): a finished
stage with the same key is reused, so an interrupted benchmark resumes; a changed one is refused in one line."""

from __future__ import annotations

import json
import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import fingerprint, to_dict
from ..dataset.format import open_dataset
from ..errors import DatasetError
from ..utils.io import check_writable_dir, write_json
from ..report.render import DISPLAY
from .config import PRETRAIN_OF, BenchmarkConfig

ROW_ORDER = ("supervised", "pseudo", "mcl", "mcl+track", "mcl-attention", "mcl-paper", "scl", "scl-paper", "cl",
             "clip", "peak", "cfar-genie", "cfar", "rodnet")


class Timer:
    def __init__(self, log: Callable[[str], None]):
        self.log = log
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        self.log(f"[benchmark] {name} ...")
        t0 = time.perf_counter()
        yield
        dt = time.perf_counter() - t0
        self.seconds[name] = self.seconds.get(name, 0.0) + dt
        self.log(f"[benchmark] {name} done in {dt:.1f} s")


def ensure_dataset(cfg: BenchmarkConfig, data: Path, progress: bool) -> Path:
    """Reuse a complete dataset made with the same synthesis config (``cfg.synth``), else synthesise (resumes)."""
    from ..dataset.synth import synthesise

    scfg = cfg.synth
    if (data / "zarr.json").is_file():
        try:
            ds = open_dataset(data, labels=False)
            if ds.attrs.get("config_fingerprint") == fingerprint(scfg):
                return data
        except DatasetError:
            pass  # incomplete: synthesise() resumes it, or refuses if incompatible
    # both cores by default: sequences in parallel processes, same bytes as a serial run
    synthesise(scfg, data, progress=progress, workers=min(2, os.cpu_count() or 1))
    return data


def selflabel_split(run: Path, data: Path, split: str, out: Path, cfg: Any, progress: bool, force: bool) -> Path:
    from ..selflabel import run_selflabel

    return run_selflabel(run, data, split=split, out=out, cfg=cfg, progress=progress, force=force)


def proxies_ok(train_store: Path, max_residual_rad: float | None = None) -> bool:
    """Label-free restart rule for the per-bin models (``mcl``, ``scl``): the self-label store's health check
    (``selflabel.health``: camera and radar agree on where the labelled objects are). Stores of the paper's
    read-out carry no check and pass. ``max_residual_rad`` (the v0.2 rule, map residual only) is applied too
    when given."""
    from ..selflabel import open_labels

    attrs = dict(open_labels(train_store).attrs)
    health = attrs.get("health")
    ok = True if health is None else bool(health.get("ok", True))
    if max_residual_rad is not None and health is not None:
        sig = health.get("signals", {}).get("map_sigma_rad")
        ok = ok and (sig is None or not np.isfinite(sig) or sig <= max_residual_rad)
    return ok


def _early_health(cfg: BenchmarkConfig, m: str, tag: str, data: Path, out: Path, pcfg: Any, sl_cfg: Any,
                  timer: Timer, progress: bool, log: Callable[[str], None], force: bool) -> bool:
    """Restarts that cost little: pause the pretraining at ``cfg.health_probe_at`` of its steps, self-label the
    train split with the unfinished model and run the label-free health check. False: drop this run (the
    caller re-pretrains with another seed); True: the caller resumes it to the end. A finished run, a row
    without the check (paper read-outs) or ``health_probe_at`` = 0 pass at once."""
    from ..pretrain import load_backbones, run_pretrain
    from ..utils.stage import is_done

    base = PRETRAIN_OF.get(m, m)
    run_dir = out / "pretrain" / base / tag
    if not cfg.health_probe_at or base not in ("mcl", "scl") or is_done(run_dir):
        return True
    with timer.stage(f"pretrain:{base}"):
        run_pretrain(data, base, run_dir, cfg=pcfg, progress=progress, force=force, pause_at=cfg.health_probe_at)
    if is_done(run_dir):
        return True
    with timer.stage(f"selflabel:{m}"):
        store = selflabel_split(load_backbones(run_dir, allow_unfinished=True), data, "train",
                                out / "selflabels" / f"{m}-{tag}-probe.zarr", sl_cfg, progress, True)
    if proxies_ok(store, cfg.max_map_residual_rad or None):
        return True
    log(f"[benchmark] {m} {tag}: label-free health check failed at {cfg.health_probe_at:.0%} of pretraining "
        f"({_failed_checks(store)}); dropping it and pretraining another seed")
    return False


def _failed_checks(store: Path) -> str:
    from ..selflabel import open_labels

    h = dict(open_labels(store).attrs).get("health") or {}
    return ", ".join(f"{k} {h['checks'][k]['value']:.3g} vs {h['checks'][k]['threshold']:.3g}"
                     for k in h.get("failed", [])) or "map residual"


def _range_source(store: Path) -> str | None:
    """Which first range prior the kept self-labels came from (``selflabel.config.range_source``): "doppler"
    means the attention's run failed the health check and the labels do not use the pretrained attention."""
    from ..selflabel import open_labels

    return ((dict(open_labels(store).attrs).get("calibration") or {}).get("range_source") or {}).get("chosen")


def peak_predictions(data: Path, val_radar: np.ndarray) -> np.ndarray:
    """The label-free floor ``peak``: the strongest return of each validation heatmap (blob centroid), polar."""
    from ..dataset.format import bins_to_polar
    from ..selflabel.geometry import strongest_return

    ds = open_dataset(data, labels=False)
    return bins_to_polar(strongest_return(val_radar), ds.range_bins_m, ds.azimuth_bins_rad)


def evaluate_all(preds: dict[str, list[np.ndarray]], data: Path) -> dict[str, dict[str, Any]]:
    """{method: [val prediction per seed]} -> {method: seed summary}: the one scorer in ``evaluate``."""
    from ..evaluate.score import score_methods

    return score_methods(preds, data, "val")


def _dataset(cfg: BenchmarkConfig, out: Path, timer: Timer, progress: bool) -> Path:
    if not cfg.data:
        with timer.stage("synthesise"):
            return ensure_dataset(cfg, out / "data", progress)
    data = Path(cfg.data)
    try:
        open_dataset(data, labels=False)     # must be a complete store
    except DatasetError as e:
        raise DatasetError(f"--data {data}: {e}") from None
    return data


def pretrain_and_label(cfg: BenchmarkConfig, m: str, s: int, data: Path, out: Path, timer: Timer,
                        progress: bool, log: Callable[[str], None], force: bool = False
                        ) -> tuple[Path, dict[str, Path], str]:
    """Seed ``s`` of row ``m``: pretraining + train self-labels, re-pretrained (another seed) while the
    label-free proxies fail; val self-labels for seed 0 only. Returns (pretrain run, {split: store}, tag)."""
    from ..pretrain import run_pretrain

    base = PRETRAIN_OF.get(m, m)
    seed = cfg.seed + s
    sl_cfg = cfg.selflabel_for(m, seed)
    for attempt in range(cfg.pretrain_retries + 1):
        tag = f"seed{s}" + (f"-retry{attempt}" if attempt else "")
        pcfg = cfg.pretrain_for(m, seed + 1000 * attempt)
        if attempt < cfg.pretrain_retries and not _early_health(cfg, m, tag, data, out, pcfg, sl_cfg, timer,
                                                                progress, log, force):
            continue
        with timer.stage(f"pretrain:{base}"):
            run = run_pretrain(data, base, out / "pretrain" / base / tag, cfg=pcfg, progress=progress, force=force)
        with timer.stage(f"selflabel:{m}"):
            paths = {"train": selflabel_split(run, data, "train", out / "selflabels" / f"{m}-{tag}-train.zarr",
                                          sl_cfg, progress, force)}
        if proxies_ok(paths["train"], cfg.max_map_residual_rad or None):
            break
        log(f"[benchmark] {m} {tag}: label-free health check failed ({_failed_checks(paths['train'])}); "
            + ("re-pretraining with another seed" if attempt < cfg.pretrain_retries
               else "no retries left, keeping this run (flagged in metrics.json)"))
    if s == 0:   # val self-labels feed only the report and the D_W scores, which use seed 0
        with timer.stage(f"selflabel:{m}"):
            paths["val"] = selflabel_split(run, data, "val", out / "selflabels" / f"{m}-{tag}-val.zarr", sl_cfg,
                                       progress, force)
    return run, paths, tag


def _run_methods(cfg: BenchmarkConfig, data: Path, out: Path, val_radar: np.ndarray, timer: Timer,
                 progress: bool, log: Callable[[str], None], force: bool = False
                 ) -> tuple[dict, dict, dict, dict, dict]:
    """Label-free rows: (preds {row: [per seed]}, localiser runs, seed 0's self-label stores, seed 0's
    pretraining run per pretrain method, {row: [per seed: kept run tag and its health]})."""
    from ..localise import predict, train_localiser
    from ..selflabel import load_labels

    preds: dict[str, list[np.ndarray]] = {}
    loc_runs: dict[str, list[Path]] = {}
    selflabel_paths: dict[str, dict[str, Path]] = {}
    pretrain_runs: dict[str, Path] = {}
    kept: dict[str, list[dict[str, Any]]] = {}
    for m in cfg.methods:
        if m == "peak":
            with timer.stage("peak"):
                preds[m] = [peak_predictions(data, val_radar)]
            continue
        preds[m], loc_runs[m] = [], []
        for s in range(cfg.seeds):
            run, paths, tag = pretrain_and_label(cfg, m, s, data, out, timer, progress, log, force)
            kept.setdefault(m, []).append({"seed": s, "run": tag, "healthy": proxies_ok(paths["train"],
                                                                                      cfg.max_map_residual_rad or None),
                                           "range_source": _range_source(paths["train"])})
            if s == 0:
                selflabel_paths[m] = paths
                pretrain_runs.setdefault(PRETRAIN_OF.get(m, m), run)
            with timer.stage(f"localise:{m}"):
                r = train_localiser(data, load_labels(paths["train"]), out / "localise" / m / tag,
                                    cfg=cfg.localise, seed=cfg.seed + s, progress=progress, label_free=True,
                                    force=force)
                loc_runs[m].append(r)
                preds[m].append(predict(r, val_radar))
    return preds, loc_runs, selflabel_paths, pretrain_runs, kept


def _run_references(cfg: BenchmarkConfig, data: Path, out: Path, val_radar: np.ndarray, timer: Timer,
                    progress: bool, force: bool = False) -> tuple[dict, dict]:
    """Supervised (GT, the upper bound) and the baselines, all with the tree's ``localise`` and ``cfar`` configs."""
    from ..baselines.cfar_pipeline import run_cfar
    from ..baselines.rodnet import RodnetConfig, run_rodnet
    from ..localise import predict, train_localiser

    preds: dict[str, list[np.ndarray]] = {}
    loc_runs: dict[str, list[Path]] = {}
    with timer.stage("localise:supervised"):
        loc_runs["supervised"] = [train_localiser(data, "gt", out / "localise" / "supervised" / f"seed{s}",
                                                  cfg=cfg.localise, seed=cfg.seed + s, progress=progress,
                                                  force=force)
                                  for s in range(cfg.seeds)]
        preds["supervised"] = [predict(r, val_radar) for r in loc_runs["supervised"]]
    if "pseudo" in cfg.baselines or open_dataset(data, labels=False).attrs.get("scenario") == "cruw":
        with timer.stage("localise:pseudo"):
            loc_runs["pseudo"] = _pseudo_supervised(cfg, data, out, progress, force)
            preds["pseudo"] = [predict(r, val_radar) for r in loc_runs["pseudo"]]
    for b in ("cfar-genie", "cfar"):
        if b in cfg.baselines:
            with timer.stage(b):
                preds[b] = [run_cfar(data, split="val", genie=(b == "cfar-genie"), cfg=cfg.cfar)]
    if "rodnet" in cfg.baselines:
        with timer.stage("rodnet"):
            # the student is the common localiser, so it gets the same ``localise`` config as every row
            rcfg = RodnetConfig(teacher=cfg.teacher, localise=cfg.localise)
            loc_runs["rodnet"] = [run_rodnet(data, out / "rodnet" / f"seed{s}", preset=cfg.preset or "quick",
                                             seed=cfg.seed + s, cfg=rcfg, force=force) for s in range(cfg.seeds)]
            preds["rodnet"] = [predict(r, val_radar) for r in loc_runs["rodnet"]]
    return preds, loc_runs


def _pseudo_supervised(cfg: BenchmarkConfig, data: Path, out: Path, progress: bool, force: bool = False) -> list[Path]:
    """The paper's CRUW row (§5.2): camera objects matched to CFAR/DBSCAN clusters -> labels -> the common
    localiser. Not label-free (the camera detector was trained with labels), so named ``pseudo``."""
    from ..baselines.pseudolabel import run_pseudolabel
    from ..localise import train_localiser
    from ..selflabel import load_labels

    from ..baselines.pseudolabel import PseudoLabelConfig
    from ..utils.stage import StageDir

    pcfg = PseudoLabelConfig()
    sd = StageDir(out / "pseudolabels", "pseudolabel", pcfg,
                  {"data": open_dataset(data, labels=False).fingerprint(), "split": "train", "vision": "store"}, force)
    store = sd.path / "train.zarr"
    if not sd.done:      # one resume policy: a changed config or dataset is refused unless --force
        sd.begin()
        run_pseudolabel(data, store, split="train", cfg=pcfg, progress=progress)
        sd.finish({"store": str(store)})
    labels = load_labels(store)
    return [train_localiser(data, labels, out / "localise" / "pseudo" / f"seed{s}", cfg=cfg.localise,
                            seed=cfg.seed + s, progress=progress, label_free=False, force=force)
            for s in range(cfg.seeds)]


def _representation(cfg: BenchmarkConfig, pretrain_runs: dict[str, Path], data: Path, out: Path,
                    timer: Timer, progress: bool) -> dict[str, Any]:
    """``--eval probe,retrieval``: supervised *evaluations* of each pretraining (seed 0), one scratch cache."""
    from ..evaluate.represent import evaluate_representation

    res: dict[str, Any] = {}
    for base, run in pretrain_runs.items():
        with timer.stage(f"represent:{base}"):
            res[base] = evaluate_representation(run, data, out / "represent" / base, evals=cfg.evals,
                                                seed=cfg.seed, progress=progress,
                                                supervised_cache=out / "represent" / "_scratch")
    return res


def _score(cfg: BenchmarkConfig, preds: dict, selflabel_paths: dict, data: Path,
           kept: dict | None = None) -> tuple[dict, dict]:
    """The only GT reads of a benchmark (besides Supervised training and the genie): scoring on val."""
    from ..evaluate.metrics import location_errors
    from ..evaluate.score import ground_truth, score_selflabels
    from ..selflabel import load_labels, open_labels

    metrics = evaluate_all(preds, data)
    for m, paths in selflabel_paths.items():
        metrics[m]["selflabel"] = {s: score_selflabels(load_labels(p), data, s) for s, p in paths.items()}
        # label-free quality proxies, as the self-label store recorded them (no ground truth involved)
        a = dict(open_labels(paths["train"]).attrs)
        metrics[m]["selflabel_proxies_train"] = {k: a[k] for k in ("stage_jitter_m", "refine_jitter_m") if k in a}
        if "health" in a:
            metrics[m]["health_train_seed0"] = a["health"]
    for m, runs in (kept or {}).items():
        if m in metrics:
            metrics[m]["kept_runs"] = runs
    for name in metrics:
        metrics[name]["label_free"] = name not in ("supervised", "pseudo", "cfar-genie")
        metrics[name]["genie"] = name == "cfar-genie"
    gt_val = ground_truth(data, "val")
    errors = {name: location_errors(np.asarray(runs[0], np.float64), gt_val) for name, runs in preds.items()}
    return metrics, errors


def _score_elsewhere(cfg: BenchmarkConfig, loc_runs: dict[str, list[Path]], timer: Timer) -> dict[str, Any]:
    """``eval_data``: every localiser (each seed) and Peak on another store's val split, e.g. a scenario none of
    the training saw. The stores must share the radar grid (the localiser's input)."""
    from ..evaluate.score import score_methods
    from ..localise import predict

    other = Path(cfg.eval_data)
    ds = open_dataset(other, labels=False)
    radar = ds.split("val").read("radar")
    preds = {name: [predict(r, radar) for r in runs] for name, runs in loc_runs.items()}
    if "peak" in cfg.methods:
        preds["peak"] = [peak_predictions(other, radar)]
    with timer.stage("evaluate:eval_data"):
        block = score_methods(preds, other, "val")
    return {"path": str(other), "scenario": ds.attrs.get("scenario"),
            "metrics": {k: block[k] for k in ROW_ORDER if k in block}}


def run_benchmark(cfg: BenchmarkConfig, out: str | Path, progress: bool = True,
                  log: Callable[[str], None] = print, force: bool = False) -> dict[str, Any]:
    """Compose the stages into ``out``; ``force`` replaces stage directories made with another config."""
    if cfg.task != "localise":   # --task detection: pipeline.detection.run_detection_benchmark (it builds on this)
        from ..errors import ConfigError

        raise ConfigError(f"run_benchmark runs task 'localise'; task '{cfg.task}' is run by "
                          "radiovisual.pipeline.detection.run_detection_benchmark")
    out = check_writable_dir(out)
    timer = Timer(log)
    t_start = time.perf_counter()
    write_json(out / "benchmark_config.json", to_dict(cfg))
    data = _dataset(cfg, out, timer, progress)
    val_radar = open_dataset(data, labels=False).split("val").read("radar")

    preds, loc_runs, selflabel_paths, pretrain_runs, kept = _run_methods(cfg, data, out, val_radar, timer, progress,
                                                                         log, force)
    ref_preds, ref_runs = _run_references(cfg, data, out, val_radar, timer, progress, force)
    preds.update(ref_preds)
    loc_runs.update(ref_runs)
    represent = _representation(cfg, pretrain_runs, data, out, timer, progress) if cfg.evals else {}

    with timer.stage("evaluate+report"):
        metrics, errors = _score(cfg, preds, selflabel_paths, data, kept)
        ds = open_dataset(data, labels=False)
        result = {
            "metrics": {k: metrics[k] for k in ROW_ORDER if k in metrics},
            "timings_s": {**{k: round(v, 2) for k, v in timer.seconds.items()},
                          "total": round(time.perf_counter() - t_start, 2)},
            "machine": machine_info(),
            "config": to_dict(cfg),
            "dataset": {"path": str(data), "config_fingerprint": ds.attrs.get("config_fingerprint"),
                        "scenario": ds.attrs.get("scenario", cfg.scenario),   # the store's, with --data
                        "sizes": {s: len(ds.split(s)) for s in ds.splits}},
        }
        if represent:
            result["representation"] = represent
        from ..evaluate.score import score_by_scenario

        if cfg.eval_data:
            result["eval_data"] = _score_elsewhere(cfg, loc_runs, timer)

        by_scn = score_by_scenario(preds, data, "val")   # a mixed store: one block per scenario
        if by_scn:
            result["by_scenario"] = {scn: {k: block[k] for k in ROW_ORDER if k in block} for scn, block in by_scn.items()}
        write_json(out / "metrics.json", result)
        np.savez_compressed(out / "val_errors.npz", **{k.replace("-", "_"): v for k, v in errors.items()})
        from .report import build_report

        md, html = build_report(out, result, errors, preds, selflabel_paths, data, cfg)
    result["timings_s"]["total"] = round(time.perf_counter() - t_start, 2)
    write_json(out / "metrics.json", result)
    log(format_table(result))
    log(f"[benchmark] report: {html}")
    return result


def cpu_model() -> str:
    """The processor's name ("model name" of /proc/cpuinfo, else ``platform.processor()``): torch CPU kernels, and
    so the metrics, differ across processors, so every run says which one it ran on."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    import torch

    return {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "cpu_model": cpu_model(),
            "torch": torch.__version__, "cuda": bool(torch.cuda.is_available()),
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"}


def format_table(result: dict[str, Any]) -> str:
    """Tab. 4-style text table."""
    rows = ["", f"{'Method':<19}{'label-free':>11}{'p50 [m]':>16}{'p90 [m]':>16}"]
    rows.append("-" * len(rows[1]))
    for name, m in result["metrics"].items():
        p50 = f"{m['p50_m']:.3f}" + (f" ±{m['p50_std_m']:.3f}" if "p50_std_m" in m else "")
        p90 = f"{m['p90_m']:.3f}" + (f" ±{m['p90_std_m']:.3f}" if "p90_std_m" in m else "")
        lf = "yes" if m["label_free"] else "no"
        rows.append(f"{DISPLAY.get(name, name):<19}{lf:>11}{p50:>16}{p90:>16}")
    other = result.get("eval_data")
    if other:
        rows.append(f"  on {other['path']} ({other['scenario']}, val): " + ", ".join(
            f"{DISPLAY.get(k, k)} {v['p50_m']:.3f}/{v['p90_m']:.3f}" for k, v in other["metrics"].items()))
    for scn, block in result.get("by_scenario", {}).items():
        rows.append(f"  {scn}: " + ", ".join(f"{DISPLAY.get(k, k)} {v['p50_m']:.3f}/{v['p90_m']:.3f}"
                                             for k, v in block.items()))
    rows.append("Supervised trains on ground truth (upper bound); CFAR (genie) picks the cluster nearest to "
                "ground truth. Errors on the validation split" + (" (p50/p90 [m] per scenario above)."
                                                                 if result.get("by_scenario") else "."))
    return "\n".join(rows)


def load_result(out: str | Path) -> dict[str, Any]:
    return json.loads((Path(out) / "metrics.json").read_text())
