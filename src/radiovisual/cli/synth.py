"""``radiovisual synth``: synthesise a paired radar/camera dataset (resumable, shardable)."""

from __future__ import annotations

import argparse

from .common import add_progress, add_set


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="quick", help="smoke | quick | cruw | paper (default: quick)")
    p.add_argument("--scenario", default=None,
                   help="parking_lot | suburban | street_canyon | intersection | mix (default: preset's)")
    p.add_argument("--out", required=True, help="output store directory (created; re-run the same command to resume)")
    p.add_argument("--n", type=int, default=None, metavar="TOTAL",
                   help="total samples over all splits, in the preset's proportions (rounded up to whole sequences)")
    p.add_argument("--seed", type=int, default=None, help="master seed (default: the config's)")
    p.add_argument("--shard", default="0/1", metavar="K/N",
                   help="only synthesise sequences with global_index %% N == K (run N of these, any machines)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="run sequences on a local Dask cluster of N worker processes (output bytes as serial)")
    p.add_argument("--scheduler", default=None, metavar="ADDR",
                   help="submit to a running Dask cluster, e.g. tcp://HOST:8786 (see docs/synthesis.md)")
    p.add_argument("--scene", default=None, metavar="XML",
                   help="your own static world: a Mitsuba 3 / Sionna RT scene file (= --set scene.scene_file=XML; "
                        "needs --tracks; docs/scenes.md)")
    p.add_argument("--tracks", default=None, metavar="YAML",
                   help="radar and camera placement and the road users' tracks of --scene "
                        "(= --set scene.tracks_file=YAML)")
    p.add_argument("--no-finalize", action="store_true",
                   help="stage only; pack later with `radiovisual merge OUT`")
    add_progress(p)
    add_set(p, "synth")


def run(args: argparse.Namespace) -> int:
    import sys

    from ..dataset.config import resolve_synth_config
    from ..dataset.synth import parse_shard, read_root_attrs, synthesise

    shard = parse_shard(args.shard)
    # --scene / --tracks are spellings of the config keys (a later --set of the same key wins); YAML-quoted paths
    files = [f"scene.{k}='{str(v).replace(chr(39), chr(39) * 2)}'"
             for k, v in (("scene_file", args.scene), ("tracks_file", args.tracks)) if v is not None]
    cfg = resolve_synth_config(args.preset, scenario=args.scenario, n=args.n, seed=args.seed,
                               overrides=files + list(args.overrides), yaml_path=args.config_yaml)
    out = synthesise(cfg, args.out, shard=shard, progress=not args.no_progress, finalize_when_done=not args.no_finalize,
                     workers=args.workers, scheduler=args.scheduler)
    attrs = read_root_attrs(out) or {}
    if attrs.get("complete"):
        print(f"dataset complete: {out} ({', '.join(f'{k} {v}' for k, v in attrs.get('splits', {}).items())})",
              file=sys.stderr)
    return 0
