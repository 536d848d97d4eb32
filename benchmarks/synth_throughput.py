"""Synthesis throughput (paired radar + camera + labels + staging + packing) and a per-stage profile.

    # the issue-9 goal: first run of a never-seen seed, 1000 samples, marginal rate 100 -> 1000
    python benchmarks/synth_throughput.py --preset quick --samples 1000 --workers 2 --cold --seed 9001
    # per-stage breakdown (wall, kernels launched, kernel-cache misses, JIT compile) cold vs warm
    python benchmarks/synth_throughput.py --preset quick --profile 4 --cold --seed 9002
    # issue 23: every scenario cold, 2 workers, one JSON (synth_throughput_quick_scenarios.json)
    python benchmarks/synth_throughput.py --scenarios parking_lot,suburban,street_canyon --samples 1800 \
        --workers 2 --cold --seed 9301
    # what buildings, multipath depth, clutter rays, parked cars and the render cost (warm CPU s per sample)
    python benchmarks/synth_throughput.py --scenario street_canyon --profile 4 --ablate --seed 9302

Throughput: the real ``synthesise`` (serial, or ``--workers N`` on a Dask LocalCluster) into a
temporary store; a thread polls the staged sequences to time-stamp progress. Reported:
end-to-end samples/s, the marginal rate between 10% and 100% of the samples (1000 - 100 for
``--samples 1000``, which cancels start-up: imports, cluster start, first compiles) and the
rate per tenth of the run (flatness).

Profile: ``SequenceGenerator`` on ``--profile K`` sequences in this process with Dr.Jit's kernel
history on; each stage's wall time, kernels launched, kernel-cache misses (compiled now) and
codegen+LLVM time. Sequence 0 is cold (first in the process), the rest warm.

``--cold`` runs everything in a child process whose HOME is an empty temporary directory, so
Dr.Jit's on-disk kernel cache (``~/.drjit``) starts empty, as on a fresh machine; the user's
cache is not touched. Without it the user's cache is used (say which in any report).
Timings depend on the machine and its load: run under ``flock /tmp/rv-heavy.lock`` on shared
machines. Writes ``synth_throughput_<preset>.json`` (``--tag`` appended) under ``--out``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the Dask workers, once the cluster is closed)."""
    me, ch = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def _dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20 if path.is_dir() else 0.0


def throughput(cfg, workers: int | None) -> dict:
    from radiovisual.dataset.synth import STAGING, synthesise

    T = cfg.scene.n_frames
    marks: list[tuple[float, int]] = []
    cpu0 = _cpu_s()
    with tempfile.TemporaryDirectory(prefix="rv-bench-") as tmp:
        store = Path(tmp) / "store"
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                st = store / STAGING
                n = len(list(st.glob("*/seq_*.npz"))) if st.is_dir() else 0
                if not marks or n * T != marks[-1][1]:
                    marks.append((time.perf_counter() - t0, n * T))
                time.sleep(0.05)

        t0 = time.perf_counter()
        th = threading.Thread(target=poll, daemon=True)
        th.start()
        kw = {"workers": workers} if workers else {}  # (also runs against older checkouts without Dask)
        synthesise(cfg, store, progress=True, finalize_when_done=False, **kw)
        t_staged = time.perf_counter() - t0
        stop.set()
        th.join()
        from radiovisual.dataset.synth import finalize

        n = len(list((store / STAGING).glob("*/seq_*.npz"))) * T  # the poller may miss the last file
        marks.append((t_staged, n))
        t1 = time.perf_counter()
        finalize(store)
        t_pack = time.perf_counter() - t1

    def t_at(k: int) -> float:
        return next(t for t, m in marks if m >= k)

    lo = max(T, int(round(0.1 * n / T)) * T)
    marginal = (n - lo) / (t_at(n) - t_at(lo)) if n > lo else None
    tenths = []
    for j in range(10):
        a, b = int(n * j / 10 // T * T), int(n * (j + 1) / 10 // T * T)
        if b > a:
            tenths.append(round((b - a) / max(1e-9, t_at(b) - (t_at(a) if a else 0.0)), 3))
    # the definition: the rate from 100 to 1000 samples (whole sequences: first mark >= k)
    m1000 = ((t_at(1000) - t_at(100)) and (next(m for _, m in marks if m >= 1000) - next(m for _, m in marks if m >= 100))
             / (t_at(1000) - t_at(100))) if n >= 1000 else None
    cpu = _cpu_s() - cpu0
    return {"samples": n, "staging_wall_s": t_staged, "pack_s": t_pack,
            "cpu_s": cpu, "cpu_s_per_sample": cpu / max(1, n),
            "marginal_100_to_1000_samples_per_s": m1000,
            "samples_per_s_end_to_end": n / (t_staged + t_pack),
            "marginal_from_samples": lo, "marginal_samples_per_s": marginal,
            "samples_per_s_per_tenth": tenths,
            "progress_marks": [(round(t, 2), m) for t, m in marks]}


def profile(cfg, n_seq: int, world_filter=None) -> dict:
    """Per-stage wall time, CPU time (all threads of this process) and JIT statistics of ``n_seq`` sequences
    (Dr.Jit kernel history). ``world_filter(world) -> world`` edits each scene before the sensors see it."""
    import drjit as dr
    from sionna.rt import PathSolver
    from sionna.rt.rcs import RCSSolver

    from radiovisual.dataset import generate as G
    from radiovisual.sensors import camera as C
    from radiovisual.sensors import sionna_radar as SR

    rows: dict = defaultdict(lambda: defaultdict(float))
    cur = {"seq": 0}

    def take():
        h = [k for k in dr.kernel_history() if k.get("type") == dr.KernelType.JIT]
        miss = [k for k in h if not k.get("cache_hit")]
        return (len(h), len(miss), sum(k.get("codegen_time", 0) + k.get("backend_time", 0) for k in miss) / 1e3,
                sum(k.get("codegen_time", 0) for k in h) / 1e3)

    originals = []       # restored at the end, so that repeated profiles (--ablate) do not nest wrappers

    def wrap(owner, name, label):
        f = getattr(owner, name)
        originals.append((owner, name, owner.__dict__.get(name, f) if isinstance(owner, type) else f))

        def g(*a, **kw):
            take()
            t, c = time.perf_counter(), time.process_time()
            r = f(*a, **kw)
            dt = time.perf_counter() - t
            n, miss, comp, cg = take()
            s = rows[(cur["seq"], label)]
            s["wall_s"] += dt
            s["cpu_s"] += time.process_time() - c
            s["calls"] += 1
            s["kernels"] += n
            s["cache_misses"] += miss
            s["jit_compile_s"] += comp
            s["codegen_all_s"] += cg
            return r

        setattr(owner, name, g)

    wrap(G.SequenceGenerator, "world", "scene build (layout, meshes)")
    wrap(SR.RadarSimulator, "_build_scene", "radar scene build")
    wrap(PathSolver, "__call__", "clutter solve (PathSolver)")
    wrap(RCSSolver, "__call__", "target solve (RCSSolver, per frame)")
    wrap(SR.RadarSimulator, "_dsp", "radar DSP (per frame)")
    wrap(C._Visual, "__init__", "camera scene build")
    wrap(C._Visual, "set_frame", "camera move (per frame)")
    wrap(C.CameraRig, "_render_frame", "render RGB + mask/depth (per frame)")
    wrap(G, "world_labels", "labels")
    try:
        return _profile_run(cfg, n_seq, world_filter, rows, cur)
    finally:
        for owner, name, f in reversed(originals):
            setattr(owner, name, f)


def _profile_run(cfg, n_seq: int, world_filter, rows: dict, cur: dict) -> dict:
    import drjit as dr

    from radiovisual.dataset import generate as G

    dr.set_flag(dr.JitFlag.KernelHistory, True)
    from radiovisual.dataset.synth import save_staged

    T = cfg.scene.n_frames
    per_seq = []
    with tempfile.TemporaryDirectory(prefix="rv-prof-") as tmp:
        kw = {}
        if world_filter is not None:
            from radiovisual.scene.layouts import build_world

            kw["world_builder"] = lambda *a: world_filter(build_world(*a))
        gen = G.SequenceGenerator(cfg, Path(tmp) / "cache", **kw)
        per_cpu = []
        for i in range(n_seq):
            cur["seq"] = i
            t, c = time.perf_counter(), time.process_time()
            arrays = gen.generate("train", i)
            t2 = time.perf_counter()
            save_staged(Path(tmp) / f"seq_{i}.npz", arrays, {"split": "train", "seq_id": i})
            rows[(i, "write (staging .npz)")]["wall_s"] += time.perf_counter() - t2
            per_seq.append(time.perf_counter() - t)
            per_cpu.append(time.process_time() - c)
    dr.set_flag(dr.JitFlag.KernelHistory, False)
    stages: dict = {}
    for (i, label), v in rows.items():
        key = "cold (sequence 0)" if i == 0 else "warm (mean of sequences 1..)"
        d = stages.setdefault(label, {}).setdefault(key, defaultdict(float))
        for k, x in v.items():
            d[k] += x if i == 0 else x / max(1, n_seq - 1)
    return {"frames_per_sequence": T, "sequence_s": per_seq, "sequence_cpu_s": per_cpu,
            "samples_per_s_warm": (n_seq - 1) * T / sum(per_seq[1:]) if n_seq > 1 else None,
            "cpu_s_per_sample_warm": sum(per_cpu[1:]) / ((n_seq - 1) * T) if n_seq > 1 else None,
            "stages": {k: {kk: dict(vv) for kk, vv in v.items()} for k, v in stages.items()}}


ABLATIONS = {   # what each part of a scene costs: one change at a time against the default (``--ablate``)
    "default": ([], None),
    "clutter depth 1 (radio.clutter_max_depth=1)": (["radio.clutter_max_depth=1"], None),
    "clutter rays / 3 (radio.clutter_samples_per_src=10000)": (["radio.clutter_samples_per_src=10000"], None),
    "no buildings": ([], ("building",)),
    "no parked cars": ([], ("parked_car",)),
    "camera spp 4 (camera.spp=4)": (["camera.spp=4"], None),
}


def ablate(args, over: list[str]) -> dict:
    """Warm CPU seconds per sample of each ``ABLATIONS`` variant (``--profile K`` sequences each, the first one
    discarded as cold): the cost of buildings, multipath depth, clutter rays, parked cars and the render."""
    from dataclasses import replace as _r

    from radiovisual.dataset.config import resolve_synth_config

    out = {}
    for name, (sets, drop) in ABLATIONS.items():
        cfg = resolve_synth_config(args.preset, scenario=args.scenario, seed=args.seed, overrides=over + sets)

        def flt(world, drop=drop):
            return _r(world, bodies=[b for b in world.bodies if b.kind not in drop]) if drop else world
        prof = profile(cfg, max(2, args.profile), flt if drop else None)
        warm = {k: v["warm (mean of sequences 1..)"] for k, v in prof["stages"].items()
                if "warm (mean of sequences 1..)" in v}
        T = prof["frames_per_sequence"]
        stages = {k: d.get("cpu_s", 0.0) / T for k, d in warm.items()}
        jit = sum(d.get("jit_compile_s", 0.0) for d in warm.values()) / T     # wall time of LLVM compiles
        out[name] = {"cpu_s_per_sample": prof["cpu_s_per_sample_warm"], "jit_compile_wall_s_per_sample": jit,
                     "samples_per_s_warm": prof["samples_per_s_warm"], "stage_cpu_s_per_sample": stages}
        print(f"  {name:58s} {prof['cpu_s_per_sample_warm']:.3f} CPU s/sample, JIT {jit:.3f} s ("
              + ", ".join(f"{k.split(' (')[0]} {v:.3f}" for k, v in stages.items() if v > 0.002) + ")", flush=True)
    return out


def scenarios(args, argv: list[str]) -> int:
    """``--scenarios a,b,c``: this script once per scenario (each in its own process, cold if ``--cold``), and
    one JSON that holds them all."""
    import json

    names = [x.strip() for x in args.scenarios.split(",") if x.strip()]
    drop = {"--scenarios", "--tag", "--scenario"}
    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in drop:
            skip = True
            continue
        if not any(a.startswith(d + "=") for d in drop):
            rest.append(a)
    res, rc = {}, 0
    for sc in names:
        tag = (args.tag + "_" if args.tag else "") + sc
        r = subprocess.run([sys.executable, __file__, *rest, "--scenario", sc, "--tag", tag])
        rc = rc or r.returncode
        f = Path(args.out) / f"synth_throughput_{args.preset}_{tag}.json"
        res[sc] = json.loads(f.read_text()) if f.is_file() else {"error": f"exit {r.returncode}"}
    from radiovisual.utils.io import write_json

    out = Path(args.out) / f"synth_throughput_{args.preset}{('_' + args.tag) if args.tag else ''}_scenarios.json"
    summary = {sc: {k: (r.get("throughput") or {}).get(k) for k in
                    ("samples", "samples_per_s_end_to_end", "marginal_samples_per_s", "staging_wall_s", "pack_s",
                     "cpu_s_per_sample")} | {"load_1m_at_start": r.get("machine", {}).get("loadavg_at_start")}
               for sc, r in res.items()}
    write_json(out, {"summary": summary, "runs": res})
    for sc, v in summary.items():
        print(f"{sc:14s} " + ", ".join(f"{k} {v[k]:.2f}" if isinstance(v[k], float) else f"{k} {v[k]}" for k in v))
    print(f"wrote {out}")
    return rc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="quick", choices=["smoke", "quick", "cruw", "paper"])
    p.add_argument("--scenario", default=None)
    p.add_argument("--scenarios", default=None, help="comma-separated scenarios, one run each, one combined JSON")
    p.add_argument("--ablate", action="store_true", help="with --profile K: CPU cost of each ABLATIONS variant")
    p.add_argument("--samples", type=int, default=0, help="throughput run over this many samples (train split)")
    p.add_argument("--workers", type=int, default=None, help="Dask LocalCluster workers (default: serial)")
    p.add_argument("--profile", type=int, default=0, metavar="K", help="per-stage profile of K sequences")
    p.add_argument("--frames", type=int, default=None, help="override scene.n_frames")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    p.add_argument("--seed", type=int, default=0, help="use a never-used seed for a 'new seed' measurement")
    p.add_argument("--cold", action="store_true", help="empty Dr.Jit kernel cache (child process, HOME=tmp)")
    p.add_argument("--tag", default="", help="suffix of the JSON file name")
    p.add_argument("--out", default="benchmarks/results", help="directory for the JSON result")
    args = p.parse_args(argv)
    if args.scenarios:
        return scenarios(args, list(argv if argv is not None else sys.argv[1:]))

    if args.cold and not os.environ.get("RV_BENCH_COLD_CHILD"):
        with tempfile.TemporaryDirectory(prefix="rv-cold-home-") as home:
            env = {**os.environ, "HOME": home, "RV_BENCH_COLD_CHILD": "1"}
            argv2 = [a for a in (argv if argv is not None else sys.argv[1:])]
            r = subprocess.run([sys.executable, __file__, *argv2, "--out", str(Path(args.out).resolve())], env=env)
            print(f"  Dr.Jit cache left by the cold run: {_dir_mb(Path(home) / '.drjit'):.1f} MB "
                  f"({len(list((Path(home) / '.drjit').glob('*')))} files)")
            return r.returncode

    from radiovisual.dataset.config import SplitSizes, resolve_synth_config
    from radiovisual.dataset.synth import software_versions
    from radiovisual.utils.io import write_json

    over = list(args.overrides) + ([f"scene.n_frames={args.frames}"] if args.frames else [])
    cfg = resolve_synth_config(args.preset, scenario=args.scenario, seed=args.seed, overrides=over)
    T = cfg.scene.n_frames
    drjit_cache = Path.home() / ".drjit"
    res: dict = {
        "preset": args.preset, "scenario": cfg.scenario, "seed": args.seed, "overrides": over,
        "frames_per_sequence": T, "workers": args.workers or 1,
        "kernel_cache": ("empty at start (fresh HOME)" if os.environ.get("RV_BENCH_COLD_CHILD")
                         else f"user's {drjit_cache} ({_dir_mb(drjit_cache):.0f} MB at start)"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                    "loadavg_at_start": os.getloadavg()},
        "software": software_versions(),
        "caveat": "wall-clock on a possibly shared machine; see kernel_cache for the JIT cache state",
    }
    print(f"preset {args.preset} ({cfg.scenario}), seed {args.seed}, kernel cache: {res['kernel_cache']}")
    if args.profile and args.ablate:
        res["ablation"] = ablate(args, over)
    elif args.profile:
        res["profile"] = prof = profile(cfg, args.profile)
        print(f"  profile: {args.profile} sequences x {T} frames, sequence times "
              + ", ".join(f"{t:.2f}" for t in prof["sequence_s"]) + " s")
        for label, v in prof["stages"].items():
            print(f"    {label:40s} " + " | ".join(
                f"{k.split()[0]}: {d['wall_s']:.3f} s (CPU {d.get('cpu_s', 0):.3f}), {d.get('cache_misses', 0):.0f} compiled "
                f"({d.get('jit_compile_s', 0):.3f} s)" for k, d in v.items()))
    if args.samples:
        n_seq = -(-args.samples // T)
        cfg_t = replace(cfg, splits=SplitSizes(train=n_seq * T, val=0, test=0))
        res["throughput"] = tp = throughput(cfg_t, args.workers)
        print(f"  throughput: {tp['samples']} samples, {tp['samples_per_s_end_to_end']:.2f} samples/s end to end; "
              f"marginal ({tp['marginal_from_samples']} -> {tp['samples']}) "
              f"{tp['marginal_samples_per_s'] or float('nan'):.2f} samples/s; 100 -> 1000: "
              f"{tp['marginal_100_to_1000_samples_per_s'] or float('nan'):.2f} samples/s; "
              f"CPU {tp['cpu_s']:.0f} s ({tp['cpu_s_per_sample']:.3f} s/sample); "
              f"per tenth {tp['samples_per_s_per_tenth']}")
    res["peak_rss_mb_main_process"] = peak_rss_mb()
    res["drjit_cache_mb_at_end"] = _dir_mb(drjit_cache)
    out = Path(args.out) / f"synth_throughput_{args.preset}{('_' + args.tag) if args.tag else ''}.json"
    write_json(out, res)
    print(f"  wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
