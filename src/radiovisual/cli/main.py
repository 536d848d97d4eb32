"""``radiovisual`` command line. Each subcommand lives in ``radiovisual.cli.<name>`` and
defines ``add_arguments(parser)`` and ``run(args) -> int``; modules are imported lazily so
``radiovisual --help`` stays fast."""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import RadiovisualError
from .common import HelpFormatter

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("synth", "synthesise a paired radar/camera dataset (resumable, shardable)"),
    "merge": ("merge", "validate and pack the staged shards of a dataset into its zarr store"),
    "info": ("info", "print sizes, config and completeness of a dataset"),
    "show": ("show", "plot one sample: heatmap with GT, RGB with mask and box, depth"),
    "pretrain": ("pretrain", "radio-visual self-supervised pretraining (mcl, scl, cl, clip)"),
    "selflabel": ("selflabel", "cross-modal attention self-labels from a pretrained run"),
    "localise": ("localise", "train/evaluate the radar-only localiser on self-labels or GT"),
    "cfar": ("cfar", "CFAR + DBSCAN baseline (genie-aided and non-genie)"),
    "rodnet": ("rodnet", "RODNet-style radio-visual teacher-student baseline"),
    "probe": ("probe", "linear probe of a pretrained radio backbone (supervised evaluation, label fractions)"),
    "retrieve": ("retrieve", "cross-modal radar<->image retrieval Recall@k of a pretrained run"),
    "benchmark": ("benchmark", "end-to-end benchmark: synth, pretrain, self-label, localise, report"),
    "report": ("report", "rebuild a finished benchmark's report, or write the README's results block (--readme)"),
    "import-cruw": ("import_cruw", "import a CRUW ROD2021 tree (real radar + camera) into the dataset format"),
    "export-cruw": ("export_cruw", "write a dataset in the ROD2021 layout (for RODNet-style code)"),
    "pseudolabel": ("pseudolabel", "pseudo-labels from vision boxes + CFAR/DBSCAN matching (paper §5.2)"),
    "config": ("config", "print a resolved stage config (or the whole tree) as YAML for --config"),
    "detect": ("detect", "train a target-car detector from scratch; predict masks for loss.mask_source=pred:PATH"),
    "study": ("study", "the paper's ablations (label-density, mask-offset, dimensionality, backbones, detector-masks)"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    from .. import __version__

    p = argparse.ArgumentParser(prog="radiovisual", description="Self-supervised radio-visual learning toolkit.")
    p.add_argument("--version", action="version", version=f"radiovisual {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (mod, help_) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_, formatter_class=HelpFormatter)
        if only == name:
            importlib.import_module(f"radiovisual.cli.{mod}").add_arguments(sp)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = next((a for a in argv if not a.startswith("-")), None)
    if cmd is not None and cmd not in COMMANDS:
        print(f"radiovisual: error: unknown command '{cmd}' (choose from {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    parser = build_parser(only=cmd)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    mod = importlib.import_module(f"radiovisual.cli.{COMMANDS[args.command][0]}")
    try:
        return int(mod.run(args) or 0)
    except RadiovisualError as e:
        print(f"radiovisual: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("radiovisual: interrupted (re-run the same command to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
