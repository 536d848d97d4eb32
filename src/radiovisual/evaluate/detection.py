"""Scoring of multi-object detections (issue 20): AP/AR, per-class precision-recall, localisation error.

This module reads ground truth (it is evaluation, never a method's input).

* AP / AR (overall and per class) are ``evaluate.ols.evaluate_rod``'s, unchanged: one code path.
* Precision-recall curves per class come from the same loop ``evaluate_rod`` runs (``ols.class_matches``, then
  ``ols._class_curves``) on the same filtered, per-class, score-sorted frames; they are
  the interpolated curves AP averages: ``precision[t, r]`` at the recall points 0:0.01:1 (0 past the
  curve's end), so mean(precision) = the class AP. Reported at OLS 0.5 and averaged over the thresholds.
* Localisation error of matched detections: the pairs of the greedy matching at OLS >= 0.5 (per frame and
  class, detections by score, each taking the unmatched GT of highest OLS, ties to the later GT: the rule
  of ``ols._match_frame``: both call ``ols.match_indices``, which returns the GT index). Error = x-y distance
  [m]; p50 / p90 / mean and n_matched, overall and per class (``evaluate.metrics.error_summary``).
* Seeds (``score_detections``): mean, and the sample std (ddof=1) only when there are several seeds, of AP,
  AR, per-class AP/AR and the localisation error; std keys are ``<key>_std`` (``<key less _m>_std_m`` for
  metres, as ``metrics.seeds_summary``). Unlike ``seeds_summary`` no ``_worst`` (the worst AP is the
  smallest, the worst error the largest; the per-seed values are kept under ``seeds``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .metrics import error_summary
from .ols import (CLASS_SIZES_M, CLASSES, OLS_THRESHOLDS, RECALL_THRESHOLDS, RodEvalFilter, _class_curves,
                  class_matches, evaluate_rod, match_indices, ols)

# report.plots.COLORS (evaluate may not import report, a layer above it)
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf",
          "#bcbd22", "#000000", "#aec7e8"]
MATCH_OLS = 0.5   # the OLS at which matched detections' localisation error and the "@0.5" curve are taken


# ------------------------------------------------------------------------ ground truth

def gt_objects(data: Any, split: str = "val", visible_only: bool = False) -> list[np.ndarray]:
    """Per frame [G, 3] (range [m], azimuth [rad], class id) of every road user in ``objects`` (NaN rows
    dropped); ``visible_only`` keeps the camera-visible ones (synthetic stores' ``visible`` column). A store
    without ``objects``: the primary target ``target_polar`` as one car (as ``ols.rod_metrics_for_store``)."""
    from ..dataset.format import open_dataset

    ds = data if hasattr(data, "split") and hasattr(data, "attrs") else open_dataset(data, labels=True)
    sv = ds.split(split) if ds.labels else open_dataset(ds.path, labels=True).split(split)
    if "objects" in sv:
        o = sv.read("objects").astype(np.float64)
        out = []
        for f in o:
            keep = np.isfinite(f[:, :3]).all(1)
            if visible_only and f.shape[1] > 8:
                keep &= f[:, 8] > 0.5
            out.append(f[keep, :3])
        return out
    t = sv.read("target_polar").astype(np.float64)
    return [np.array([[r, a, float(CLASSES.index("car"))]]) for r, a in t]


# ------------------------------------------------------------------------ matching

def _frames(dts: Any) -> list[np.ndarray]:
    """Packed [N, D, 4] or a list of [D_i, 4] -> list of float64 [D_i, 4] (padding rows dropped)."""
    if isinstance(dts, np.ndarray) and dts.ndim == 3:
        from ..dataset.detections import unpack

        return unpack(dts)
    return [np.asarray(d, np.float64).reshape(-1, 4) for d in dts]


def _match_pairs(g: np.ndarray, d: np.ndarray, size_m: float, t: float) -> np.ndarray:
    """[D] matched GT index per detection (-1 unmatched) at threshold ``t`` (``d`` sorted by score): the very
    matcher ``evaluate_rod`` uses (``ols.match_indices``)."""
    if len(d) == 0 or len(g) == 0:
        return -np.ones(len(d), int)
    return match_indices(ols(g[None, :, :2], d[:, None, :2], size_m), t)


def rod_curves(gts: Sequence[np.ndarray], dts: Sequence[np.ndarray], filt: RodEvalFilter | None = None,
               sizes_m: Sequence[float] = CLASS_SIZES_M, thresholds: np.ndarray = OLS_THRESHOLDS,
               rec_thr: np.ndarray = RECALL_THRESHOLDS, match_ols: float = MATCH_OLS) -> dict:
    """Per class k: ``precision`` [T, R] and ``recall`` [T] (``ols._class_curves``), ``seen``, ``n_gt``, and the
    x-y errors [m] of the detections matched at OLS >= ``match_ols``. Frames filtered, split by class and
    sorted by score exactly as ``evaluate_rod`` does."""
    from ..dataset.format import polar_to_xy

    filt = filt or RodEvalFilter()
    K, T = len(sizes_m), len(thresholds)
    errs: list[list[np.ndarray]] = [[] for _ in range(K)]

    def matched_errors(k: int, gk: np.ndarray, dk: np.ndarray) -> None:
        m = _match_pairs(gk, dk, sizes_m[k], match_ols)
        hit = m >= 0
        if hit.any():
            errs[k].append(np.linalg.norm(polar_to_xy(dk[hit, :2]) - polar_to_xy(gk[m[hit], :2]), axis=1))

    tps, scs, n_gt, _, seen = class_matches(gts, dts, filt, sizes_m, thresholds, on_frame=matched_errors)
    out = []
    for k in range(K):
        if seen[k]:
            prec, rec = _class_curves(tps[k], scs[k], int(n_gt[k]), thresholds, rec_thr)
        else:
            prec, rec = np.full((T, len(rec_thr)), np.nan), np.full(T, np.nan)
        out.append({"precision": prec, "recall": rec, "seen": bool(seen[k]), "n_gt": int(n_gt[k]),
                    "errors": np.concatenate(errs[k]) if errs[k] else np.zeros(0)})
    return {"classes": out, "thresholds": np.asarray(thresholds), "rec_thr": np.asarray(rec_thr)}


# ------------------------------------------------------------------------ metrics

def _loc(errors: np.ndarray) -> dict[str, float]:
    s = error_summary(errors)
    return {"loc_p50_m": s["p50_m"], "loc_p90_m": s["p90_m"], "loc_mean_m": s["mean_m"], "n_matched": s["n"]}


def detection_metrics(dts: Any, gts: Sequence[np.ndarray], filt: RodEvalFilter | None = None) -> dict:
    """AP/AR of ``evaluate_rod`` (its whole dict) plus localisation error and precision-recall curves.

    dts: packed [N, D, 4] or a list of per-frame [D, 4] (range, azimuth, class, score); gts: per frame
    [G, 3]. Adds ``loc_p50_m``, ``loc_p90_m``, ``loc_mean_m``, ``n_matched`` (overall and in every
    ``per_class`` entry) and ``pr``: {class: {"recall": recall points, "precision_50": at OLS 0.5,
    "precision_mean": averaged over the OLS thresholds, "max_recall_50", "max_recall_mean"}} (classes with
    no GT and no detection are absent).
    """
    frames = _frames(dts)
    gts = [np.asarray(g, np.float64).reshape(-1, 3) for g in gts]
    res = evaluate_rod(gts, frames, filt)
    cur = rod_curves(gts, frames, filt)
    i50 = int(np.argmin(np.abs(cur["thresholds"] - MATCH_OLS)))
    rthr = cur["rec_thr"]
    pr = {}
    for name, c in zip(CLASSES, cur["classes"]):
        res["per_class"][name].update(_loc(c["errors"]))
        if c["seen"]:
            pr[name] = {"recall": rthr.tolist(), "precision_50": c["precision"][i50].tolist(),
                        "precision_mean": c["precision"].mean(0).tolist(),
                        "max_recall_50": float(c["recall"][i50]), "max_recall_mean": float(c["recall"].mean())}
    res.update(_loc(np.concatenate([c["errors"] for c in cur["classes"]])))
    res["pr"] = pr
    return res


# ------------------------------------------------------------------------ seeds

def _summary(values: Sequence[float], key: str) -> dict[str, float]:
    v = np.asarray(values, np.float64)
    out = {key: float(np.mean(v)) if np.isfinite(v).any() else float("nan")}
    if len(v) > 1:
        std_key = key[:-2] + "_std_m" if key.endswith("_m") else key + "_std"
        out[std_key] = float(np.std(v, ddof=1))
    return out


def score_detections(packed_by_method: Mapping[str, Any], data: Any, split: str = "val",
                     filt: RodEvalFilter | None = None, visible_only: bool = False) -> dict[str, dict]:
    """Per method, over its seeds (a list of packed [N, D, 4] arrays; one array = one seed): mean (and std
    when several seeds) of AP, AR, per-class AP/AR, loc_p50_m / loc_p90_m / loc_mean_m; ``pr`` = the seed
    mean of the precision curves (plottable by ``plot_pr_curves``); ``seeds`` = each seed's flat numbers."""
    gts = gt_objects(data, split, visible_only=visible_only)
    out: dict[str, dict] = {}
    for method, runs in packed_by_method.items():
        runs = [runs] if isinstance(runs, np.ndarray) else list(runs)
        if not runs:
            raise ValueError(f"method '{method}' has no detections")
        ms = [detection_metrics(r, gts, filt) for r in runs]
        flat = [{"AP": m["AP"], "AR": m["AR"], "loc_p50_m": m["loc_p50_m"], "loc_p90_m": m["loc_p90_m"],
                 "loc_mean_m": m["loc_mean_m"], "n_matched": m["n_matched"], "n_dt": m["n_dt"]} for m in ms]
        row: dict[str, Any] = {"n_seeds": len(ms), "n_gt": ms[0]["n_gt"]}
        for key in ("AP", "AR", "loc_p50_m", "loc_p90_m", "loc_mean_m", "n_matched", "n_dt"):
            row.update(_summary([f[key] for f in flat], key))
        row["per_class"] = {}
        for name in CLASSES:
            pc: dict[str, Any] = {"n_gt": ms[0]["per_class"][name]["n_gt"]}
            for key in ("AP", "AR", "loc_p50_m", "loc_p90_m"):
                pc.update(_summary([m["per_class"][name][key] for m in ms], key))
            row["per_class"][name] = pc
        row["pr"] = {name: {"recall": ms[0]["pr"][name]["recall"],
                            **{k: np.mean([m["pr"][name][k] for m in ms], axis=0).tolist()
                               for k in ("precision_50", "precision_mean", "max_recall_50", "max_recall_mean")}}
                     for name in CLASSES if all(name in m["pr"] for m in ms)}
        row["seeds"] = flat
        out[method] = row
    return out


# ------------------------------------------------------------------------ figure

def plot_pr_curves(metrics_by_method: Mapping[str, Mapping[str, Any]], path: str | Path,
                   title: str = "Detection precision-recall (validation)") -> Path:
    """One panel per class, one colour per method: the interpolated precision-recall curve at OLS 0.5
    (solid) and averaged over OLS 0.5:0.05:0.9 (dashed), each drawn up to its final recall; the class AP
    (over all thresholds) and AP at 0.5 in the legend. ``metrics_by_method``: ``detection_metrics`` or
    ``score_detections`` entries."""
    from ..utils.plotting import pyplot, save_png

    plt = pyplot()
    fig, axes = plt.subplots(1, len(CLASSES), figsize=(4.2 * len(CLASSES), 4.0), sharey=True)
    for ax, name in zip(np.atleast_1d(axes), CLASSES):
        drawn = False
        for j, (method, m) in enumerate(metrics_by_method.items()):
            pr = (m.get("pr") or {}).get(name)
            if pr is None:
                continue
            c = COLORS[j % len(COLORS)]
            rec = np.asarray(pr["recall"], np.float64)
            p50, pm = np.asarray(pr["precision_50"]), np.asarray(pr["precision_mean"])
            ap = m["per_class"][name]["AP"]
            ap50 = float(p50.mean())
            for p, last, ls, lab in ((p50, pr["max_recall_50"], "-", f"{method} (AP {ap:.3f}, AP@0.5 {ap50:.3f})"),
                                     (pm, pr["max_recall_mean"], "--", None)):
                keep = rec <= float(last) + 1e-9
                ax.plot(rec[keep], p[keep], ls, color=c, lw=1.6, label=lab)
            drawn = True
        n_gt = next((m["per_class"][name].get("n_gt") for m in metrics_by_method.values()
                     if name in (m.get("per_class") or {})), None)
        ax.set_title(f"{name}" + (f" ({n_gt} GT)" if n_gt is not None else ""))
        ax.set_xlim(0, 1.0)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall")
        ax.grid(True, alpha=0.25)
        if drawn:
            # below the panel: inside, it hides the curves' high-precision start
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), framealpha=0.9)
        else:
            ax.text(0.5, 0.5, "no ground truth or detection", ha="center", va="center", transform=ax.transAxes)
    np.atleast_1d(axes)[0].set_ylabel("precision (interpolated)")
    fig.suptitle(title + "  —  solid: OLS 0.5, dashed: mean over OLS 0.5:0.9", fontsize=10)
    fig.tight_layout()
    return save_png(fig, path)
