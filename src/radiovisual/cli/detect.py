"""``radiovisual detect train DATA --out DET`` and ``radiovisual detect predict DET DATA --out masks.zarr``."""

from __future__ import annotations

import argparse

from .common import HelpFormatter, add_data, add_force, add_progress, add_set


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="detect_cmd", metavar="{train,predict}", required=True)
    t = sub.add_parser("train", formatter_class=HelpFormatter,
                       help="train the target-car segmenter from scratch on the train split; score val")
    add_data(t)
    t.add_argument("--out", required=True, help="detector run directory DET")
    t.add_argument("--preset", default="quick", help="smoke | quick | paper")
    t.add_argument("--seed", type=int, default=0, help="training seed")
    add_progress(t)
    add_set(t, "detect")
    add_force(t)
    q = sub.add_parser("predict", formatter_class=HelpFormatter,
                       help="write a masks store (mask, bbox, score per split) for loss.mask_source=pred:PATH")
    q.add_argument("det", metavar="DET", help="finished detector run directory")
    add_data(q)
    q.add_argument("--out", required=True, help="masks store to write (zarr)")
    add_progress(q)
    add_force(q)


def _fmt(v: float) -> str:
    return f"{v:.3f}"


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..detect import predict_detector, resolve_detect_config, train_detector

    if args.detect_cmd == "train":
        cfg = resolve_detect_config(args.preset, args.overrides, args.config_yaml)
        out = train_detector(args.data, args.out, cfg, seed=args.seed, progress=not args.no_progress,
                             force=args.force)
        m = json.loads((Path(out) / "metrics.json").read_text())
        v = m.get("val")
        if v:
            print(f"detector val: mAP@0.5 {_fmt(v['map50'])}, mask IoU {_fmt(v['mask_iou_mean'])}, wrong-object "
                  f"rate {_fmt(v['wrong_object_rate'])}, miss rate {_fmt(v['miss_rate'])} (n={v['n']}); "
                  f"trained {m['train_time_s']:.0f} s; {Path(out) / 'metrics.json'}")
        else:
            print(f"detector trained in {m['train_time_s']:.0f} s (no val split to score); {out}")
        return 0
    out = predict_detector(args.det, args.data, args.out, force=args.force, progress=not args.no_progress)
    print(f"masks store: {out} (use --set loss.mask_source=pred:{out})")
    return 0
