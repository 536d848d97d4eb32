"""The public API (``import radiovisual``) on a finished smoke benchmark: data, runs, localiser, errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import radiovisual as rv


def test_paired_dataset_in_a_dataloader_with_workers(smoke_bench):
    ds = rv.PairedDataset(smoke_bench.data, split="val")
    n = len(rv.open_dataset(smoke_bench.data).split("val"))
    assert len(ds) == n
    batches = list(torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2))
    assert [len(b.radar) for b in batches][:1] == [4] and sum(len(b.target) for b in batches) == n
    b = batches[0]
    R, A = len(ds.range_bins_m), len(ds.azimuth_bins_rad)
    assert b.radar.shape[1:] == (1, R, A) and b.image.shape[1] == 3 and b.mask.shape[1] == 1
    gt = rv.open_dataset(smoke_bench.data).split("val").read("target_polar")
    assert torch.allclose(torch.cat([x.target for x in batches]), torch.from_numpy(gt))
    # the stored values on request; a transform sees (and may replace) each sample
    raw = rv.PairedDataset(smoke_bench.data, split="val", normalise=False, transform=lambda s: s._replace(mask=0))
    s = raw[1]
    assert s.image.dtype == torch.uint8 and s.mask == 0
    assert np.allclose(s.radar[0].numpy(), rv.open_dataset(smoke_bench.data).split("val").read("radar", 1))


def test_label_free_view_has_no_target_and_refuses_labels(smoke_bench):
    lf = rv.PairedDataset(smoke_bench.data, split="train", labels=False)
    batch = next(iter(torch.utils.data.DataLoader(lf, batch_size=3, num_workers=2)))
    assert type(batch).__name__ == "Pair" and len(batch) == 3 and not hasattr(batch, "target")
    for access in (lambda: lf.target(0), lf.targets, lambda: lf._split().read("target_polar", 0)):
        with pytest.raises(rv.LabelAccessError):
            access()
    # targets you give (e.g. self-labels) keep the view label-free
    fake = np.zeros((len(lf), 2), np.float32)
    assert torch.equal(rv.PairedDataset(smoke_bench.data, "train", labels=False, targets=fake)[2].target,
                       torch.zeros(2))
    with pytest.raises(rv.DatasetError, match="targets must be"):
        rv.PairedDataset(smoke_bench.data, "train", labels=False, targets=fake[:-1])
    with pytest.raises(rv.DatasetError, match="has no split"):
        rv.PairedDataset(smoke_bench.data, split="nope")


def test_localiser_round_trip_finetune_save_reload(smoke_bench, tmp_path):
    run = rv.load_run(smoke_bench.out / "localise" / "supervised")
    radar = rv.open_dataset(smoke_bench.data, labels=False).split("val").read("radar")
    loc = rv.load_localiser(run)
    assert not loc.training and isinstance(loc, torch.nn.Module)
    # the module and the frozen TorchScript path agree on the same weights
    assert np.allclose(rv.predict(loc, radar), rv.predict(run, radar), atol=1e-5)
    loc.train()
    x = torch.from_numpy(radar[:6])
    y = torch.tensor([[12.0, 0.1]] * 6, dtype=torch.float64)
    before = {k: v.clone() for k, v in loc.state_dict().items()}
    loss = torch.nn.functional.mse_loss(loc(x), y)
    loss.backward()
    torch.optim.SGD(loc.parameters(), lr=1e-2).step()
    assert any(not torch.equal(before[k], v) for k, v in loc.state_dict().items())
    saved = loc.save(tmp_path / "tuned")
    again = rv.load_localiser(saved)
    tuned = rv.predict(again, radar)
    assert np.allclose(tuned, rv.predict(saved, radar), atol=1e-5)      # reloaded module == frozen fast path
    assert np.allclose(tuned, rv.predict(loc, radar), atol=1e-5)        # == the module that was saved
    assert not np.allclose(tuned, rv.predict(run, radar), atol=1e-7)    # and it did change
    assert rv.load_run(saved).stage == "localise"


def test_predict_alternates_runs_without_retracing(smoke_bench):
    from radiovisual.localise.train import load_frozen

    a = rv.load_run(smoke_bench.out / "localise" / "supervised")
    b = smoke_bench.out / "rodnet" / "seed0"          # a teacher-student run resolves to its student
    radar = rv.open_dataset(smoke_bench.data, labels=False).split("val").read("radar")
    first = load_frozen(a)[0]
    for run in (a, b, a, b):
        rv.predict(run, radar)
    assert load_frozen(a)[0] is first


def test_load_run_resolves_method_dirs_and_explains(smoke_bench, tmp_path):
    out = smoke_bench.out
    run = rv.load_run(out / "localise" / "mcl")
    kept = json.loads((out / "metrics.json").read_text())["metrics"]["mcl"]["kept_runs"][0]
    assert run.path.name == kept["run"] and run.seed == 0 and run.healthy is kept["healthy"]
    assert rv.load_backbones(out / "pretrain" / "mcl").method == "mcl"
    # several seeds: one line naming them; seed= picks one
    multi = tmp_path / "localise" / "mcl"
    for s in ("seed0", "seed1"):
        shutil.copytree(run.path, multi / s)
    with pytest.raises(rv.RadiovisualError) as e:
        rv.predict(multi, np.zeros((1, 2, 2), np.float32))
    msg = str(e.value)
    assert "\n" not in msg and "seed0, seed1" in msg and "seed=0" in msg
    assert rv.load_run(multi, seed=1).path == multi / "seed1"
    with pytest.raises(rv.RadiovisualError, match="one directory per method"):
        rv.load_run(out / "localise")
    with pytest.raises(rv.RadiovisualError, match="not found"):
        rv.load_run(tmp_path / "nope")


def test_selflabel_cli_takes_a_method_dir_and_other_presets(smoke_bench, tmp_path):
    import subprocess
    import sys

    base = [sys.executable, "-m", "radiovisual.cli.main", "selflabel", str(smoke_bench.out / "pretrain" / "mcl"),
            str(smoke_bench.data), "--split", "val", "--no-progress"]
    r = subprocess.run(base + ["--preset", "quick", "--out", str(tmp_path / "sl.zarr")], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-1500:]
    assert rv.load_labels(tmp_path / "sl.zarr").shape == (len(rv.PairedDataset(smoke_bench.data, "val")), 2)
    r = subprocess.run(base + ["--preset", "huge"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "invalid choice: 'huge'" in r.stderr and "track" in r.stderr


def test_saving_a_localiser_never_overwrites_another_stage(smoke_bench, tmp_path):
    import shutil

    pre = tmp_path / "pre"
    shutil.copytree(rv.load_run(smoke_bench.out / "pretrain" / "mcl").path, pre)
    loc = rv.new_localiser(smoke_bench.data)
    with pytest.raises(rv.RadiovisualError, match="holds a pretrain run"):
        loc.save(pre)
    assert rv.load_run(pre).stage == "pretrain"
    assert rv.predict(loc.save(tmp_path / "fresh"), np.zeros((2, *loc.heatmap_hw), np.float32)).shape == (2, 2)
