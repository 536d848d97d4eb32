"""The on-disk format v1: round trip, completeness, label guard, coordinate helpers."""

from __future__ import annotations

import numpy as np
import pytest

from radiovisual.dataset.format import (GT_ARRAYS, bins_to_polar, create_root, mark_complete, open_dataset,
                                        polar_to_bins, polar_to_xy, write_split, xy_to_polar)
from radiovisual.errors import DatasetError, LabelAccessError


def _split(n: int, seed: int, R: int = 6, A: int = 5, H: int = 4, W: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    polar = np.stack([rng.uniform(2, 20, n), rng.uniform(-1, 1, n)], 1).astype(np.float32)
    return {
        "radar": rng.normal(size=(n, R, A)).astype(np.float32),
        "image": rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8),
        "mask": rng.random((n, H, W)) > 0.5,
        "bbox": rng.uniform(0, 5, (n, 4)).astype(np.float32),
        "target_polar": polar,
        "target_xy": polar_to_xy(polar).astype(np.float32),
        "sequence": (np.arange(n) // 3).astype(np.int32),
        "frame": (np.arange(n) % 3).astype(np.int32),
        "depth": rng.uniform(1, 30, (n, H, W)).astype(np.float32),
        "reflectors": np.full((n, 2, 2), np.nan, np.float32),
        "velocity": rng.normal(size=(n, 2)).astype(np.float64),  # cast to float32 by write_split
    }


@pytest.fixture()
def store(tmp_path):
    path = tmp_path / "s.zarr"
    root = create_root(path, {"range_bins_m": np.linspace(2, 7, 6), "azimuth_bins_rad": np.linspace(-1, 1, 5),
                              "scenario": "unit"})
    data = {"train": _split(70, 1), "val": _split(6, 2)}  # 70 > one shard of 64 samples
    for s, arrs in data.items():
        write_split(root, s, arrs)
    return path, root, data


def test_round_trip_and_dtypes(store):
    path, root, data = store
    mark_complete(root)
    ds = open_dataset(path)
    assert ds.splits == ["train", "val"]
    assert ds.attrs["complete"] is True and ds.attrs["format_version"] == 1
    np.testing.assert_allclose(ds.range_bins_m, np.linspace(2, 7, 6))
    for s, arrs in data.items():
        sv = ds.split(s)
        assert len(sv) == len(arrs["radar"])
        for k, v in arrs.items():
            got = sv.read(k)
            assert got.shape == v.shape
            np.testing.assert_array_equal(got, v.astype(got.dtype))
        assert sv.read("velocity").dtype == np.float32
        assert sv.group["radar"].chunks == (1, 6, 5)
    np.testing.assert_array_equal(ds.split("train").read("radar", 65), data["train"]["radar"][65])  # 2nd shard


def test_incomplete_refused_unless_allowed(store):
    path, root, _ = store
    with pytest.raises(DatasetError, match="incomplete"):
        open_dataset(path)
    ds = open_dataset(path, allow_incomplete=True)
    assert len(ds.split("val")) == 6
    with pytest.raises(DatasetError, match="no split 'test'"):
        ds.split("test")


def test_not_a_dataset(tmp_path):
    with pytest.raises(DatasetError, match="not a radiovisual dataset"):
        open_dataset(tmp_path)


def test_write_split_rejects_missing_and_ragged(tmp_path):
    root = create_root(tmp_path / "x.zarr", {})
    arrs = _split(4, 0)
    with pytest.raises(DatasetError, match="lacks required arrays: radar"):
        write_split(root, "train", {k: v for k, v in arrs.items() if k != "radar"})
    arrs["bbox"] = arrs["bbox"][:3]
    with pytest.raises(DatasetError, match="disagree on N"):
        write_split(root, "train", arrs)


def test_label_guard(store):
    path, root, _ = store
    mark_complete(root)
    sv = open_dataset(path, labels=False).split("train")
    assert sv.read("radar", 0).shape == (6, 5)
    sv.read("image", slice(0, 2))
    for name in sorted(GT_ARRAYS):
        with pytest.raises(LabelAccessError, match=name):
            sv.read(name, 0)
        with pytest.raises(LabelAccessError):
            sv.array(name)
    # the same guard via label_free() of a labelled dataset
    with pytest.raises(LabelAccessError):
        open_dataset(path).label_free().split("val").read("target_xy")


def test_polar_xy_against_reference():
    rng = np.random.default_rng(3)
    r = rng.uniform(0.5, 50, 200)
    az = rng.uniform(-np.pi / 2, np.pi / 2, 200)
    xy = polar_to_xy(np.stack([r, az], 1))
    # independent reference: rotate the forward unit vector (0, 1) clockwise by az (positive = right)
    ref = np.array([[ri * np.cos(np.pi / 2 - ai), ri * np.sin(np.pi / 2 - ai)] for ri, ai in zip(r, az)])
    np.testing.assert_allclose(xy, ref, atol=1e-9)
    assert polar_to_xy(np.array([10.0, np.deg2rad(30)]))[0] > 0  # positive azimuth is to the right
    np.testing.assert_allclose(xy_to_polar(xy), np.stack([r, az], 1), atol=1e-9)


def test_bins_helpers_against_reference():
    rb = np.linspace(2.0, 26.0, 129)                  # uniform range bins
    ab = np.arcsin(np.linspace(-0.9, 0.9, 33))        # non-uniform azimuth bins (uniform in sin)
    rng = np.random.default_rng(4)
    rows = rng.uniform(0, 128, 50)
    cols = rng.uniform(0, 32, 50)
    polar = bins_to_polar(np.stack([rows, cols], 1), rb, ab)
    # reference: manual linear interpolation between neighbouring bin centres
    i = np.floor(cols).astype(int).clip(0, 31)
    t = cols - i
    ref_az = ab[i] * (1 - t) + ab[i + 1] * t
    np.testing.assert_allclose(polar[:, 0], 2.0 + rows * (24.0 / 128), atol=1e-9)
    np.testing.assert_allclose(polar[:, 1], ref_az, atol=1e-12)
    np.testing.assert_allclose(polar_to_bins(polar, rb, ab), np.stack([rows, cols], 1), atol=1e-9)
    # bin centres map to integer indices
    np.testing.assert_allclose(polar_to_bins(np.stack([rb[:33], ab], 1), rb, ab),
                               np.stack([np.arange(33), np.arange(33)], 1), atol=1e-9)
