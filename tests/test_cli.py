"""One CLI: `--set` examples valid for their own command, defaults in --help, one data positional, one quiet
flag (the old --quiet still works), progress bars that log lines off a terminal."""

from __future__ import annotations

import argparse
import io
import re

import pytest

from radiovisual.cli.common import SET_EXAMPLES
from radiovisual.cli.main import COMMANDS, build_parser


def _parsers():
    """(command name, parser) of every command and sub-command."""
    out = []
    for name in COMMANDS:
        p = build_parser(only=name)
        sp = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
        out.append((name, sp))
        for a in sp._actions:
            if isinstance(a, argparse._SubParsersAction):
                out += [(f"{name} {k}", v) for k, v in a.choices.items()]
    return out


def test_set_examples_resolve_against_their_own_config():
    from radiovisual.baselines.pseudolabel import resolve_pseudolabel_config
    from radiovisual.cli.config import stage_table
    from radiovisual.config import resolve
    from radiovisual.dataset.cruw_import import resolve_import_config
    from radiovisual.pipeline.config import build_benchmark_config
    from radiovisual.study.config import build_study_config

    for name, sp in _parsers():
        if any(a.dest == "overrides" for a in sp._actions):
            cmd = name.split()[0]
            assert f"--set {SET_EXAMPLES[cmd]}" in sp.format_help().replace("\n", " ").replace("  ", " ") or \
                SET_EXAMPLES[cmd] in re.sub(r"\s+", "", sp.format_help()), name
    tables = stage_table(["synth", "pretrain", "selflabel", "localise", "cfar", "rodnet", "detect"])
    for cmd, (cls, presets) in tables.items():
        resolve(cls, presets, None, None, [SET_EXAMPLES[cmd]])        # raises ConfigError if not its key
    for cmd in ("benchmark", "config"):
        assert build_benchmark_config("smoke", None, [SET_EXAMPLES[cmd]]).localise.epochs == 40
    build_study_config("smoke", None, [SET_EXAMPLES["study"]])
    assert resolve_import_config([SET_EXAMPLES["import-cruw"]]).chirp == "mean"
    resolve_pseudolabel_config([SET_EXAMPLES["pseudolabel"]])


def test_help_shows_defaults_one_data_name_and_no_progress():
    seen_data = 0
    for name, sp in _parsers():
        text = sp.format_help()
        for a in sp._actions:
            if not a.option_strings and a.dest == "data":
                assert a.metavar == "DATA", name
                seen_data += 1
            shown = a.help not in (None, argparse.SUPPRESS)
            if a.option_strings and shown and a.default not in (None, False, [], "", argparse.SUPPRESS):
                assert "default" in sp._get_formatter()._get_help_string(a).lower(), (name, a.option_strings)
        assert "--quiet" not in text, name               # the old spelling is accepted, not advertised
        if any("progress" in (a.dest or "") for a in sp._actions):
            assert "--no-progress" in text, name
    assert seen_data >= 13
    ns = build_parser(only="synth").parse_args(["synth", "--out", "x", "--quiet"])
    assert ns.no_progress is True
    ns = build_parser(only="localise").parse_args(["localise", "d", "--labels", "gt", "--out", "o"])
    assert ns.no_progress is False and "(default: quick)" in _help("localise")


def _help(name):
    return dict(_parsers())[name].format_help()


def test_progress_logs_lines_off_a_terminal(monkeypatch):
    from radiovisual.utils.progress import tqdm

    monkeypatch.delenv("RADIOVISUAL_PROGRESS", raising=False)
    buf = io.StringIO()                                       # not a terminal
    bar = tqdm(total=1000, desc="stage", file=buf, leave=False)
    for _ in range(1000):
        bar.update(1)
    bar.close()
    lines = buf.getvalue().splitlines()
    assert "\r" not in buf.getvalue() and len(lines) == 11
    assert lines[0].startswith("stage:   0%") and lines[-1].startswith("stage: 100%")
    buf = io.StringIO()
    for _ in tqdm(range(7), desc="short", file=buf):          # the last line is written once, at the end
        pass
    assert buf.getvalue().count("7/7") == 1 and "\r" not in buf.getvalue()
    monkeypatch.setenv("RADIOVISUAL_PROGRESS", "bar")         # forced bar form: carriage-return redraws
    buf = io.StringIO()
    for _ in tqdm(range(3), file=buf, mininterval=0):
        pass
    assert "\r" in buf.getvalue()


@pytest.mark.parametrize("cmd", ["info", "show"])
def test_info_and_show_take_data(cmd):
    assert "DATA" in _help(cmd).splitlines()[0] + _help(cmd).splitlines()[1]
