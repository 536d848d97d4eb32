"""``radiovisual localise DATA --labels {PATH|gt} --out RUN``: train the radar-only localiser, score on val."""

from __future__ import annotations

import argparse

from .common import add_data, add_force, add_progress, add_set


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_data(p)
    p.add_argument("--labels", required=True,
                   help="self-label store (.zarr from `radiovisual selflabel`), an [N,2] polar .npy, or 'gt' "
                        "(supervised upper bound)")
    p.add_argument("--out", required=True, help="run directory (per-seed subdirectories when --seeds > 1)")
    p.add_argument("--preset", default="quick", help="smoke | quick | paper")
    p.add_argument("--seeds", type=int, default=1, help="train N seeds; report mean ± std")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    add_progress(p)
    add_set(p, "localise")
    add_force(p)


def load_label_spec(spec: str) -> tuple[object, bool | None, str]:
    """(labels: "gt" or [N,2] polar array, label_free as declared by the producer, description).

    ``label_free`` comes from the label store's own ``label_free`` attribute; an ``.npy`` carries
    no provenance, so it is ``None`` (unknown) and never reported as label-free.
    """
    from pathlib import Path

    import numpy as np

    from ..errors import RadiovisualError

    if spec == "gt":
        return "gt", False, "gt (supervised)"
    p = Path(spec)
    if p.suffix == ".npy":
        if not p.is_file():
            raise RadiovisualError(f"labels file not found: {p}")
        return np.load(p), None, f"{p} (.npy: provenance unknown, not counted as label-free)"
    if not p.exists():
        raise RadiovisualError(f"labels not found: {p} (give a self-label .zarr, an .npy or 'gt')")
    from ..selflabel import open_labels

    g = open_labels(p)
    lf = g.attrs.get("label_free")
    return np.asarray(g["polar"][...], dtype=np.float64), (lf if isinstance(lf, bool) else None), str(p)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import RadiovisualError
    from ..evaluate.metrics import seeds_summary
    from ..evaluate.score import score_localiser
    from ..localise import resolve_localise_config, train_localiser
    from ..utils.io import write_json

    if args.seeds < 1:
        raise RadiovisualError(f"--seeds must be >= 1, got {args.seeds}")
    cfg = resolve_localise_config(args.preset, args.overrides, args.config_yaml)
    labels, label_free, source = load_label_spec(args.labels)
    out = Path(args.out)
    per_seed = []
    for k in range(args.seeds):
        seed = args.seed + k
        rd = out if args.seeds == 1 else out / f"seed{seed}"
        train_localiser(args.data, labels, rd, preset=args.preset, seed=seed, progress=not args.no_progress,
                        cfg=cfg, label_free=label_free, force=args.force)
        ev = score_localiser(rd, args.data, split="val")
        per_seed.append({"seed": seed, "run": str(rd), **{k: ev[k] for k in ("p50_m", "p90_m", "mean_m", "n")}})
        print(f"seed {seed}: val p50 {ev['p50_m']:.3f} m, p90 {ev['p90_m']:.3f} m (n={ev['n']})")
    summ = seeds_summary([{k: s[k] for k in ("p50_m", "p90_m", "mean_m", "n")} for s in per_seed])
    res = {**summ, "per_seed": per_seed, "labels": source, "split": "val", "label_free": bool(label_free)}
    write_json(out / "metrics.json", res)
    pm = lambda k: f"{summ[k]:.3f}" + (f" ± {summ[k[:-2] + '_std_m']:.3f}" if args.seeds > 1 else "")  # noqa: E731
    print(f"validation: p50 {pm('p50_m')} m, p90 {pm('p90_m')} m over {args.seeds} seed(s); {out / 'metrics.json'}")
    return 0
