"""Resolve a run path a user types to the finished run directory a reader needs.

The benchmark nests its runs one directory per seed and retry (``OUT/localise/mcl/seed0``,
``OUT/pretrain/mcl/seed0-retry1``: a retry is a re-pretraining after a failed label-free health check) and
records the one it kept in ``OUT/metrics.json`` (``metrics.<row>.kept_runs``). Readers (``predict``,
``load_backbones``, ``radiovisual selflabel``) accept such a ``METHOD`` directory when it names one seed;
with several they say in one line which runs exist instead of "no done.json".
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import RadiovisualError
from .stage import is_done

SEED_DIR = re.compile(r"^seed(\d+)(?:-retry(\d+))?$")


def seed_runs(path: str | Path) -> list[tuple[int, int, Path]]:
    """(seed, retry, directory) of the ``seedS[-retryK]`` subdirectories of ``path``, sorted."""
    p = Path(path)
    out = []
    for d in p.iterdir() if p.is_dir() else ():
        m = SEED_DIR.match(d.name)
        if m and d.is_dir():
            out.append((int(m.group(1)), int(m.group(2) or 0), d))
    return sorted(out, key=lambda t: (t[0], t[1]))


def kept_tags(method_dir: str | Path) -> dict[int, dict[str, Any]]:
    """{seed: kept_runs entry} the benchmark recorded for ``OUT/<stage>/<row>`` (``OUT/metrics.json``), else {}."""
    p = Path(method_dir)
    f = p.parent.parent / "metrics.json"
    if not f.is_file():
        return {}
    try:
        rows = json.loads(f.read_text()).get("metrics", {})
    except (OSError, ValueError):
        return {}
    row = rows.get(p.name) if isinstance(rows, dict) else None
    return {int(r["seed"]): r for r in (row or {}).get("kept_runs", []) if "seed" in r and "run" in r}


def choose_seed_runs(path: str | Path) -> dict[int, Path]:
    """{seed: the kept finished run} among ``path``'s seed directories: the one ``metrics.json`` names, else
    the last finished retry (the benchmark only goes past a finished retry when its health check failed)."""
    kept = kept_tags(path)
    out: dict[int, Path] = {}
    for seed, _, d in seed_runs(path):      # ascending retry: a later finished retry replaces an earlier one
        if is_done(d):
            out[seed] = d
    for seed, entry in kept.items():
        d = Path(path) / str(entry["run"])
        if is_done(d):
            out[seed] = d
    return out


def resolve_run(path: str | Path, what: str = "run", seed: int | None = None) -> Path:
    """The finished run directory that ``path`` names: itself when finished, the student of a teacher-student
    run, or the kept ``seedS[-retryK]`` run of a ``METHOD`` directory (``seed`` picks one when there are
    several). Raises ``RadiovisualError`` with one line listing what exists otherwise."""
    p = Path(path)
    if not p.exists():
        raise RadiovisualError(f"{what} run not found: {p}")
    if is_done(p) and seed is None:
        return p
    if not is_done(p) and is_done(p / "student"):   # rodnet: OUT/rodnet/seed0 -> its student localiser
        return p / "student"
    runs = seed_runs(p)
    if not runs:
        raise RadiovisualError(f"{p} is not a finished {what} run (no done.json){_hint(p)}")
    chosen = choose_seed_runs(p)
    per_seed = {s: sum(1 for t, _, _ in runs if t == s) for s, _, _ in runs}
    listing = ", ".join(d.name + (" (kept)" if chosen.get(s) == d and per_seed[s] > 1 else "")
                        + ("" if is_done(d) else " (unfinished)") for s, _, d in runs)
    if seed is not None:
        if seed in chosen:
            return chosen[seed]
        raise RadiovisualError(f"{p} has no finished {what} run for seed {seed} (it holds: {listing})")
    if len(chosen) == 1:
        return next(iter(chosen.values()))
    if not chosen:
        raise RadiovisualError(f"{p} holds no finished {what} run yet (it holds: {listing})")
    first = chosen[min(chosen)]
    raise RadiovisualError(f"{p} holds one {what} run per seed ({listing}); pass one of them, e.g. {first}, "
                           f"or radiovisual.load_run('{p}', seed={min(chosen)})")


def _hint(p: Path) -> str:
    """Why ``p`` is not a run and where the runs are: a dropped retry, an unfinished run, a stage directory."""
    m = SEED_DIR.match(p.name)
    if m and (p / "stage.json").is_file():
        other = choose_seed_runs(p.parent).get(int(m.group(1)))
        if other is not None and other != p:
            return f"; unfinished, dropped for {other.name} (the kept run of seed {m.group(1)})"
        return "; unfinished: re-run its command to resume it"
    methods = sorted(d.name for d in p.iterdir() if d.is_dir() and seed_runs(d)) if p.is_dir() else []
    if methods:
        return f"; it holds one directory per method ({', '.join(methods)}): pass {p / methods[0]} or similar"
    return ""
