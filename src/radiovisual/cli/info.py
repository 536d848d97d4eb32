"""``radiovisual info``: sizes, arrays, settings and completeness of a dataset."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="DIR", help="dataset store")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    import json

    from ..dataset.inspect import format_info, info

    d = info(args.path)
    print(json.dumps(d, indent=2, sort_keys=True) if args.json else format_info(d))
    return 0
