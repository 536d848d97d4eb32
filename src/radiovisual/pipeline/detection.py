"""``radiovisual benchmark --task detection``: every object, scored with the field's AP (issue 20).

Rows (each a packed [N_val, D, 4] detection set per seed, ``dataset.detections``):
* ``mcl``: MCL pretraining -> the primary target's self-labels (``selflabel.run``) -> one self-label per
  visible camera object (``selflabel.objects``) -> the radar-only detector (``localise.detector``). Label-free.
* ``supervised``: the same detector on ground-truth ``objects`` (the upper bound).
* ``rodnet``: the RODNet-style camera teacher, one label per camera object (``baselines.detections``), and the
  same detector as its student.
* ``pseudo``: on an imported CRUW store, the same detector on the pseudo-labels (``baselines.pseudolabel``).
* ``cfar``: CFAR + DBSCAN, every cluster with a label-free score and class; ``peak``: top-k local maxima.
Scoring (``evaluate.detection``, the only ground-truth read besides Supervised's training): AP / AR over OLS
0.5:0.05:0.9 per class and weighted (cruw-devkit's conventions), and the matched localisation error.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import to_dict
from ..dataset.format import open_dataset
from ..utils.io import check_writable_dir, write_json
from .config import BenchmarkConfig

DETECTION_ROWS = ("mcl", "supervised", "pseudo", "rodnet", "cfar", "peak")
DISPLAY = {"mcl": "MCL (ours)", "supervised": "Supervised", "pseudo": "Pseudo-supervised",
           "rodnet": "RODNet-style", "cfar": "CFAR+DBSCAN", "peak": "Peak (top-k)"}


def _mcl_rows(cfg: BenchmarkConfig, data: Path, out: Path, val_radar: np.ndarray, timer: Any, progress: bool,
              log: Callable[[str], None], force: bool) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """Seeds of the label-free row: pretraining + primary self-labels (shared with ``--task localise``: the same
    stage directories), per-object self-labels, detector."""
    from ..localise.detect_train import predict_detections, train_detector
    from ..selflabel.objects import load_object_labels, run_object_selflabels
    from .run import pretrain_and_label

    preds, info = [], []
    for s in range(cfg.seeds):
        run, paths, tag = pretrain_and_label(cfg, "mcl", s, data, out, timer, progress, log, force)
        with timer.stage("selflabel-objects:mcl"):
            obj = run_object_selflabels(paths["train"], data, out / "selflabels" / f"mcl-{tag}-objects", "train",
                                        cfg.selflabel_for("mcl", cfg.seed + s), force=force)
        with timer.stage("detector:mcl"):
            det = train_detector(data, load_object_labels(obj), out / "detector" / "mcl" / tag, cfg=cfg.detector,
                                 seed=cfg.seed + s, progress=progress, force=force)
            preds.append(predict_detections(det, val_radar, **_decode(cfg)))
        info.append({"seed": s, "run": tag, "objects": str(obj), "detector": str(det)})
    return preds, info


def _reference_rows(cfg: BenchmarkConfig, data: Path, out: Path, val_radar: np.ndarray, timer: Any,
                    progress: bool, force: bool) -> dict[str, list[np.ndarray]]:
    from ..baselines.detections import cfar_detections, peak_detections, teacher_detections
    from ..localise.detect_train import predict_detections, train_detector

    ds = open_dataset(data, labels=False)
    preds: dict[str, list[np.ndarray]] = {}

    def detector_row(name: str, labels: Any, label_free: bool) -> None:
        with timer.stage(f"detector:{name}"):
            preds[name] = [predict_detections(train_detector(
                data, labels, out / "detector" / name / f"seed{s}", cfg=cfg.detector, seed=cfg.seed + s,
                progress=progress, force=force), val_radar, **_decode(cfg)) for s in range(cfg.seeds)]

    detector_row("supervised", "gt", False)
    if "pseudo" in cfg.baselines or ds.attrs.get("scenario") == "cruw":
        from ..baselines.pseudolabel import pseudo_labels

        with timer.stage("pseudolabels"):
            # (labels, confidence, objects [N, K, 4] = (range, az, class, confidence), stats): every camera object
            obj = np.array(pseudo_labels(data, split="train")[2][..., :4], np.float64)
            real = np.isfinite(obj[..., :2]).all(-1)
            obj[..., 3] = np.where(real, np.clip(np.nan_to_num(obj[..., 3], nan=0.5), 0.0, 1.0), np.nan)
            detector_row("pseudo", obj, False)
    if "rodnet" in cfg.baselines:
        with timer.stage("teacher:rodnet"):
            teacher = teacher_detections(data, "train", cfg.detections)
        detector_row("rodnet", teacher, True)
    if "cfar" in cfg.baselines or "cfar-genie" in cfg.baselines:
        with timer.stage("cfar"):
            preds["cfar"] = [cfar_detections(data, "val", cfg.detections)]
    if "peak" in cfg.methods:
        with timer.stage("peak"):
            preds["peak"] = [peak_detections(data, "val")]
    return preds


def _decode(cfg: BenchmarkConfig) -> dict[str, Any]:
    """The tree's decoding options (``detector.peak_threshold`` etc.), applied to every detector row."""
    d = cfg.detector
    return {"threshold": d.peak_threshold, "nms_ols": d.nms_ols, "max_detections": d.max_detections}


def run_detection_benchmark(cfg: BenchmarkConfig, out: str | Path, progress: bool = True,
                            log: Callable[[str], None] = print, force: bool = False) -> dict[str, Any]:
    """The multi-object benchmark into ``out`` (``detection.json``, ``detection.md``, ``pr_curves.png``)."""
    from ..evaluate.detection import plot_pr_curves, score_detections
    from .run import Timer, _dataset, machine_info

    out = check_writable_dir(out)
    timer = Timer(log)
    t0 = time.perf_counter()
    write_json(out / "benchmark_config.json", to_dict(cfg))
    data = _dataset(cfg, out, timer, progress)
    ds = open_dataset(data, labels=False)
    val_radar = ds.split("val").read("radar")
    preds: dict[str, list[np.ndarray]] = {}
    runs: list[dict[str, Any]] = []
    camera_objects = "instance_mask" in ds.split("train")
    if not camera_objects:   # e.g. an imported CRUW store: no camera instance masks to label from
        log("[benchmark] the store has no camera instance masks (instance_mask): the MCL and RODNet-style rows, "
            "which label every camera object, are skipped")
        cfg = replace(cfg, methods=tuple(m for m in cfg.methods if m != "mcl"),
                      baselines=tuple(b for b in cfg.baselines if b != "rodnet"))
    if "mcl" in cfg.methods:
        preds["mcl"], runs = _mcl_rows(cfg, data, out, val_radar, timer, progress, log, force)
    preds.update(_reference_rows(cfg, data, out, val_radar, timer, progress, force))
    with timer.stage("evaluate+report"):
        scores = score_detections(preds, data, "val")
        for name in scores:
            scores[name]["label_free"] = name not in ("supervised", "pseudo")
        np.savez_compressed(out / "val_detections.npz", **{f"{k}_seed{i}": p for k, v in preds.items()
                                                           for i, p in enumerate(v)})
        plot_pr_curves({k: scores[k] for k in DETECTION_ROWS if k in scores}, out / "pr_curves.png")
        result = {"task": "detection", "metrics": {k: scores[k] for k in DETECTION_ROWS if k in scores},
                  "mcl_runs": runs, "machine": machine_info(), "config": to_dict(cfg),
                  "dataset": {"path": str(data), "scenario": ds.attrs.get("scenario", cfg.scenario),
                              "config_fingerprint": ds.attrs.get("config_fingerprint"),
                              "sizes": {s: len(ds.split(s)) for s in ds.splits}},
                  "timings_s": {**{k: round(v, 2) for k, v in timer.seconds.items()},
                                "total": round(time.perf_counter() - t0, 2)}}
        write_json(out / "detection.json", result)
        (out / "detection.md").write_text(format_detection_table(result) + "\n\n![PR curves](pr_curves.png)\n")
    log(format_detection_table(result))
    return result


def _pm(m: dict[str, Any], key: str, fmt: str = "{:.3f}") -> str:
    v = m.get(key, float("nan"))
    sd = m.get(key[:-2] + "_std_m" if key.endswith("_m") else f"{key}_std")   # evaluate.detection's naming
    return fmt.format(v) + (f" ±{sd:.3f}" if sd is not None and np.isfinite(sd) and sd > 0 else "")


def format_detection_table(result: dict[str, Any]) -> str:
    """A markdown table: AP, AR, per-class AP, matched localisation error p50 / p90 [m]."""
    met = result["metrics"]
    rows = [(k, met[k]) for k in DETECTION_ROWS if k in met] + [(k, v) for k, v in met.items() if k not in DETECTION_ROWS]
    classes = [c for c in ("car", "pedestrian", "cyclist")
               if any(np.isfinite(m.get("per_class", {}).get(c, {}).get("AP", np.nan)) for _, m in rows)]
    head = ["Method", "label-free", "AP", "AR"] + [f"AP {c}" for c in classes] + ["p50 [m]", "p90 [m]"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, m in rows:
        pc = m.get("per_class", {})
        cells = [DISPLAY.get(name, name), "yes" if m.get("label_free") else "no", _pm(m, "AP"), _pm(m, "AR")]
        cells += [_pm(pc.get(c, {}), "AP") for c in classes]
        cells += [_pm(m, "loc_p50_m"), _pm(m, "loc_p90_m")]
        lines.append("| " + " | ".join(cells) + " |")
    sizes = result.get("dataset", {}).get("sizes", {})
    lines.append("")
    lines.append(f"Validation split ({sizes.get('val', '?')} frames, {result.get('dataset', {}).get('scenario')}); "
                 "AP/AR over OLS 0.5:0.05:0.9 (cruw-devkit); p50/p90: x-y error of detections matched at OLS >= 0.5. "
                 "Supervised trains on ground truth (upper bound).")
    return "\n".join(lines)
