"""The `make demo` budget, checked: time every stage of the quick benchmark from an empty Dr.Jit cache.

    python benchmarks/demo_time.py                 # cold run into a temporary directory -> benchmarks/measured/demo_time.json
    python benchmarks/demo_time.py --keep runs/demo-time --set localise.epochs=20    # keep the run; any --set
    python benchmarks/demo_time.py --readme        # rewrite README's budget block from the JSON (no run)

What it runs is `make demo`'s command, `radiovisual benchmark --preset quick --out DIR` (plus ``--set``), in a
child process whose HOME is an empty temporary directory, so Dr.Jit's kernel cache (``~/.drjit``) starts empty
as on a fresh machine (the user's cache is not touched). The benchmark's own stage timer is wrapped to record,
per stage, wall time, CPU time (this process and its finished children: the synthesis workers) and the load
average, so a reader can tell a slow stage from a busy machine. The JSON (``--out``) holds the stages, their
grouping into the README's rows, the total against the budget (``--budget-s``, 600 s: issue 23), the machine
and the load; README's block between ``<!-- demo-time:begin -->`` and ``<!-- demo-time:end -->`` is generated
from it (``--readme``), so the README quotes this file instead of hand-copied numbers.
Timings are wall-clock on whatever machine runs it: on a shared machine run it alone and report the load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "measured" / "demo_time.json"
BEGIN, END = "<!-- demo-time:begin -->", "<!-- demo-time:end -->"
# README rows: stage-name prefix -> row (the benchmark's Timer names its stages "pretrain:mcl", "localise:scl", ...)
GROUPS = (("synthesise", "synthesis"), ("pretrain:", "pretraining"), ("selflabel:", "self-labels"),
          ("localise:", "localisers"), ("rodnet", "RODNet-style"), ("cfar", "CFAR (both)"), ("peak", "peak"),
          ("represent:", "representation evals"), ("evaluate+report", "report"))


def _cpu_s() -> float:
    me, ch = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def child(run_dir: Path, sets: list[str], out: Path, budget_s: float) -> None:
    from radiovisual.pipeline import run as R
    from radiovisual.pipeline.config import build_benchmark_config

    stages: list[dict] = []
    real_stage = R.Timer.stage

    @contextmanager
    def stage(self, name):          # the benchmark's timer, plus CPU time and load per stage
        t0, c0, l0 = time.perf_counter(), _cpu_s(), os.getloadavg()[0]
        with real_stage(self, name):
            yield
        stages.append({"stage": name, "wall_s": round(time.perf_counter() - t0, 2),
                       "cpu_s": round(_cpu_s() - c0, 2), "load_1m_start": round(l0, 2),
                       "load_1m_end": round(os.getloadavg()[0], 2)})

    R.Timer.stage = stage
    cfg = build_benchmark_config("quick", None, sets, {})
    drjit = Path.home() / ".drjit"
    cache_empty = not drjit.exists() or not any(drjit.iterdir())
    t0, c0, load0 = time.perf_counter(), _cpu_s(), os.getloadavg()
    result = R.run_benchmark(cfg, run_dir, progress=False, log=lambda s: print(s, flush=True))
    total = time.perf_counter() - t0
    groups: dict[str, dict] = {}
    for s in stages:
        row = next((g for p, g in GROUPS if s["stage"].startswith(p)), s["stage"])
        g = groups.setdefault(row, {"wall_s": 0.0, "cpu_s": 0.0, "stages": {}})
        g["wall_s"] = round(g["wall_s"] + s["wall_s"], 2)
        g["cpu_s"] = round(g["cpu_s"] + s["cpu_s"], 2)
        g["stages"][s["stage"]] = round(g["stages"].get(s["stage"], 0.0) + s["wall_s"], 2)
    rows = [m for m in result["metrics"]]
    res = {"command": "radiovisual benchmark --preset quick --out DIR" + "".join(f" --set {s}" for s in sets),
           "what": "`make demo` after `make test`, Dr.Jit kernel cache empty at start (fresh HOME)",
           "date": time.strftime("%Y-%m-%d %H:%M"), "kernel_cache_empty_at_start": cache_empty,
           "total_wall_s": round(total, 1), "total_cpu_s": round(_cpu_s() - c0, 1), "budget_s": budget_s,
           "within_budget": total <= budget_s, "groups": groups, "stages": stages, "rows": rows,
           "p50_m": {m: result["metrics"][m].get("p50_m") for m in rows},
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                       "processor": platform.processor() or platform.machine(),
                       "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "load_avg_start": load0,
                       "load_avg_end": os.getloadavg()},
           "git": _git_rev()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"[demo_time] total {total:.0f} s (budget {budget_s:.0f} s) -> {out}")


def _git_rev() -> str:
    p = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=ROOT)
    return p.stdout.strip()


def readme_block(res: dict) -> str:
    """The README's budget paragraph and table, from a demo_time JSON."""
    m = res["machine"]
    load = f"{m['load_avg_start'][0]:.1f} at the start, {m['load_avg_end'][0]:.1f} at the end"
    lines = [BEGIN,
             f"<!-- generated by `python benchmarks/demo_time.py --readme` from benchmarks/measured/demo_time.json; "
             f"do not edit by hand -->",
             f"`make demo` budget (`benchmarks/demo_time.py`, {res['date']}, code {res['git']}): "
             f"**{res['total_wall_s'] / 60:.1f} min** wall from an empty Dr.Jit cache "
             f"(budget {res['budget_s'] / 60:.0f} min: {'met' if res['within_budget'] else 'NOT met'}), "
             f"{m['cpus']} CPUs, load average {load}.",
             "", "| stage | wall [s] | CPU [s] |", "|---|---|---|"]
    for row, g in res["groups"].items():
        detail = ", ".join(f"{k.split(':', 1)[-1]} {v:.0f}" for k, v in g["stages"].items()) if len(g["stages"]) > 1 else ""
        lines.append(f"| {row}{f' ({detail})' if detail else ''} | {g['wall_s']:.0f} | {g['cpu_s']:.0f} |")
    lines.append(f"| **total** | **{res['total_wall_s']:.0f}** | {res['total_cpu_s']:.0f} |")
    lines.append(END)
    return "\n".join(lines)


def write_readme(res: dict, readme: Path = ROOT / "README.md") -> None:
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme} has no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(head + readme_block(res) + tail)
    print(f"updated {readme}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--keep", type=Path, default=None, help="run directory to keep (default: a temporary one)")
    ap.add_argument("--set", action="append", default=[], help="benchmark --set key=value (repeatable)")
    ap.add_argument("--budget-s", type=float, default=600.0)
    ap.add_argument("--readme", action="store_true", help="only rewrite README's block from --out")
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.readme:
        write_readme(json.loads(a.out.read_text()))
        return 0
    if a.child is not None:
        child(a.child, a.set, a.out, a.budget_s)
        return 0
    with tempfile.TemporaryDirectory(prefix="rv-demo-time-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        run_dir = a.keep or Path(tmp) / "run"
        if run_dir.exists() and any(run_dir.iterdir()):
            raise SystemExit(f"{run_dir} is not empty: the budget is measured from scratch")
        env = {**os.environ, "HOME": str(home)}
        cmd = [sys.executable, __file__, "--child", str(run_dir), "--out", str(a.out.resolve()),
               "--budget-s", str(a.budget_s)] + [x for s in a.set for x in ("--set", s)]
        return subprocess.run(cmd, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
