"""``radiovisual config [--preset P] [--stage S] [--set k=v] [--config YAML]``: print a resolved config as YAML.

Without ``--stage`` (or with ``--stage benchmark``) it prints the whole tree that ``radiovisual benchmark``
runs (``pipeline/config.py``: top-level options plus the subtrees ``synth``, ``pretrain``, ``selflabel``,
``localise``, ``cfar``, ``teacher``), which ``benchmark --config`` and this command's ``--config`` read back;
keys are ``<stage>.<field>``, the same fields as ``<stage> --set <field>``. With ``--stage S`` it prints the
config of command ``S`` (keys as in ``S --set``), which ``S --config`` reads back unchanged.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from .common import add_set

# command -> (module, config class, presets table). Imported on use only, so `--help` stays fast.
STAGES: dict[str, tuple[str, str, str]] = {
    "synth": ("radiovisual.dataset.config", "SynthConfig", "SYNTH_PRESETS"),
    "pretrain": ("radiovisual.pretrain.config", "PretrainConfig", "PRETRAIN_PRESETS"),
    "selflabel": ("radiovisual.selflabel.config", "SelfLabelConfig", "SELFLABEL_PRESETS"),
    "localise": ("radiovisual.localise.config", "LocaliserConfig", "LOCALISE_PRESETS"),
    "cfar": ("radiovisual.baselines.cfar_pipeline", "CFARConfig", "CFAR_PRESETS"),
    "rodnet": ("radiovisual.baselines.rodnet", "RodnetConfig", "RODNET_PRESETS"),
    "detect": ("radiovisual.detect.config", "DetectorConfig", "DETECT_PRESETS"),
    "benchmark": ("radiovisual.pipeline.config", "BenchmarkConfig", "BENCH_PRESETS"),  # the tree: see run()
}


def stage_table(names: list[str] | None = None) -> dict[str, tuple[type, dict[str, Any]]]:
    out = {}
    for name in names or list(STAGES):
        mod, cls, presets = STAGES[name]
        m = importlib.import_module(mod)
        out[name] = (getattr(m, cls), getattr(m, presets))
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", choices=list(STAGES), default=None,
                   help="print only this command's config (feed it back with `radiovisual <stage> --config`); "
                        "default: the benchmark's whole tree")
    p.add_argument("--preset", default=None, help="preset name (smoke | quick | paper; default: the dataclass defaults)")
    add_set(p, "config")


def run(args: argparse.Namespace) -> int:
    from ..config import resolve, to_yaml

    if args.stage in (None, "benchmark"):
        from ..pipeline.config import build_benchmark_config

        print(to_yaml(build_benchmark_config(args.preset, args.config_yaml, args.overrides)), end="")
        return 0
    cls, presets = stage_table([args.stage])[args.stage]
    print(to_yaml(resolve(cls, presets, args.preset, args.config_yaml, args.overrides)), end="")
    return 0
