"""Benchmark (not a test): pretraining throughput [pairs/s] and peak memory per method.

CPU at the ``quick`` preset on a toy store of the quick synth shapes (radar 128x64,
image 96x128); on a CUDA machine also the ``paper`` preset. Each (method, preset) runs in
its own subprocess so peak RSS is per method. Prints a table and writes JSON.

    python benchmarks/pretrain_throughput.py [--data STORE] [--steps 20] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METHODS = ("mcl", "scl", "cl", "clip")


def worker(data: str, method: str, preset: str, steps: int, warmup: int) -> dict:
    import torch

    from radiovisual.pretrain import run_pretrain
    from radiovisual.pretrain.config import resolve_pretrain_config

    cfg = resolve_pretrain_config(method, preset)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = run_pretrain(data, method, Path(tmp) / "run", preset=preset, progress=False,
                           overrides=[f"train.max_steps={warmup + steps}", "train.log_every=1",
                                      f"train.ckpt_every={10 ** 9}"])
        wall = time.perf_counter() - t0
        lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
        n_train = json.loads((run / "config.json").read_text())["data"]["n_train_used"]
    timed = lines[warmup:]
    sec = sum(cfg.train.batch_size / ln["pairs_per_s"] for ln in timed)
    pps = cfg.train.batch_size * len(timed) / sec
    steps_full = (n_train // cfg.train.batch_size) * cfg.train.epochs
    if cfg.train.max_steps:
        steps_full = min(steps_full, cfg.train.max_steps)
    res = {"method": method, "preset": preset, "device": "cuda" if torch.cuda.is_available() else "cpu",
           "threads": torch.get_num_threads(), "batch_size": cfg.train.batch_size, "timed_steps": len(timed),
           "pairs_per_s": pps, "wall_s_incl_setup": wall, "n_train": n_train,
           "est_full_pretrain_s": steps_full * cfg.train.batch_size / pps,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.cuda.is_available():
        res["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="dataset store (default: a toy store at the quick shapes)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", default="benchmarks/results/pretrain_throughput.json")
    ap.add_argument("--worker", nargs=2, metavar=("METHOD", "PRESET"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.data, a.worker[0], a.worker[1], a.steps, a.warmup)))
        return
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        data = a.data
        if data is None:
            from radiovisual.dataset.toy import make_toy_dataset

            data = str(make_toy_dataset(Path(tmp) / "toy.zarr", n_train=1200, n_val=8, n_test=8,
                                        R=128, A=64, H=96, W=128))
        presets = ["quick"] + (["paper"] if torch.cuda.is_available() else [])
        results = []
        for preset in presets:
            for m in a.methods.split(","):
                cmd = [sys.executable, __file__, "--data", data, "--steps", str(a.steps), "--warmup", str(a.warmup),
                       "--worker", m, preset]
                p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
                if p.returncode != 0:
                    print(f"{m}/{preset} failed: {p.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                    continue
                r = json.loads(p.stdout.strip().splitlines()[-1])
                results.append(r)
                print(f"{preset:6s} {m:5s} {r['device']:4s} {r['pairs_per_s']:8.1f} pairs/s  "
                      f"peak RSS {r['peak_rss_mb']:7.0f} MB  est. full pretrain {r['est_full_pretrain_s']:6.0f} s")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"results": results, "load_avg_1m": os.getloadavg()[0], "cpus": os.cpu_count()},
                              indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
