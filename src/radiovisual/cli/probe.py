"""``radiovisual probe RUN DATA --task T --labels-fraction 0.01,0.1,1.0 --out DIR``: linear probe (supervised
evaluation) of a pretrained radio backbone vs the same net trained from scratch and a random-init floor."""

from __future__ import annotations

import argparse

from .common import add_data, add_progress


def _floats(s: str) -> list[float]:
    try:
        return [float(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {s!r}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="finished pretraining run directory (from `radiovisual pretrain`)")
    add_data(p, "dataset store; probes train on its train split and report accuracy on val")
    p.add_argument("--task", default="lane-side",
                   help="comma-separated: lane-side, range-bin, car-model, moving (default lane-side)")
    p.add_argument("--labels-fraction", type=_floats, default=[0.01, 0.1, 1.0],
                   help="fractions of the train labels the probes see (default 0.01,0.1,1.0)")
    p.add_argument("--out", required=True, help="output directory (probe.json, probe.png)")
    p.add_argument("--seed", type=int, default=0, help="fixes the label subsets, random floor and scratch training")
    p.add_argument("--steps", type=int, default=1000, help="optimiser steps of the supervised-from-scratch baseline")
    p.add_argument("--range-bins", type=int, default=4, help="classes of the range-bin task")
    p.add_argument("--supervised-cache", default=None, metavar="DIR",
                   help="share the from-scratch baseline's results (they do not depend on RUN's weights) "
                        "between probes of several runs on the same data and options")
    add_progress(p)


def run(args: argparse.Namespace) -> int:
    from ..evaluate.probe import run_probe

    tasks = [t.strip() for t in args.task.split(",") if t.strip()]
    res = run_probe(args.run, args.data, args.out, tasks=tasks, fractions=args.labels_fraction, seed=args.seed,
                    steps=args.steps, range_bins=args.range_bins, progress=not args.no_progress,
                    supervised_cache=args.supervised_cache)
    print(f"linear probe of {res['method']} (SUPERVISED evaluation: probes train on GT labels; val accuracy)")
    for task, r in res["tasks"].items():
        print(f"  {task} (val n={r['n_val']}, majority {r['majority_val']:.3f})")
        for i, f in enumerate(r["fractions"]):
            accs = "  ".join(f"{e} {a[i]:.3f}" for e, a in r["acc"].items())
            print(f"    {f:g} ({r['n_labelled'][i]} labels): {accs}")
    print(f"wrote {args.out}/probe.json and probe.png")
    return 0
