"""Shared CLI argument helpers: one spelling of each common argument across every command."""

from __future__ import annotations

import argparse

# command -> a `--set` example valid for THAT command's own config (tests/test_cli.py resolves each one)
SET_EXAMPLES: dict[str, str] = {
    "synth": "radio.bandwidth_hz=4e8",
    "pretrain": "loss.queue_size=512",
    "selflabel": "track=true",
    "localise": "epochs=40",
    "cfar": "pfa=1e-4",
    "rodnet": "localise.epochs=40",
    "detect": "epochs=5",
    "benchmark": "localise.epochs=40",
    "config": "localise.epochs=40",
    "study": "study.offsets=[-2,0,2]",
    "import-cruw": "chirp=mean",
    "pseudolabel": "gate_sigma=2.5",
}


# commands whose keys `radiovisual config [--stage C]` prints (cli/config.py STAGES; the tree for these two)
TREE = ("benchmark", "config")
KEYS_LISTED = ("synth", "pretrain", "selflabel", "localise", "cfar", "rodnet", "detect") + TREE


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default unless its help already names it or there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        h = action.help or ""
        d = action.default
        if (not action.option_strings or h == argparse.SUPPRESS or "default" in h.lower() or d is None
                or d is False or d == [] or d == "" or d == argparse.SUPPRESS):
            return h
        return (h + " " if h else "") + "(default: %(default)s)"


def add_set(p: argparse.ArgumentParser, command: str) -> None:
    ex = SET_EXAMPLES[command]
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help=f"override a config field with a dotted key, e.g. --set {ex} (repeatable"
                        + (f"; `radiovisual config{'' if command in TREE else ' --stage ' + command}` prints the keys)"
                           if command in KEYS_LISTED else ")"))
    p.add_argument("--config", dest="config_yaml", default=None, metavar="YAML",
                   help="YAML file of config fields applied before --set (e.g. from `radiovisual config`)")


def add_force(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help="replace a run directory made with a different config or inputs (refused otherwise)")


def add_data(p: argparse.ArgumentParser, help: str = "dataset store (zarr)") -> None:
    """The dataset positional: one name (DATA) in every command's usage line."""
    p.add_argument("data", metavar="DATA", help=help)


def add_progress(p: argparse.ArgumentParser) -> None:
    """``--no-progress`` (``--quiet``, the older spelling, still works). Off a terminal, bars log a line every
    10 % instead of redrawing (``utils/progress.py``)."""
    p.add_argument("--no-progress", dest="no_progress", action="store_true",
                   help="no progress bars (off a terminal they log a line every 10 %% instead of redrawing)")
    p.add_argument("--quiet", dest="no_progress", action="store_true", help=argparse.SUPPRESS)
