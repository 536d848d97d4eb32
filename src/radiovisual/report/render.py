"""Render the benchmark report: ``report.md`` plus a self-contained ``report.html`` (figures inlined).

``metrics`` maps a method key to an entry with ``p50_m``/``p90_m`` (floats, or {"mean","std"}
dicts), optional ``p50_std_m``/``p90_std_m``, ``label_free``, ``genie``, ``n_seeds``, optional
``selflabel`` = {split: selflabel_deviation(...)} and ``kept_runs`` (the health flag). The first screen
answers "who wins" (``summary.verdict``); then the table with ratios to Supervised, the per-scenario and
held-out tables, the box of what the numbers rest on, Tab. 7, the figures and the notes.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import summary as S
from .summary import DISPLAY  # noqa: F401  (the display names; importers read them from here)

MAX_INLINE_BYTES = 250_000     # a larger figure is re-encoded as JPEG (and downscaled) when inlined
MAX_INLINE_WIDTH = 1400


@dataclass
class Table:
    title: str
    head: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Extras:
    """What the benchmark adds around the main table (all optional)."""

    errors: Mapping[str, np.ndarray] | None = None        # seed-0 val errors per row (the one-seed tie spread)
    tables: list[Table] = field(default_factory=list)       # per scenario, held-out store
    provenance: list[tuple[str, str]] = field(default_factory=list)
    timings: Mapping[str, float] = field(default_factory=dict)
    subtitle: str = ""


def main_table(metrics: Mapping[str, Any], v: S.Verdict) -> Table:
    head = ["Method", "Label-free", "Genie-aided", "p50 [m]", "p90 [m]", "p50 / Sup.", "p90 / Sup.", "Seeds",
            "Rank (p50)"]
    sup = metrics.get("supervised", {})
    s50, s90 = S.stat(sup, "p50_m")[0], S.stat(sup, "p90_m")[0]
    rows = []
    for k, m in S.ordered(metrics).items():
        p50, sd50 = S.stat(m, "p50_m")
        p90, sd90 = S.stat(m, "p90_m")
        flag = " ⚠ health" if k in v.unhealthy else ""
        rows.append([S.name(k) + flag, "yes" if S.is_label_free(k, m) else "no", "yes" if m.get("genie") else "no",
                     S.fmt(p50, sd50), S.fmt(p90, sd90), S.ratio(p50, s50), S.ratio(p90, s90),
                     str(m.get("n_seeds", 1)), v.rank.get(k, "ref" if not S.is_label_free(k, m) else "–")])
    cap = ("p50 / p90: median and 90th percentile of the location error on the validation split; ± is the "
           "standard deviation over seeds. Ratios are to the Supervised row (means). Rank: label-free rows by p50, "
           "'=' marks a tie (" + v.spread["text"] + "); 'ref': reads labels, not ranked.")
    return Table("Localisation performance (Tab. 4 style)", head, rows, cap)


def scenario_table(title: str, block: Mapping[str, Any], caption: str = "") -> Table:
    sup = block.get("supervised", {})
    s50, s90 = S.stat(sup, "p50_m")[0], S.stat(sup, "p90_m")[0]
    rows = [[S.name(k), S.fmt(*S.stat(m, "p50_m")), S.fmt(*S.stat(m, "p90_m")), S.ratio(S.stat(m, "p50_m")[0], s50),
             S.ratio(S.stat(m, "p90_m")[0], s90)] for k, m in S.ordered(block).items()]
    return Table(title, ["Method", "p50 [m]", "p90 [m]", "p50 / Sup.", "p90 / Sup."], rows, caption)


def tab7(metrics: Mapping[str, Any]) -> Table:
    head = ["Method", "Split", "Range D_W [m²]↓", "Range D_KL↓", "Range MI↑", "Angle D_W [deg²]↓", "Angle D_KL↓",
            "Angle MI↑"]
    rows = []
    for k, m in S.ordered(metrics).items():
        for split, dev in (m.get("selflabel") or {}).items():
            r, a = dev.get("range", {}), dev.get("angle", {})
            rows.append([S.name(k), split, S.fmt(r.get("D_W")), S.fmt(r.get("D_KL")), S.fmt(r.get("MI")),
                         S.fmt(a.get("D_W"), nd=2), S.fmt(a.get("D_KL")), S.fmt(a.get("MI"))])
    return Table("Self-label deviation from ground truth (Tab. 7 style)", head, rows)


def timings_table(timings: Mapping[str, float]) -> Table:
    total = float(timings.get("total", 0.0)) or sum(v for k, v in timings.items() if k != "total")
    rows = [[k, f"{v:.1f}", f"{100 * v / total:.0f} %" if total else "–"]
            for k, v in sorted(timings.items(), key=lambda kv: -kv[1]) if k != "total"]
    if "total" in timings:
        rows.append(["total (whole run)", f"{float(timings['total']):.1f}", "100 %"])
    return Table("Wall time per stage", ["Stage", "Wall [s]", "Share"], rows)


def health_warnings(metrics: Mapping[str, Any], v: S.Verdict) -> list[str]:
    """One line per row whose kept runs failed the label-free health check (``kept_runs[].healthy``)."""
    out = []
    for k, bad in v.unhealthy.items():
        why = S.failed_checks(metrics[k])
        out.append(f"{S.name(k)}: kept run{'s' if len(bad) > 1 else ''} "
                   + ", ".join(f"{r.get('run')} (seed {r.get('seed')})" for r in bad) + " failed with no retries left"
                   + (f"; seed 0 train signals: {why}" if why else "") + ".")
    return out


def fallback_notes(metrics: Mapping[str, Any]) -> list[str]:
    """One line per row whose kept self-labels came from the moving-return fallback (``kept_runs[].range_source``
    "doppler", ``selflabel.config.range_source``): they do not use the pretrained attention."""
    out = []
    for k, m in metrics.items():
        fb = [r for r in m.get("kept_runs", []) if r.get("range_source") == "doppler"]
        if fb:
            out.append(f"{S.name(k)}: the self-labels of seed{'s' if len(fb) > 1 else ''} "
                       + ", ".join(str(r.get("seed")) for r in fb) + " come from the moving-return fallback: the "
                       "attention's range failed the label-free health check, so these labels rest on the "
                       "range-Doppler map, the masks and the camera-radar self-calibration, not on the pretrained "
                       "attention (docs/selflabel-localise.md).")
    return out


HEALTH = ("The label-free health check failed (camera and radar disagree on where the labelled objects are), "
          "so these rows' self-labels likely sit on the wrong objects; read their numbers with care:")


NOTE_GT = ("Supervised is trained on ground-truth coordinates (an upper bound, not label-free). Rows marked "
           "genie-aided use ground truth at inference (e.g. CFAR picks the cluster nearest to the truth). "
           "All other rows never read radar ground truth; it is used only to score them on the validation split.")
NOTE_METRICS = ("Errors are Euclidean distances in metres after polar→Cartesian conversion, on the validation "
                "split; ± is the sample standard deviation over seeds. Self-label deviation (Tab. 7 style): D_W is "
                "the 1-D optimal-transport cost with quadratic cost (W₂², not square-rooted), range in metres and "
                "angle in degrees; D_KL(p_gt‖p_est) and MI in nats from 32 equal-width histogram bins over the pooled "
                "range of both samples (D_KL with a 0.5 pseudo-count per bin; MI plug-in).")


def _md_table(t: Table) -> list[str]:
    out = ["| " + " | ".join(t.head) + " |", "|" + "---|" * len(t.head)]
    out += ["| " + " | ".join(r) + " |" for r in t.rows]
    return out + ([f"", f"*{t.caption}*"] if t.caption else [])


def _html_table(t: Table, heading: str = "h2") -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in t.head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in t.rows)
    cap = f'<p class="small">{html.escape(t.caption)}</p>' if t.caption else ""
    return (f"<{heading}>{html.escape(t.title)}</{heading}><table><thead><tr>{h}</tr></thead><tbody>{body}</tbody>"
            f"</table>{cap}")


CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1060px;margin:24px auto;
padding:0 18px;color:#1d2430;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.1em}h2{font-size:1.2em;border-bottom:2px solid #e3e7ee;padding-bottom:4px;
margin-top:1.5em}h3{font-size:1.02em;margin:.8em 0 .2em}
table{border-collapse:collapse;margin:8px 0 4px;font-size:.93em}
th,td{padding:5px 10px;border-bottom:1px solid #e3e7ee;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f5f9}
.verdict{background:#e8f4ea;border-left:5px solid #2e8b57;padding:10px 14px;margin:12px 0;font-size:1.02em}
.warn{background:#fdecea;border-left:5px solid #c62828;padding:8px 12px;margin:10px 0;font-size:.95em}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:8px 12px;margin:10px 0;font-size:.92em}
.box td:first-child{white-space:nowrap}.warn ul{margin:4px 0}
.box{border:1px solid #cfd6e2;border-radius:6px;padding:6px 14px 10px;margin:14px 0;background:#fafbfd}
.cols{display:flex;gap:28px;flex-wrap:wrap}.cols>div{flex:1 1 300px}
.small{color:#5a6475;font-size:.88em;margin:2px 0 8px}figure{margin:14px 0}
figcaption{font-size:.88em;color:#5a6475;margin-top:4px}img{max-width:100%;border:1px solid #e3e7ee}
ul{padding-left:1.2em}
"""


def _inline(p: Path) -> tuple[str, bytes]:
    """(mime, bytes) of a figure to inline; a large one is re-encoded as a downscaled JPEG."""
    data = p.read_bytes()
    mime = "image/jpeg" if p.suffix.lower() in (".jpg", ".jpeg") else "image/png"
    if len(data) <= MAX_INLINE_BYTES:
        return mime, data
    from PIL import Image

    im = Image.open(io.BytesIO(data)).convert("RGB")
    if im.width > MAX_INLINE_WIDTH:
        im = im.resize((MAX_INLINE_WIDTH, round(im.height * MAX_INLINE_WIDTH / im.width)), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=80, optimize=True)
    return "image/jpeg", buf.getvalue()


@dataclass
class _Page:
    """Everything one report shows, computed once and written twice (Markdown and HTML)."""

    title: str
    subtitle: str
    verdict: str
    warnings: list[str]
    main: Table
    tables: list[Table]
    provenance: list[tuple[str, str]]
    timings: Table | None
    tab7: Table
    figures: dict[str, Path]
    notes: list[str]


def _page(metrics: Mapping[str, Any], figures: dict[str, Path], notes: list[str], title: str,
          extras: Extras) -> _Page:
    v = S.verdict(metrics, extras.errors)
    return _Page(title, extras.subtitle, S.verdict_text(metrics, v), health_warnings(metrics, v),
                 main_table(metrics, v), [t for t in extras.tables if t.rows], list(extras.provenance),
                 timings_table(extras.timings) if extras.timings else None, tab7(metrics), dict(figures),
                 fallback_notes(metrics) + list(notes))


def _markdown(pg: _Page, out: Path) -> str:
    md = [f"# {pg.title}", ""] + ([pg.subtitle, ""] if pg.subtitle else []) + [f"**{pg.verdict}**", ""]
    if pg.warnings:
        md += [f"> **WARNING** {HEALTH}", ">"] + [f"> - {w}" for w in pg.warnings] + [""]
    md += ["## " + pg.main.title, ""] + _md_table(pg.main) + ["", f"> {NOTE_GT}", "", NOTE_METRICS, ""]
    for t in pg.tables:
        md += ["## " + t.title, ""] + _md_table(t) + [""]
    if pg.provenance or pg.timings:
        md += ["## What the numbers rest on", ""]
        if pg.provenance:
            md += ["| | |", "|---|---|"] + [f"| {k} | {val} |" for k, val in pg.provenance] + [""]
        md += (_md_table(pg.timings) + [""]) if pg.timings else []
    if pg.tab7.rows:
        md += ["## " + pg.tab7.title, ""] + _md_table(pg.tab7) + [""]
    if pg.figures:
        md += ["## Figures", ""]
        for cap, p in pg.figures.items():
            p = Path(p)
            try:
                rel = p.resolve().relative_to(out.resolve())
            except ValueError:
                rel = p
            md += [f"**{cap}**", "", f"![{cap}]({rel.as_posix()})", ""]
    if pg.notes:
        md += ["## Notes and disclosures", ""] + [f"- {n}" for n in pg.notes] + [""]
    return "\n".join(md)


def _figure(cap: str, p: Path) -> str:
    if not p.is_file():
        return f'<p class="small">(figure missing: {html.escape(str(p))})</p>'
    mime, data = _inline(p)
    return (f'<figure><img alt="{html.escape(cap)}" src="data:{mime};base64,{base64.b64encode(data).decode()}">'
            f"<figcaption>{html.escape(cap)}</figcaption></figure>")


def _html(pg: _Page) -> str:
    parts = [f"<h1>{html.escape(pg.title)}</h1>"]
    if pg.subtitle:
        parts.append(f'<p class="small">{html.escape(pg.subtitle)}</p>')
    parts.append(f'<div class="verdict">{html.escape(pg.verdict)}</div>')
    if pg.warnings:
        parts.append(f'<div class="warn"><b>⚠ {html.escape(HEALTH)}</b><ul>'
                     + "".join(f"<li>{html.escape(w)}</li>" for w in pg.warnings) + "</ul></div>")
    parts += [_html_table(pg.main), f'<div class="note">{html.escape(NOTE_GT)}</div>',
              f'<p class="small">{html.escape(NOTE_METRICS)}</p>'] + [_html_table(t) for t in pg.tables]
    if pg.provenance or pg.timings:
        kv = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(val)}</td></tr>" for k, val in pg.provenance)
        left = f"<div><h3>Run</h3><table><tbody>{kv}</tbody></table></div>" if kv else ""
        right = f"<div>{_html_table(pg.timings, 'h3')}</div>" if pg.timings else ""
        parts.append(f'<h2>What the numbers rest on</h2><div class="box cols">{left}{right}</div>')
    if pg.tab7.rows:
        parts.append(_html_table(pg.tab7))
    if pg.figures:
        parts += ["<h2>Figures</h2>"] + [_figure(cap, Path(p)) for cap, p in pg.figures.items()]
    if pg.notes:
        parts += ["<h2>Notes and disclosures</h2>",
                  "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in pg.notes) + "</ul>"]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html.escape(pg.title) +
            f"</title><style>{CSS}</style></head><body>" + "\n".join(parts) + "</body></html>\n")


def write_report(out_dir: str | Path, metrics: dict[str, Any], figures: dict[str, Path],
                 notes: list[str], title: str = "radiovisual benchmark report",
                 extras: Extras | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` and a self-contained ``report.html`` into ``out_dir``; returns both paths."""
    from ..utils.io import write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pg = _page(metrics, figures, notes, title, extras or Extras())
    md_path, html_path = out / "report.md", out / "report.html"
    write_text(md_path, _markdown(pg, out))
    write_text(html_path, _html(pg))
    return md_path, html_path
