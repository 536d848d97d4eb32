"""Assemble the benchmark report from stage outputs (figures via ``radiovisual.report``).

``build_report`` is called by the benchmark at its end; ``rebuild_report(OUT)`` (``radiovisual report OUT``)
makes the same report again from a finished benchmark directory alone (``metrics.json``, ``val_errors.npz``,
the kept runs and self-label stores).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..report.provenance import provenance, provenance_rows
from ..report.summary import name as _name
from .config import BenchmarkConfig

PER_BIN_NOTE = ("This is the per-bin model's trained similarity, not the paper's Eq. 2 correlation. MCL's azimuth and "
                "range come from a camera-radar self-calibration; this attention only gives the range window of its "
                "first search (docs/selflabel-localise.md).")
PAPER_NOTE = "The paper's read-out: the Eq. 2 correlation of raw radio and vision features; its peak is the label."


def build_report(out: Path, result: dict[str, Any], errors: dict[str, np.ndarray],
                 preds: dict[str, list[np.ndarray]], selflabel_paths: dict[str, dict[str, Path]],
                 data: Path, cfg: BenchmarkConfig) -> tuple[Path, Path]:
    from ..report import plots, render

    # stamped once into the result dict, which the benchmark writes to metrics.json after this returns
    result.setdefault("provenance", provenance(result))
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for old in list(fig_dir.glob("attention_*.png")) + list(fig_dir.glob("examples_*.png")):
        old.unlink()       # the PNGs of older reports: the figures are JPEG now
    figures: dict[str, Path] = {}
    figures["Localisation error CDF (validation; circle p50, square p90)"] = plots.error_cdf(
        {_name(k): v for k, v in errors.items()}, fig_dir / "error_cdf.png")
    with_labels = [mm for mm in cfg.methods if mm in selflabel_paths]
    if with_labels:
        figures.update(_example_figure(with_labels[0], cfg, preds, selflabel_paths, data, fig_dir))
        figures.update(_attention_figures(with_labels, selflabel_paths, data, fig_dir))
    notes = _representation_notes(out, result, figures)
    notes += [
        f"Dataset: {_sizes(result)} ({_scenario(result, cfg)}, preset '{cfg.preset or 'custom'}').",
        "Supervised trains the localiser on ground truth (upper bound). CFAR (genie) assigns the cluster closest "
        "to ground truth (genie-aided by definition). All other rows never read radar ground truth.",
        "Peak is the strongest return of each validation heatmap (no learning): the floor a label-free method "
        "must clear. MCL+track smooths MCL's self-labels along each sequence (Viterbi, max-speed motion model). "
        "MCL (paper) is the literal Eq. 1 model with the Eq. 2 conv2d read-out.",
        "Single-run figures vary across processors: torch's CPU kernels differ between machines, so the same "
        "command gives slightly different localisers elsewhere; compare rows within one report.",
    ]
    extras = render.Extras(errors=errors, tables=_scenario_tables(result), timings=result.get("timings_s", {}),
                           provenance=provenance_rows(result),
                           subtitle=f"{_scenario(result, cfg)}, preset '{cfg.preset or 'custom'}', {_sizes(result)}; "
                                    f"errors on the validation split.")
    return render.write_report(out, result["metrics"], figures, notes, extras=extras)


def _scenario(result: dict, cfg: Any) -> str:
    """The scenario of the store the run used (``report.provenance.run_scenario``; default: the config's)."""
    from ..report.provenance import run_scenario

    return run_scenario(result, str(cfg.scenario))


def _sizes(result: dict[str, Any]) -> str:
    sizes = result.get("dataset", {}).get("sizes", {})
    return "/".join(str(sizes[s]) for s in ("train", "val", "test") if s in sizes) + " train/val/test samples"


def _example_figure(m: str, cfg: BenchmarkConfig, preds: dict[str, list[np.ndarray]],
                    selflabel_paths: dict[str, dict[str, Path]], data: Path, fig_dir: Path) -> dict[str, Path]:
    from ..dataset.format import open_dataset
    from ..report import plots
    from ..selflabel import load_labels

    ds = open_dataset(data, labels=True)  # reporting only
    val = ds.split("val")
    n_ex = min(cfg.export_examples, len(val))
    if not n_ex or "val" not in selflabel_paths[m]:
        return {}
    idx = np.linspace(0, len(val) - 1, n_ex).round().astype(int)
    sl_val = load_labels(selflabel_paths[m]["val"])[idx]
    path = plots.example_pairs(images=val.read("image", idx), masks=val.read("mask", idx),
                               radars=val.read("radar", idx), range_bins=ds.range_bins_m,
                               az_bins=ds.azimuth_bins_rad, gt=val.read("target_polar")[idx], selflabel=sl_val,
                               pred=preds[m][0][idx], path=fig_dir / f"examples_{m}.jpg", indices=idx)
    cap = (f"Example validation pairs ({_name(m)}): ground truth x, {_name(m)}'s self-label (ring) and its "
           "localiser's prediction (square); titles give the sample's validation index and both errors")
    return {cap: path}


def _attention_key(store: Path) -> str:
    from ..selflabel import open_labels

    g = open_labels(store)
    h = hashlib.sha256()
    for a in ("attention", "attention_index"):
        h.update(np.ascontiguousarray(g[a][...]).tobytes())
    return h.hexdigest()


def _attention_figures(rows: list[str], selflabel_paths: dict[str, dict[str, Path]], data: Path,
                       fig_dir: Path) -> dict[str, Path]:
    """One small grid per distinct read-out: rows with identical attention maps share one."""
    from ..report import plots
    from ..selflabel import open_labels

    groups: dict[str, list[str]] = {}
    for m in rows:
        if "val" in selflabel_paths[m]:
            groups.setdefault(_attention_key(selflabel_paths[m]["val"]), []).append(m)
    out: dict[str, Path] = {}
    for members in groups.values():
        first = members[0]
        readout = dict(open_labels(selflabel_paths[first]["val"]).attrs).get("readout", "attention")
        who = ", ".join(_name(k) for k in members)
        path = plots.attention_grid(selflabel_paths[first]["val"], data, fig_dir / f"attention_{first}.jpg",
                                    title=f"{who}: {readout}")
        note = PAPER_NOTE if "eq. 2" in readout.lower() else PER_BIN_NOTE
        shared = (" They share one grid: their attention maps are identical (one pretraining)."
                  if len(members) > 1 else "")
        out[f"Cross-modal attention of {who} (read-out: {readout}; validation; ring: {_name(first)}'s self-label). "
            f"{note}{shared}"] = path
    return out


def _scenario_tables(result: dict[str, Any]) -> list[Any]:
    from ..report.render import scenario_table

    tables = [scenario_table(f"Scenario {scn} (validation samples of this scenario)", block)
              for scn, block in result.get("by_scenario", {}).items()]
    other = result.get("eval_data")
    if other:
        tables.append(scenario_table(
            f"Held-out store: {other.get('scenario')} ({other.get('path')}, val)", other.get("metrics", {}),
            "Every localiser of this run scored on another store's validation split (e.g. a scenario none of the "
            "training saw); ratios are to Supervised on that store."))
    return tables


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


def rebuild_report(out: str | Path) -> tuple[Path, Path]:
    """The report of a finished benchmark directory, rebuilt from what it holds (no stage runs again)."""
    from ..config import from_dict
    from ..errors import RadiovisualError
    from ..localise import predict
    from ..utils.runs import choose_seed_runs

    out = Path(out)
    if not (out / "metrics.json").is_file():
        raise RadiovisualError(f"{out} is not a finished benchmark directory (no metrics.json)")
    result = json.loads((out / "metrics.json").read_text())
    cfg = from_dict(BenchmarkConfig, result.get("config", {}))
    data = Path(result["dataset"]["path"])
    with np.load(out / "val_errors.npz") as z:
        errors = {k: z[k.replace("-", "_")] for k in result["metrics"] if k.replace("-", "_") in z.files}
    selflabel_paths: dict[str, dict[str, Path]] = {}
    preds: dict[str, list[np.ndarray]] = {}
    for m, row in result["metrics"].items():
        tag = next((r["run"] for r in row.get("kept_runs", []) if r.get("seed") == 0), None)
        if tag is None:
            continue
        paths = {s: out / "selflabels" / f"{m}-{tag}-{s}.zarr" for s in ("train", "val")}
        selflabel_paths[m] = {s: p for s, p in paths.items() if p.is_dir()}
        run = choose_seed_runs(out / "localise" / m).get(0)
        if run is not None:
            from ..dataset.format import open_dataset

            preds[m] = [predict(run, open_dataset(data, labels=False).split("val").read("radar"))]
    with_preds = {m: p for m, p in selflabel_paths.items() if m in preds}
    return build_report(out, result, errors, preds, with_preds, data, cfg)
