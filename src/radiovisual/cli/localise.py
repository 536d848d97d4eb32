"""``radiovisual localise DATA --labels {PATH|gt} --out RUN``: train the radar-only localiser, score on val."""

from __future__ import annotations

import argparse

from .common import add_set


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="dataset store")
    p.add_argument("--labels", required=True,
                   help="self-label store (.zarr from `radiovisual selflabel`), an [N,2] polar .npy, or 'gt' "
                        "(supervised upper bound)")
    p.add_argument("--out", required=True, help="run directory (per-seed subdirectories when --seeds > 1)")
    p.add_argument("--preset", default="quick", help="smoke | quick | paper")
    p.add_argument("--seeds", type=int, default=1, help="train N seeds; report mean ± std")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--no-progress", action="store_true")
    add_set(p)


def _labels(spec: str):
    from pathlib import Path

    import numpy as np

    from ..errors import RadiovisualError

    if spec == "gt":
        return "gt"
    p = Path(spec)
    if p.suffix == ".npy":
        if not p.is_file():
            raise RadiovisualError(f"labels file not found: {p}")
        return np.load(p)
    if not p.exists():
        raise RadiovisualError(f"labels not found: {p} (give a self-label .zarr, an .npy or 'gt')")
    from ..selflabel import load_labels

    return load_labels(p)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import RadiovisualError
    from ..evaluate.metrics import seeds_summary
    from ..localise import evaluate_localiser, train_localiser
    from ..utils.io import write_json

    if args.seeds < 1:
        raise RadiovisualError(f"--seeds must be >= 1, got {args.seeds}")
    labels = _labels(args.labels)
    out = Path(args.out)
    overrides = list(args.overrides)
    if args.config_yaml:
        from ..config import load_yaml

        overrides = [f"{k}={v}" for k, v in load_yaml(args.config_yaml).items()] + overrides
    per_seed = []
    for k in range(args.seeds):
        seed = args.seed + k
        rd = out if args.seeds == 1 else out / f"seed{seed}"
        train_localiser(args.data, labels, rd, preset=args.preset, overrides=overrides, seed=seed,
                        progress=not args.no_progress)
        ev = evaluate_localiser(rd, args.data, split="val")
        per_seed.append({"seed": seed, "run": str(rd), "p50_m": ev["p50_m"], "p90_m": ev["p90_m"],
                         "mean_m": ev["mean_m"], "n": ev["n"]})
        print(f"seed {seed}: val p50 {ev['p50_m']:.3f} m, p90 {ev['p90_m']:.3f} m (n={ev['n']})")
    summ = seeds_summary([{k: s[k] for k in ("p50_m", "p90_m", "mean_m")} for s in per_seed])
    res = {**summ, "per_seed": per_seed, "labels": args.labels, "split": "val",
           "label_free": args.labels != "gt"}
    write_json(out / "metrics.json", res)
    pm = lambda k: f"{summ[k]['mean']:.3f}" + (f" ± {summ[k]['std']:.3f}" if args.seeds > 1 else "")  # noqa: E731
    print(f"validation: p50 {pm('p50_m')} m, p90 {pm('p90_m')} m over {args.seeds} seed(s); {out / 'metrics.json'}")
    return 0
