"""Who wins: ratios to Supervised, ties inside the spread, the health flags. Pure functions of ``metrics.json``.

The HTML report and the README block (``readme.py``) both read their numbers from here, so they agree with
each other and with ``metrics.json``.

Ties are called on p50 only (the headline number). With seeds > 1 two rows tie when their p50 means differ by
less than sqrt(s_a² + s_b²), s = each row's standard deviation over seeds (0 for a deterministic row such as
Peak). With one seed there is no seed spread to read, so the yardstick is the Supervised localiser's own
spread: the standard deviation of its p50 over ``BOOTSTRAP`` resamples (with replacement) of the validation
samples, one value for every pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

BOOTSTRAP = 200
# display names, in the report's row order
DISPLAY = {"supervised": "Supervised", "pseudo": "Pseudo-supervised", "mcl": "MCL", "mcl+track": "MCL+track",
           "mcl-attention": "MCL (attention only)", "mcl-paper": "MCL (paper)", "scl": "SCL",
           "scl-paper": "SCL (paper)", "cl": "CL", "clip": "CLIP", "peak": "Peak", "cfar-genie": "CFAR (genie)",
           "cfar": "CFAR", "rodnet": "RODNet-style"}
REFERENCES = ("supervised", "pseudo", "cfar-genie")   # read labels: ranked apart from the label-free rows


def ordered(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Rows in the report's order (Supervised first, the learned label-free rows, the baselines), whatever order
    ``metrics.json`` holds them in; unknown rows last, alphabetically."""
    keys = list(DISPLAY)
    return {k: metrics[k] for k in sorted(metrics, key=lambda k: (keys.index(k) if k in keys else len(keys), k))}


def name(k: str) -> str:
    return DISPLAY.get(k, k)


def stat(m: Mapping[str, Any], key: str) -> tuple[float | None, float | None]:
    """(mean, std over seeds or None) of ``p50_m``/``p90_m``, whichever shape the entry has."""
    v = m.get(key)
    if isinstance(v, Mapping):
        return v.get("mean"), v.get("std")
    return v, m.get(key.replace("_m", "_std_m"))


def fmt(v: float | None, std: float | None = None, nd: int = 3) -> str:
    if v is None or not math.isfinite(float(v)):
        return "–"
    return f"{v:.{nd}f}" + (f" ± {std:.{nd}f}" if std is not None and math.isfinite(float(std)) else "")


def ratio(v: float | None, ref: float | None) -> str:
    if v is None or not ref or not math.isfinite(float(v)):
        return "–"
    r = float(v) / float(ref)
    return f"{r:.2f}×" if r < 10 else f"{r:.0f}×"


def is_label_free(k: str, m: Mapping[str, Any]) -> bool:
    return bool(m.get("label_free", k not in REFERENCES))


@dataclass
class Verdict:
    """The answer to "which label-free method is best, and by how much against Supervised"."""

    best: str | None
    tied: list[str]                       # label-free rows tied with the best (p50)
    rank: dict[str, str]                  # label-free row -> "1", "=1", "3", ...
    spread: dict[str, Any]                # how ties are measured ("kind", "sigma_m" or "seeds", "text")
    ties_supervised: bool = False         # the best label-free row ties with Supervised
    unhealthy: dict[str, list[dict[str, Any]]] = field(default_factory=dict)   # row -> failed kept runs


def supervised_bootstrap_sigma(errors: np.ndarray, n: int = BOOTSTRAP, seed: int = 0) -> float:
    """Std of the p50 of ``errors`` over ``n`` bootstrap resamples of the samples (fixed seed: reproducible)."""
    e = np.asarray(errors, np.float64)
    e = e[np.isfinite(e)]
    if e.size < 2:
        return 0.0
    rng = np.random.default_rng(seed)
    meds = np.median(e[rng.integers(0, e.size, size=(n, e.size))], axis=1)
    return float(np.std(meds, ddof=1))


def tie_spread(metrics: Mapping[str, Any], errors: Mapping[str, np.ndarray] | None) -> dict[str, Any]:
    """How a tie is measured for this run (see the module docstring)."""
    sup = metrics.get("supervised", {})
    seeds = int(sup.get("n_seeds", 1) or 1)
    if seeds > 1:
        return {"kind": "seeds", "seeds": seeds,
                "text": f"a p50 gap smaller than √(s₁² + s₂²), s = each row's std over its {seeds} seeds, is a tie"}
    e = None if errors is None else errors.get("supervised")
    if e is None or len(e) < 2:
        return {"kind": "none", "sigma_m": 0.0, "text": "no spread available (one seed, no per-sample errors): "
                                                        "no ties are called"}
    s = supervised_bootstrap_sigma(e)
    return {"kind": "bootstrap", "sigma_m": s, "n": int(len(e)),
            "text": f"one seed, so a p50 gap smaller than the Supervised localiser's spread is a tie: σ = {s:.3f} m, "
                    f"the std of its p50 over {BOOTSTRAP} bootstrap resamples of the {len(e)} validation samples"}


def _gap_sigma(a: Mapping[str, Any], b: Mapping[str, Any], spread: Mapping[str, Any]) -> float:
    if spread["kind"] == "seeds":
        sa, sb = stat(a, "p50_m")[1] or 0.0, stat(b, "p50_m")[1] or 0.0
        return math.hypot(sa, sb)
    return float(spread.get("sigma_m", 0.0))


def ties(a: Mapping[str, Any], b: Mapping[str, Any], spread: Mapping[str, Any]) -> bool:
    pa, pb = stat(a, "p50_m")[0], stat(b, "p50_m")[0]
    if pa is None or pb is None:
        return False
    return abs(pa - pb) < _gap_sigma(a, b, spread)


def unhealthy_rows(metrics: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """{row: kept runs whose self-labels failed the label-free health check} (``kept_runs[].healthy``)."""
    return {k: bad for k, m in metrics.items()
            if (bad := [r for r in m.get("kept_runs", []) if r.get("healthy") is False])}


def failed_checks(m: Mapping[str, Any]) -> str:
    """'range: rank correlation ... -0.484 (needs <= -0.5)' for the failed checks of seed 0's train labels."""
    h = m.get("health_train_seed0") or {}
    out = []
    for k in h.get("failed", []):
        c = h.get("checks", {}).get(k, {})
        op = ">=" if ">=" in str(c.get("what", "")) else "<="
        out.append(f"{k} {c.get('value', float('nan')):.3g} (needs {op} {c.get('threshold', float('nan')):.3g})")
    return "; ".join(out)


def verdict(metrics: Mapping[str, Any], errors: Mapping[str, np.ndarray] | None = None) -> Verdict:
    spread = tie_spread(metrics, errors)
    lf = [k for k, m in metrics.items() if is_label_free(k, m) and stat(m, "p50_m")[0] is not None]
    lf.sort(key=lambda k: stat(metrics[k], "p50_m")[0])
    rank: dict[str, str] = {}
    leader = None
    for pos, k in enumerate(lf, start=1):
        if leader is not None and ties(metrics[leader], metrics[k], spread):
            rank[k] = "=" + rank[leader].lstrip("=")
            rank[leader] = "=" + rank[leader].lstrip("=")
        else:
            leader, rank[k] = k, str(pos)
    best = lf[0] if lf else None
    tied = [k for k in lf[1:] if best is not None and ties(metrics[best], metrics[k], spread)]
    sup = metrics.get("supervised")
    return Verdict(best, tied, rank, spread,
                   bool(best and sup and ties(metrics[best], sup, spread)), unhealthy_rows(metrics))


def verdict_text(metrics: Mapping[str, Any], v: Verdict) -> str:
    """One paragraph: the best label-free row, its ratio to Supervised, its ties, the spread used."""
    if v.best is None:
        return "No label-free row in this run."
    b, sup = metrics[v.best], metrics.get("supervised", {})
    p50, p90 = stat(b, "p50_m")[0], stat(b, "p90_m")[0]
    s50, s90 = stat(sup, "p50_m")[0], stat(sup, "p90_m")[0]
    txt = (f"Best label-free method: {name(v.best)}, p50 {fmt(p50)} m = {ratio(p50, s50)} Supervised ({fmt(s50)} m), "
           f"p90 {fmt(p90)} m = {ratio(p90, s90)} Supervised ({fmt(s90)} m).")
    if v.tied:
        txt += " Tied with it (p50 gap inside the spread): " + ", ".join(
            f"{name(k)} ({fmt(stat(metrics[k], 'p50_m')[0])} m)" for k in v.tied) + "."
    if v.ties_supervised:
        txt += " Its p50 is within the spread of Supervised's."
    if v.best in v.unhealthy:
        txt += f" Caution: {name(v.best)}'s self-labels failed the label-free health check."
    return txt + f" Ties: {v.spread['text']}."
