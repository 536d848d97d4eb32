"""``radiovisual rodnet DATA --out RUN``: RODNet-style teacher (camera + CFAR fusion, no GT)
on train, the shared radio-only localiser as student, then val p50/p90.

Config keys (``--set`` / ``--config``): ``teacher.*``, ``teacher.cfar.*`` and ``localise.*`` (the
student's localiser: the same ``LocaliserConfig`` and key names as ``radiovisual localise``).
"""

from __future__ import annotations

import argparse

from .common import add_data, add_force, add_progress, add_set


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data(p, "dataset store (format v1)")
    p.add_argument("--out", required=True, metavar="RUN", help="run directory (teacher labels + student)")
    p.add_argument("--preset", default="quick", help="preset for teacher and student: smoke | quick | paper")
    p.add_argument("--seed", type=int, default=0, help="seed of the student localiser")
    p.add_argument("--split", default="val", help="split to report (default: val)")
    add_progress(p)
    add_set(p, "rodnet")
    add_force(p)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import numpy as np

    from ..baselines.rodnet import resolve_rodnet_config, run_rodnet
    from ..dataset.format import open_dataset
    from ..evaluate.score import score_predictions
    from ..localise import predict
    from ..utils.io import write_json

    cfg = resolve_rodnet_config(args.preset, args.overrides, args.config_yaml)
    student = run_rodnet(args.data, args.out, preset=args.preset, seed=args.seed, progress=not args.no_progress,
                         cfg=cfg, force=args.force)
    out = Path(args.out)
    teacher = json.loads((out / "teacher" / "teacher.json").read_text())["stats"]
    print(f"teacher on train: fused {100 * teacher['fused_frac']:.1f} %, camera only "
          f"{100 * teacher['camera_only_frac']:.1f} %, radar only {100 * teacher['radar_only_frac']:.1f} %")
    pred = np.asarray(predict(student, open_dataset(args.data, labels=False).split(args.split).read("radar")))
    metrics = score_predictions(pred, args.data, args.split)
    # Diagnostic only (never fed back): how good were the pseudo-labels against train GT?
    tmetrics = score_predictions(np.load(out / "teacher" / "labels.npy"), args.data, "train")
    print(f"teacher pseudo-label error vs train GT (diagnostic): p50 = {tmetrics['p50_m']:.3f} m, "
          f"p90 = {tmetrics['p90_m']:.3f} m")
    print(f"rodnet student on {args.split} ({len(pred)} samples): p50 = {metrics['p50_m']:.3f} m, "
          f"p90 = {metrics['p90_m']:.3f} m")
    write_json(out / "metrics.json", {"method": "rodnet", "label_free": True, "split": args.split,
                                      "dataset": str(args.data), "student_run": str(student), **metrics,
                                      "teacher_train_diagnostic": tmetrics, "teacher_stats": teacher})
    return 0
