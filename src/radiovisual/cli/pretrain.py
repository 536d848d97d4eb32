"""``radiovisual pretrain DATA --method {mcl,mcl-paper,scl,scl-paper,cl,clip} --out RUN [--preset ...] [--set k=v]``.

Multi-GPU / multi-node: ``torchrun --nproc_per_node N -m radiovisual.cli.main pretrain ...``.
"""

from __future__ import annotations

import argparse

from .common import add_data, add_force, add_progress, add_set


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data(p, "dataset store (zarr); only its train split is used, without labels")
    p.add_argument("--method", required=True,
                   help="mcl (per-bin MIL), mcl-paper (literal Eq. 1), scl (per-bin MIL, hard max over bins), "
                        "scl-paper (raw features), cl or clip")
    p.add_argument("--out", required=True, help="run directory (config.json, checkpoint.pt, metrics.jsonl)")
    p.add_argument("--preset", default="quick", help="smoke, quick (CPU) or paper (GPU)")
    p.add_argument("--seed", type=int, default=None, help="override the config seed")
    p.add_argument("--no-resume", dest="resume", action="store_false",
                   help="start from scratch even if RUN/checkpoint.pt of this config exists")
    add_progress(p)
    add_force(p)
    add_set(p, "pretrain")


def run(args: argparse.Namespace) -> int:
    from ..pretrain import run_pretrain
    from ..pretrain import dist
    from ..pretrain.config import METHODS
    from ..errors import ConfigError

    if args.method not in METHODS:
        raise ConfigError(f"unknown method '{args.method}' (choose from {', '.join(METHODS)})")
    try:
        out = run_pretrain(args.data, args.method, args.out, preset=args.preset, overrides=args.overrides,
                           resume=args.resume, progress=not args.no_progress, seed=args.seed,
                           yaml_path=args.config_yaml, force=args.force)
        if dist.is_main():
            print(f"pretrained {args.method} -> {out}")
    finally:
        dist.cleanup()
    return 0
