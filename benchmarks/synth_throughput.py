"""Synthesis throughput: paired (radar + camera + labels + staging + packing) and radar-only samples/s.

    python benchmarks/synth_throughput.py --preset quick --sequences 2 --out benchmarks/results

Paired: the real ``synthesise`` pipeline into a temporary store (first sequence includes the
Dr.Jit JIT warm-up; the steady-state rate excludes it). Radar-only: the same (already warm)
RadarSimulator on as many new worlds. Peak RSS from ``resource.getrusage``. Prints a
summary and writes ``synth_throughput_<preset>.json`` under ``--out``.
Timings depend on the machine and on whatever else runs on it: report them with that caveat.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="quick", choices=["smoke", "quick", "paper"])
    p.add_argument("--scenario", default=None)
    p.add_argument("--sequences", type=int, default=2, help="sequences to synthesise (all in train)")
    p.add_argument("--frames", type=int, default=None, help="override scene.n_frames")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results", help="directory for the JSON result")
    args = p.parse_args(argv)

    from radiovisual.dataset.config import SplitSizes, resolve_synth_config
    from radiovisual.dataset.generate import SequenceGenerator
    from radiovisual.dataset.synth import software_versions, synthesise
    from radiovisual.utils.io import write_json

    over = [f"scene.n_frames={args.frames}"] if args.frames else []
    cfg = resolve_synth_config(args.preset, scenario=args.scenario, seed=args.seed, overrides=over)
    T = cfg.scene.n_frames
    cfg = replace(cfg, splits=SplitSizes(train=args.sequences * T, val=0, test=0))
    gens: list[SequenceGenerator] = []
    seq_times: list[float] = []

    class Timed(SequenceGenerator):
        def generate(self, split, seq_id):
            t = time.perf_counter()
            out = super().generate(split, seq_id)
            seq_times.append(time.perf_counter() - t)
            return out

    setup: list[float] = []

    def make(c, d):
        t = time.perf_counter()
        gens.append(Timed(c, d))
        setup.append(time.perf_counter() - t)
        return gens[-1]

    with tempfile.TemporaryDirectory(prefix="rv-bench-") as tmp:
        t0 = time.perf_counter()
        synthesise(cfg, Path(tmp) / "store", progress=True, make_generator=make)
        paired_wall = time.perf_counter() - t0
        rss_paired = peak_rss_mb()
        gen = gens[0]
        stages = dict(gen.timings)
        # Radar alone, warm, on NEW worlds (ids after the paired ones): re-running the same worlds
        # would hit kernels Dr.Jit already compiled for them.
        radar_s = 0.0
        for i in range(args.sequences, 2 * args.sequences):
            world, radar_seed, _ = gen.world("train", i)
            t = time.perf_counter()
            gen.radar.simulate(world, radar_seed)
            radar_s += time.perf_counter() - t
    n = args.sequences * T
    steady = sum(seq_times[1:]) / max(1, (len(seq_times) - 1) * T) if len(seq_times) > 1 else None
    res = {
        "preset": args.preset, "scenario": cfg.scenario, "sequences": args.sequences, "frames_per_sequence": T,
        "samples": n,
        "paired_samples_per_s_end_to_end": n / paired_wall,
        "paired_samples_per_s_steady": (1.0 / steady) if steady else None,
        "paired_wall_s": paired_wall,
        "sequence_times_s": seq_times,
        "stage_times_s": stages,
        "setup_s": setup[0],
        "staging_and_packing_s": paired_wall - sum(seq_times) - setup[0],
        "radar_only_samples_per_s": n / radar_s,
        "radar_only_s": radar_s,
        "peak_rss_mb_after_paired": rss_paired,
        "peak_rss_mb": peak_rss_mb(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
        "software": software_versions(),
        "caveat": ("wall-clock on a possibly shared machine; first sequence includes JIT warm-up; "
                   "end-to-end includes setup (imports)"),
    }
    out = Path(args.out) / f"synth_throughput_{args.preset}.json"
    write_json(out, res)
    print(f"preset {args.preset} ({cfg.scenario}), {n} samples ({args.sequences} x {T} frames)")
    print(f"  paired end-to-end : {res['paired_samples_per_s_end_to_end']:.3f} samples/s "
          f"(steady, excl. first sequence: {res['paired_samples_per_s_steady'] or float('nan'):.3f})")
    print(f"  radar only (warm) : {res['radar_only_samples_per_s']:.3f} samples/s")
    print("  stages [s]        : " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items())
          + f", setup (imports, simulators) {res['setup_s']:.2f}, staging+packing {res['staging_and_packing_s']:.2f}")
    print(f"  peak RSS          : {res['peak_rss_mb']:.0f} MB")
    print(f"  wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
