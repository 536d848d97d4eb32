"""``radiovisual rodnet DATA --out RUN``: RODNet-style teacher (camera + CFAR fusion, no GT)
on train, the shared radio-only localiser as student, then val p50/p90."""

from __future__ import annotations

import argparse

from .common import add_set


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="dataset store (format v1)")
    p.add_argument("--out", required=True, metavar="RUN", help="run directory (teacher labels + student)")
    p.add_argument("--preset", default="quick", help="preset for teacher and student: smoke | quick | paper")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="val", help="split to report (default: val)")
    add_set(p)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import numpy as np

    from ..baselines.rodnet import run_rodnet
    from ..dataset.format import open_dataset
    from ..localise import predict
    from ..utils.io import write_json
    from .cfar import score

    if args.config_yaml:
        from ..errors import ConfigError

        raise ConfigError("rodnet takes teacher overrides via --set (e.g. --set car_half_depth_m=1.5)")
    student = run_rodnet(args.data, args.out, preset=args.preset, seed=args.seed, overrides=args.overrides,
                         progress=True)
    out = Path(args.out)
    teacher = json.loads((out / "teacher" / "teacher.json").read_text())["stats"]
    print(f"teacher on train: fused {100 * teacher['fused_frac']:.1f} %, camera only "
          f"{100 * teacher['camera_only_frac']:.1f} %, radar only {100 * teacher['radar_only_frac']:.1f} %")
    ds = open_dataset(args.data, labels=False)
    pred = np.asarray(predict(student, ds.split(args.split).read("radar")))
    gt = open_dataset(args.data, labels=True).split(args.split).read("target_polar")
    metrics = score(pred, gt)
    # Diagnostic only (never fed back): how good were the pseudo-labels against train GT?
    tl = np.load(out / "teacher" / "labels.npy")
    tgt = open_dataset(args.data, labels=True).split("train").read("target_polar")
    tmetrics = score(tl, tgt)
    print(f"teacher pseudo-label error vs train GT (diagnostic): p50 = {tmetrics['p50_m']:.3f} m, "
          f"p90 = {tmetrics['p90_m']:.3f} m")
    print(f"rodnet student on {args.split} ({len(pred)} samples): p50 = {metrics['p50_m']:.3f} m, "
          f"p90 = {metrics['p90_m']:.3f} m")
    write_json(out / "metrics.json", {"method": "rodnet", "split": args.split, "dataset": str(args.data),
                                      "student_run": str(student), **metrics,
                                      "teacher_train_diagnostic": tmetrics, "teacher_stats": teacher})
    return 0
