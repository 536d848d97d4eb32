"""Radar-only multi-object detector (issue 20, item 2): targets, decoding, learning on a toy store, stages."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from radiovisual.errors import RadiovisualError

PED, CAR = 0, 2


def _blob(R: int, A: int, r0: float, a0: float, s: float) -> np.ndarray:
    rr, aa = np.meshgrid(np.arange(R), np.arange(A), indexing="ij")
    return np.exp(-0.5 * ((rr - r0) ** 2 + (aa - a0) ** 2) / s ** 2)


def make_multi_store(path, n_train: int = 240, n_val: int = 60, R: int = 32, A: int = 32, seed: int = 0,
                     seq_len: int = 4):
    """A tiny store whose radar maps hold 2-3 objects (car: wide strong blob; pedestrian: narrow weak one) at
    random sub-bin positions over a noise floor, with ``objects`` [N,3,3] (range m, azimuth rad, class).
    Cars keep 3 m from other objects: closer cars would be one car for OLS (NMS keeps one of them)."""
    from radiovisual.dataset.format import bins_to_polar, polar_to_xy
    from radiovisual.dataset.store.format import create_root, mark_complete, write_split

    rb = np.linspace(4.0, 4.0 + 0.25 * (R - 1), R)
    ab = np.deg2rad(np.linspace(-60, 60, A))
    root = create_root(path, {"range_bins_m": rb.tolist(), "azimuth_bins_rad": ab.tolist(), "scenario": "toy",
                              "config": {"toy": "multi", "seed": seed}})
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        radar = np.empty((n, R, A), np.float32)
        objects = np.full((n, 3, 3), np.nan, np.float32)
        for i in range(n):
            power = np.zeros((R, A))
            pos: list[tuple[np.ndarray, int]] = []
            for k in range(int(rng.integers(2, 4))):
                cls = CAR if k == 0 or rng.random() < 0.4 else PED
                while True:   # 3 bins inside the edges, 5 bins apart, 3 m apart from a car (no overlapping cars)
                    p = rng.uniform(3, [R - 4, A - 4])
                    xy = polar_to_xy(bins_to_polar(p, rb, ab))
                    if all(np.hypot(*(p - q)) >= 5 and (CAR not in (cls, c) or np.hypot(*(xy - polar_to_xy(
                            bins_to_polar(q, rb, ab)))) >= 3.0) for q, c in pos):
                        break
                pos.append((p, cls))
                power += (1.0 if cls == CAR else 0.35) * _blob(R, A, p[0], p[1], 1.6 if cls == CAR else 0.8)
                objects[i, k] = (*bins_to_polar(p, rb, ab), cls)
            radar[i] = 10 * np.log10(power + rng.exponential(0.01, size=(R, A)))
        first = objects[:, 0, :2]
        arrays = {"radar": radar, "image": np.zeros((n, 4, 4, 3), np.uint8), "mask": np.zeros((n, 4, 4), bool),
                  "bbox": np.zeros((n, 4), np.float32), "target_polar": first,
                  "target_xy": polar_to_xy(first).astype(np.float32),
                  "sequence": (np.arange(n) // seq_len).astype(np.int32),
                  "frame": (np.arange(n) % seq_len).astype(np.int32), "objects": objects}
        write_split(root, split, arrays)
    mark_complete(root)
    return path


def _gts(objects: np.ndarray) -> list[np.ndarray]:
    return [o[np.isfinite(o).all(1)].astype(np.float64) for o in objects]


# ------------------------------------------------------------------------------------------------ unit tests
RB = np.linspace(2.0, 2.0 + 0.3 * 63, 64)
AB = np.deg2rad(np.linspace(-60, 60, 64))


def test_confmap_targets_peak_offset_and_ols_gaussian():
    from radiovisual.dataset.format import polar_to_bins
    from radiovisual.localise.detector import confmap_targets

    labels = np.array([[12.34, 0.21, CAR, 1.0], [7.77, -0.4, PED, 0.6], [np.nan, np.nan, np.nan, np.nan]])
    t = confmap_targets(labels, RB, AB, n_classes=3, min_sigma_bins=0.0)
    rc = polar_to_bins(labels[:2, :2], RB, AB)
    near = np.rint(rc).astype(int)
    for (r, a), c, f in zip(near, (CAR, PED), rc):
        assert t["heat"][c, r, a] == 1.0 and t["mask"][r, a] == 1.0
        np.testing.assert_allclose(t["offset"][:, r, a], f - (r, a), atol=1e-6)
    assert t["heat"].shape == (3, 64, 64) and t["offset"].shape == (2, 64, 64) and t["mask"].sum() == 2
    assert t["heat"][1].max() == 0.0 and (t["heat"] == 1.0).sum() == 2           # no cyclist; two positives
    # NumPy reference: the value at a cell is its OLS to the object (exp(-d^2 / (2 s^2 kappa)), kappa = 3/100)
    rr, aa = np.meshgrid(RB, AB, indexing="ij")
    r0, a0 = labels[0, :2]
    d2 = (rr * np.sin(aa) - r0 * np.sin(a0)) ** 2 + (rr * np.cos(aa) - r0 * np.cos(a0)) ** 2
    ref = np.exp(-d2 / (2 * r0 ** 2 * 0.03))
    ref[tuple(near[0])] = 1.0
    np.testing.assert_allclose(t["heat"][CAR], ref, atol=1e-5)
    # a cell about one OLS sigma (s sqrt(kappa)) away in range holds about exp(-1/2)
    sigma = r0 * np.sqrt(0.03)
    k = near[0, 0] + int(round(sigma / 0.3))
    np.testing.assert_allclose(t["heat"][CAR, k, near[0, 1]], ref[k, near[0, 1]], atol=1e-5)
    assert abs(ref[k, near[0, 1]] - np.exp(-0.5 * (RB[k] - RB[near[0, 0]]) ** 2 / sigma ** 2)) < 0.05
    # weights: the pedestrian's score around it, 1 far from it and on other classes
    w = t["weight"]
    assert w[PED, near[1, 0], near[1, 1]] == pytest.approx(0.6) and w[PED, 0, 0] == 1.0 and (w[CAR] == 1.0).all()
    # mirrored labels (az -> -az on this symmetric grid) give the mirrored targets (the flip augmentation)
    from radiovisual.localise.detector import TargetMaker, flip_targets

    make = TargetMaker(RB, AB, 3, 0.7)
    lab = labels[None].copy()
    mir = lab * np.array([1.0, -1.0, 1.0, 1.0])
    a, b = flip_targets(make(lab), torch.tensor([True])), make(mir)
    for k in ("heat", "weight", "offset", "mask"):
        np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), atol=1e-5, err_msg=k)
    # the bin-space floor widens a narrow Gaussian but keeps the peak
    t2 = confmap_targets(labels[:2], RB, AB, min_sigma_bins=2.0)
    assert (t2["heat"] >= t["heat"] - 1e-7).all() and t2["heat"][PED].sum() > t["heat"][PED].sum()
    assert t2["heat"][PED, near[1, 0], near[1, 1]] == 1.0


def test_target_cache_matches_per_batch_targets(monkeypatch):
    from radiovisual.localise import detect_train
    from radiovisual.localise.detector import TargetMaker

    rng = np.random.default_rng(0)
    lab = np.full((10, 4, 4), np.nan)
    for i in range(10):
        k = int(rng.integers(0, 5))
        lab[i, :k] = np.stack([rng.uniform(2, 21, k), rng.uniform(-1, 1, k), rng.integers(0, 3, k),
                               rng.uniform(0.2, 1, k)], -1)
    make = TargetMaker(RB, AB, 3, 0.7)
    cached = detect_train._Targets(make, lab)
    monkeypatch.setattr(detect_train, "TARGET_CACHE_BYTES", 0)
    fresh = detect_train._Targets(make, lab)
    assert cached.heat is not None and fresh.heat is None and cached.weighted
    idx = torch.tensor([7, 0, 3, 3, 9])
    a, b = cached(idx), fresh(idx)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_decode_recovers_objects_and_nms():
    from radiovisual.dataset.format import bins_to_polar
    from radiovisual.localise.detector import decode

    R, A = len(RB), len(AB)
    heat, off = np.zeros((3, R, A)), np.zeros((2, R, A))
    objs = [(10, 12, 0.3, -0.2, CAR, 0.9), (40, 50, -0.45, 0.1, CAR, 0.7),
            (20, 30, 0.1, 0.4, PED, 0.8), (50, 8, -0.3, -0.35, PED, 0.6)]
    for r, a, dr, da, c, s in objs:
        heat[c] = np.maximum(heat[c], s * _blob(R, A, r, a, 1.5))
        off[:, r, a] = (dr, da)
    d = decode(heat, off, RB, AB, threshold=0.1, nms_ols=0.3, max_detections=20)
    assert d.shape == (4, 4) and np.all(np.diff(d[:, 3]) <= 0)
    want = np.array([[*bins_to_polar(np.array([r + dr, a + da]), RB, AB), c, s] for r, a, dr, da, c, s in objs])
    want = want[np.argsort(-want[:, 3])]
    np.testing.assert_allclose(d, want, atol=1e-9)
    from radiovisual.dataset.format import polar_to_bins

    np.testing.assert_allclose(polar_to_bins(d[:, :2], RB, AB), polar_to_bins(want[:, :2], RB, AB), atol=1e-6)
    # a second, weaker peak of the same car one bin-pair away is a duplicate (OLS > 0.3): suppressed
    heat[CAR, 10, 15] = 0.85
    d2 = decode(heat, off, RB, AB, threshold=0.1, nms_ols=0.3)
    assert len(d2) == 4
    # ... but kept when NMS is off; and of another class it is never suppressed
    assert len(decode(heat, off, RB, AB, threshold=0.1, nms_ols=1.0)) == 5
    heat[CAR, 10, 15] = 0.0
    heat[PED, 10, 15] = 0.85
    assert len(decode(heat, off, RB, AB, threshold=0.1, nms_ols=0.3)) == 5
    # threshold and the cap
    assert len(decode(heat, off, RB, AB, threshold=0.75)) == 3
    assert len(decode(heat, off, RB, AB, max_detections=2)) == 2
    assert decode(np.zeros((3, R, A)), off, RB, AB).shape == (0, 4)


def test_focal_loss_and_model_shapes():
    from radiovisual.localise.detector import HEAT_PRIOR_BIAS, RadarDetector, focal_loss, offset_loss

    target = torch.zeros(2, 3, 8, 8)
    target[0, 2, 4, 4] = 1.0
    target[0, 2, 4, 5] = 0.5
    perfect = torch.where(target == 1, 20.0, -20.0)
    assert float(focal_loss(perfect, target)) < 1e-6
    assert float(focal_loss(torch.zeros_like(target), target)) > float(focal_loss(perfect, target))
    # a zero weight removes a cell; the normaliser is the positive count (at least 1)
    w = torch.ones_like(target)
    w[0, 2, 4, 4] = 0.0
    bad = torch.full_like(target, -20.0)
    assert float(focal_loss(bad, target, w)) < 1e-6 < float(focal_loss(bad, target))
    mask = torch.zeros(2, 8, 8)
    mask[0, 4, 4] = 1
    off_t = torch.zeros(2, 2, 8, 8)
    off_t[0, :, 4, 4] = torch.tensor([0.25, -0.5])
    assert float(offset_loss(torch.zeros_like(off_t), off_t, mask)) == pytest.approx(0.75)

    m = RadarDetector(width=8, n_classes=3).eval()
    for R, A in ((32, 32), (37, 50)):
        with torch.no_grad():
            o = m(torch.randn(2, 1, R, A) * 5 - 60)
        assert o["heat"].shape == (2, 3, R, A) and o["offset"].shape == (2, 2, R, A)
        assert abs(float(torch.sigmoid(o["heat"]).mean()) - torch.sigmoid(torch.tensor(HEAT_PRIOR_BIAS))) < 0.02


# ------------------------------------------------------------------------------------------------ learning
@pytest.fixture(scope="module")
def multi_store(tmp_path_factory):
    return make_multi_store(tmp_path_factory.mktemp("det") / "multi.zarr")


# one thread: 32 x 32 maps are too small to share out, and a second thread stalls on a busy machine
OVR = ["epochs=15", "patience=15", "width=8", "lr=8e-3", "batch_size=16", "threads=1", "restarts=1"]


@pytest.fixture(scope="module")
def gt_run(multi_store, tmp_path_factory):
    from radiovisual.localise.detect_train import train_detector

    return train_detector(multi_store, "gt", tmp_path_factory.mktemp("det") / "gt", overrides=OVR, progress=False)


def _val_ap(run, store):
    from radiovisual.dataset.format import open_dataset
    from radiovisual.evaluate.ols import evaluate_rod
    from radiovisual.localise.detect_train import predict_detections

    val = open_dataset(store).split("val")
    det = predict_detections(run, val.read("radar"))
    assert det.shape == (len(val), 20, 4) and det.dtype == np.float32
    dts = [d[np.isfinite(d[:, 0])] for d in det]
    return evaluate_rod(_gts(val.read("objects")), dts)


def test_detector_learns_toy_store(gt_run, multi_store):
    res = _val_ap(gt_run, multi_store)
    print("gt AP", res["AP"], {k: v["AP"] for k, v in res["per_class"].items()})
    assert res["AP"] >= 0.95
    assert res["per_class"]["car"]["AP"] >= 0.95 and res["per_class"]["pedestrian"]["AP"] >= 0.9


def test_dropped_class_is_not_learned(gt_run, multi_store, tmp_path_factory):
    from radiovisual.dataset.detections import pack
    from radiovisual.dataset.format import open_dataset
    from radiovisual.localise.detect_train import train_detector

    obj = open_dataset(multi_store).split("train").read("objects").astype(np.float64)
    frames = [np.concatenate([g[g[:, 2] != PED], np.ones((int((g[:, 2] != PED).sum()), 1))], 1) for g in _gts(obj)]
    labels = pack(frames)
    run = train_detector(multi_store, labels, tmp_path_factory.mktemp("det") / "noped", overrides=OVR,
                         progress=False)
    meta = json.loads((run / "config.json").read_text())
    assert meta["labels"].startswith("provided")
    res = _val_ap(run, multi_store)
    print("no-pedestrian AP", {k: v["AP"] for k, v in res["per_class"].items()})
    assert res["per_class"]["pedestrian"]["AP"] < 0.3 and res["per_class"]["car"]["AP"] >= 0.9


def test_stage_checkpoint_resume_and_bad_labels(gt_run, multi_store):
    from radiovisual.localise.detect_train import load_detector, train_detector

    ck = torch.load(gt_run / "model.pt", weights_only=True)
    assert set(ck) >= {"state_dict", "width", "n_classes", "heatmap_hw"}
    meta = json.loads((gt_run / "config.json").read_text())
    assert meta["labels"] == "gt (supervised)" and meta["config"]["width"] == 8 and len(meta["range_bins_m"]) == 32
    assert meta["flip_augment_used"] is True and not (gt_run / "last.pt").exists()
    done = (gt_run / "done.json").stat().st_mtime_ns
    assert train_detector(multi_store, "gt", gt_run, overrides=OVR, progress=False) == gt_run
    assert (gt_run / "done.json").stat().st_mtime_ns == done              # returned, not retrained
    model, meta2 = load_detector(gt_run)
    assert not model.training and meta2 == meta
    from radiovisual.dataset.format import open_dataset
    from radiovisual.localise.detect_train import predict_detections

    radar = open_dataset(multi_store, labels=False).split("val").read("radar")[:8]
    for tta in (False, True):
        d = predict_detections(gt_run, radar, flip_tta=tta, max_detections=5)
        ok = np.isfinite(d[..., 0])
        assert d.shape == (8, 5, 4) and ok.any(1).all() and ((d[ok][:, 3] >= 0) & (d[ok][:, 3] <= 1)).all()
    with pytest.raises(RadiovisualError, match="radar must be"):
        predict_detections(gt_run, radar[:, :16])

    n = 240
    good = np.full((n, 2, 4), np.nan)
    good[:, 0] = (6.0, 0.1, CAR, 1.0)
    for bad, msg in ((good[:10], "train split"), (good[..., :3], r"\[N,D,4\]"),
                     (np.where(np.arange(4) == 3, 1.5, good), "score"),
                     (np.where(np.arange(4) == 2, 7.0, good), "class"), ("teacher", "'gt'")):
        with pytest.raises(RadiovisualError, match=msg):
            train_detector(multi_store, bad, gt_run.parent / "bad", overrides=OVR, progress=False)


def test_restarts_race_and_keep_the_lowest_holdout_loss(gt_run, multi_store, tmp_path_factory):
    """restarts=2: two initialisations race to half the epochs, the lower held-out loss goes on; candidate 0 is
    the single run's initialisation (its continuation gives the single run's weights, bit for bit)."""
    from radiovisual.localise.detect_train import load_detector, train_detector

    ovr = [o for o in OVR if not o.startswith(("epochs", "patience"))] + ["epochs=4", "patience=4"]
    base = tmp_path_factory.mktemp("det")
    one = train_detector(multi_store, "gt", base / "one", overrides=ovr, progress=False)
    two = train_detector(multi_store, "gt", base / "two", overrides=ovr + ["restarts=2"], progress=False)
    m1, m2 = (json.loads((r / "config.json").read_text()) for r in (one, two))
    assert m1["restart_decide_epoch"] == 4 and m2["restart_decide_epoch"] == 2
    losses = m2["restart_holdout_losses"]
    assert len(losses) == 2 and losses[0] != losses[1] and m2["restart_kept"] == int(np.argmin(losses))
    best = json.loads((two / "done.json").read_text())
    assert best["holdout_loss"] <= min(losses) + 1e-9 and best["epochs_run"] == 4
    assert not list(two.glob("last*.pt"))
    a, b = load_detector(one)[0].state_dict(), load_detector(two)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a) == (m2["restart_kept"] == 0)
