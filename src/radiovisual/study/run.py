"""``run_study``: one of the five §6.2 ablations over the benchmark's stages, into OUT (see ``docs/studies.md``)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..config import to_dict
from ..errors import ConfigError
from ..pipeline.config import BenchmarkConfig
from ..pipeline.run import Timer, _dataset, machine_info
from ..utils.io import check_writable_dir
from . import report
from .config import STUDIES, StudyConfig
from .points import Context
from .studies import RUNNERS


def _notes(name: str, ctx: Context, res: dict[str, Any]) -> list[str]:
    st, notes = ctx.study, []
    if name in ("mask-offset", "dimensionality") and st.sweep_epochs:
        notes.append(f"Swept pretrainings use study.sweep_epochs = {st.sweep_epochs} epochs (the preset's budget), "
                     f"not the tree's pretrain.train.epochs = {ctx.bench.pretrain.train.epochs}.")
    if name == "label-density":
        notes.append(f"Subsets are nested and seeded (seed + k); at least {st.min_subset} samples; a subset's "
                     f"localiser gets at least study.min_steps = {st.min_steps} optimiser steps. MCL and SCL reuse "
                     "one pretraining's train self-labels for every fraction.")
    if name == "dimensionality" and st.proj_scale > 1:
        notes.append(f"'mcl proj {st.proj_scale}x': projector hidden and output widths x{st.proj_scale} at the "
                     f"tree's C = {ctx.bench.pretrain.backbone.channels}.")
    if name == "detector-masks":
        d = res["extra"]["detector_val"]
        notes.append(f"Detector ({res['extra']['detector']}), val: mAP@0.5 {d['map50']:.3f}, mask IoU mean "
                     f"{d['mask_iou_mean']:.3f}, picks a parked car (non-empty mask, IoU < 0.1 with the target) "
                     f"{d['wrong_object_rate']:.3f}, miss rate {d['miss_rate']:.3f}.")
        for series, why in res["extra"].get("skipped", {}).items():
            notes.append(f"Rows '{series}' skipped: {why}.")
    notes.append(f"Dataset {ctx.data}; stage times [s]: "
                 + ", ".join(f"{k} {v:.0f}" for k, v in ctx.timer.seconds.items()) + ".")
    return notes


def run_study(name: str, bench: BenchmarkConfig, study: StudyConfig, out: str | Path, progress: bool = False,
              log: Callable[[str], None] = print, force: bool = False) -> dict[str, Any]:
    """Run study ``name`` into ``out`` (finished stages reused, an interrupted one resumed); returns its entry
    of ``out/study.json`` (also written: the figure ``out/figures/study_<name>.png`` and ``out/study.html``)."""
    if name not in RUNNERS:
        raise ConfigError(f"unknown study '{name}' (choose from {', '.join(STUDIES)})")
    out = check_writable_dir(out)
    t0 = time.perf_counter()
    data = _dataset(bench, out, Timer(log), progress)
    ctx = Context(bench=bench, study=study, data=Path(data), out=out, progress=progress, force=force, log=log)
    log(f"[study {name}] dataset {data}, preset {bench.preset or 'custom'}, {bench.seeds} seed(s)")
    res = RUNNERS[name](ctx)
    rows = report.summarise(res["points"])
    fig = report.figure(name, rows, out / "figures" / f"study_{name}.png")
    entry = {"study": name, "preset": bench.preset, "seeds": bench.seeds, "points": res["points"], "summary": rows,
             "extra": res.get("extra", {}), "figure": str(fig.relative_to(out)),
             "wall_s": round(time.perf_counter() - t0, 1), "timings_s": {k: round(v, 1) for k, v in
                                                                        ctx.timer.seconds.items()},
             "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "config": {"study": to_dict(study), "tree": to_dict(bench)}, "machine": machine_info(),
             "dataset": str(data)}
    entry["notes"] = _notes(name, ctx, res)
    doc = report.update_study_json(out, name, entry)
    page = report.write_html(out, doc)
    log(f"[study {name}] done in {entry['wall_s']:.0f} s: {out / 'study.json'}, {fig}, {page}")
    return entry
