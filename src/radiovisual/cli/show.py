"""``radiovisual show``: plot one sample (heatmap with GT, RGB with mask and box, depth, range-Doppler)."""

from __future__ import annotations

import argparse

from .common import add_data


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data(p)
    p.add_argument("--split", default="val", help="train | val | test (default: val)")
    p.add_argument("--index", type=int, default=0, help="sample index within the split (negative counts from the end)")
    p.add_argument("--out", required=True, help="PNG file to write")


def run(args: argparse.Namespace) -> int:
    from ..dataset.inspect import show

    print(show(args.data, args.split, args.index, args.out))
    return 0
