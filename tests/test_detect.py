"""Detector from scratch: learns on toy images, predicted-mask store and ``pred:`` mask source, metrics, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radiovisual.errors import ConfigError, DatasetError, RadiovisualError, StageChangedError

TRAIN_SET = ["epochs=12", "width=8", "depth=2", "batch_size=8", "lr=5e-3"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """Red target box + grey distractor boxes ("parked cars") on noise: trivially separable by colour."""
    from radiovisual.dataset.toy import make_toy_dataset

    return make_toy_dataset(tmp_path_factory.mktemp("toydet") / "toy.zarr", n_train=64, n_val=16, n_test=4,
                            seed=5, H=32, W=48)


@pytest.fixture(scope="module")
def det(toy, tmp_path_factory):
    from radiovisual.detect import resolve_detect_config, train_detector

    cfg = resolve_detect_config("smoke", TRAIN_SET)
    return train_detector(toy, tmp_path_factory.mktemp("det") / "det", cfg, seed=0, progress=False)


def test_loss_falls_and_val_iou_high_on_separable_toy(det):
    m = json.loads((det / "metrics.json").read_text())
    loss = m["train_loss"]
    assert len(loss) == 12 and loss[-1] < 0.5 * loss[0], loss
    v = m["val"]
    assert v["n"] == 16 and v["n_target_visible"] == 16
    assert v["mask_iou_mean"] > 0.8, v
    assert v["map50"] > 0.8 and v["wrong_object_rate"] <= 0.1, v
    cfg_yaml = (det / "config.yaml").read_text()
    assert "epochs: 12" in cfg_yaml and "seed: 0" in cfg_yaml


def test_finished_run_reused_and_changed_config_refused(det, toy):
    from radiovisual.detect import resolve_detect_config, train_detector

    before = (det / "detector.pt").stat().st_mtime_ns
    assert train_detector(toy, det, resolve_detect_config("smoke", TRAIN_SET), seed=0, progress=False) == det
    assert (det / "detector.pt").stat().st_mtime_ns == before
    with pytest.raises(StageChangedError, match="--force"):
        train_detector(toy, det, resolve_detect_config("smoke", TRAIN_SET + ["epochs=3"]), seed=0, progress=False)


def test_predict_store_shapes_and_pred_mask_source(det, toy, tmp_path):
    import zarr

    from radiovisual.dataset.format import open_dataset
    from radiovisual.detect import predict_detector, read_pred_masks
    from radiovisual.pretrain.config import LossConfig
    from radiovisual.pretrain.data import bbox_to_mask, check_split, read_masks, usable_indices

    out = predict_detector(det, toy, tmp_path / "masks.zarr", progress=False)
    g = zarr.open_group(str(out), mode="r")
    assert g.attrs["source"] == "detector" and g.attrs["complete"] is True
    ds = open_dataset(toy, labels=False)
    for s in ("train", "val", "test"):
        sv = ds.split(s)
        n, H, W = sv.shape("mask")
        assert g[s]["mask"].shape == (n, H, W) and g[s]["mask"].dtype == bool
        assert g[s]["bbox"].shape == (n, 4) and g[s]["score"].shape == (n,)
    # the pretrain/selflabel entry points read it through the "pred:" prefix
    src = f"pred:{out}"
    LossConfig(mask_source=src).validate()
    tr = ds.split("train")
    info = check_split(tr, True, src)
    m = read_masks(tr, slice(2, 7), src, info["image_shape"][:2])
    assert m.shape == (5, 32, 48) and m.dtype == bool
    np.testing.assert_array_equal(m, read_pred_masks(out, "train", slice(2, 7)))
    np.testing.assert_array_equal(read_masks(tr, np.array([1, 4]), src, (32, 48)), g["train"]["mask"][[1, 4]])
    assert len(usable_indices(tr, src, 0, (32, 48))) == int(np.asarray(g["train"]["mask"]).any((1, 2)).sum())
    # "pred-bbox:" fills the predicted boxes (the paper's Yolo-box rows): the box covers the predicted mask,
    # and a sample without a detection (NaN box) has an empty mask, as with the "pred:" masks
    box_src = f"pred-bbox:{out}"
    LossConfig(mask_source=box_src).validate()
    assert check_split(tr, True, box_src) == info
    mb = read_masks(tr, np.arange(len(tr)), box_src, (32, 48))
    mp = read_masks(tr, np.arange(len(tr)), src, (32, 48))
    assert mb.shape == mp.shape and not np.any(mp & ~mb)
    np.testing.assert_array_equal(mb.any((1, 2)), np.isfinite(np.asarray(g["train"]["bbox"])).all(1))
    np.testing.assert_array_equal(mb, bbox_to_mask(np.asarray(g["train"]["bbox"]), 32, 48))
    # a second predict of the same detector on the same data is reused; another path is refused
    assert predict_detector(det, toy, out, progress=False) == out
    (tmp_path / "other").mkdir()
    with pytest.raises(StageChangedError):
        predict_detector(det, toy, tmp_path / "other", progress=False)


def test_pred_store_of_another_dataset_shape_refused(det, toy, tmp_path):
    from radiovisual.dataset.format import open_dataset
    from radiovisual.dataset.toy import make_toy_dataset
    from radiovisual.detect import predict_detector
    from radiovisual.pretrain.data import check_split

    out = predict_detector(det, toy, tmp_path / "masks.zarr", progress=False)
    other = make_toy_dataset(tmp_path / "other.zarr", n_train=5, n_val=2, n_test=2, seed=1, H=32, W=48)
    with pytest.raises(DatasetError, match="mask is"):
        check_split(open_dataset(other, labels=False).split("train"), True, f"pred:{out}")
    with pytest.raises(DatasetError, match="no zarr.json"):
        check_split(open_dataset(other, labels=False).split("train"), True, f"pred:{tmp_path / 'nope'}")
    bigger = make_toy_dataset(tmp_path / "big.zarr", n_train=3, n_val=2, n_test=2, seed=1, H=40, W=48)
    with pytest.raises(DatasetError, match="trained on"):
        predict_detector(det, bigger, tmp_path / "m2.zarr", progress=False)
    assert not (tmp_path / "m2.zarr").exists()


def test_cli_bad_input_one_line(det, toy, tmp_path, capsys):
    from radiovisual.cli.main import main

    rc = main(["detect", "predict", str(tmp_path / "missing"), str(toy), "--out", str(tmp_path / "m.zarr")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "detector run not found" in err
    rc = main(["detect", "train", str(tmp_path / "nodata"), "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "not a radiovisual dataset" in err
    rc = main(["detect", "train", str(toy), "--out", str(tmp_path / "d"), "--set", "depth=9"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "depth" in err
    assert not (tmp_path / "d").exists() and not (tmp_path / "m.zarr").exists()
    with pytest.raises(ConfigError):
        from radiovisual.pretrain.config import LossConfig

        LossConfig(mask_source="pred:").validate()
    with pytest.raises(ConfigError):
        LossConfig(mask_source="pred-bbox:").validate()


def test_metrics_by_hand():
    from radiovisual.detect.metrics import box_ap50, detection_metrics

    gt_box = np.array([[0, 0, 9, 9]] * 3, np.float32)
    pred = np.array([[0, 0, 9, 9], [20, 20, 29, 29], [np.nan] * 4], np.float32)
    # ranked: TP (0.9), FP (0.8); recall 1/3 at precision 1 -> AP = 1/3
    assert box_ap50(pred, np.array([0.9, 0.8, 0.0]), gt_box, np.ones(3, bool)) == pytest.approx(1 / 3)
    # FP ranked first: precision at the TP is 1/2 -> AP = 1/6
    assert box_ap50(pred, np.array([0.7, 0.8, 0.0]), gt_box, np.ones(3, bool)) == pytest.approx(1 / 6)
    gt = np.zeros((4, 8, 8), bool)
    gt[:3, :4, :4] = True
    pm = np.zeros_like(gt)
    pm[0, :4, :4] = True        # exact
    pm[1, 5:, 5:] = True        # another object: IoU 0 -> wrong object
    pm[3, 0, 0] = True          # no target -> false alarm; sample 2 is a miss
    m = detection_metrics(pm, np.full((4, 4), np.nan), np.zeros(4), gt, np.full((4, 4), np.nan))
    assert m["mask_iou_mean"] == pytest.approx(1 / 3)
    assert m["wrong_object_rate"] == pytest.approx(1 / 3) and m["miss_rate"] == pytest.approx(1 / 3)
    assert m["false_alarm_rate"] == 1.0 and m["n_target_visible"] == 3


def test_interrupted_run_resumes_to_the_same_weights(toy, tmp_path, monkeypatch):
    import torch

    import radiovisual.detect.train as T
    from radiovisual.detect import resolve_detect_config, train_detector
    from radiovisual.utils.io import load_checkpoint

    cfg = resolve_detect_config("smoke", ["epochs=3", "width=4", "depth=1", "max_train=16", "flip_augment=true"])
    a = train_detector(toy, tmp_path / "a", cfg, seed=1, progress=False)
    orig = T._epoch

    def interrupted(*args):
        if args[7] == 2:   # the third epoch
            raise KeyboardInterrupt
        return orig(*args)

    monkeypatch.setattr(T, "_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_detector(toy, tmp_path / "b", cfg, seed=1, progress=False)
    assert (tmp_path / "b" / "train_state.pt").is_file() and not (tmp_path / "b" / "done.json").exists()
    monkeypatch.undo()
    b = train_detector(toy, tmp_path / "b", cfg, seed=1, progress=False)
    wa, wb = load_checkpoint(a / "detector.pt")["model"], load_checkpoint(b / "detector.pt")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    la, lb = (json.loads((d / "metrics.json").read_text())["train_loss"] for d in (a, b))
    assert la == lb and not (b / "train_state.pt").exists()


def test_pretrain_and_selflabel_run_on_detector_masks(det, toy, tmp_path):
    """End to end through the real stages: ``loss.mask_source=pred:PATH`` reaches pretraining and self-labelling."""
    from radiovisual.detect import predict_detector
    from radiovisual.pretrain import run_pretrain
    from radiovisual.selflabel import open_labels, run_selflabel

    store = predict_detector(det, toy, tmp_path / "masks.zarr", progress=False)
    run = run_pretrain(toy, "scl", tmp_path / "scl", preset="smoke", progress=False,
                       overrides=["train.epochs=1", f"loss.mask_source=pred:{store}"])
    assert json.loads((run / "config.json").read_text())["config"]["loss"]["mask_source"] == f"pred:{store}"
    labels = run_selflabel(run, toy, split="val", out=tmp_path / "sl.zarr", progress=False)
    g = open_labels(labels)
    assert g["polar"].shape == (16, 2) and g.attrs["config"]["mask_source"] == f"pred:{store}"
