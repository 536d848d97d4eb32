"""``radiovisual info``: sizes, arrays, settings and completeness of a dataset (``--verify``: every chunk)."""

from __future__ import annotations

import argparse

from .common import add_data


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--verify", action="store_true",
                   help="read every chunk of every array and list the damaged ones (exit 1 if any)")


def run(args: argparse.Namespace) -> int:
    import json

    from ..dataset.inspect import format_info, format_ranges, info, verify

    d = info(args.data)
    if args.verify:
        d["damaged"] = verify(args.data)
    if args.json:
        print(json.dumps(d, indent=2, sort_keys=True))
    else:
        print(format_info(d))
        if args.verify:
            bad = d["damaged"]
            print("  verify: every chunk reads back intact" if not bad else
                  "  verify: DAMAGED chunks (sample indices): " +
                  "; ".join(f"{k} [{format_ranges(v)}]" for k, v in bad.items()))
    return 1 if args.verify and d["damaged"] else 0
