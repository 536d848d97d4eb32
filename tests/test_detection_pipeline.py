"""``benchmark --task detection`` end to end on a tiny multi-object store (issue 20): per-object self-labels
(one per visible camera object, label-free), the detector rows, AP from one code path, the report files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import zarr

OBJS = "synth.scene.objects=[car:1-2,pedestrian:1-2,cyclist:0-1]"


@pytest.fixture(scope="module")
def det_bench(tmp_path_factory):
    pytest.importorskip("sionna.rt")
    out = tmp_path_factory.mktemp("detbench") / "b"
    cmd = [sys.executable, "-m", "radiovisual.cli.main", "benchmark", "--task", "detection", "--preset", "smoke",
           "--scenario", "parking_lot", "--out", str(out), "--n", "54", "--seed", "2", "--methods", "mcl,peak",
           "--baselines", "cfar,rodnet", "--set", OBJS, "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_detection_benchmark_writes_every_row_and_scores_with_the_evaluator(det_bench):
    from radiovisual.dataset.detections import unpack
    from radiovisual.evaluate.detection import gt_objects
    from radiovisual.evaluate.ols import evaluate_rod

    out, proc = det_bench
    res = json.loads((out / "detection.json").read_text())
    assert set(res["metrics"]) == {"mcl", "supervised", "rodnet", "cfar", "peak"}
    assert res["metrics"]["mcl"]["label_free"] and not res["metrics"]["supervised"]["label_free"]
    assert (out / "pr_curves.png").stat().st_size > 5000 and "| MCL (ours) |" in (out / "detection.md").read_text()
    assert "AP" in proc.stdout
    # AP of the benchmark's output = the evaluator's on the same detections (one code path)
    dets = np.load(out / "val_detections.npz")
    gts = gt_objects(out / "data", "val")
    for name in ("mcl", "cfar", "supervised"):
        ref = evaluate_rod(gts, unpack(dets[f"{name}_seed0"]))
        assert res["metrics"][name]["AP"] == pytest.approx(ref["AP"], abs=1e-12, nan_ok=True)


def test_object_selflabels_one_per_visible_mask_with_its_class_and_blind_to_ground_truth(det_bench, tmp_path):
    from radiovisual.dataset.format import open_dataset
    from radiovisual.selflabel.objects import load_object_labels, run_object_selflabels

    out, _ = det_bench
    run = next((out / "selflabels").glob("mcl-seed0*-objects"))
    lab = load_object_labels(run)
    sv = open_dataset(out / "data", labels=False).split("train")
    inst, cls = sv.read("instance_mask"), sv.read("instance_class")
    for i in range(len(lab)):
        seen = [k for k in range(1, int(inst[i].max()) + 1) if (inst[i] == k).any()]
        got = lab[i][np.isfinite(lab[i][:, 0])]
        assert len(got) == len(seen), i                     # one label per visible camera object
        assert sorted(got[:, 2].astype(int)) == sorted(int(cls[i, k - 1]) for k in seen)
        assert ((got[:, 3] >= 0) & (got[:, 3] <= 1)).all()
    # the same labels from a copy whose ground truth was scrambled on disk
    scrambled = tmp_path / "scrambled.zarr"
    shutil.copytree(out / "data", scrambled)
    root = zarr.open_group(str(scrambled), mode="r+")
    rng = np.random.default_rng(5)
    for split in ("train", "val", "test"):
        for name in ("objects", "target_polar", "target_xy", "reflectors"):
            if name in root[split]:
                a = root[split][name]
                a[...] = (rng.normal(size=a.shape) * 9).astype(a.dtype)
    store = next((out / "selflabels").glob("mcl-seed0*-train.zarr"))
    again = load_object_labels(run_object_selflabels(store, scrambled, tmp_path / "obj", "train"))
    assert np.array_equal(np.nan_to_num(again, nan=-7), np.nan_to_num(lab, nan=-7))


def test_instances_pretraining_pairs_every_visible_object(det_bench):
    from radiovisual.dataset.format import open_dataset
    from radiovisual.pretrain.data import PairSource, instance_items

    out, _ = det_bench
    ds = open_dataset(out / "data", labels=False)
    sv = ds.split("train")
    frames, ids = instance_items(sv)
    inst = sv.read("instance_mask")
    assert len(frames) == sum(len(np.setdiff1d(np.unique(m), [0])) for m in inst) and len(frames) > len(sv)
    src = PairSource(ds, out / "data", True, "instances", 0, True, 0)
    batch = next(src.batches(4, 0, 0, 1, 0, 1))
    assert batch["gamma"].shape[0] == 4 and (batch["gamma"].flatten(1).amax(1) > 0).all()
