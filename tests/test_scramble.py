"""Honesty: scrambling the ground-truth arrays of the raw zarr store changes nothing label-free.

Runs pretrain (mcl) -> selflabel (mcl and mcl+track) -> localise on a toy store, then on a byte copy whose
label arrays (target_polar, target_xy) were overwritten on disk with random values through zarr itself,
not through a patched reader, and requires bit-identical self-labels and localiser predictions.
"""

from __future__ import annotations

import shutil

import numpy as np
import zarr


def _pipeline(data, out):
    from radiovisual.dataset.format import open_dataset
    from radiovisual.localise import predict, train_localiser
    from radiovisual.pretrain import run_pretrain
    from radiovisual.selflabel import load_labels, run_selflabel

    run = run_pretrain(data, "mcl", out / "pre", preset="smoke", progress=False, overrides=["train.epochs=2"])
    res = {}
    for name, over in (("mcl", []), ("track", ["track=true"])):
        for split in ("train", "val"):
            res[f"{name}-{split}"] = load_labels(run_selflabel(run, data, split=split, out=out / f"{name}-{split}.zarr",
                                                               overrides=over, progress=False))
    loc = train_localiser(data, res["mcl-train"], out / "loc", preset="smoke", seed=0, progress=False,
                          label_free=True)
    res["pred"] = predict(loc, open_dataset(data, labels=False).split("val").read("radar"))
    return res


def test_gt_scramble_leaves_label_free_outputs_bit_identical(toy_dataset, tmp_path):
    clean = _pipeline(toy_dataset, tmp_path / "a")
    scrambled = tmp_path / "scrambled.zarr"
    shutil.copytree(toy_dataset, scrambled)
    root = zarr.open_group(str(scrambled), mode="r+")
    rng = np.random.default_rng(123)
    changed = 0
    for split in ("train", "val", "test"):
        for name in ("target_polar", "target_xy", "reflectors", "velocity", "depth"):
            if name in root[split]:
                a = root[split][name]
                a[...] = rng.normal(size=a.shape).astype(a.dtype) * 7.0
                changed += 1
    assert changed >= 6
    from radiovisual.dataset.format import open_dataset

    assert not np.allclose(open_dataset(scrambled).split("train").read("target_polar"),
                           open_dataset(toy_dataset).split("train").read("target_polar"))
    dirty = _pipeline(scrambled, tmp_path / "b")
    for k in clean:
        assert np.array_equal(clean[k], dirty[k]), k
