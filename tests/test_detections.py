"""Multi-object detection (issue 20): label-free baselines with several scored detections per frame, and
their scoring (AP/AR through ``evaluate_rod``, precision-recall curves, localisation error of matches)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from radiovisual.evaluate.ols import CLASS_SIZES_M, OLS_THRESHOLDS, _match_frame, evaluate_rod

OBJS = "scene.objects=[car:1-2,pedestrian:1-2,cyclist:0-1]"


def _random_frames(rng, n=12):
    gts, dts = [], []
    for _ in range(n):
        g = np.stack([rng.uniform(3, 20, 4), rng.uniform(-0.8, 0.8, 4), rng.integers(0, 3, 4)], 1)
        jit = np.stack([g[:, 0] + rng.normal(0, 0.4, 4), g[:, 1] + rng.normal(0, 0.03, 4), g[:, 2],
                        rng.uniform(0, 1, 4)], 1)
        noise = np.stack([rng.uniform(3, 20, 3), rng.uniform(-0.8, 0.8, 3), rng.integers(0, 3, 3),
                          rng.uniform(0, 1, 3)], 1)
        gts.append(g)
        dts.append(np.concatenate([jit, noise]))
    return gts, dts


def test_ap_is_evaluate_rods_and_curves_average_to_it():
    from radiovisual.dataset.detections import pack
    from radiovisual.evaluate.detection import _match_pairs, detection_metrics, rod_curves

    gts, dts = _random_frames(np.random.default_rng(0))
    ref = evaluate_rod(gts, dts)
    for arg in (dts, pack(dts)):                      # a list of frames or the packed array
        m = detection_metrics(arg, gts)
        assert m["AP"] == ref["AP"] and m["AR"] == ref["AR"] and m["AP_at"] == ref["AP_at"]
        for name, pc in ref["per_class"].items():
            assert m["per_class"][name]["AP"] == pc["AP"] and m["per_class"][name]["AR"] == pc["AR"]
    assert 0.05 < ref["AP"] < 0.95
    # the curves are the ones AP averages
    cur = rod_curves(gts, dts)
    for name, c in zip(("pedestrian", "cyclist", "car"), cur["classes"]):
        assert np.isclose(c["precision"].mean(), ref["per_class"][name]["AP"])
        assert np.isclose(np.mean(m["pr"][name]["precision_mean"]), ref["per_class"][name]["AP"])
    # the pair matching is ols._match_frame's rule, with the GT index kept
    rng = np.random.default_rng(1)
    for _ in range(50):
        g = np.stack([rng.uniform(5, 8, 5), rng.uniform(-0.2, 0.2, 5)], 1)
        d = np.concatenate([g[rng.integers(0, 5, 6)] + rng.normal(0, 0.15, (6, 2)), np.zeros((6, 1))], 1)
        for size in CLASS_SIZES_M:
            tp = _match_frame(g, d, size, OLS_THRESHOLDS)[0]
            pairs = _match_pairs(g, d, size, float(OLS_THRESHOLDS[0]))
            assert np.array_equal(tp, pairs >= 0)
            assert len(set(pairs[pairs >= 0])) == int((pairs >= 0).sum())


def test_perfect_and_shifted_detections():
    from radiovisual.dataset.format import polar_to_xy, xy_to_polar
    from radiovisual.evaluate.detection import detection_metrics

    # one GT per class: the cruw quirk (recall 1 - 2^-52 never reaches the recall point 1.0) -> 100/101
    g1 = [np.array([[6.0, 0.1, 0], [9.0, -0.3, 1], [12.0, 0.4, 2]])]
    m = detection_metrics([np.c_[g1[0], np.ones(3)]], g1)
    assert np.isclose(m["AP"], 100 / 101) and np.isclose(m["AR"], 1.0) and m["loc_p90_m"] < 1e-9
    # two frames -> two GT per class: exactly 1
    g2 = g1 + [g1[0] + [1.0, 0.05, 0]]
    m = detection_metrics([np.c_[g, np.ones(3)] for g in g2], g2)
    assert np.isclose(m["AP"], 1.0) and m["n_matched"] == 6
    # every detection 0.3 m to the right of its object: all still match at OLS 0.5, error 0.3 m
    shifted = []
    for g in g2:
        xy = polar_to_xy(g[:, :2]) + [0.3, 0.0]
        shifted.append(np.c_[xy_to_polar(xy), g[:, 2], np.ones(3)])
    m = detection_metrics(shifted, g2)
    assert m["n_matched"] == 6
    for key in ("loc_p50_m", "loc_p90_m", "loc_mean_m"):
        assert np.isclose(m[key], 0.3)
        assert all(np.isclose(pc[key], 0.3) for pc in m["per_class"].values())
    # a wrong class matches nothing
    wrong = [np.c_[g[:, :2], (g[:, 2] + 1) % 3, np.ones(3)] for g in g2]
    m = detection_metrics(wrong, g2)
    assert m["AP"] == 0.0 and m["n_matched"] == 0 and np.isnan(m["loc_p50_m"])


def test_score_detections_over_seeds_and_pr_plot(tmp_path):
    from radiovisual.dataset.detections import pack
    from radiovisual.evaluate.detection import plot_pr_curves, score_detections

    gts, dts = _random_frames(np.random.default_rng(2))

    class FakeSplit:                     # score_detections reads GT through gt_objects: a stand-in store
        def __contains__(self, name):
            return name == "objects"

        def read(self, name):
            out = np.full((len(gts), 4, 13), np.nan, np.float32)
            for i, g in enumerate(gts):
                out[i, :, :3] = g
                out[i, :, 8] = 1
            return out

    class FakeDs:
        labels, attrs = True, {}

        def split(self, name):
            return FakeSplit()

    _, dts2 = _random_frames(np.random.default_rng(3))
    res = score_detections({"a": [pack(dts), pack([np.c_[g, np.ones(len(g))] for g in gts])], "b": pack(dts2)},
                           FakeDs())
    a, b = res["a"], res["b"]
    assert a["n_seeds"] == 2 and "AP_std" in a and "loc_p50_std_m" in a and "AP_std" not in b
    ref = evaluate_rod(gts, dts)["AP"]
    assert np.isclose(a["AP"], (ref + 1.0) / 2) and np.isclose(a["AP_std"], np.std([ref, 1.0], ddof=1))
    assert set(a["per_class"]) == {"pedestrian", "cyclist", "car"}
    png = plot_pr_curves(res, tmp_path / "pr.png")
    assert png.stat().st_size > 5000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------ on a multi-object smoke store

@pytest.fixture(scope="module")
def mo_store(tmp_path_factory):
    """A tiny multi-object store (9 samples; about 15 s on 2 cores)."""
    pytest.importorskip("sionna.rt")
    from radiovisual.dataset.config import resolve_synth_config
    from radiovisual.dataset.synth import synthesise

    cfg = resolve_synth_config("smoke", scenario="parking_lot", seed=3, n=9, overrides=[OBJS])
    out = tmp_path_factory.mktemp("mo_det") / "store.zarr"
    synthesise(cfg, out, progress=False)
    return out


def _all(data, split):
    from radiovisual.baselines.detections import cfar_detections, peak_detections, teacher_detections

    return {"cfar": cfar_detections(data, split), "peaks": peak_detections(data, split, k=4),
            "teacher": teacher_detections(data, split)}


def test_baselines_are_valid_label_free_and_blind_to_ground_truth(mo_store, tmp_path):
    import zarr

    from radiovisual.baselines.cfar_pipeline import detect_frame
    from radiovisual.baselines.detections import DetectionConfig, _grid, frame_clusters
    from radiovisual.dataset.detections import check_frames, unpack
    from radiovisual.dataset.format import open_dataset
    from radiovisual.errors import LabelAccessError
    from radiovisual.evaluate.detection import detection_metrics, gt_objects

    ds = open_dataset(mo_store, labels=False)
    with pytest.raises(LabelAccessError):
        ds.split("val").read("objects")
    out = {split: _all(ds, split) for split in ("train", "val")}
    for split, res in out.items():
        n = len(ds.split(split))
        for name, p in res.items():
            assert p.ndim == 3 and p.shape[0] == n and p.shape[2] == 4, name
            frames = check_frames(unpack(p), name)       # finite positions, classes 0..2, scores in [0, 1]
            assert sum(len(f) for f in frames) > 0, name
        assert res["peaks"].shape[1] == 4
    # the benchmark passes its CFARConfig / TeacherConfig: the same fields, the same output
    from radiovisual.baselines.cfar_pipeline import CFARConfig
    from radiovisual.baselines.detections import cfar_detections, teacher_detections
    from radiovisual.baselines.rodnet import TeacherConfig

    assert np.array_equal(cfar_detections(ds, "val", CFARConfig()), out["val"]["cfar"], equal_nan=True)
    assert np.array_equal(teacher_detections(ds, "val", TeacherConfig()), out["val"]["teacher"], equal_nan=True)
    # cfar: every candidate of cfar_pipeline.detect_frame, nothing else
    sv = ds.split("val")
    ccfg, _, _ = _grid(ds, DetectionConfig())
    vb = np.asarray(ds.attrs["doppler_bins_mps"])
    ra, rd = sv.read("radar"), sv.read("range_doppler")
    for i, f in enumerate(unpack(out["val"]["cfar"])):
        ref = detect_frame(ra[i], rd[i], ds.range_bins_m, ds.azimuth_bins_rad, vb, ccfg).candidates
        mine = frame_clusters(ra[i], rd[i], ds.range_bins_m, ds.azimuth_bins_rad, vb, ccfg)
        assert np.allclose([c.polar for c in ref], [c.polar for c in mine])
        assert np.allclose(f[:, :2], np.array([c.polar for c in ref]).reshape(-1, 2), atol=1e-5)
    # teacher: one label per camera instance, with that instance's class; every visible road user has one
    labelled = open_dataset(mo_store, labels=True)
    for split, res in out.items():
        sv = labelled.split(split)
        inst, objs = sv.read("instance_mask"), sv.read("objects")
        for i, f in enumerate(unpack(res["teacher"])):
            ids = [k for k in np.unique(inst[i]) if k]
            assert len(f) == len(ids) == int(np.nansum(objs[i, :, 8]))
            assert sorted(f[:, 2].tolist()) == sorted(objs[i, [k - 1 for k in ids], 2].tolist())
            assert set(f[:, 3].tolist()) <= {0.5, 1.0}
    m = detection_metrics(out["val"]["teacher"], gt_objects(mo_store, "val", visible_only=True))
    assert m["AP"] > 0.1 and m["n_matched"] > 0
    # bit-identical on a byte copy whose ground truth was scrambled on disk
    scrambled = tmp_path / "scrambled.zarr"
    shutil.copytree(mo_store, scrambled)
    root = zarr.open_group(str(scrambled), mode="r+")
    rng = np.random.default_rng(7)
    for split in ("train", "val", "test"):
        for name in ("objects", "target_polar", "target_xy", "reflectors", "velocity", "depth"):
            if name in root[split]:
                a = root[split][name]
                a[...] = (rng.normal(size=a.shape) * 7.0).astype(a.dtype)
    assert not np.allclose(open_dataset(scrambled).split("val").read("objects")[..., 0],
                           labelled.split("val").read("objects")[..., 0], equal_nan=True)
    for split in ("train", "val"):
        dirty = _all(scrambled, split)
        for name in out[split]:
            assert np.array_equal(out[split][name], dirty[name], equal_nan=True), (split, name)
