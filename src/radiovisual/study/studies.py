"""The five studies of the paper's §6.2: each lists its points, runs them through ``points`` and returns them.

A point record: {"series", "x", "seed", "overrides", "metrics"}; ``report.py`` aggregates seeds and draws the
figure. Ground truth is read only to SCORE a point on val (and by Supervised, which trains on it by definition).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .points import (Context, Progress, localise_point, pretrain_point, selflabel_metrics, subset_indices,
                     with_overrides)


def _dw(dev: dict[str, Any]) -> dict[str, Any]:
    return {"D_W": {"range": dev["range"]["D_W"], "angle": dev["angle"]["D_W"]}, "selflabel_val": dev}


def _rec(series: str, x: Any, s: int, overrides: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    return {"series": series, "x": x, "seed": s, "overrides": dict(overrides), "metrics": metrics}


def _sweep(ctx: Context, overrides: dict[str, Any]) -> dict[str, Any]:
    """Overrides of a swept pretraining: + the study's reduced epoch budget (``study.sweep_epochs``)."""
    if ctx.study.sweep_epochs:
        return {"pretrain.train.epochs": ctx.study.sweep_epochs, **overrides}
    return overrides


def label_density(ctx: Context) -> dict[str, Any]:
    """Fig. 6: the localiser on a seeded, nested fraction of train, per method; one pretraining per seed."""
    st, seeds = ctx.study, ctx.bench.seeds
    n = ctx.n_train()
    prog = Progress("label-density", len(st.density_methods) * len(st.fractions) * seeds, ctx.log)
    points = []
    for m in st.density_methods:
        for s in range(seeds):
            if m == "supervised":
                cfg, root, tag, labels = ctx.bench, ctx.out, f"seed{s}", "gt"
            else:
                from ..selflabel import load_labels

                pt = pretrain_point(ctx, m, s, {}, "base")
                cfg, root, tag, labels = pt["tree"], pt["root"], pt["tag"], load_labels(pt["train"])
            for f in st.fractions:
                sub = subset_indices(n, f, ctx.bench.seed + s, st.min_subset)
                met = localise_point(ctx, cfg, root, m, tag, s, labels, sub)
                met["fraction"] = met["n_train_labels"] / n
                points.append(_rec(m, 100.0 * f, s, {}, met))
                prog(f"{m} {100 * f:g}% ({met['n_train_labels']} labels) seed{s}", met)
    return {"points": points}


def _nonempty_after_pad(ctx: Context, offsets: tuple[int, ...]) -> dict[int, float]:
    """Fraction of train masks still non-empty after padding (erosion empties small targets: those samples
    drop out of masked pretraining). Vision labels only."""
    from ..dataset.format import open_dataset
    from ..pretrain.data import mask_to_tensor

    mask = open_dataset(ctx.data, labels=False).split("train").read("mask")
    return {int(o): float((mask_to_tensor(mask, int(o)).flatten(1).amax(1) > 0).float().mean()) for o in offsets}


def mask_offset(ctx: Context) -> dict[str, Any]:
    """Fig. 7: MCL with the target mask dilated (+) or eroded (-) by ``offset`` image pixels; val D_W."""
    st, seeds = ctx.study, ctx.bench.seeds
    prog = Progress("mask-offset", len(st.offsets) * seeds, ctx.log)
    nonempty = _nonempty_after_pad(ctx, st.offsets)
    points = []
    for off in st.offsets:
        ov = _sweep(ctx, {"pretrain.loss.mask_pad_px": int(off)} if off else {})
        for s in range(seeds):
            pt = pretrain_point(ctx, "mcl", s, ov, f"pad{off:+d}")
            met = _dw(selflabel_metrics(ctx, pt["val"]))
            met["train_masks_nonempty"] = nonempty[off]
            points.append(_rec("mcl", int(off), s, ov, met))
            prog(f"mcl pad {off:+d} px seed{s}", met)
    return {"points": points}


def dimensionality(ctx: Context) -> dict[str, Any]:
    """Fig. 8: val D_W (range, angle) vs C per bin for each method; MCL with a ``proj_scale`` x projector
    (hidden and output widths) at the tree's own C."""
    st, seeds, tree = ctx.study, ctx.bench.seeds, ctx.bench
    runs: list[tuple[str, Any, dict[str, Any], str]] = []
    for m in st.dim_methods:
        for c in st.channels:
            ov = {} if c == tree.pretrain.backbone.channels else {"pretrain.backbone.channels": int(c)}
            runs.append((m, int(c), _sweep(ctx, ov), f"{m}-C{c}"))
    if "mcl" in st.dim_methods and st.proj_scale > 1:
        L = tree.pretrain.loss
        ov = {"pretrain.loss.proj_hidden": L.proj_hidden * st.proj_scale,
              "pretrain.loss.proj_dim": L.proj_dim * st.proj_scale}
        runs.append((f"mcl proj {st.proj_scale}x", int(tree.pretrain.backbone.channels), _sweep(ctx, ov),
                     f"mcl-proj{st.proj_scale}x"))
    prog = Progress("dimensionality", len(runs) * seeds, ctx.log)
    points = []
    for series, c, ov, name in runs:
        for s in range(seeds):
            pt = pretrain_point(ctx, series.split()[0], s, ov, name)
            met = _dw(selflabel_metrics(ctx, pt["val"]))
            points.append(_rec(series, c, s, ov, met))
            prog(f"{series} C={c} seed{s}", met)
    return {"points": points}


def _method_rows(ctx: Context, methods: tuple[str, ...], ov: dict[str, Any], series_of: str, name: str,
                 prog: Progress) -> list[dict[str, Any]]:
    """Full pipeline rows (pretrain -> self-labels -> localiser -> p50/p90 + val D_W) for each method and seed."""
    from ..selflabel import load_labels

    points = []
    for m in methods:
        for s in range(ctx.bench.seeds):
            pt = pretrain_point(ctx, m, s, ov, f"{name}-{m}")
            met = localise_point(ctx, pt["tree"], pt["root"], m, pt["tag"], s, load_labels(pt["train"]))
            met.update(_dw(selflabel_metrics(ctx, pt["val"])))
            series = series_of.format(m=m)
            points.append(_rec(series, series, s, ov, met))
            prog(f"{series} seed{s}", met)
    return points


def _supervised_rows(ctx: Context, prog: Progress) -> list[dict[str, Any]]:
    points = []
    for s in range(ctx.bench.seeds):
        met = localise_point(ctx, ctx.bench, ctx.out, "supervised", f"seed{s}", s, "gt")
        points.append(_rec("supervised", "supervised", s, {}, met))
        prog(f"supervised seed{s}", met)
    return points


def backbones(ctx: Context) -> dict[str, Any]:
    """Tab. 5: each pretraining method through the whole pipeline (Supervised as the reference row)."""
    st = ctx.study
    prog = Progress("backbones", (len(st.backbone_methods) + 1) * ctx.bench.seeds, ctx.log)
    return {"points": _method_rows(ctx, st.backbone_methods, {}, "{m}", "base", prog) + _supervised_rows(ctx, prog)}


def _detector(ctx: Context) -> tuple[Path, Path, dict[str, Any]]:
    """(detector run, predicted-masks store, its val metrics): ``study.detector`` or a reusable detect stage."""
    from ..detect import predict_detector, resolve_detect_config, train_detector
    from ..errors import ConfigError
    from ..utils.stage import is_done

    if ctx.study.detector:
        det = Path(ctx.study.detector)
        if not is_done(det):
            raise ConfigError(f"study.detector={det} is not a finished `radiovisual detect train` run")
    else:
        dcfg = resolve_detect_config(ctx.bench.preset or "quick", list(ctx.study.detector_sets))
        with ctx.timer.stage("detect:train"):
            det = train_detector(ctx.data, ctx.out / "detect", cfg=dcfg, seed=ctx.bench.seed, progress=ctx.progress,
                                 force=ctx.force)
    with ctx.timer.stage("detect:predict"):
        masks = predict_detector(det, ctx.data, ctx.out / "detect-masks.zarr", force=ctx.force,
                                 progress=ctx.progress)
    val = json.loads((Path(det) / "metrics.json").read_text()).get("val", {})
    keep = ("map50", "mask_iou_mean", "mask_iou_median", "box_iou_mean", "wrong_object_rate", "miss_rate",
            "false_alarm_rate", "n")
    return Path(det), Path(masks), {k: val.get(k) for k in keep}


def detector_masks(ctx: Context) -> dict[str, Any]:
    """Tab. 6 (+ Tab. 7's ^Y rows): MCL and SCL pretrained on detector masks next to the GT-mask rows."""
    st = ctx.study
    det, masks, det_val = _detector(ctx)
    ctx.log(f"[study detector-masks] detector {det}: val mAP@0.5 {det_val['map50']:.3f}, mask IoU "
            f"{det_val['mask_iou_mean']:.3f}, picks a parked car (wrong-object rate) "
            f"{det_val['wrong_object_rate']:.3f}")
    kinds = 3 if st.detector_boxes else 2
    prog = Progress("detector-masks", kinds * len(st.detector_methods) * ctx.bench.seeds, ctx.log)
    extra: dict[str, Any] = {"detector": str(det), "masks": str(masks), "detector_val": det_val}
    points = _method_rows(ctx, st.detector_methods, {}, "{m}", "base", prog)
    rows = [("pred", "{m} (detector masks)", "det")]
    if st.detector_boxes:   # the paper's ^Y rows: Yolo boxes, i.e. the target plus the background inside its box
        rows.append(("pred-bbox", "{m} (detector boxes)", "detbox"))
    for prefix, series, name in rows:
        ov = {"pretrain.loss.mask_source": f"{prefix}:{masks.resolve()}"}
        short = _too_few_detections(ctx, ov)
        if short:   # a fallback that says what it did, instead of a pretraining error halfway through the study
            ctx.log(f"[study detector-masks] {series.format(m='*')} rows skipped: {short}")
            extra.setdefault("skipped", {})[series.format(m="*")] = short
            continue
        points += _method_rows(ctx, st.detector_methods, ov, series, name, prog)
    return {"points": points, "extra": extra}


def _too_few_detections(ctx: Context, ov: dict[str, Any]) -> str:
    """Why the detector's masks cannot pretrain ``study.detector_methods`` (too few train images with a
    non-empty mask for a batch, plus the queue for ``mcl``), or "" when they can. Vision outputs only."""
    from ..dataset.format import open_dataset
    from ..pretrain.config import QUEUE_METHODS
    from ..pretrain.data import usable_indices

    tree = with_overrides(ctx.bench, ov)
    L, T = tree.pretrain.loss, tree.pretrain.train
    tr = open_dataset(ctx.data, labels=False).split("train")
    n = len(usable_indices(tr, L.mask_source, L.mask_pad_px, tuple(tr.shape("image")[1:3])))
    need = max(T.batch_size + (L.queue_size if m in QUEUE_METHODS else 0) for m in ctx.study.detector_methods)
    if n >= need:
        return ""
    return (f"the detector finds the target in {n} of {len(tr)} train images, and pretraining "
            f"{'/'.join(ctx.study.detector_methods)} needs {need} (batch {T.batch_size}"
            f"{f' + queue {L.queue_size}' if 'mcl' in ctx.study.detector_methods else ''}); train a better detector "
            f"(--set study.detector_sets=[epochs=...]) or pass one (--set study.detector=DET)")


RUNNERS = {"label-density": label_density, "mask-offset": mask_offset, "dimensionality": dimensionality,
           "backbones": backbones, "detector-masks": detector_masks}
