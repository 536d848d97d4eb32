"""study.json (every point, merged across studies run into one OUT), one paper-style figure per study and the
self-contained study.html (one section per study, rebuilt from study.json each time)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.io import write_json, write_text
from ..utils.plotting import pyplot, save_png

TITLES = {
    "label-density": ("Impact of label density", "Fig. 6", "localiser p50 / p90 [m] vs % of train (self-)labels"),
    "mask-offset": ("Impact of cross-modal commonalities (mask offset)", "Fig. 7",
                    "val angle D_W [deg²] of MCL self-labels vs target-mask offset [px] (− erodes, + dilates)"),
    "dimensionality": ("Impact of dimensionality", "Fig. 8",
                       "val D_W of range [m²] and angle [deg²] self-labels vs C per bin"),
    "backbones": ("Backbone training configurations", "Tab. 5", "localiser p50 / p90 [m] per pretraining"),
    "detector-masks": ("Impact of noisy masks (detector)", "Tab. 6 / Tab. 7 ^Y",
                       "p50 / p90 [m] and val D_W with ground-truth vs detector masks"),
}
METRICS = {"p50": ("p50_m",), "p90": ("p90_m",), "D_W range": ("D_W", "range"), "D_W angle": ("D_W", "angle"),
           "train masks non-empty": ("train_masks_nonempty",)}


def _get(m: dict[str, Any], path: tuple[str, ...]) -> float | None:
    for k in path:
        if not isinstance(m, dict) or k not in m:
            return None
        m = m[k]
    return None if m is None else float(m)


def summarise(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Seeds of one (series, x) -> mean and sample std (ddof 1, only with several seeds) of every metric."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in points:
        groups.setdefault((p["series"], json.dumps(p["x"])), []).append(p)
    rows = []
    for (series, xs), ps in groups.items():
        row: dict[str, Any] = {"series": series, "x": json.loads(xs), "n_seeds": len(ps)}
        for name, path in METRICS.items():
            v = [x for x in (_get(p["metrics"], path) for p in ps) if x is not None]
            if v:
                row[name] = float(np.mean(v))
                if len(v) > 1:
                    row[name + " std"] = float(np.std(v, ddof=1))
        rows.append(row)
    return rows


def _series(rows: list[dict[str, Any]], key: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out: dict[str, list[tuple[float, float, float]]] = {}
    for r in rows:
        if key in r:
            out.setdefault(r["series"], []).append((float(r["x"]), r[key], r.get(key + " std", 0.0)))
    return {s: tuple(np.array(c) for c in zip(*sorted(v))) for s, v in out.items()}  # type: ignore[misc]


def _lines(ax: Any, rows: list[dict[str, Any]], key: str, ylabel: str) -> None:
    for s, (x, y, e) in _series(rows, key).items():
        ax.errorbar(x, y, yerr=e if np.any(e) else None, marker="o", capsize=3, label=s)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _bars(ax: Any, rows: list[dict[str, Any]], keys: tuple[str, ...], ylabel: str) -> None:
    names = [r["series"] for r in rows]
    w = 0.8 / len(keys)
    for i, k in enumerate(keys):
        y = [r.get(k, np.nan) for r in rows]
        e = [r.get(k + " std", 0.0) for r in rows]
        ax.bar(np.arange(len(rows)) + (i - (len(keys) - 1) / 2) * w, y, w, yerr=e if any(e) else None, capsize=3,
               label=k)
    ax.set_xticks(np.arange(len(rows)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis="y")
    ax.margins(y=0.2)   # head room: the one-row legend sits above the tallest bar, not on it
    ax.legend(fontsize=8, ncol=len(keys), loc="upper left")


def _log_if_wide(ax: Any, rows: list[dict[str, Any]], *keys: str) -> None:
    """Log y only where the values span orders of magnitude (> 20x): a 10 % spread stays readable."""
    vals = [v for k in keys for v in (r.get(k) for r in rows) if isinstance(v, (int, float)) and np.isfinite(v)
            and v > 0]
    if vals and max(vals) > 20 * min(vals):
        ax.set_yscale("log")


def _plain_ticks(ax: Any) -> None:
    """Log axes labelled 0.3, 1, 3 rather than 3x10^-1 (the paper's figures read in plain metres / %)."""
    from matplotlib.ticker import FuncFormatter

    fmt = FuncFormatter(lambda v, _p: f"{v:g}")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(fmt)
        axis.set_minor_formatter(FuncFormatter(lambda v, _p: f"{v:g}" if f"{v:.1e}"[0] in "25" else ""))


def figure(name: str, rows: list[dict[str, Any]], path: Path) -> Path:
    """The study's figure in the style of the paper's (error bars = std over seeds when --seeds > 1)."""
    plt = pyplot()
    if name == "label-density":
        fig, axs = plt.subplots(1, 2, figsize=(9, 3.4))
        for ax, k in zip(axs, ("p50", "p90")):
            _lines(ax, rows, k, f"{k} error [m]")
            ax.set_xscale("log")
            ax.set_yscale("log")
            _plain_ticks(ax)
            ax.set_xlabel("% of train labels")
    elif name == "mask-offset":
        fig, axs = plt.subplots(1, 2, figsize=(9, 3.4))
        for ax, k, unit in zip(axs, ("D_W angle", "D_W range"), ("deg²", "m²")):
            _lines(ax, rows, k, f"val {k} [{unit}]")
            _log_if_wide(ax, rows, k)
            ax.set_xlabel("target mask offset [px] (− erode, + dilate)")
    elif name == "dimensionality":
        fig, axs = plt.subplots(1, 2, figsize=(9, 3.4))
        for ax, k, unit in zip(axs, ("D_W range", "D_W angle"), ("m²", "deg²")):
            _lines(ax, rows, k, f"val {k} [{unit}]")
            ax.set_xscale("log", base=2)
            _log_if_wide(ax, rows, k)
            _plain_ticks(ax)
            ax.set_xlabel("C (features per spatial bin)")
    else:
        fig, axs = plt.subplots(1, 2, figsize=(9, 3.4))
        _bars(axs[0], rows, ("p50", "p90"), "localisation error [m]")
        _log_if_wide(axs[0], rows, "p50", "p90")   # a failed method (CL: ~7 m) would flatten the rest
        dw = [r for r in rows if "D_W angle" in r]
        if dw:
            _bars(axs[1], dw, ("D_W angle",), "val angle D_W [deg²]")
            _log_if_wide(axs[1], dw, "D_W angle")
        else:
            axs[1].axis("off")
    fig.suptitle(f"{TITLES[name][0]} ({TITLES[name][1]}-style)", fontsize=10)
    return save_png(fig, path)


def update_study_json(out: Path, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Merge this study's entry into OUT/study.json (other studies' entries are kept); atomic write."""
    p = out / "study.json"
    doc: dict[str, Any] = {"studies": {}}
    if p.is_file():
        try:
            doc = json.loads(p.read_text())
        except ValueError:
            doc = {"studies": {}}
    doc.setdefault("studies", {})[name] = entry
    write_json(p, doc)
    return doc


def _fmt(r: dict[str, Any], k: str) -> str:
    if k not in r:
        return "–"
    s = f"{r[k]:.3g}" if abs(r[k]) < 100 else f"{r[k]:.0f}"
    return s + (f" ± {r[k + ' std']:.2g}" if k + " std" in r else "")


def write_html(out: Path, doc: dict[str, Any]) -> Path:
    """OUT/study.html: one section per study in study.json, its figure inlined (base64): self-contained."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>radiovisual studies</title><style>",
             "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f5f8}"
             "img{max-width:100%}.small{color:#5a6475;font-size:.9em}</style></head><body>",
             "<h1>radiovisual ablation studies (paper §6.2)</h1>",
             "<p class='small'>Errors and D_W on the validation split (reporting only). Values are means over seeds, "
             "± sample std where a study ran with --seeds &gt; 1.</p>"]
    order = [n for n in TITLES if n in doc.get("studies", {})]
    for name in order:
        e = doc["studies"][name]
        title, ref, what = TITLES[name]
        parts.append(f"<h2 id='{name}'>{html.escape(title)} ({html.escape(ref)}): <code>{name}</code></h2>")
        parts.append(f"<p>{html.escape(what)}. Preset <code>{html.escape(str(e.get('preset')))}</code>, "
                     f"{e.get('seeds')} seed(s), wall {e.get('wall_s', 0):.0f} s, finished "
                     f"{html.escape(str(e.get('finished_utc')))}.</p>")
        keys = [k for k in METRICS if any(k in r for r in e["summary"])]
        head = "".join(f"<th>{html.escape(h)}</th>" for h in ["series", "x"] + keys)
        body = "".join("<tr><td style='text-align:left'>" + html.escape(str(r["series"])) + "</td><td>"
                       + html.escape(str(r["x"])) + "</td>" + "".join(f"<td>{_fmt(r, k)}</td>" for k in keys)
                       + "</tr>" for r in e["summary"])
        parts.append(f"<table><tr>{head}</tr>{body}</table>")
        fig = out / e["figure"]
        if fig.is_file():
            b64 = base64.b64encode(fig.read_bytes()).decode()
            parts.append(f"<figure><img alt='{name}' src='data:image/png;base64,{b64}'></figure>")
        for note in e.get("notes", []):
            parts.append(f"<p class='small'>{html.escape(note)}</p>")
    parts.append("</body></html>")
    path = out / "study.html"
    write_text(path, "\n".join(parts))
    return path
