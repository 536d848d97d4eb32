"""``radiovisual cfar DATA [--out DIR]``: run the CFAR + DBSCAN baseline on one split and score it.

Ground truth is read only to score (``evaluate.score``) and, with ``--genie``, to pick the
cluster nearest to the target (the paper's genie-aided CFAR†). ``--tune`` grid-searches on TRAIN
ground truth, so it is genie-aided too and refused without ``--genie``.
"""

from __future__ import annotations

import argparse

from .common import add_data, add_force, add_progress, add_set


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data(p, "dataset store (format v1)")
    p.add_argument("--split", default="val", help="split to evaluate (default: val)")
    p.add_argument("--genie", action="store_true",
                   help="genie-aided selection: the cluster closest to ground truth (reported as cfar-genie)")
    p.add_argument("--preset", default="quick", help="CFAR config preset: smoke | quick | paper (default quick)")
    p.add_argument("--tune", action="store_true",
                   help="grid-search variant/pfa/eps against TRAIN ground truth first (never val); genie-aided, "
                        "so it needs --genie and is reported as cfar-genie-tuned")
    p.add_argument("--limit", type=int, default=None, help="only the first N samples of the split")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="stage directory: pred.npy, stats.json, metrics.json, done.json (reused on re-run)")
    p.add_argument("--save-pred", default=None, metavar="NPY", help="also save the [N, 2] polar estimates here")
    add_progress(p)
    add_set(p, "cfar")
    add_force(p)


def run(args: argparse.Namespace) -> int:
    import json
    import tempfile
    from pathlib import Path

    import numpy as np

    from ..baselines.cfar_pipeline import resolve_cfar_config, run_cfar_stage, save_estimates, tune_cfar
    from ..errors import ConfigError
    from ..evaluate.score import score_predictions, train_scorer
    from ..utils.io import write_json

    if args.tune and not args.genie:
        raise ConfigError("--tune scores candidate settings against TRAIN ground truth, which makes the result "
                          "genie-aided; add --genie (reported as cfar-genie-tuned)")
    cfg = resolve_cfar_config(args.preset, args.overrides, args.config_yaml)
    tuning = None
    if args.tune:
        cfg, tuning = tune_cfar(args.data, train_scorer(args.data, 200), genie=True, base=cfg, limit=200)
        print("tuned on train GT (genie):", {k: getattr(cfg, k) for k in ("variant", "pfa", "eps")})
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "cfar"
        run_cfar_stage(cfg, args.data, out, args.split, args.genie, limit=args.limit, force=args.force,
                       progress=not args.no_progress, extra_inputs={"tuned": bool(args.tune)})
        pred = np.load(out / "pred.npy")
        stats = json.loads((out / "stats.json").read_text())
        name = stats["method"] + ("-tuned" if args.tune else "")
        metrics = score_predictions(pred, args.data, args.split)
        if args.out:
            write_json(out / "metrics.json", {"method": name, "genie": bool(args.genie), "label_free": not args.genie,
                                              "split": args.split, "dataset": str(args.data), **metrics,
                                              "stats": stats, "tuning_on_train": tuning})
    print(f"{name} on {args.split} ({len(pred)} samples): p50 = {metrics['p50_m']:.3f} m, "
          f"p90 = {metrics['p90_m']:.3f} m")
    print(f"  detections/frame {stats['detections_per_frame']:.1f}, clusters kept/frame "
          f"{stats['candidates_per_frame']:.2f}, no-detection fallback {100 * stats['fallback_per_frame']:.1f} %, "
          f"moving cluster found {100 * stats['moving_found_per_frame']:.1f} %, "
          f"range-Doppler matching {'on' if stats['doppler_used'] else 'off'}")
    if args.save_pred:
        save_estimates(args.save_pred, pred)
    return 0
