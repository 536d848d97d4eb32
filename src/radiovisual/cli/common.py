"""Shared CLI argument helpers."""

from __future__ import annotations

import argparse


def add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field with a dotted key, e.g. --set radio.bandwidth_hz=4e8 (repeatable)")
    p.add_argument("--config", dest="config_yaml", default=None, metavar="YAML",
                   help="YAML file of config fields applied before --set (e.g. from `radiovisual config`)")


def add_force(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help="replace a run directory made with a different config or inputs (refused otherwise)")
