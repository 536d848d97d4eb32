"""Radio-only localiser: learns on toy data, predict round-trip, resume/idempotence, bad inputs, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radiovisual.errors import ConfigError, RadiovisualError


@pytest.fixture(scope="module")
def toy_big(tmp_path_factory):
    from radiovisual.dataset.toy import make_toy_dataset

    return make_toy_dataset(tmp_path_factory.mktemp("toyloc") / "toy.zarr", n_train=160, n_val=40, n_test=4,
                            seed=3, n_clutter=1)


@pytest.fixture(scope="module")
def supervised_run(toy_big, tmp_path_factory):
    from radiovisual.localise import train_localiser

    out = tmp_path_factory.mktemp("loc") / "sup"
    return train_localiser(toy_big, "gt", out, preset="quick", overrides=["epochs=15", "patience=15", "batch_size=32"],
                           seed=0, progress=False)


def test_localiser_learns_on_toy(toy_big, supervised_run):
    from radiovisual.dataset.format import open_dataset
    from radiovisual.evaluate.metrics import error_summary, location_errors
    from radiovisual.localise import predict

    ds = open_dataset(toy_big)
    val = ds.split("val")
    gt = val.read("target_polar")
    pred = predict(supervised_run, val.read("radar"))
    err = error_summary(location_errors(pred, gt))
    # constant predictor: the train-label mean (the best constant under MSE)
    const = np.repeat(ds.split("train").read("target_polar").mean(0, keepdims=True), len(gt), axis=0)
    base = error_summary(location_errors(const, gt))
    assert err["p50_m"] < 0.35 * base["p50_m"], (err, base)
    hist = json.loads((supervised_run / "history.json").read_text())
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]


def test_predict_roundtrip_and_files(toy_big, supervised_run):
    import torch

    from radiovisual.dataset.format import open_dataset
    from radiovisual.localise import predict
    from radiovisual.localise.model import Localiser

    for name in ("model.pt", "config.json", "done.json", "history.json"):
        assert (supervised_run / name).is_file()
    assert not (supervised_run / "last.pt").exists()
    ck = torch.load(supervised_run / "model.pt", weights_only=True)
    m = Localiser(ck["width"])
    m.load_state_dict(ck["state_dict"])
    m.eval()
    radar = open_dataset(toy_big, labels=False).split("val").read("radar")[:7]
    with torch.inference_mode():
        bins = m(torch.from_numpy(radar)[:, None]).double().numpy()
    from radiovisual.dataset.format import bins_to_polar

    ds = open_dataset(toy_big, labels=False)
    ref = bins_to_polar(bins, ds.range_bins_m, ds.azimuth_bins_rad)
    p1 = predict(supervised_run, radar)
    np.testing.assert_allclose(p1, ref, atol=1e-4)  # the fused inference path equals the eager model
    np.testing.assert_allclose(predict(supervised_run, radar), p1)  # deterministic
    assert p1.shape == (7, 2)
    with pytest.raises(RadiovisualError, match="radar must be"):
        predict(supervised_run, radar[:, :5])


def test_idempotent_and_label_free_path(toy_big, tmp_path, monkeypatch):
    from radiovisual.dataset import format as fmt
    from radiovisual.errors import LabelAccessError
    from radiovisual.localise import train_localiser

    ds = fmt.open_dataset(toy_big)
    labels = ds.split("train").read("target_polar").astype(np.float64) + 0.1  # "someone's" labels
    orig = fmt.SplitView.array

    def guarded(self, name):
        if name in fmt.GT_ARRAYS:
            raise LabelAccessError(f"read {name}")
        return orig(self, name)

    monkeypatch.setattr(fmt.SplitView, "array", guarded)  # label path must never read GT
    out = train_localiser(toy_big, labels, tmp_path / "r", preset="smoke", seed=1, progress=False)
    done = (out / "done.json").read_text()
    mt = (out / "model.pt").stat().st_mtime_ns
    train_localiser(toy_big, labels, out, preset="smoke", seed=1, progress=False)
    assert (out / "model.pt").stat().st_mtime_ns == mt and (out / "done.json").read_text() == done
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["labels"].startswith("provided") and cfg["n_holdout"] > 0


def test_bad_inputs(toy_big, tmp_path):
    from radiovisual.localise import predict, train_localiser

    with pytest.raises(RadiovisualError, match="rows but the train split"):
        train_localiser(toy_big, np.zeros((5, 2)), tmp_path / "a", preset="smoke", progress=False)
    with pytest.raises(RadiovisualError, match="shape"):
        train_localiser(toy_big, np.zeros((160, 3)), tmp_path / "a", preset="smoke", progress=False)
    with pytest.raises(RadiovisualError, match="'gt'"):
        train_localiser(toy_big, "ground-truth", tmp_path / "a", preset="smoke", progress=False)
    with pytest.raises(ConfigError):
        train_localiser(toy_big, "gt", tmp_path / "a", preset="nope", progress=False)
    with pytest.raises(ConfigError):
        train_localiser(toy_big, "gt", tmp_path / "a", overrides=["lr=-1"], progress=False)
    with pytest.raises(RadiovisualError, match="no done.json"):
        predict(tmp_path, np.zeros((1, 32, 32), np.float32))


def test_cli(toy_big, tmp_path, capsys):
    from radiovisual.cli.main import main

    labels = tmp_path / "nope.zarr"
    assert main(["localise", str(toy_big), "--labels", str(labels), "--out", str(tmp_path / "o")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("radiovisual: error:")
    assert main(["selflabel", str(tmp_path / "missing_run"), str(toy_big), "--out", str(tmp_path / "s.zarr")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]
    rc = main(["localise", str(toy_big), "--labels", "gt", "--out", str(tmp_path / "g"), "--preset", "smoke",
               "--seeds", "2", "--no-progress"])
    assert rc == 0
    m = json.loads((tmp_path / "g" / "metrics.json").read_text())
    assert m["n_seeds"] == 2 and m["p50_std_m"] >= 0 and len(m["per_seed"]) == 2
    assert m["p50_m"] == np.mean([s["p50_m"] for s in m["per_seed"]])
    assert m["label_free"] is False  # gt is supervised
    assert "p50" in capsys.readouterr().out


def test_stem_follows_the_grid_and_is_the_old_3x3_on_ours():
    import torch

    from radiovisual.dataset import cruw
    from radiovisual.dataset.resolution import grid_resolution
    from radiovisual.localise.config import LocaliserConfig
    from radiovisual.localise.model import Localiser

    radio = {"range_resolution_m": 0.1874, "array": {"cols": 16, "spacing_wavelengths": 0.5}}
    quick = grid_resolution({"radio": radio}, 2.0 + 0.1874 * np.arange(128), np.deg2rad(np.linspace(-60, 60, 64)))
    crw = grid_resolution({"radio": {"range_resolution_m": cruw.RANGE_RESOLUTION_M,
                                     "array": {"cols": 8, "spacing_wavelengths": 0.5}}},
                          cruw.range_grid_m(), cruw.azimuth_grid_rad())
    c = LocaliserConfig().for_grid(quick)
    assert (c.stem_range, c.stem_azimuth) == (1, 1)
    c = LocaliserConfig().for_grid(crw)
    assert (c.stem_range, c.stem_azimuth) == (1, 4)     # 15.9 bins per beam / 4 designed
    assert LocaliserConfig(stem_azimuth=2).for_grid(crw).stem_azimuth == 2
    with pytest.raises(ConfigError):
        LocaliserConfig(stem_azimuth="big").validate()
    # stem (1, 1) is the former 3x3 / stride 2 / pad 1 conv: same parameters from the same seed
    torch.manual_seed(0)
    a = Localiser(8)
    conv = a.s2[0]
    assert conv.kernel_size == (3, 3) and conv.stride == (2, 2) and conv.padding == (1, 1)
    torch.manual_seed(0)
    ref = torch.nn.Conv2d(1, 8, 3, stride=2, padding=1, bias=False)
    assert torch.equal(conv.weight, ref.weight)
    # stem (1, 4): output column j is centred on input bin 8 j (kernel 9, stride 8, pad 4)
    m = Localiser(4, stem=(1, 4))
    conv = m.s2[0]
    assert conv.kernel_size == (3, 9) and conv.stride == (2, 8)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, :, 1, 4] = 1.0
        x = torch.randn(1, 1, 128, 128)
        y = conv(x)
    assert y.shape[-2:] == (64, 16)
    torch.testing.assert_close(y[0, 0], x[0, 0, ::2, ::8])
    # zero-initialised head: uniform softmax, no offsets -> the mean of the stride-4 cell centres 16 i
    m.eval()
    with torch.no_grad():
        p = m(torch.randn(2, 1, 128, 128))
    assert p[0, 1].item() == pytest.approx(16 * np.arange(8).mean()) and p[0, 0].item() == pytest.approx(4 * 15.5)
