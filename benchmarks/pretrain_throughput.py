"""Benchmark (not a test): pretraining throughput [pairs/s], CPU time per step and peak memory per method,
this checkout against a reference revision, side by side in one run.

    # issue 23: new code vs the commit before the speed-up, interleaved rounds on one store
    python benchmarks/pretrain_throughput.py --data runs/quick/data --methods mcl,scl --ref d2ceda6 --rounds 3
    # this checkout only (toy store at the quick shapes when --data is not given)
    python benchmarks/pretrain_throughput.py --methods mcl,scl,cl,clip

Each measurement is one subprocess (so peak RSS is per run) that prepares the run exactly as
``run_pretrain`` does (``train._prepare``: the same data, batches and method) and times ``--steps``
optimiser steps after ``--warmup``: wall time and this process's CPU time (user + system, all threads).
``--ref REV`` extracts that git revision into a temporary directory (``git archive``) and runs the same
worker against it with ``PYTHONPATH`` pointing there; rounds alternate ref/new per method, so both see
the same machine load. Reported per method: the median over rounds of pairs/s (wall) and CPU s/step
for each code, and the median of the per-round ratios new/ref. Machine, load averages and thread
count go into the JSON (``--out``). On a CUDA machine the ``paper`` preset is measured too.
On a shared machine wall-clock figures move with other people's jobs; CPU time per step moves less
(OpenMP threads spin while they wait, so it is not load-free either). Quote both and the load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METHODS = ("mcl", "scl", "cl", "clip")


def worker(data: str, method: str, preset: str, steps: int, warmup: int, overrides: list[str]) -> dict:
    import torch

    from radiovisual.dataset.format import open_dataset
    from radiovisual.pretrain import train as T
    from radiovisual.pretrain.config import resolve_pretrain_config
    from radiovisual.pretrain.methods import build_method

    cfg = resolve_pretrain_config(method, preset, overrides)
    ds = open_dataset(data, labels=False)
    job = T._prepare(cfg, ds, data)
    if job.device.type == "cpu":      # what train._train does before its loop (absent in older revisions)
        try:
            from radiovisual.utils.env import keep_freed_memory
        except ImportError:
            pass
        else:
            keep_freed_memory()
    torch.manual_seed(cfg.seed)
    model = build_method(cfg).to(job.device)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.train.lr,
                            weight_decay=cfg.train.weight_decay)
    model.train()
    amp = cfg.train.amp and job.device.type == "cuda"
    walls, cpus = [], []
    t0, c0 = time.perf_counter(), time.process_time()
    for i, batch in enumerate(job.src.batches(cfg.train.batch_size, cfg.seed, 0, warmup + steps, 0, 1)):
        batch = {k: v.to(job.device) for k, v in batch.items()}     # (the batch fetch is inside the timed step)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss, _ = model(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if job.device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
    B = cfg.train.batch_size
    res = {"method": method, "preset": preset, "device": job.device.type, "threads": torch.get_num_threads(),
           "batch_size": B, "timed_steps": len(walls), "pairs_per_s": B * len(walls) / sum(walls),
           "wall_s_per_step": statistics.median(walls), "cpu_s_per_step": statistics.median(cpus),
           "n_train": len(job.src), "steps_full_run": job.total,
           "est_full_pretrain_s": job.total * sum(walls) / len(walls), "loss_last": float(loss),
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if job.device.type == "cuda":
        res["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
        res["gpu"] = torch.cuda.get_device_name()
    return res


def _run(src: str | None, data: str, method: str, preset: str, a: argparse.Namespace) -> dict | None:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, __file__, "--data", data, "--steps", str(a.steps), "--warmup", str(a.warmup),
           "--worker", method, preset] + [x for s in a.set for x in ("--set", s)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        print(f"{method}/{preset} ({'ref' if src else 'new'}) failed: {p.stderr.strip().splitlines()[-1:]}",
              file=sys.stderr)
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def _extract(rev: str, dest: Path) -> str:
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                          cwd=Path(__file__).parent, check=True).stdout.strip()
    sha = subprocess.run(["git", "rev-parse", rev], capture_output=True, text=True, cwd=root,
                         check=True).stdout.strip()
    arc = subprocess.run(["git", "archive", sha, "src"], capture_output=True, cwd=root, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=arc, check=True)
    return sha


def _summary(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r is not None]
    return statistics.median(vals) if vals else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="dataset store (default: a toy store at the quick shapes)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--ref", default=None, help="git revision to compare against (e.g. the commit before a change)")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved ref/new rounds per method")
    ap.add_argument("--set", action="append", default=[], help="pretrain config override for both codes")
    ap.add_argument("--out", default="benchmarks/results/pretrain_throughput.json")
    ap.add_argument("--worker", nargs=2, metavar=("METHOD", "PRESET"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.data, a.worker[0], a.worker[1], a.steps, a.warmup, a.set)))
        return
    import torch

    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        data, ref_src, ref_sha = a.data, None, None
        if a.ref:
            ref_sha = _extract(a.ref, Path(tmp))
            ref_src = str(Path(tmp) / "src")
        if data is None:
            from radiovisual.dataset.toy import make_toy_dataset

            data = str(make_toy_dataset(Path(tmp) / "toy.zarr", n_train=1200, n_val=8, n_test=8,
                                        R=128, A=64, H=96, W=128))
        presets = ["quick"] + (["paper"] if torch.cuda.is_available() else [])
        codes = ([("ref", ref_src)] if a.ref else []) + [("new", None)]
        runs: dict[str, list] = {}
        for preset in presets:
            for m in a.methods.split(","):
                for rnd in range(a.rounds):
                    for name, src in (codes if rnd % 2 == 0 else codes[::-1]):   # alternate who goes first
                        r = _run(src, data, m, preset, a)
                        runs.setdefault(f"{preset}/{m}/{name}", []).append(r)
                        if r is not None:
                            print(f"{preset:6s} {m:5s} {name:3s} round {rnd}: {r['pairs_per_s']:7.1f} pairs/s  "
                                  f"cpu {r['cpu_s_per_step']:.3f} s/step  wall {r['wall_s_per_step']:.3f} s/step  "
                                  f"RSS {r['peak_rss_mb']:5.0f} MB  load {os.getloadavg()[0]:.1f}", flush=True)
    summary = {}
    for key, rows in runs.items():
        summary[key] = {k: _summary(rows, k) for k in ("pairs_per_s", "cpu_s_per_step", "wall_s_per_step",
                                                         "est_full_pretrain_s", "peak_rss_mb")}
        if key.endswith("/new") and a.ref:
            ref = runs[key[:-4] + "/ref"]
            pairs = [(n, r) for n, r in zip(rows, ref) if n is not None and r is not None]
            if pairs:
                summary[key]["speedup_pairs_per_s"] = statistics.median(n["pairs_per_s"] / r["pairs_per_s"]
                                                                        for n, r in pairs)
                summary[key]["speedup_cpu_per_step"] = statistics.median(r["cpu_s_per_step"] / n["cpu_s_per_step"]
                                                                         for n, r in pairs)
                print(f"{key[:-4]}: new/ref {summary[key]['speedup_pairs_per_s']:.2f}x pairs/s (wall), "
                      f"{summary[key]['speedup_cpu_per_step']:.2f}x CPU time per step")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "ref": {"rev": a.ref, "sha": ref_sha}, "data": a.data or "toy store (quick shapes)", "summary": summary,
        "runs": runs, "overrides": a.set, "steps": a.steps, "warmup": a.warmup, "rounds": a.rounds,
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
        "load_avg_start": load0, "load_avg_end": os.getloadavg()}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
