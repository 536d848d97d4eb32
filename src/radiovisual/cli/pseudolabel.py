"""``radiovisual pseudolabel DATA --out labels.zarr``: the paper's pseudo-label pipeline (§5.2, docs/cruw.md)."""

from __future__ import annotations

import argparse

from .common import add_data, add_progress, add_set


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data(p, "dataset store (format v1), e.g. from import-cruw")
    p.add_argument("--out", required=True, help="label store to write (.zarr); feed it to `localise --labels`")
    p.add_argument("--split", default="train", help="split to label (default: train)")
    p.add_argument("--vision", default="store",
                   help="mask source: 'store' (the store's det_boxes, else its bbox/mask) or an .npz with "
                        "boxes [N,K,4] (+ scores, classes) aligned with the split")
    add_progress(p)
    add_set(p, "pseudolabel")


def run(args: argparse.Namespace) -> int:
    import sys

    import zarr

    from ..baselines.pseudolabel import resolve_pseudolabel_config, run_pseudolabel

    cfg = resolve_pseudolabel_config(args.overrides, args.config_yaml)
    out = run_pseudolabel(args.data, args.out, args.split, args.vision, cfg, progress=not args.no_progress)
    st = dict(zarr.open_group(str(out), mode="r").attrs)["stats"]
    print(f"pseudo-labels {out}: {st['n']} frames; fused {st['fused']}, camera only {st['camera_only']}, "
          f"radar only {st['radar_only']}; {st['objects_matched']}/{st['objects']} vision objects matched "
          "(method 'pseudo': pseudo-supervised)", file=sys.stderr)
    return 0
