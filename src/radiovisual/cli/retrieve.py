"""``radiovisual retrieve RUN DATA --split val --out DIR``: cross-modal radar<->image Recall@k (label-free)."""

from __future__ import annotations

import argparse

from .common import add_data


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="finished pretraining run directory (from `radiovisual pretrain`)")
    add_data(p, "dataset store (opened label-free)")
    p.add_argument("--split", default="val", choices=("train", "val", "test"), help="split to retrieve on")
    p.add_argument("--out", required=True, help="output directory (retrieval.json, retrieval.png)")
    p.add_argument("--ks", default="1,5,10", help="comma-separated k of Recall@k (default 1,5,10)")
    p.add_argument("--frame-tolerance", type=int, default=1,
                   help="the lenient variant counts frames within this distance in the same sequence as hits")
    p.add_argument("--all-samples", action="store_true",
                   help="keep samples whose image does not show the target (default: drop them)")


def run(args: argparse.Namespace) -> int:
    from ..errors import RadiovisualError
    from ..evaluate.represent import run_retrieval

    try:
        ks = tuple(int(k) for k in args.ks.split(",") if k.strip())
    except ValueError:
        raise RadiovisualError(f"--ks must be comma-separated integers, got {args.ks!r}") from None
    res = run_retrieval(args.run, args.data, args.out, split=args.split, ks=ks, tol=args.frame_tolerance,
                        visible_only=not args.all_samples)
    print(f"cross-modal retrieval of {res['method']} on {args.split} (N={res['n']}, "
          f"{res['n_excluded_no_target_in_image']} without the target in the image left out)")
    for variant in [v for v in res if v == "exact" or v.startswith("pm")]:
        b = res[variant]
        for d in ("radar_to_image", "image_to_radar"):
            rec = "  ".join(f"R@{k} {b[d]['recall'][k]:.3f} ({b[d]['ratio_to_chance'][k]:.1f}x chance "
                            f"{b['chance'][k]:.3f})" for k in b[d]["recall"])
            print(f"  {variant:>10} {d}: {rec}")
    print(f"wrote {args.out}/retrieval.json and retrieval.png")
    return 0
