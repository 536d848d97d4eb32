"""``radiovisual report OUT [OUT ...] [--readme [README.md]]``: rebuild a finished benchmark's report, or write
the README's results block from the runs' ``metrics.json`` (between its markers; ``--readme -`` prints it)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="OUT", help="finished benchmark directories (holding metrics.json)")
    p.add_argument("--readme", nargs="?", const="README.md", default=None, metavar="FILE",
                   help="write the results block of FILE (between its radiovisual:results markers) instead of "
                        "the report; '-' prints the block")


def run(args: argparse.Namespace) -> int:
    if args.readme is not None:
        from ..report.readme import results_block, write_readme

        if args.readme == "-":
            print(results_block(args.runs))
        else:
            print(f"results block of {write_readme(args.readme, args.runs)} regenerated from "
                  + ", ".join(args.runs))
        return 0
    from ..pipeline.report import rebuild_report

    for out in args.runs:
        md, html = rebuild_report(out)
        print(f"report: {html} ({html.stat().st_size / 1e6:.2f} MB), {md}")
    return 0
