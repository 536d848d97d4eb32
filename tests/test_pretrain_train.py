"""Training loop on the toy store: learning, exact resume, stage reuse, lazy workers, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from radiovisual.errors import ConfigError, DatasetError, StageChangedError
from radiovisual.pretrain import Backbones, load_backbones, run_pretrain

# the toy store's 48 train pairs: batch 16 and K = 32 (the smoke preset's 8/8 fits `synth --preset smoke`)
TOY48 = ["train.batch_size=16", "loss.queue_size=32"]


def _losses(run):
    return {d["step"]: d["loss"] for d in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())}


@pytest.fixture(scope="module")
def mcl_run(toy_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("mcl") / "run"
    return run_pretrain(toy_dataset, "mcl-paper", out, preset="smoke", progress=False,
                        overrides=["train.epochs=10", *TOY48])


def test_mcl_fit_reduces_loss_and_writes_run(mcl_run):
    losses = list(_losses(mcl_run).values())
    assert len(losses) == 30  # 48 pairs / batch 16 = 3 steps x 10 epochs, logged every step
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.5
    # below chance once the queue holds real keys: ln(K + 1) with K = 32 negatives
    assert np.mean(losses[-5:]) < np.log(33) - 0.2
    cfg = json.loads((mcl_run / "config.json").read_text())
    assert cfg["method"] == "mcl-paper" and cfg["data"]["config_fingerprint"] and cfg["config"]["loss"]["queue_size"] == 32
    assert (mcl_run / "done.json").is_file() and (mcl_run / "checkpoint.pt").is_file()
    first = json.loads((mcl_run / "metrics.jsonl").read_text().splitlines()[0])
    assert {"loss", "lr", "pairs_per_s", "loss_v2r", "loss_r2v"} <= set(first)


def test_load_backbones_spatial_same_channels(mcl_run):
    bb = load_backbones(mcl_run)
    radio, vision = bb.radio, bb.vision
    assert isinstance(bb, Backbones) and not radio.training and not vision.training
    fr = radio(torch.zeros(2, 1, 32, 32))
    fv = vision(torch.zeros(2, 3, 48, 64))
    assert fr.shape == (2, 16, 8, 8) and fv.shape == (2, 16, 12, 16)
    assert bb.stride == (4.0, 4.0) and bb.offset == (0.0, 0.0) and bb.method == "mcl-paper"
    assert bb.config.loss.queue_size == 32 and bb.data["radar_shape"] == [32, 32]


def test_done_run_is_reused_and_mismatch_refused(mcl_run, toy_dataset):
    stamp = (mcl_run / "checkpoint.pt").stat().st_mtime_ns
    assert run_pretrain(toy_dataset, "mcl-paper", mcl_run, preset="smoke", progress=False,
                        overrides=["train.epochs=10", *TOY48]) == mcl_run
    assert (mcl_run / "checkpoint.pt").stat().st_mtime_ns == stamp
    # one policy: a changed config is refused in one line naming what changed, unless force
    with pytest.raises(StageChangedError, match=r"different config or inputs \(config.loss.queue_size 32 -> 8"):
        run_pretrain(toy_dataset, "mcl-paper", mcl_run, preset="smoke", progress=False)


def test_another_dataset_is_a_change_and_force_replaces(toy_dataset, tmp_path):
    from radiovisual.dataset.toy import make_toy_dataset

    sets = ["train.max_steps=2", *TOY48]
    run = run_pretrain(toy_dataset, "cl", tmp_path / "r", preset="smoke", progress=False, overrides=sets)
    other = make_toy_dataset(tmp_path / "other.zarr", seed=1)
    with pytest.raises(StageChangedError, match="inputs.data.path"):
        run_pretrain(other, "cl", run, preset="smoke", progress=False, overrides=sets)
    assert run_pretrain(other, "cl", run, preset="smoke", progress=False, overrides=sets, force=True) == run
    done = json.loads((run / "done.json").read_text())
    assert done["spec"]["inputs"]["data"]["path"] == str(other.resolve()) and done["steps"] == 2


def test_scl_stage_version_refuses_a_stored_first_per_bin_scl_and_leaves_other_keys(toy_dataset, tmp_path):
    from radiovisual.pretrain.config import resolve_pretrain_config
    from radiovisual.pretrain.train import stage_config, stage_version
    from radiovisual.utils.stage import StageDir
    from radiovisual.dataset.format import open_dataset

    mcl, scl = (resolve_pretrain_config(m, "smoke") for m in ("mcl", "scl"))
    assert not any(k.startswith("scl_") for k in stage_config(mcl)["loss"]) and stage_version("mcl") == 1
    assert stage_config(scl)["loss"]["scl_twin_grad"] is True and stage_version("scl") == 2
    # a finished run of the first per-bin scl: version 1, no scl_* keys in its spec
    old_cfg = {**stage_config(scl), "loss": stage_config(mcl)["loss"]}
    sd = StageDir(tmp_path / "old", "pretrain", old_cfg, {"data": open_dataset(toy_dataset, labels=False).fingerprint()})
    sd.begin()
    sd.finish({})
    with pytest.raises(StageChangedError, match="scl_"):
        run_pretrain(toy_dataset, "scl", tmp_path / "old", preset="smoke", progress=False)


def test_resume_after_interruption_matches_uninterrupted(toy_dataset, tmp_path):
    sets = ["train.epochs=6", "train.ckpt_every=6", *TOY48]
    full = run_pretrain(toy_dataset, "mcl", tmp_path / "full", preset="smoke", progress=False, overrides=sets)
    part = tmp_path / "part"
    run_pretrain(toy_dataset, "mcl", part, preset="smoke", progress=False, overrides=sets, stop_after=9)
    assert not (part / "done.json").exists() and max(_losses(part)) == 9  # crashed after step 9, ckpt at 6
    run_pretrain(toy_dataset, "mcl", part, preset="smoke", progress=False, overrides=sets)
    a, b = _losses(full), _losses(part)
    assert sorted(a) == sorted(b) == list(range(1, 19))
    for s in range(7, 19):
        assert abs(a[s] - b[s]) < 1e-5, (s, a[s], b[s])


@pytest.mark.parametrize("method", ["mcl", "scl", "scl-paper", "cl", "clip"])
def test_other_methods_train(toy_dataset, tmp_path, method):
    run = run_pretrain(toy_dataset, method, tmp_path / method, preset="smoke", progress=False,
                       overrides=["train.max_steps=6"])
    losses = list(_losses(run).values())
    assert len(losses) == 6 and all(np.isfinite(losses))
    bb = load_backbones(run)
    assert bb.radio(torch.zeros(1, 1, 32, 32)).shape[1] == bb.vision(torch.zeros(1, 3, 48, 64)).shape[1]


def test_lazy_spawn_workers_match_in_memory(toy_dataset, tmp_path):
    base = ["train.max_steps=3"]
    mem = run_pretrain(toy_dataset, "mcl", tmp_path / "mem", preset="smoke", progress=False, overrides=base)
    lazy = run_pretrain(toy_dataset, "mcl", tmp_path / "lazy", preset="smoke", progress=False,
                        overrides=base + ["train.in_memory=false", "train.num_workers=1"])
    a, b = _losses(mem), _losses(lazy)
    assert sorted(a) == [1, 2, 3] and all(abs(a[s] - b[s]) < 1e-5 for s in a)


def _store(path, split_arrays):
    from radiovisual.dataset.format import create_root, mark_complete, write_split

    root = create_root(path, {"range_bins_m": [1.0], "azimuth_bins_rad": [0.0], "config": {}})
    write_split(root, "train", split_arrays)
    mark_complete(root)
    return path


def _toy_arrays(n=32):
    from radiovisual.dataset.toy import make_toy_split

    a = make_toy_split(n, 0)
    a.pop("_range_bins"), a.pop("_az_bins")
    return a


def test_bad_inputs_give_one_clear_error(toy_dataset, tmp_path):
    with pytest.raises(ConfigError, match="unknown method"):
        run_pretrain(toy_dataset, "byol", tmp_path / "a", preset="smoke", progress=False)
    with pytest.raises(ConfigError, match="multiple of the global batch"):
        run_pretrain(toy_dataset, "mcl", tmp_path / "b", preset="smoke", progress=False,
                     overrides=["loss.queue_size=36"])
    with pytest.raises(ConfigError, match="exceeds the 48 usable"):
        run_pretrain(toy_dataset, "cl", tmp_path / "b", preset="smoke", progress=False,
                     overrides=["loss.queue_size=48"])
    arr = _toy_arrays()
    arr["mask"][:] = False
    with pytest.raises(DatasetError, match="non-empty target mask"):
        run_pretrain(_store(tmp_path / "nomask.zarr", arr), "mcl", tmp_path / "c", preset="smoke", progress=False)
    arr = _toy_arrays()
    arr["mask"] = arr["mask"][:, :40]
    with pytest.raises(DatasetError, match="mismatched shapes"):
        run_pretrain(_store(tmp_path / "shape.zarr", arr), "mcl", tmp_path / "d", preset="smoke", progress=False)
    from radiovisual.dataset.format import create_root, write_split

    root = create_root(tmp_path / "inc.zarr", {"config": {}})
    write_split(root, "train", _toy_arrays())
    with pytest.raises(DatasetError, match="incomplete"):
        run_pretrain(tmp_path / "inc.zarr", "mcl", tmp_path / "e", preset="smoke", progress=False)


def test_cli_reports_errors_in_one_line(toy_dataset, tmp_path, capsys):
    from radiovisual.cli.main import main

    rc = main(["pretrain", str(toy_dataset), "--method", "nope", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1 and "unknown method" in err[0]
    rc = main(["pretrain", str(toy_dataset), "--method", "clip", "--out", str(tmp_path / "y"), "--preset", "smoke",
               "--no-progress", "--set", "train.max_steps=2"])
    assert rc == 0 and (tmp_path / "y" / "done.json").is_file()
