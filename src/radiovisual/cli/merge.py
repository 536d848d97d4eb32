"""``radiovisual merge``: pack the staged sequences of a dataset into its zarr store."""

from __future__ import annotations

import argparse

from .common import add_progress


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", metavar="DIR", help="the --out of the synth runs")
    add_progress(p)


def run(args: argparse.Namespace) -> int:
    import sys

    from ..dataset.synth import finalize, read_root_attrs

    out = finalize(args.out, progress=not args.no_progress)
    attrs = read_root_attrs(out) or {}
    print(f"dataset complete: {out} ({', '.join(f'{k} {v}' for k, v in attrs.get('splits', {}).items())})",
          file=sys.stderr)
    return 0
