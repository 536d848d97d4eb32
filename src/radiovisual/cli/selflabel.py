"""``radiovisual selflabel RUN DATA --split train --out labels.zarr``: cross-modal attention self-labels."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="pretraining run directory (from `radiovisual pretrain`)")
    p.add_argument("data", help="dataset store (opened label-free)")
    p.add_argument("--split", default="train", choices=("train", "val", "test"))
    p.add_argument("--out", default=None, help="output zarr (default: RUN/selflabels-SPLIT.zarr)")
    p.add_argument("--refine", default="parabolic", help="sub-bin refinement: parabolic | softargmax | none | auto")
    p.add_argument("--no-calibrate", action="store_true",
                   help="plain i*R/h rescaling instead of the backbone's receptive-field centres")
    p.add_argument("--range-shift-m", type=float, default=0.0,
                   help="physical-prior range shift [m] (visible face -> body centre), off by default")
    p.add_argument("--normalize", action="store_true",
                   help="L2-normalise per-bin features before the correlation (cosine attention)")
    p.add_argument("--export-attention", type=int, default=16, help="attention maps to store for the report")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..errors import RadiovisualError
    from ..selflabel import load_labels, open_labels, run_selflabel

    if args.batch_size < 1 or args.export_attention < 0:
        raise RadiovisualError("--batch-size must be >= 1 and --export-attention >= 0")
    out = run_selflabel(args.run, args.data, split=args.split, out=args.out, refine=args.refine,
                        calibrate=not args.no_calibrate, export_attention=args.export_attention,
                        batch_size=args.batch_size, range_shift_m=args.range_shift_m, normalize=args.normalize,
                        progress=not args.no_progress)
    attrs = dict(open_labels(out).attrs)
    lab = load_labels(out)
    jit = ", ".join(f"{m} {j['rms_m']:.3f}" for m, j in attrs["refine_jitter_m"].items())
    print(f"self-labels: {out} ({len(lab)} samples, refine={attrs['refine_chosen']}, "
          f"calibration: {attrs['calibration']['method']})")
    print(f"label-free temporal jitter RMS [m]: {jit}")
    return 0
