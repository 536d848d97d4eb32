"""Shared fixtures. Everything is tiny; real code paths throughout."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory):
    """A small toy point-target store (format v1) for learning-stage unit tests."""
    from radiovisual.dataset.toy import make_toy_dataset

    return make_toy_dataset(tmp_path_factory.mktemp("toy") / "toy.zarr")


class SmokeBench:
    """One smoke benchmark run (``--scenario mix``) shared by the tests that read a finished benchmark."""

    def __init__(self, out, cmd, proc):
        self.out, self.cmd, self.proc = out, cmd, proc
        self.data = out / "data"


@pytest.fixture(scope="session")
def smoke_bench(tmp_path_factory):
    """``radiovisual benchmark --preset smoke --scenario mix``, run once per session (about 1.5 min on 2 cores).
    Tests that only read it share it; test_benchmark.py also re-runs it in place (reuse, --eval)."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("smoke") / "bench"
    cmd = [sys.executable, "-m", "radiovisual.cli.main", "benchmark", "--preset", "smoke", "--out", str(out),
           "--scenario", "mix", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return SmokeBench(out, cmd, proc)
