"""Assemble the benchmark report from stage outputs (figures via ``radiovisual.report``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .config import BenchmarkConfig


def build_report(out: Path, result: dict[str, Any], errors: dict[str, np.ndarray],
                 preds: dict[str, list[np.ndarray]], selflabel_paths: dict[str, dict[str, Path]],
                 data: Path, cfg: BenchmarkConfig) -> tuple[Path, Path]:
    from ..dataset.format import open_dataset
    from ..report import plots, render
    from .run import DISPLAY

    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Path] = {}
    figures["Localisation error CDF (validation)"] = plots.error_cdf(
        {DISPLAY.get(k, k): v for k, v in errors.items()}, fig_dir / "error_cdf.png")

    ds = open_dataset(data, labels=True)  # reporting only
    val = ds.split("val")
    n_ex = min(cfg.export_examples, len(val))
    idx = np.linspace(0, len(val) - 1, n_ex).round().astype(int) if n_ex else np.zeros(0, int)
    gt = val.read("target_polar")[idx]
    with_labels = [mm for mm in cfg.methods if mm in selflabel_paths]
    if with_labels:
        m = with_labels[0]
        from ..selflabel import load_labels

        sl_val = load_labels(selflabel_paths[m]["val"])[idx]
        figures[f"Example validation pairs ({DISPLAY.get(m, m)})"] = plots.example_pairs(
            images=val.read("image", idx), masks=val.read("mask", idx), radars=val.read("radar", idx),
            range_bins=ds.range_bins_m, az_bins=ds.azimuth_bins_rad, gt=gt, selflabel=sl_val,
            pred=preds[m][0][idx], path=fig_dir / f"examples_{m}.png")
        for mm in with_labels:
            figures[f"Cross-modal attention maps ({DISPLAY.get(mm, mm)}, validation)"] = plots.attention_grid(
                selflabel_paths[mm]["val"], data, fig_dir / f"attention_{mm}.png")
    notes = _representation_notes(out, result, figures)
    for name, m in result["metrics"].items():
        bad = [r for r in m.get("kept_runs", []) if not r.get("healthy", True)]
        if bad:
            notes.append(f"WARNING: {DISPLAY.get(name, name)}: the label-free health check failed for seed(s) "
                         + ", ".join(f"{r['seed']} ({r['run']})" for r in bad)
                         + " with no retries left; its self-labels likely sit on the wrong objects.")
    blocks = dict(result.get("by_scenario", {}))
    if result.get("eval_data"):
        blocks[f"{result['eval_data']['scenario']} (held out: {result['eval_data']['path']})"] = \
            result["eval_data"]["metrics"]
    for scn, block in blocks.items():
        sup = block.get("supervised", {}).get("p50_m")
        notes.append(f"Scenario {scn} (val, p50 / p90 [m], p50 ratio to Supervised): " + "; ".join(
            f"{DISPLAY.get(k, k)} {v['p50_m']:.3f} / {v['p90_m']:.3f}"
            + (f" ({v['p50_m'] / sup:.2f}x)" if sup and k != "supervised" else "") for k, v in block.items()) + ".")
    notes += [
        f"Machine: {result['machine']['platform']}, {result['machine']['cpu_count']} CPU cores, "
        f"device {result['machine']['device']}, torch {result['machine']['torch']}.",
        "Stage wall-clock times [s]: " + ", ".join(f"{k} {v:.1f}" for k, v in result["timings_s"].items()) + ".",
        f"Dataset: {result['dataset']['sizes']} samples ({cfg.scenario}, preset '{cfg.preset or 'custom'}').",
        "Supervised trains the localiser on ground truth (upper bound). CFAR (genie) assigns the cluster closest "
        "to ground truth (genie-aided by definition). All other rows never read radar ground truth.",
        "Peak is the strongest return of each validation heatmap (no learning): the floor a label-free method "
        "must clear. MCL+track smooths MCL's self-labels along each sequence (Viterbi, max-speed motion model). "
        "MCL (paper) is the literal Eq. 1 model with the Eq. 2 conv2d read-out.",
    ]
    return render.write_report(out, result["metrics"], figures, notes)


def _representation_notes(out: Path, result: dict[str, Any], figures: dict[str, Path]) -> list[str]:
    """``--eval``: linear-probe and retrieval figures + one line per pretraining (supervised evaluations)."""
    notes: list[str] = []
    for base, res in result.get("representation", {}).items():
        for png in sorted((out / "represent" / base).glob("*.png")):
            figures[f"{png.stem.capitalize()} ({base}, supervised evaluation)"] = png
        r = res.get("retrieval", {}).get("exact", {})
        if r:
            r2i, i2r = r["radar_to_image"], r["image_to_radar"]
            notes.append(f"Retrieval ({base}, val): Recall@1 radar->image {r2i['recall']['1']:.3f} "
                         f"({r2i['ratio_to_chance']['1']:.1f}x chance), image->radar {i2r['recall']['1']:.3f} "
                         f"({i2r['ratio_to_chance']['1']:.1f}x chance).")
    return notes
