"""``radiovisual export-cruw DATA --out ROOT``: write a store in the ROD2021 layout (see docs/cruw.md)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="dataset store (format v1)")
    p.add_argument("--out", required=True, help="ROD2021 root to write")
    p.add_argument("--splits", nargs="+", default=None, help="splits to export (default: all)")
    p.add_argument("--chirps", nargs="+", type=int, default=None,
                   help="chirp files written per frame (default: 0 64 128 192, identical snapshots; "
                        "import-cruw needs all four)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import sys

    from ..dataset import cruw
    from ..dataset.cruw_export import export_cruw

    s = export_cruw(args.data, args.out, tuple(args.splits) if args.splits else None,
                    tuple(args.chirps) if args.chirps else cruw.CHIRP_IDS, progress=not args.quiet)
    print(f"exported {s['frames']} frames in {len(s['sequences'])} sequences to {args.out}; "
          f"{s['annotated']} annotated, {s['outside_label_grid']} targets outside CRUW's label grid", file=sys.stderr)
    return 0
