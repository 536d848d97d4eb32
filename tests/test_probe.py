"""Linear probe (tasks, stratified fractions, separable toy) and the probe/retrieve CLIs end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from radiovisual.cli.main import main
from radiovisual.dataset.format import open_dataset
from radiovisual.errors import DatasetError
from radiovisual.evaluate.probe import linear_probe, stratified_subset, task_labels


def test_probe_separates_a_separable_toy():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3.0, size=(3, 16))
    y_tr, y_va = rng.integers(0, 3, 150), rng.integers(0, 3, 90)
    x_tr = centres[y_tr] + rng.normal(size=(150, 16))
    x_va = centres[y_va] + rng.normal(size=(90, 16))
    assert linear_probe(x_tr, y_tr, x_va, y_va) > 0.9
    # pure noise features stay near chance (1/3)
    assert linear_probe(rng.normal(size=(150, 16)), y_tr, rng.normal(size=(90, 16)), y_va) < 0.6


def test_stratified_subset_nested_reproducible_at_least_one_per_class():
    y = np.array([0] * 90 + [1] * 10 + [-1] * 5)
    small, big = stratified_subset(y, 0.05, seed=3), stratified_subset(y, 0.5, seed=3)
    assert np.bincount(y[small]).tolist() == [4, 1]             # round(4.5) = 4, max(1, round(0.5)) = 1
    assert np.bincount(y[big]).tolist() == [45, 5]
    assert set(small) <= set(big) and -1 not in y[big]
    assert np.array_equal(small, stratified_subset(y, 0.05, seed=3))
    assert not np.array_equal(small, stratified_subset(y, 0.05, seed=4))


def test_task_labels_from_the_store(toy_dataset):
    ds = open_dataset(toy_dataset)
    tr, va = ds.split("train"), ds.split("val")
    side = task_labels("lane-side", tr, va)
    assert np.array_equal(side["y_train"], tr.read("target_polar")[:, 1] > 0)
    rb = task_labels("range-bin", tr, va, range_bins=3)
    r = tr.read("target_polar")[:, 0]
    assert set(rb["y_train"]) == {0, 1, 2} and rb["y_train"][np.argmin(r)] == 0 and rb["y_train"][np.argmax(r)] == 2
    with pytest.raises(DatasetError, match="predates car-model"):
        task_labels("car-model", tr, va)
    with pytest.raises(DatasetError, match="no 'velocity'"):
        task_labels("moving", tr, va)


@pytest.fixture(scope="module")
def labelled_toy(tmp_path_factory):
    """Toy store plus the two optional label arrays the synthesiser writes (car_model, velocity)."""
    import zarr

    from radiovisual.dataset.toy import make_toy_dataset

    path = make_toy_dataset(tmp_path_factory.mktemp("lab") / "toy.zarr", n_train=24, n_val=12, n_test=2)
    root = zarr.open_group(str(path), mode="a", zarr_format=3)
    for k, s in enumerate(("train", "val", "test")):
        g = root[s]
        n = g["radar"].shape[0]
        xy = np.asarray(g["target_xy"][:], np.float64)
        sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)   # alternate away / towards
        vel = sign[:, None] * 2.0 * xy / np.linalg.norm(xy, axis=1, keepdims=True)
        vel[::6] = [[1.5, 0.0]] * len(vel[::6])              # mostly crossing -> left out unless radial enough
        g.create_array("velocity", data=vel.astype(np.float32))
        g.create_array("car_model", data=(np.arange(n) % 3).astype(np.int32))
    return path


def test_car_model_and_moving_tasks(labelled_toy):
    ds = open_dataset(labelled_toy)
    tr, va = ds.split("train"), ds.split("val")
    cm = task_labels("car-model", tr, va)
    assert cm["classes"] == ["0", "1", "2"] and cm["y_val"].tolist() == (np.arange(12) % 3).tolist()
    mv = task_labels("moving", tr, va)
    xy, v = tr.read("target_xy"), tr.read("velocity")
    vr = (xy * v).sum(1) / np.linalg.norm(xy, axis=1)
    want = np.where(np.abs(vr) < 0.25, -1, (vr < 0).astype(int))
    assert np.array_equal(mv["y_train"], want) and set(want) >= {0, 1}


@pytest.fixture(scope="module")
def clip_run(toy_dataset, tmp_path_factory):
    from radiovisual.pretrain import run_pretrain

    return run_pretrain(toy_dataset, "clip", tmp_path_factory.mktemp("clip") / "run", preset="smoke",
                        progress=False, overrides=["train.max_steps=4"])


def test_probe_cli_end_to_end(clip_run, toy_dataset, tmp_path, capsys):
    out = tmp_path / "probe"
    argv = ["probe", str(clip_run), str(toy_dataset), "--task", "lane-side,range-bin", "--labels-fraction",
            "0.25,1", "--steps", "5", "--range-bins", "2", "--supervised-cache", str(tmp_path / "cache"),
            "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    assert len(list((tmp_path / "cache").glob("supervised-*.json"))) == 4          # 2 tasks x 2 fractions
    assert "SUPERVISED evaluation" in capsys.readouterr().out
    res = json.loads((out / "probe.json").read_text())
    assert res["supervised_evaluation"] is True and res["method"] == "clip" and res["options"]["seed"] == 0
    for task in ("lane-side", "range-bin"):
        t = res["tasks"][task]
        assert t["fractions"] == [0.25, 1.0] and t["n_labelled"][1] == 48 and t["n_val"] == 12
        assert set(t["acc"]) == {"ssl", "random", "supervised"} and len(t["supervised_train_acc"]) == 2
        assert all(0 <= a <= 1 for accs in t["acc"].values() for a in accs)
    assert (out / "probe.png").stat().st_size > 5000
    # another output (as for another run): the scratch baseline comes from the cache, unchanged
    assert main([a if a != str(out) else str(tmp_path / "again") for a in argv]) == 0
    again = json.loads((tmp_path / "again" / "probe.json").read_text())
    assert again["tasks"]["lane-side"]["acc"]["supervised"] == res["tasks"]["lane-side"]["acc"]["supervised"]
    assert len(list((tmp_path / "cache").glob("supervised-*.json"))) == 4
    stamp = (out / "probe.json").stat().st_mtime_ns
    assert main(argv) == 0 and (out / "probe.json").stat().st_mtime_ns == stamp      # finished probe reused
    assert main(argv[:-1] + ["--seed", "1", "--no-progress"]) == 0                  # new options: recomputed
    assert (out / "probe.json").stat().st_mtime_ns != stamp
    capsys.readouterr()
    assert main(["probe", str(clip_run), str(toy_dataset), "--task", "car-model", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("radiovisual: error:") and "predates" in err[0]
    assert not (tmp_path / "x" / "probe.json").exists()


def test_retrieve_cli_end_to_end(clip_run, toy_dataset, tmp_path, capsys):
    out = tmp_path / "ret"
    assert main(["retrieve", str(clip_run), str(toy_dataset), "--split", "val", "--out", str(out)]) == 0
    res = json.loads((out / "retrieval.json").read_text())
    assert res["n"] == 12 and res["embedding"] == "projectors on pooled backbones"
    assert res["score"] == "cosine similarity" and res["supervised_evaluation"] is False
    for v in ("exact", "pm1_frame"):
        for d in ("radar_to_image", "image_to_radar"):
            assert set(res[v][d]["recall"]) == {"1", "5", "10"}
    assert res["exact"]["chance"]["1"] == pytest.approx(1 / 12)
    assert (out / "retrieval.png").stat().st_size > 5000
    capsys.readouterr()
    assert main(["retrieve", str(tmp_path), str(toy_dataset), "--out", str(out)]) == 2
    assert "not a finished pretraining run" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["mcl", "mcl-paper", "cl", "scl", "clip"])
def test_every_method_embeds_both_modalities(toy_dataset, method):
    """Untrained methods straight from the registry: the embedding interface covers each of them."""
    from radiovisual.evaluate.represent import cross_modal_embeddings
    from radiovisual.evaluate.retrieval import pair_scores
    from radiovisual.pretrain.config import METHODS, resolve_pretrain_config
    from radiovisual.pretrain.methods import build_method

    if method not in METHODS:
        pytest.skip(f"{method} is not registered in this tree")
    cfg = resolve_pretrain_config(method, "smoke")
    torch.manual_seed(0)
    model = build_method(cfg).eval()
    sv = open_dataset(toy_dataset, labels=False).split("val")
    zr, zv = cross_modal_embeddings(model, {"loss": {"mask_pad_px": 0}, "method": method},
                                    sv.read("radar"), sv.read("image"), sv.read("mask"))
    assert zv.shape == (12, zr.shape[1]) and np.allclose(np.linalg.norm(zv, axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(zr, axis=1), 1, atol=1e-5)       # per vector (or per bin) unit norm
    s = pair_scores(zr, zv, 0.1)
    assert s.shape == (12, 12) and np.isfinite(s).all()
