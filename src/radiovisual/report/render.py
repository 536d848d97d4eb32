"""Render the benchmark report: ``report.md`` plus a self-contained ``report.html`` (figures inlined).

``metrics`` maps a method key to an entry with ``p50_m``/``p90_m`` (floats, or {"mean","std"}
dicts), optional ``p50_std_m``/``p90_std_m``, ``label_free``, ``genie``, ``n_seeds`` and
optional ``selflabel`` = {split: selflabel_deviation(...)}.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

DISPLAY = {"supervised": "Supervised", "pseudo": "Pseudo-supervised", "mcl": "MCL", "mcl+track": "MCL+track",
           "mcl-attention": "MCL (attention only)", "mcl-paper": "MCL (paper)",
           "peak": "Peak", "scl": "SCL", "scl-paper": "SCL (paper)", "cl": "CL", "clip": "CLIP",
           "cfar-genie": "CFAR (genie)", "cfar": "CFAR", "rodnet": "RODNet-style"}


def _name(k: str) -> str:
    return DISPLAY.get(k, k)


def _val(m: dict[str, Any], key: str) -> tuple[float | None, float | None]:
    v = m.get(key)
    if isinstance(v, dict):
        return v.get("mean"), v.get("std")
    std = m.get(key.replace("_m", "_std_m"))
    return v, std


def _fmt(v: float | None, std: float | None = None, nd: int = 3) -> str:
    if v is None or v != v:
        return "–"
    s = f"{v:.{nd}f}"
    return s + (f" ± {std:.{nd}f}" if std is not None else "")


def _flag(m: dict[str, Any], key: str, default: bool) -> str:
    return "yes" if bool(m.get(key, default)) else "no"


def _tables(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]], list[str], list[list[str]]]:
    head = ["Method", "Label-free", "Genie-aided", "50th %ile [m]", "90th %ile [m]", "Seeds"]
    rows = []
    for k, m in metrics.items():
        p50, s50 = _val(m, "p50_m")
        p90, s90 = _val(m, "p90_m")
        rows.append([_name(k), _flag(m, "label_free", False), _flag(m, "genie", False), _fmt(p50, s50),
                     _fmt(p90, s90), str(m.get("n_seeds", 1))])
    head7 = ["Method", "Split", "Range D_W [m²]↓", "Range D_KL↓", "Range MI↑", "Angle D_W [deg²]↓",
             "Angle D_KL↓", "Angle MI↑"]
    rows7 = []
    for k, m in metrics.items():
        for split, dev in (m.get("selflabel") or {}).items():
            r, a = dev.get("range", {}), dev.get("angle", {})
            rows7.append([_name(k), split, _fmt(r.get("D_W")), _fmt(r.get("D_KL")), _fmt(r.get("MI")),
                          _fmt(a.get("D_W"), nd=2), _fmt(a.get("D_KL")), _fmt(a.get("MI"))])
    return head, rows, head7, rows7


NOTE_GT = ("Supervised is trained on ground-truth coordinates (an upper bound, not label-free). Rows marked "
           "genie-aided use ground truth at inference (e.g. CFAR picks the cluster nearest to the truth). "
           "All other rows never read radar ground truth; it is used only to score them on the validation split.")
NOTE_METRICS = ("Errors are Euclidean distances in metres after polar→Cartesian conversion, on the validation "
                "split; ± is the sample standard deviation over seeds. Self-label deviation (Tab. 7 style): D_W is "
                "the 1-D optimal-transport cost with quadratic cost (W₂², not square-rooted), range in metres and "
                "angle in degrees; D_KL(p_gt‖p_est) and MI in nats from 32 equal-width histogram bins over the pooled "
                "range of both samples (D_KL with a 0.5 pseudo-count per bin; MI plug-in).")


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1060px;margin:28px auto;
padding:0 18px;color:#1d2430;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{font-size:1.25em;border-bottom:2px solid #e3e7ee;padding-bottom:4px;
margin-top:1.6em}
table{border-collapse:collapse;margin:10px 0 6px;font-size:.95em}
th,td{padding:6px 12px;border-bottom:1px solid #e3e7ee;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f5f9}
tbody tr:hover{background:#fafbfd}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:8px 12px;margin:10px 0;font-size:.92em}
.small{color:#5a6475;font-size:.9em}figure{margin:14px 0}figcaption{font-size:.9em;color:#5a6475;margin-top:4px}
img{max-width:100%;border:1px solid #e3e7ee}ul{padding-left:1.2em}
"""


def write_report(out_dir: str | Path, metrics: dict[str, Any], figures: dict[str, Path],
                 notes: list[str], title: str = "radiovisual benchmark report") -> tuple[Path, Path]:
    """Write ``report.md`` and a self-contained ``report.html`` into ``out_dir``; returns both paths."""
    from ..utils.io import write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    head, rows, head7, rows7 = _tables(metrics)

    md = [f"# {title}", "", "## Localisation performance (Tab. 4 style)", "", _md_table(head, rows), "",
          f"> {NOTE_GT}", "", NOTE_METRICS, ""]
    if rows7:
        md += ["## Self-label deviation from ground truth (Tab. 7 style)", "", _md_table(head7, rows7), ""]
    if figures:
        md += ["## Figures", ""]
        for cap, p in figures.items():
            p = Path(p)
            try:
                rel = p.resolve().relative_to(out.resolve())
            except ValueError:
                rel = p
            md += [f"**{cap}**", "", f"![{cap}]({rel.as_posix()})", ""]
    if notes:
        md += ["## Machine, timings and notes", ""] + [f"- {n}" for n in notes] + [""]
    md_path = out / "report.md"
    write_text(md_path, "\n".join(md))

    parts = [f"<h1>{html.escape(title)}</h1>", "<h2>Localisation performance (Tab. 4 style)</h2>",
             _html_table(head, rows), f'<div class="note">{html.escape(NOTE_GT)}</div>',
             f'<p class="small">{html.escape(NOTE_METRICS)}</p>']
    if rows7:
        parts += ["<h2>Self-label deviation from ground truth (Tab. 7 style)</h2>", _html_table(head7, rows7)]
    if figures:
        parts.append("<h2>Figures</h2>")
        for cap, p in figures.items():
            p = Path(p)
            if not p.is_file():
                parts.append(f'<p class="small">(figure missing: {html.escape(str(p))})</p>')
                continue
            b64 = base64.b64encode(p.read_bytes()).decode()
            parts.append(f'<figure><img alt="{html.escape(cap)}" src="data:image/png;base64,{b64}">'
                         f"<figcaption>{html.escape(cap)}</figcaption></figure>")
    if notes:
        parts += ["<h2>Machine, timings and notes</h2>", "<ul>" + "".join(f"<li>{html.escape(n)}</li>"
                                                                          for n in notes) + "</ul>"]
    doc = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html.escape(title) +
           f"</title><style>{CSS}</style></head><body>" + "\n".join(parts) + "</body></html>\n")
    html_path = out / "report.html"
    write_text(html_path, doc)
    return md_path, html_path
