"""Dask fan-out of synthesis (``synth --workers N`` / ``--scheduler``): same bytes as serial, errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from radiovisual.dataset import synth as S
from radiovisual.dataset.format import open_dataset
from radiovisual.errors import RadiovisualError

sys.path.insert(0, str(Path(__file__).parent))
from test_synth import REAL, FakeSensorGenerator, array_hashes, cli, fake_cfg  # noqa: E402


def test_two_worker_local_cluster_equals_serial_even_if_a_worker_is_killed(tmp_path):
    """A real 2-process LocalCluster (smoke preset, real Sionna/Mitsuba) gives a serial run's bytes,
    also when one worker process is SIGKILLed mid-run (its task is redone, nothing duplicated)."""
    import psutil

    serial, dist = tmp_path / "serial", tmp_path / "dist"
    cli("synth", *REAL, "--seed", "3", "--out", serial)
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    p = subprocess.Popen([sys.executable, "-m", "radiovisual.cli.main", "synth", *REAL, "--seed", "3",
                          "--out", str(dist), "--workers", "2"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    killed = None
    while p.poll() is None and time.time() - t0 < 240:
        try:   # the run removes .staging when it packs the store: it may vanish mid-listing
            staged = list((dist / S.STAGING).glob("*/seq_*.npz"))
        except FileNotFoundError:
            staged = []
        workers = []
        for c in psutil.Process(p.pid).children(recursive=True):
            try:
                cmd = " ".join(c.cmdline())  # Dask's worker processes, not multiprocessing's resource tracker
                if ("spawn_main" in cmd or "multiprocessing-fork" in cmd) and c.status() != psutil.STATUS_ZOMBIE:
                    workers.append(c)
            except psutil.Error:  # exited meanwhile
                pass
        if killed is None and staged and workers:
            killed = workers[-1].pid
            try:
                os.kill(killed, 9)
            except ProcessLookupError:
                killed = None
        time.sleep(0.05)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-2000:]
    assert "dataset complete" in err and killed is not None
    assert array_hashes(dist) == array_hashes(serial)
    ds = open_dataset(dist)
    assert ds.split("train").read("car_model").dtype == np.int32
    assert (ds.split("train").read("car_model") >= 0).all()


def test_unreachable_scheduler_one_line_nothing_written(tmp_path):
    out = tmp_path / "never"
    env = {**os.environ, "RADIOVISUAL_DASK_TIMEOUT_S": "2"}
    r = subprocess.run([sys.executable, "-m", "radiovisual.cli.main", "synth", *REAL, "--out", str(out),
                        "--scheduler", "tcp://127.0.0.1:9"], env=env, capture_output=True, text=True)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "tcp://127.0.0.1:9" in lines[0] and lines[0].startswith("radiovisual: error:")
    assert not out.exists()


class _Fails(FakeSensorGenerator):
    def generate(self, split, seq_id):
        if (split, seq_id) == ("train", 1):
            raise ValueError("simulated sensor failure")
        return super().generate(split, seq_id)


@pytest.fixture()
def threaded_cluster():
    """In-process workers (threads), so a test double can be injected into the workers."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as c:
        yield c


def test_worker_error_names_sequence_and_store_resumes(tmp_path, monkeypatch, threaded_cluster):
    import radiovisual.dataset.generate as G

    cfg = fake_cfg(train=9, val=0, test=0)  # 3 sequences of 3 frames
    monkeypatch.setattr(G, "SequenceGenerator", _Fails)
    out = tmp_path / "store"
    with pytest.raises(RadiovisualError, match=r"train sequence 1 failed on a Dask worker.*simulated sensor failure"):
        S.synthesise(cfg, out, progress=False, scheduler=threaded_cluster.scheduler_address)
    assert S.read_root_attrs(out)["complete"] is False
    assert S.staged_path(out, "train", 0).is_file() and not S.staged_path(out, "train", 1).is_file()
    # fixed sensor: the same call resumes, regenerates only what is missing, and equals a serial run
    monkeypatch.setattr(G, "SequenceGenerator", FakeSensorGenerator)
    S.synthesise(cfg, out, progress=False, scheduler=threaded_cluster.scheduler_address)
    ref = tmp_path / "serial"
    S.synthesise(cfg, ref, progress=False, make_generator=FakeSensorGenerator)
    assert array_hashes(out) == array_hashes(ref)
