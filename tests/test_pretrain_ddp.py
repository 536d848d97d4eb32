"""Two gloo processes under torchrun give the same losses as one process on the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

METHODS = ("mcl", "scl", "clip")
SETS = ["train.max_steps=4", "train.threads=1"]

DRIVER = textwrap.dedent("""
    import sys
    from radiovisual.pretrain import run_pretrain, dist
    data, out = sys.argv[1], sys.argv[2]
    for m in sys.argv[3].split(","):
        run_pretrain(data, m, f"{out}/{m}", preset="smoke", progress=False, overrides=sys.argv[4:])
    dist.cleanup()
""")


def _losses(path):
    return [json.loads(ln)["loss"] for ln in path.read_text().splitlines()]


def test_two_process_gloo_matches_single_process(toy_dataset, tmp_path):
    from radiovisual.pretrain import run_pretrain

    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(driver),
           str(toy_dataset), str(tmp_path / "ddp"), ",".join(METHODS), *SETS]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and "errno" in proc.stderr.lower() and "address" in proc.stderr.lower():
        pytest.skip("no loopback networking for gloo: " + proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stderr[-3000:]
    for m in METHODS:
        single = run_pretrain(toy_dataset, m, tmp_path / "one" / m, preset="smoke", progress=False, overrides=SETS)
        a, b = _losses(single / "metrics.jsonl"), _losses(tmp_path / "ddp" / m / "metrics.jsonl")
        assert len(a) == len(b) == 4
        for x, y in zip(a, b):
            assert abs(x - y) < 1e-4 * max(1.0, abs(x)), (m, a, b)
        cfg = json.loads((tmp_path / "ddp" / m / "config.json").read_text())
        assert cfg["world_size"] == 2
