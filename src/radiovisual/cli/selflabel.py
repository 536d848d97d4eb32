"""``radiovisual selflabel RUN DATA --split train --out labels.zarr [--set key=value]``: cross-modal attention
self-labels. Every ``SelfLabelConfig`` field (``selflabel/config.py``) can be set with ``--set``, e.g.
``--set track=true`` (mcl+track) or ``--set face_prior=off``."""

from __future__ import annotations

import argparse

from .common import add_data, add_force, add_progress, add_set

# selflabel has no size presets: the benchmark's smoke/quick/paper trees keep its defaults, so those names are
# accepted (and mean 'default') to match the other commands; 'track' is mcl+track's sequence smoothing
PRESETS = {"default": "default", "smoke": "default", "quick": "default", "paper": "default", "track": "track"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="pretraining run directory (from `radiovisual pretrain`), or a benchmark "
                                              "OUT/pretrain/METHOD directory (its kept seed run)")
    add_data(p, "dataset store (opened label-free)")
    p.add_argument("--split", default="train", choices=("train", "val", "test"), help="split to self-label")
    p.add_argument("--out", default=None, help="output zarr (default: RUN/selflabels-SPLIT.zarr)")
    p.add_argument("--preset", default="default", choices=list(PRESETS),
                   help="track (= --set track=true) or default; smoke, quick and paper are the default (selflabel has "
                        "no size presets)")
    p.add_argument("--refine", default=None, help="sub-bin refinement: parabolic | softargmax | none | auto")
    p.add_argument("--no-calibrate", action="store_true",
                   help="plain i*R/h rescaling instead of the backbone's receptive-field centres (mcl-paper)")
    p.add_argument("--range-shift-m", type=float, default=None, help="extra constant range shift [m] (a prior)")
    p.add_argument("--normalize", action="store_true",
                   help="L2-normalise per-bin features before the Eq. 2 correlation (mcl-paper read-out)")
    p.add_argument("--export-attention", type=int, default=None, help="attention maps to store for the report")
    p.add_argument("--batch-size", type=int, default=None, help="samples per read-out batch (default: the config's)")
    add_progress(p)
    add_force(p)
    add_set(p, "selflabel")


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
    from ..utils.runs import resolve_run

    cfg = resolve_selflabel_config(PRESETS[args.preset], args.overrides, args.config_yaml, extra)
    out = run_selflabel(resolve_run(args.run, "pretraining"), args.data, split=args.split, out=args.out, cfg=cfg,
                        progress=not args.no_progress,
                        force=args.force)
    attrs = dict(open_labels(out).attrs)
    lab = load_labels(out)
    print(f"self-labels: {out} ({len(lab)} samples, method {attrs.get('method')}, read-out {attrs.get('readout')}, "
          f"face prior {attrs.get('face_prior_shift_m', 0):+.2f} m)")
    jit = attrs.get("stage_jitter_m") or attrs.get("refine_jitter_m") or {}
    print("label-free temporal jitter RMS [m]: " + ", ".join(f"{k} {v['rms_m']:.3f}" for k, v in jit.items()))
    return 0
