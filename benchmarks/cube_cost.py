"""Cost of the complex radar cube (``radio.cube_chirps`` / ``cube_raw``): synthesis throughput and storage.

    # issue 21's goal: >= 10 paired samples/s cold on 2 cores at the quick size with the cube on
    python benchmarks/cube_cost.py --preset quick --samples 300 --workers 2 --cold

For each variant (cube off; 4 complex chirps; 4 chirps + the raw cube) it runs ``synth_throughput.py`` (the
real ``synthesise`` into a temporary store, serial or on a Dask LocalCluster) in a child process, cold
(``--cold``: an empty Dr.Jit kernel cache in a fresh HOME, as on a new machine) or with the user's
``~/.drjit`` (warm), and a short per-stage profile (``--profile``) for the radar DSP time per frame. Storage
is the uncompressed size of the arrays each variant adds per sample. Variants run one after another with the
same seed; on a shared machine run it under ``flock /tmp/rv-heavy.lock`` and compare rows of one run only.
Prints a table and writes ``cube_cost_<preset>.json`` under ``--out``. Timings, never a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = {"off": [], "chirps4": ["radio.cube_chirps=4"],
            "chirps4_raw": ["radio.cube_chirps=4", "radio.cube_raw=true"]}


def extra_bytes_per_sample(preset: str, over: list[str]) -> int:
    """Uncompressed bytes of radar_chirps (+ radar_cube) per sample."""
    from radiovisual.dataset.config import resolve_synth_config
    from radiovisual.sensors import radar as rp

    r = resolve_synth_config(preset, overrides=over).radio
    n = r.cube_chirps * len(rp.range_rows(r)) * r.n_azimuth_bins * 8
    return n + (r.doppler_symbols * r.n_subcarriers * r.array_cols * 8 if r.cube_raw else 0)


def run_variant(args, name: str, over: list[str], out: Path) -> dict:
    cmd = [sys.executable, str(HERE / "synth_throughput.py"), "--preset", args.preset, "--seed", str(args.seed),
           "--tag", f"cube_{name}", "--out", str(out)] + [a for o in over for a in ("--set", o)]
    if args.samples:
        cmd += ["--samples", str(args.samples)] + (["--workers", str(args.workers)] if args.workers else [])
    if args.profile:
        cmd += ["--profile", str(args.profile)]
    if args.cold:
        cmd.append("--cold")
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return json.loads((out / f"synth_throughput_{args.preset}_cube_{name}.json").read_text())


def summarise(res: dict) -> dict:
    tp = res.get("throughput") or {}
    prof = (res.get("profile") or {}).get("stages", {}).get("radar DSP (per frame)", {})
    warm = prof.get("warm (mean of sequences 1..)") or {}
    T = res.get("frames_per_sequence") or 1
    return {"samples": tp.get("samples"), "samples_per_s_end_to_end": tp.get("samples_per_s_end_to_end"),
            "marginal_samples_per_s": tp.get("marginal_samples_per_s"),
            "radar_dsp_ms_per_frame_warm": (1e3 * warm["wall_s"] / T) if warm.get("wall_s") else None,
            "profile_samples_per_s_warm": (res.get("profile") or {}).get("samples_per_s_warm"),
            "kernel_cache": res.get("kernel_cache"),
            "loadavg_at_start": (res.get("machine") or {}).get("loadavg_at_start")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="quick", choices=["smoke", "quick", "cruw", "paper"])
    p.add_argument("--samples", type=int, default=300, help="throughput run over this many samples (0: none)")
    p.add_argument("--workers", type=int, default=2, help="Dask workers of the throughput run (2 = both cores)")
    p.add_argument("--profile", type=int, default=3, metavar="K", help="per-stage profile of K sequences (0: none)")
    p.add_argument("--cold", action="store_true", help="empty Dr.Jit kernel cache for every variant")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--out", default=str(HERE / "results"))
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="rv-cube-cost-") as tmp:
        for name in args.variants:
            res = run_variant(args, name, VARIANTS[name], Path(tmp))
            rows[name] = {**summarise(res), "overrides": VARIANTS[name],
                          "extra_bytes_per_sample": extra_bytes_per_sample(args.preset, VARIANTS[name])}
    base = rows.get("off", {}).get("samples_per_s_end_to_end")
    print(f"\ncube cost, preset {args.preset}, {args.samples} samples on {args.workers} worker(s), "
          f"{'cold (empty ~/.drjit)' if args.cold else 'warm (user ~/.drjit)'}:")
    print(f"{'variant':12s} {'samples/s':>10s} {'vs off':>7s} {'marginal/s':>11s} {'DSP ms/frame':>13s} "
          f"{'+MB/sample':>11s}")
    for name, r in rows.items():
        sps, dsp = r["samples_per_s_end_to_end"], r["radar_dsp_ms_per_frame_warm"]
        rel = f"{sps / base:.2f}x" if base and sps else "-"
        print(f"{name:12s} {sps or float('nan'):10.2f} {rel:>7s} {r['marginal_samples_per_s'] or float('nan'):11.2f} "
              f"{dsp or float('nan'):13.1f} {r['extra_bytes_per_sample'] / 2**20:11.3f}")
    path = out / f"cube_cost_{args.preset}.json"
    path.write_text(json.dumps({"preset": args.preset, "samples": args.samples, "workers": args.workers,
                                "cold": args.cold, "seed": args.seed, "variants": rows}, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
