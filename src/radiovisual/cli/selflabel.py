"""``radiovisual selflabel RUN DATA --split train --out labels.zarr [--set key=value]``: cross-modal attention
self-labels. Every ``SelfLabelConfig`` field (``selflabel/config.py``) can be set with ``--set``, e.g.
``--set track=true`` (mcl+track) or ``--set face_prior=off``."""

from __future__ import annotations

import argparse

from .common import add_force, add_set


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="pretraining run directory (from `radiovisual pretrain`)")
    p.add_argument("data", help="dataset store (opened label-free)")
    p.add_argument("--split", default="train", choices=("train", "val", "test"))
    p.add_argument("--out", default=None, help="output zarr (default: RUN/selflabels-SPLIT.zarr)")
    p.add_argument("--preset", default="default", help="default, or track (= --set track=true)")
    p.add_argument("--refine", default=None, help="sub-bin refinement: parabolic | softargmax | none | auto")
    p.add_argument("--no-calibrate", action="store_true",
                   help="plain i*R/h rescaling instead of the backbone's receptive-field centres (mcl-paper)")
    p.add_argument("--range-shift-m", type=float, default=None, help="extra constant range shift [m] (a prior)")
    p.add_argument("--normalize", action="store_true",
                   help="L2-normalise per-bin features before the Eq. 2 correlation (mcl-paper read-out)")
    p.add_argument("--export-attention", type=int, default=None, help="attention maps to store for the report")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--no-progress", action="store_true")
    add_force(p)
    add_set(p)


def run(args: argparse.Namespace) -> int:
    from ..selflabel import load_labels, open_labels, run_selflabel
    from ..selflabel.config import resolve_selflabel_config

    extra: dict = {}
    for key, val in (("refine", args.refine), ("range_shift_m", args.range_shift_m),
                     ("export_attention", args.export_attention), ("batch_size", args.batch_size)):
        if val is not None:
            extra[key] = val
    if args.no_calibrate:
        extra["calibrate"] = False
    if args.normalize:
        extra["normalize"] = True
    cfg = resolve_selflabel_config(args.preset, args.overrides, args.config_yaml, extra)
    out = run_selflabel(args.run, args.data, split=args.split, out=args.out, cfg=cfg, progress=not args.no_progress,
                        force=args.force)
    attrs = dict(open_labels(out).attrs)
    lab = load_labels(out)
    print(f"self-labels: {out} ({len(lab)} samples, method {attrs.get('method')}, read-out {attrs.get('readout')}, "
          f"face prior {attrs.get('face_prior_shift_m', 0):+.2f} m)")
    jit = attrs.get("stage_jitter_m") or attrs.get("refine_jitter_m") or {}
    print("label-free temporal jitter RMS [m]: " + ", ".join(f"{k} {v['rms_m']:.3f}" for k, v in jit.items()))
    return 0
