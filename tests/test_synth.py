"""Synthesis orchestration: determinism, resume after SIGKILL, shards, completeness, CLI, bad input.

Two kinds of tests:
* ``test_orchestration_*`` use ``FakeSensorGenerator`` (defined below, test-only) to check staging,
  packing and finalize logic fast and at sizes above one zarr shard.
* ``test_real_*`` run the real smoke preset (Sionna RT radar + Mitsuba camera) end to end.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from radiovisual.dataset import synth as S
from radiovisual.dataset.config import SplitSizes, resolve_synth_config
from radiovisual.dataset.format import SPLITS, create_root, open_dataset, write_split
from radiovisual.dataset.generate import sequence_rng, world_labels
from radiovisual.errors import DatasetError, RadiovisualError

ENV = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONUNBUFFERED": "1"}


# ----------------------------------------------------------------------------- helpers
class FakeSensorGenerator:
    """TEST-ONLY stand-in for ``SequenceGenerator``: random arrays from the per-sequence RNG."""

    R, A, D, H, W = 5, 4, 3, 6, 8

    def __init__(self, cfg, cache_dir):
        self.cfg = cfg
        self.calls: list[tuple[str, int]] = []

    def generate(self, split, seq_id):
        self.calls.append((split, seq_id))
        T = self.cfg.scene.n_frames
        rng = sequence_rng(self.cfg, split, seq_id)
        polar = np.stack([rng.uniform(3, 20, T), rng.uniform(-1, 1, T)], 1)
        return {"radar": rng.normal(size=(T, self.R, self.A)).astype(np.float32),
                "range_doppler": rng.normal(size=(T, self.R, self.D)).astype(np.float32),
                "image": rng.integers(0, 256, (T, self.H, self.W, 3), dtype=np.uint8),
                "mask": rng.random((T, self.H, self.W)) > 0.5, "bbox": rng.uniform(0, 6, (T, 4)).astype(np.float32),
                "target_polar": polar.astype(np.float32), "target_xy": polar.astype(np.float32),
                "sequence": np.full(T, seq_id, np.int32), "frame": np.arange(T, dtype=np.int32)}

    def attrs(self):
        return {"range_bins_m": np.linspace(2, 6, self.R).tolist(), "azimuth_bins_rad": [-0.6, -0.2, 0.2, 0.6],
                "doppler_bins_mps": [-1.0, 0.0, 1.0], "radio": {"fake": True}, "camera": {"width": self.W}}


def fake_cfg(train=70, val=7, test=3, seed=0):
    cfg = resolve_synth_config("smoke", seed=seed)
    return replace(cfg, splits=SplitSizes(train=train, val=val, test=test))


def array_hashes(path: Path) -> dict[str, str]:
    """sha256 of every array's values AND of every stored file below the split groups (chunks, metadata)."""
    ds = open_dataset(path)
    h = {f"{s}/{k}": hashlib.sha256(np.ascontiguousarray(ds.split(s).read(k)).tobytes()).hexdigest()
         for s in ds.splits for k in ds.split(s).arrays}
    for s in ds.splits:
        for f in sorted((path / s).rglob("*")):
            if f.is_file():
                h[f"file:{f.relative_to(path)}"] = hashlib.sha256(f.read_bytes()).hexdigest()
    return h


def cli(*args, check=True, **kw):
    r = subprocess.run([sys.executable, "-m", "radiovisual.cli.main", *map(str, args)], env=ENV,
                       capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"radiovisual {' '.join(map(str, args))} failed:\n{r.stderr[-3000:]}")
    return r


# ----------------------------------------------------------------------------- orchestration (fake sensors)
def test_orchestration_plan_rounds_up_to_sequences():
    plan = S.make_plan(fake_cfg(train=70, val=7, test=3))  # smoke: 3 frames per sequence
    assert plan.sequences == {"train": 24, "val": 3, "test": 1}
    assert plan.samples("train") == 72
    assert [g for g, _, _ in plan.items()] == list(range(28))
    assert S.parse_shard("2/8") == (2, 8)
    for bad in ("2", "a/b", "8/8", "-1/3", "1/0", "1/2/3"):
        with pytest.raises(RadiovisualError, match="--shard"):
            S.parse_shard(bad)


def test_orchestration_shards_resume_and_pack_match_write_split(tmp_path):
    cfg = fake_cfg()
    ref = tmp_path / "ref"
    S.synthesise(cfg, ref, progress=False, make_generator=FakeSensorGenerator)
    assert not (ref / S.STAGING).exists() and (ref / "DATASHEET.md").is_file()
    ds = open_dataset(ref)
    assert ds.attrs["complete"] and ds.attrs["splits"] == {"train": 72, "val": 9, "test": 3}
    assert ds.attrs["doppler_bins_mps"] == [-1.0, 0.0, 1.0] and "datasheet" in ds.attrs
    assert len(ds.split("train")) == 72 and ds.split("train").group["radar"].chunks == (1, 5, 4)
    # streaming pack == format.write_split of the whole split, byte for byte
    direct = tmp_path / "direct"
    root = create_root(direct, {})
    for s in SPLITS:
        write_split(root, s, {k: ds.split(s).read(k) for k in ds.split(s).arrays})
    root.attrs.update({"complete": True})
    assert array_hashes(direct) == array_hashes(ref)
    # three shards, the last one staging only; merge packs; identical bytes
    sh = tmp_path / "sharded"
    gens = []

    def make(c, d):
        gens.append(FakeSensorGenerator(c, d))
        return gens[-1]

    for k in (2, 0):
        S.synthesise(cfg, sh, shard=(k, 3), progress=False, make_generator=make)
    assert (sh / S.STAGING).is_dir()
    with pytest.raises(DatasetError, match="incomplete"):
        open_dataset(sh)
    with pytest.raises(DatasetError, match="not staged yet"):
        S.finalize(sh)
    S.synthesise(cfg, sh, shard=(1, 3), progress=False, finalize_when_done=False, make_generator=make)
    assert sorted(c for g in gens for c in g.calls) == sorted((s, i) for _, s, i in S.make_plan(cfg).items())
    S.finalize(sh)
    assert array_hashes(sh) == array_hashes(ref)


def test_orchestration_corrupt_staged_regenerated_and_finalize_restartable(tmp_path, monkeypatch):
    cfg = fake_cfg(train=9, val=3, test=3)
    out = tmp_path / "s"
    S.synthesise(cfg, out, progress=False, finalize_when_done=False, make_generator=FakeSensorGenerator)
    bad = S.staged_path(out, "train", 1)
    bad.write_bytes(bad.read_bytes()[:100])  # a torn file (e.g. disk trouble)
    gens = []
    S.synthesise(cfg, out, progress=False, finalize_when_done=False,
                 make_generator=lambda c, d: gens.append(FakeSensorGenerator(c, d)) or gens[-1])
    assert gens[0].calls == [("train", 1)]  # only the corrupt one was regenerated
    # a finalize killed after packing but before `complete` leaves an incomplete store and the staging area
    monkeypatch.setattr(S, "mark_complete", lambda root: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        S.finalize(out)
    assert (out / S.STAGING).is_dir() and not S.read_root_attrs(out)["complete"]
    monkeypatch.undo()
    S.finalize(out)
    S.finalize(out)  # idempotent on a complete store
    ref = tmp_path / "ref"
    S.synthesise(cfg, ref, progress=False, make_generator=FakeSensorGenerator)
    assert array_hashes(out) == array_hashes(ref)


def test_orchestration_one_finalizer_at_a_time(tmp_path, capsys):
    import fcntl

    cfg = fake_cfg(train=3, val=3, test=3)
    out = tmp_path / "s"
    S.synthesise(cfg, out, progress=False, finalize_when_done=False, make_generator=FakeSensorGenerator)
    fd = os.open(out / S.LOCK, os.O_CREAT | os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # "another process" is packing
    try:
        with pytest.raises(DatasetError, match="already finalizing"):
            S.finalize(out)
        S.synthesise(cfg, out, progress=True, make_generator=FakeSensorGenerator)  # steps aside, no error
        assert "another process is finalizing" in capsys.readouterr().err
        assert S.read_root_attrs(out)["complete"] is False
    finally:
        os.close(fd)
    S.synthesise(cfg, out, progress=False, make_generator=FakeSensorGenerator)
    assert S.read_root_attrs(out)["complete"] is True and not (out / S.LOCK).exists()


def test_orchestration_refuses_incompatible_outputs(tmp_path):
    cfg = fake_cfg(train=3, val=3, test=3)
    out = tmp_path / "s"
    S.synthesise(cfg, out, progress=False, finalize_when_done=False, make_generator=FakeSensorGenerator)
    with pytest.raises(DatasetError, match="different config; use a new --out or delete it"):
        S.synthesise(replace(cfg, seed=1), out, progress=False, make_generator=FakeSensorGenerator)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="not a radiovisual store"):
        S.synthesise(cfg, other, progress=False, make_generator=FakeSensorGenerator)
    with pytest.raises(RadiovisualError, match="not a directory"):
        S.synthesise(cfg, other / "notes.txt", progress=False, make_generator=FakeSensorGenerator)
    with pytest.raises(RadiovisualError, match="not writable|cannot create"):
        S.synthesise(cfg, other / "notes.txt" / "sub", progress=False, make_generator=FakeSensorGenerator)
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]


def test_world_labels_against_hand_computed():
    from radiovisual.scene.world import Body, World

    def car(name, kind, pos, vel=(0.0, 0.0, 0.0)):
        pos = np.atleast_2d(np.asarray(pos, float))
        return Body(name, kind, [], (4.0, 2.0, 1.5), pos, np.zeros(len(pos)), velocity=vel)

    # target drives along world +y (= to the LEFT of the radar) at 3 m/s; radar 4 m up at the origin
    tgt = car("target", "target", [[10.0, 0.0, 0.0], [10.0, 0.6, 0.0]], vel=(0.0, 3.0, 0.0))
    parked = [car(f"p{i}", "parked_car", [8.0 + i, -3.0, 0.0]) for i in range(2)]
    world = World("parking_lot", [*parked, car("pole", "pole", [0, 0, 0]), tgt], "target", 2, 0.2,
                  np.array([0.0, 0.0, 4.0]), np.array([10.0, 0.0, 0.0]), np.zeros(3), np.ones(3))
    lab = world_labels(world, 2, k_max=3)
    d = np.array([10.0, 0.6, 0.75 - 4.0])  # frame 1: box centre minus radar position
    r = np.sqrt((d ** 2).sum())
    np.testing.assert_allclose(lab["target_polar"][1], [r, np.arcsin(-0.6 / r)], rtol=1e-6)
    assert lab["target_polar"][1, 1] < 0  # left of boresight = negative azimuth
    # x = r sin(az) = x_right = -y_world; y = r cos(az) = the slant range's non-lateral part
    np.testing.assert_allclose(lab["target_xy"][1], [-0.6, np.sqrt(r ** 2 - 0.36)], rtol=1e-5)
    np.testing.assert_allclose(lab["velocity"], [[-3.0, 0.0], [-3.0, 0.0]])
    assert lab["reflectors"].shape == (2, 3, 2) and np.isnan(lab["reflectors"][:, 2]).all()
    dp = np.array([8.0, -3.0, 0.75 - 4.0])
    rp = np.sqrt((dp ** 2).sum())
    np.testing.assert_allclose(lab["reflectors"][0, 0], [3.0, np.sqrt(rp ** 2 - 9.0)], rtol=1e-5)


# ----------------------------------------------------------------------------- real smoke preset, end to end
REAL = ["--preset", "smoke", "--n", "3", "--set", "scene.n_frames=1", "--quiet"]


def staged_files(out: Path) -> list[Path]:
    return sorted((out / S.STAGING).glob("*/seq_*.npz"))


@pytest.fixture(scope="module")
def real_ref(tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "ref"
    cli("synth", *REAL, "--seed", "0", "--out", out)
    return out


def test_real_store_is_complete_and_consistent(real_ref):
    ds = open_dataset(real_ref)
    a = ds.attrs
    assert a["complete"] and a["splits"] == {"train": 1, "val": 1, "test": 1}
    assert not (real_ref / S.STAGING).exists() and not (real_ref / S.LOCK).exists()
    assert len(a["range_bins_m"]) == ds.split("train").shape("radar")[1]
    assert len(a["azimuth_bins_rad"]) == ds.split("train").shape("radar")[2]
    assert np.all(np.diff(a["azimuth_bins_rad"]) > 0) and a["radio"]["carrier_hz"] == 28e9
    assert {"K", "width", "height"} <= set(a["camera"]) and a["software"]["sionna-rt"]
    assert a["config"]["seed"] == 0 and a["target_point"].startswith("centre")
    assert "## Composition" in a["datasheet"] and (real_ref / "DATASHEET.md").read_text() == a["datasheet"]
    for s in ds.splits:
        sv = ds.split(s)
        np.testing.assert_allclose(sv.read("target_xy"), np.stack(
            [sv.read("target_polar")[:, 0] * np.sin(sv.read("target_polar")[:, 1]),
             sv.read("target_polar")[:, 0] * np.cos(sv.read("target_polar")[:, 1])], 1), rtol=1e-5)
        assert np.isfinite(sv.read("radar")).all()
        assert sv.shape("reflectors")[1:] == (6, 2)  # K = smoke's scene.n_parked


def test_real_resume_after_sigkill_and_determinism(real_ref, tmp_path):
    out = tmp_path / "killed"
    p = subprocess.Popen([sys.executable, "-m", "radiovisual.cli.main", "synth", *REAL, "--seed", "0",
                          "--out", str(out)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.time()
    while not staged_files(out) and p.poll() is None and time.time() - t0 < 120:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL, "synth finished before it could be killed"
    n_staged = len(staged_files(out))
    assert 1 <= n_staged < 3
    assert S.read_root_attrs(out)["complete"] is False  # complete only at the end
    with pytest.raises(DatasetError, match="incomplete"):
        open_dataset(out)
    info = json.loads(cli("info", out, "--json").stdout)
    assert info["complete"] is False
    assert sum(v["sequences"] for v in info["staged"].values()) == n_staged
    cli("synth", *REAL, "--seed", "0", "--out", out)  # the same command resumes
    # an independent same-seed run (interrupted + resumed) is byte-identical to the reference
    assert array_hashes(out) == array_hashes(real_ref)


def test_real_two_shards_then_merge_equal_unsharded(real_ref, tmp_path):
    out = tmp_path / "sharded"
    cli("synth", *REAL, "--seed", "0", "--out", out, "--shard", "1/2")
    cli("synth", *REAL, "--seed", "0", "--out", out, "--shard", "0/2", "--no-finalize")
    assert len(staged_files(out)) == 3 and not S.read_root_attrs(out)["complete"]
    cli("merge", out)
    assert S.read_root_attrs(out)["complete"] is True
    assert array_hashes(out) == array_hashes(real_ref)


def test_real_different_seed_differs_and_sequences_ignore_split_sizes(real_ref, tmp_path):
    out = tmp_path / "seed1"
    one = ["--preset", "smoke", "--set", "scene.n_frames=1", "--quiet", "--set", "splits.train=1",
           "--set", "splits.val=0", "--set", "splits.test=0"]
    cli("synth", *one, "--seed", "1", "--out", out)
    ds = open_dataset(out)
    assert ds.splits == ["train"] and ds.attrs["splits"] == {"train": 1}  # empty splits are left out
    a, b = open_dataset(real_ref).split("train"), ds.split("train")
    assert not np.array_equal(a.read("radar"), b.read("radar"))
    assert not np.array_equal(a.read("target_polar"), b.read("target_polar"))
    # the same (seed, split, seq_id) gives the same sequence whatever the split sizes
    out0 = tmp_path / "seed0"
    cli("synth", *one, "--seed", "0", "--out", out0)
    c = open_dataset(out0).split("train")
    for k in a.arrays:
        np.testing.assert_array_equal(a.read(k), c.read(k))


def test_real_show_and_info(real_ref, tmp_path):
    png = tmp_path / "s.png"
    cli("show", real_ref, "--split", "val", "--index", "0", "--out", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    text = cli("info", real_ref).stdout
    assert "(complete)" in text and "radar" in text and "float32" in text
    d = json.loads(cli("info", real_ref, "--json").stdout)
    assert d["splits"]["val"]["arrays"]["radar"]["dtype"] == "float32" and d["scenario"] == "parking_lot"


# ----------------------------------------------------------------------------- bad input (CLI, in-process)
def run_main(capsys, *args) -> tuple[int, str]:
    from radiovisual.cli.main import main

    rc = main([str(a) for a in args])
    err = capsys.readouterr().err.strip().splitlines()
    return rc, err[-1] if err else ""


@pytest.mark.parametrize("extra, msg", [
    (["--scenario", "moon"], "unknown scenario 'moon'"),
    (["--preset", "huge"], "unknown preset 'huge'"),
    (["--set", "radio.wobble=1"], "unknown config key 'radio.wobble'"),
    (["--set", "radio.bandwidth_hz=0"], "radio.bandwidth_hz must be > 0"),
    (["--shard", "2/2"], "--shard K/N needs 0 <= K < N"),
    (["--shard", "half"], "--shard must look like K/N"),
])
def test_bad_synth_input(capsys, tmp_path, extra, msg):
    out = tmp_path / "o"
    rc, err = run_main(capsys, "synth", "--preset", "smoke", "--n", "3", "--out", out, *extra)
    assert rc != 0 and err.startswith("radiovisual: error:") and msg in err
    assert not out.exists()


def test_bad_outputs_and_stores(capsys, tmp_path, real_ref):
    f = tmp_path / "file"
    f.write_text("x")
    rc, err = run_main(capsys, "synth", *REAL, "--out", f / "sub")
    assert rc != 0 and "not writable" in err
    if os.geteuid() != 0:  # root ignores directory permissions
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        rc, err = run_main(capsys, "synth", *REAL, "--out", ro / "x")
        ro.chmod(0o700)
        assert rc != 0 and "not writable" in err
    rc, err = run_main(capsys, "synth", *REAL, "--seed", "7", "--out", real_ref)
    assert rc != 0 and "different config; use a new --out or delete it" in err
    assert open_dataset(real_ref).attrs["config"]["seed"] == 0  # untouched
    rc, err = run_main(capsys, "info", tmp_path)
    assert rc != 0 and "is not a radiovisual dataset" in err
    rc, err = run_main(capsys, "merge", tmp_path)
    assert rc != 0 and "not a radiovisual synthesis store" in err
    rc, err = run_main(capsys, "show", real_ref, "--split", "val", "--index", "5", "--out", tmp_path / "x.png")
    assert rc != 0 and "out of range" in err and not (tmp_path / "x.png").exists()
    rc, err = run_main(capsys, "show", real_ref, "--split", "holdout", "--index", "0", "--out", tmp_path / "x.png")
    assert rc != 0 and "unknown split 'holdout'" in err
