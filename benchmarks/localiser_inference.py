"""Localiser inference throughput on CPU (goal: >= 2,000 heatmaps/s at the quick size 128 x 64).

Trains a one-epoch localiser on a toy store of the requested size (the weights do not matter for
speed, the code path does), then times ``radiovisual.localise.predict`` on random heatmaps.

    python benchmarks/localiser_inference.py --threads 2 --out bench_localiser.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--R", type=int, default=128)
    ap.add_argument("--A", type=int, default=64)
    ap.add_argument("--n", type=int, default=4096, help="heatmaps per timed pass")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--run", default=None, help="time an existing localiser run instead of a fresh one")
    ap.add_argument("--out", default="bench_localiser_inference.json")
    args = ap.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from radiovisual.localise import load_localiser, predict, train_localiser

    with tempfile.TemporaryDirectory() as tmp:
        run = args.run
        if run is None:
            from radiovisual.dataset.toy import make_toy_dataset

            data = make_toy_dataset(Path(tmp) / "toy.zarr", n_train=32, n_val=4, n_test=4, R=args.R, A=args.A)
            run = train_localiser(data, "gt", Path(tmp) / "run", preset=args.preset,
                                  overrides=["epochs=1"], progress=False)
        model, meta = load_localiser(run)
        R, A = meta["heatmap_hw"]
        radar = np.random.default_rng(0).normal(-80, 10, (args.n, R, A)).astype(np.float32)
        predict(run, radar[: args.batch], batch_size=args.batch)  # warm-up (oneDNN primitive creation)
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            predict(run, radar, batch_size=args.batch)
            times.append(time.perf_counter() - t)
        fused = type(model).__name__ != "Localiser"
        # the eager (unfused) model for comparison
        from radiovisual.localise.model import Localiser
        from radiovisual.utils.io import load_checkpoint

        ck = load_checkpoint(Path(run) / "model.pt")
        # the grid-resolved stem the run trained with (CRUW: (1, 4)); older runs: the native (1, 1)
        eager = Localiser(ck["width"], stem=tuple(ck.get("stem", (1, 1))))
        eager.load_state_dict(ck["state_dict"])
        eager.eval()
        x = torch.from_numpy(radar)[:, None]
        with torch.inference_mode():
            eager(x[: args.batch])
            t = time.perf_counter()
            for s in range(0, len(x), args.batch):
                eager(x[s:s + args.batch])
            t_eager = time.perf_counter() - t
    best = min(times)
    res = {"benchmark": "localiser_inference", "heatmap_hw": [R, A], "n": args.n, "batch": args.batch,
           "threads": args.threads, "preset": args.preset, "width": int(ck["width"]),
           "stem": list(ck.get("stem", (1, 1))),
           "heatmaps_per_s": args.n / best, "heatmaps_per_s_median": args.n / float(np.median(times)),
           "eager_heatmaps_per_s": args.n / t_eager, "fused_torchscript": fused, "goal_heatmaps_per_s": 2000,
           "meets_goal": args.n / best >= 2000, "cpu": platform.processor() or platform.machine(),
           "cpu_count": os.cpu_count(), "torch": torch.__version__,
           "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    print(f"localiser inference {R}x{A}: {res['heatmaps_per_s']:.0f} heatmaps/s (best of {args.repeats}, "
          f"{args.threads} threads; eager {res['eager_heatmaps_per_s']:.0f}/s; goal 2000) -> {args.out}")


if __name__ == "__main__":
    main()
