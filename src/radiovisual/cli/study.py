"""``radiovisual study NAME``: one of the paper's §6.2 ablations over the benchmark's stages (docs/studies.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_force, add_set

STUDY_NAMES = ("label-density", "mask-offset", "dimensionality", "backbones", "detector-masks")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="study: " + ", ".join(STUDY_NAMES))
    p.add_argument("--preset", default="quick", help="smoke (tests), quick (2 CPU cores, <= 20 min), paper (GPU)")
    p.add_argument("--out", required=True, help="output directory (shared by studies; finished stages reused)")
    p.add_argument("--data", default=None, help="an existing complete dataset store (default: synthesise OUT/data)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per point (error bars: std over seeds)")
    p.add_argument("--seed", type=int, default=None, help="master seed")
    p.add_argument("--progress", action="store_true", help="progress bars of the stages (off by default: many stages)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars (the default)")
    add_force(p)
    add_set(p, "study")


def run(args: argparse.Namespace) -> int:
    from ..study import build_study_config, run_study

    extra: dict = {}
    if args.data:
        extra["data"] = args.data
    if args.seeds is not None:
        extra["seeds"] = args.seeds
    if args.seed is not None:
        extra["seed"] = args.seed
    bench, study = build_study_config(args.preset, args.config_yaml, args.overrides, extra)
    run_study(args.name, bench, study, Path(args.out), progress=args.progress, force=args.force)
    return 0
