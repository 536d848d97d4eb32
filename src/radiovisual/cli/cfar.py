"""``radiovisual cfar DATA``: run the CFAR + DBSCAN baseline on one split and score it.

Ground truth is read only to score (and, with ``--genie``, to pick the cluster nearest to
the target: the paper's genie-aided CFAR†).
"""

from __future__ import annotations

import argparse

from .common import add_set


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="dataset store (format v1)")
    p.add_argument("--split", default="val", help="split to evaluate (default: val)")
    p.add_argument("--genie", action="store_true",
                   help="genie-aided selection: the cluster closest to ground truth (reported as cfar-genie)")
    p.add_argument("--preset", default="quick", help="CFAR config preset: smoke | quick | paper (default quick)")
    p.add_argument("--tune", action="store_true",
                   help="grid-search variant/pfa/eps on the TRAIN split first (never on val), then evaluate")
    p.add_argument("--limit", type=int, default=None, help="only the first N samples of the split")
    p.add_argument("--out", default=None, metavar="JSON", help="write metrics and detection stats here")
    p.add_argument("--save-pred", default=None, metavar="NPY", help="save the [N, 2] polar estimates")
    add_set(p)


def score(pred, gt) -> dict:
    """p50/p90 x-y error [m] with the shared evaluator (the same numbers the benchmark reports)."""
    from ..evaluate.metrics import error_summary, location_errors

    return dict(error_summary(location_errors(pred, gt)))


def run(args: argparse.Namespace) -> int:
    from ..baselines.cfar_pipeline import resolve_cfar_config, run_cfar_detailed, save_estimates, tune_cfar
    from ..dataset.format import open_dataset
    from ..utils.io import write_json

    cfg = resolve_cfar_config(args.preset, args.overrides, args.config_yaml)
    tuning = None
    if args.tune:
        cfg, tuning = tune_cfar(args.data, genie=args.genie, base=cfg)
        print("tuned on train:", {k: getattr(cfg, k) for k in ("variant", "pfa", "eps")})
    pred, stats = run_cfar_detailed(args.data, args.split, args.genie, cfg, limit=args.limit, progress=True)
    gt = open_dataset(args.data, labels=True).split(args.split).read("target_polar", slice(0, len(pred)))
    metrics = score(pred, gt)
    name = stats["method"]
    print(f"{name} on {args.split} ({len(pred)} samples): p50 = {metrics['p50_m']:.3f} m, "
          f"p90 = {metrics['p90_m']:.3f} m")
    print(f"  detections/frame {stats['detections_per_frame']:.1f}, clusters kept/frame "
          f"{stats['candidates_per_frame']:.2f}, no-detection fallback {100 * stats['fallback_per_frame']:.1f} %, "
          f"moving cluster found {100 * stats['moving_found_per_frame']:.1f} %, "
          f"range-Doppler matching {'on' if stats['doppler_used'] else 'off'}")
    if args.save_pred:
        save_estimates(args.save_pred, pred)
    if args.out:
        write_json(args.out, {"method": name, "split": args.split, "dataset": str(args.data), **metrics,
                              "stats": stats, "tuning_on_train": tuning})
    return 0
