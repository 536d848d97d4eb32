"""``radiovisual benchmark``: the whole pipeline on one scenario, with a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_force, add_progress, add_set


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=None,
                   help="smoke (about a minute), quick (CPU default), paper (GPU); default: quick, "
                        "or none with --config (the YAML is then the whole tree)")
    p.add_argument("--out", required=True, help="output directory (stages inside are reused on re-run)")
    p.add_argument("--scenario", default=None,
                   help="synth.scenario: parking_lot (default), suburban, street_canyon, intersection, "
                        "mix (the first three, per sequence)")
    p.add_argument("--task", default=None, choices=("localise", "detection"),
                   help="localise (default): one target per frame, p50/p90 [m]; detection: every object, "
                        "AP/AR per class (MCL, Supervised, RODNet-style, CFAR, Peak; see docs/detection.md)")
    p.add_argument("--methods", default=None,
                   help="comma-separated label-free rows (mcl,mcl+track,mcl-paper,scl,scl-paper,cl,clip,peak) or "
                        "'all'; default: all but scl-paper and clip")
    p.add_argument("--data", default=None,
                   help="use this existing complete dataset store instead of synthesising OUT/data")
    p.add_argument("--eval-data", dest="eval_data", default=None,
                   help="also score every row on the val split of this other store (same radar grid): e.g. a "
                        "held-out scenario, with a --data store synthesised from the other two")
    p.add_argument("--baselines", default=None,
                   help="comma-separated baselines (cfar-genie,cfar,rodnet), 'none'; default: all three")
    p.add_argument("--eval", dest="evals", default=None,
                   help="comma-separated representation evaluations of each pretraining: probe,retrieval "
                        "(linear probe accuracy, cross-modal Recall@k; supervised evaluations, reported apart)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per method: pretraining, self-labels, localiser (mean ± std)")
    p.add_argument("--n", type=int, default=None, help="total samples (overrides the synth preset's sizes)")
    p.add_argument("--seed", type=int, default=None, help="master seed")
    add_progress(p)
    add_force(p)
    add_set(p, "benchmark")


def run(args: argparse.Namespace) -> int:
    from ..pipeline.config import LABEL_FREE, build_benchmark_config
    from ..pipeline.run import run_benchmark

    extra: dict = {}
    if args.scenario:
        extra["synth"] = {"scenario": args.scenario}
    if args.task:
        extra["task"] = args.task
    if args.methods:
        extra["methods"] = list(LABEL_FREE) if args.methods == "all" else [
            m.strip() for m in args.methods.split(",") if m.strip()]
    if args.baselines:
        extra["baselines"] = [] if args.baselines == "none" else [
            b.strip() for b in args.baselines.split(",") if b.strip()]
    if args.data:
        extra["data"] = args.data
    if args.eval_data:
        extra["eval_data"] = args.eval_data
    if args.evals:
        extra["evals"] = [e.strip() for e in args.evals.split(",") if e.strip()]
    if args.seeds is not None:
        extra["seeds"] = args.seeds
    if args.n is not None:
        extra["n"] = args.n
    if args.seed is not None:
        extra["seed"] = args.seed
    # with --config and no --preset the YAML (e.g. from `radiovisual config --preset quick`) is the whole tree
    preset = args.preset or (None if args.config_yaml else "quick")
    cfg = build_benchmark_config(preset, args.config_yaml, args.overrides, extra)
    if cfg.task == "detection":
        from ..pipeline.detection import run_detection_benchmark

        run_detection_benchmark(cfg, Path(args.out), progress=not args.no_progress, force=args.force)
    else:
        run_benchmark(cfg, Path(args.out), progress=not args.no_progress, force=args.force)
    return 0
