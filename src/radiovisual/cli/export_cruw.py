"""``radiovisual export-cruw DATA --out ROOT``: write a store in the ROD2021 layout (see docs/cruw.md)."""

from __future__ import annotations

import argparse

from .common import add_data, add_progress


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data(p, "dataset store (format v1)")
    p.add_argument("--out", required=True, help="ROD2021 root to write")
    p.add_argument("--splits", nargs="+", default=None, help="splits to export (default: all)")
    p.add_argument("--window", type=int, default=None, metavar="W",
                   help="refuse sequences shorter than W frames (RODNet's configs use 16), or pad them with --pad")
    p.add_argument("--pad", action="store_true",
                   help="with --window: repeat a short sequence's last frame up to W frames (marked in the frame map)")
    # removed: RODNet's loader needs the four chirps of every frame; kept only to say so in one line
    p.add_argument("--chirps", nargs="*", default=None, help=argparse.SUPPRESS)
    add_progress(p)


def run(args: argparse.Namespace) -> int:
    import sys

    from ..dataset.cruw_export import export_cruw
    from ..errors import RadiovisualError

    if args.chirps is not None:
        raise RadiovisualError("--chirps was removed: RODNet's ROD2021 loader needs all four chirp files "
                               "(0 64 128 192) of every frame and rejects a tree with fewer")
    s = export_cruw(args.data, args.out, tuple(args.splits) if args.splits else None, window=args.window,
                    pad=args.pad, progress=not args.no_progress)
    for note in s["notes"]:
        print(f"radiovisual: note: {note}", file=sys.stderr)
    n_test = sum(1 for v in s["sequences"].values() if v["subset"] == "test")
    print(f"exported {s['frames']} frames in {len(s['sequences'])} sequences ({len(s['sequences']) - n_test} "
          f"train, {n_test} test) to {args.out}; {s['annotated']} annotated, {s['outside_label_grid']} targets "
          f"outside CRUW's label grid, {s['padded_frames']} padded frames; radar "
          f"{'complex' if s['radar_complex'] else 'magnitude only'}", file=sys.stderr)
    return 0
