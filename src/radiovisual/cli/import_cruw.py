"""``radiovisual import-cruw ROOT --out DIR``: read a ROD2021 tree into our dataset format (see docs/cruw.md)."""

from __future__ import annotations

import argparse

from .common import add_progress, add_set


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", help="ROD2021 root (holds sequences/, annotations/, calib/)")
    p.add_argument("--out", required=True, help="output store directory")
    p.add_argument("--sequences", nargs="+", default=None, metavar="SEQ",
                   help="train sequences: names, globs, or scene codes PL CR CS HW (default: all)")
    p.add_argument("--chirp", default=None, help="chirp id 0|64|128|192, or 'mean' of the four (default 0)")
    p.add_argument("--val-fraction", type=float, default=None,
                   help="share of sequences carved from train into val, by whole sequences (default 0.2)")
    p.add_argument("--val-sequences", nargs="+", default=None, metavar="SEQ", help="explicit val sequences")
    p.add_argument("--detections", default=None, metavar="DIR",
                   help="vision detections, one <SEQ>.txt per sequence: 'frame x0 y0 x1 y1 score class'")
    p.add_argument("--complex", action="store_true", help="also store the complex RA map ('radar_complex')")
    p.add_argument("--seed", type=int, default=None, help="seed of the val draw (default 0)")
    add_progress(p)
    add_set(p, "import-cruw")


def run(args: argparse.Namespace) -> int:
    import sys

    from ..dataset.cruw_import import import_cruw, resolve_import_config

    cfg = resolve_import_config(
        args.overrides, args.config_yaml, chirp=args.chirp, val_fraction=args.val_fraction, seed=args.seed,
        sequences=tuple(args.sequences) if args.sequences else None, detections=args.detections,
        val_sequences=tuple(args.val_sequences) if args.val_sequences else None,
        store_complex=True if args.complex else None)
    out = import_cruw(args.root, args.out, cfg, progress=not args.no_progress)
    from ..dataset import open_dataset

    ds = open_dataset(out, labels=False)
    print(f"imported {out}: {', '.join(f'{k} {v}' for k, v in ds.attrs['splits'].items())} samples "
          f"from {sum(len(v) for v in ds.attrs['sequence_names'].values())} sequence(s)", file=sys.stderr)
    return 0
