"""CRUW (ROD2021) import/export, the pseudo-label pipeline and the end-to-end path, on fixture trees."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import rodnet_reader as R  # noqa: E402
from cruw_fixture import CLUTTER, SEQS, write_fixture  # noqa: E402

from radiovisual.dataset import cruw, open_dataset  # noqa: E402
from radiovisual.dataset.cruw_import import CruwImportConfig, import_cruw  # noqa: E402
from radiovisual.errors import LabelAccessError  # noqa: E402


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_fixture(tmp_path_factory.mktemp("rod") / "ROD2021", n_frames=4)


@pytest.fixture(scope="module")
def store(tree, tmp_path_factory):
    cfg = CruwImportConfig(detections=str(tree / "detections"), val_sequences=(SEQS[0],))
    return import_cruw(tree, tmp_path_factory.mktemp("imp") / "cruw.zarr", cfg, progress=False)


def test_grids_follow_the_radar_equations():
    # reference written independently from the note: beat frequency f -> range c f / (2 S)
    fs, S, c = 4e6, 21.0017e12, 299_792_458.0
    rg = cruw.range_grid_m()
    np.testing.assert_allclose(rg, (np.arange(3, 131) * fs / 134) * c / S / 2, rtol=1e-12)
    assert rg[0] == pytest.approx(0.639, abs=1e-3) and rg[-1] == pytest.approx(27.697, abs=1e-3)
    step = np.rad2deg(np.diff(cruw.azimuth_grid_rad()))
    assert len(step) == 127 and step[63] == pytest.approx(0.9, abs=0.05) and step[0] > 9.0
    assert cruw.LABEL_RANGE_STEP_M == pytest.approx(0.22304, abs=1e-5)
    q = cruw.quantise_to_label_grid(np.array([[5.0, np.deg2rad(10.4)]]))
    assert q[0, 0] / cruw.LABEL_RANGE_STEP_M == pytest.approx(22.0) and np.rad2deg(q[0, 1]) == pytest.approx(10.0)


def test_import_bins_labels_splits(tree, store):
    ds = open_dataset(store)
    assert ds.attrs["complete"] and ds.attrs["splits"] == {"train": 4, "val": 4}
    assert ds.attrs["sequence_names"] == {"train": [SEQS[1]], "val": [SEQS[0]]}
    np.testing.assert_array_equal(ds.range_bins_m, cruw.range_grid_m())
    np.testing.assert_array_equal(ds.azimuth_bins_rad, cruw.azimuth_grid_rad())
    tr = ds.split("train")
    # every annotation line of the train sequence, per frame; the target is the nearest object
    lines = [ln.split() for ln in (tree / "annotations" / "train" / f"{SEQS[1]}.txt").read_text().splitlines()]
    objs = tr.read("objects")
    for f in range(4):
        want = sorted((float(r), float(a), cruw.CLASSES.index(k)) for fr, r, a, k in lines if int(fr) == f)
        np.testing.assert_allclose(objs[f, :len(want)], want, atol=1e-5)
        np.testing.assert_allclose(tr.read("target_polar")[f], want[0][:2], atol=1e-5)
    assert (tr.read("frame") == np.arange(4)).all() and (tr.read("sequence") == 0).all()
    # radar = power of chirp 0 in dB
    ra = np.load(cruw.radar_path(tree, SEQS[1], 2, 0)).astype(np.float64)
    np.testing.assert_allclose(tr.read("radar", 2), 10 * np.log10(ra[..., 0] ** 2 + ra[..., 1] ** 2), atol=1e-4)
    assert tr.shape("image") == (4, 96, 160, 3)
    cam = ds.attrs["camera"]
    assert cam["K"][0][2] == pytest.approx(80.0) and cam["t_cam_from_radar_m"] == [0.11, -0.05, 0.06]
    # annotations are ground truth: guarded from label-free code
    with pytest.raises(LabelAccessError):
        ds.label_free().split("train").read("objects")


def _cli(*argv) -> int:
    from radiovisual.cli.main import main

    return main([str(a) for a in argv])


def _break_missing_chirp(root):
    cruw.radar_path(root, SEQS[0], 1, 128).unlink()


def _break_npy_shape(root):
    np.save(cruw.radar_path(root, SEQS[1], 0, 0), np.zeros((128, 64, 2), np.float32))


def _break_corrupt_npy(root):
    cruw.radar_path(root, SEQS[1], 0, 0).write_bytes(b"not a numpy file")


def _break_outside_grid(root):
    with open(root / "annotations" / "train" / f"{SEQS[0]}.txt", "a") as f:
        f.write(f"1 {cruw.LABEL_RANGE_STEP_M * 140:.4f} 0.0 car\n")


def _break_unknown_class(root):
    with open(root / "annotations" / "train" / f"{SEQS[0]}.txt", "a") as f:
        f.write("1 5.0 0.0 truck\n")


def _break_calib(root):
    (root / "calib" / "2019_05_09" / "cam_0.yaml").write_text("camera_matrix: {rows: 3, cols: 3, data: [1, 2]}\n")


@pytest.mark.parametrize("breaker, words", [
    (_break_missing_chirp, "missing chirp 128 of frame 1"), (_break_npy_shape, "has shape (128, 64, 2)"),
    (_break_corrupt_npy, "cannot read radar file"), (_break_outside_grid, "outside the annotation grid"),
    (_break_unknown_class, "unknown class 'truck'"), (_break_calib, "cannot read camera calibration")])
def test_malformed_input_is_one_line_and_nonzero(tree, tmp_path, capsys, breaker, words):
    root = tmp_path / "rod"
    shutil.copytree(tree, root)
    breaker(root)
    out = tmp_path / "out.zarr"
    assert _cli("import-cruw", root, "--out", out, "--quiet") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("radiovisual: error: ") and words in err[0]
    assert not (out / "zarr.json").exists()  # nothing that could claim to be complete


def test_export_import_roundtrip_keeps_labels_to_quantisation(tmp_path):
    from radiovisual.dataset.cruw_export import export_cruw, sequence_name
    from radiovisual.dataset.toy import make_toy_dataset

    src = make_toy_dataset(tmp_path / "toy.zarr", n_train=6, n_val=3, n_test=3)
    summary = export_cruw(src, tmp_path / "ROD", progress=False)
    assert summary["annotated"] == 12 and summary["outside_label_grid"] == 0
    assert cruw.radar_path(tmp_path / "ROD", sequence_name("train", 1), 2, 192).is_file()
    # val and test go under sequences/test (RODNet trains on all of sequences/train)
    assert cruw.radar_path(tmp_path / "ROD", sequence_name("val", 0), 2, 192, subset="test").is_file()
    imp = import_cruw(tmp_path / "ROD", tmp_path / "back.zarr", CruwImportConfig(val_fraction=0.0), progress=False)
    a, b = open_dataset(src), open_dataset(imp)
    for split in ("train", "val", "test"):
        names = b.attrs["sequence_names"][split]
        got, seq, frm = (b.split(split).read(k) for k in ("target_polar", "sequence", "frame"))
        for i in range(len(got)):
            sp, sid = ("test", int(names[seq[i]][-4:])) if "TEST" in names[seq[i]] else (
                ("val" if "VAL" in names[seq[i]] else "train"), int(names[seq[i]][-4:]))
            sv = a.split(sp)
            j = int(np.flatnonzero((sv.read("sequence") == sid) & (sv.read("frame") == frm[i]))[0])
            orig = sv.read("target_polar", j).astype(np.float64)
            np.testing.assert_allclose(got[i], cruw.quantise_to_label_grid(orig), atol=2e-4)
            assert abs(got[i][0] - orig[0]) <= cruw.LABEL_RANGE_STEP_M / 2 + 2e-4
            assert abs(np.rad2deg(got[i][1] - orig[1])) <= 0.5 + 1e-2
    assert b.attrs["splits"] == {"train": 6, "val": 3, "test": 3}   # the sidecar's splits come back


def test_pseudolabels_land_within_one_bin(store, tmp_path):
    from radiovisual.baselines.pseudolabel import pseudo_labels, run_pseudolabel
    from radiovisual.dataset import polar_to_bins
    from radiovisual.selflabel import load_labels

    ds = open_dataset(store)
    for split in ("train", "val"):
        lab, conf, objects, stats = pseudo_labels(store, split)
        gt = ds.split(split).read("target_polar")
        d = polar_to_bins(lab, ds.range_bins_m, ds.azimuth_bins_rad) - \
            polar_to_bins(gt, ds.range_bins_m, ds.azimuth_bins_rad)
        assert np.abs(d).max() <= 1.0, d
        assert (conf == 1.0).all() and stats["objects_matched"] == stats["objects"] > 0
        # the unannotated reflector is a CFAR cluster but never a label
        assert np.nanmin(np.abs(objects[..., 0] - CLUTTER[0])) > 1.0
    out = run_pseudolabel(store, tmp_path / "labels.zarr", progress=False)
    import zarr

    attrs = dict(zarr.open_group(str(out), mode="r").attrs)
    assert attrs["method"] == "pseudo" and attrs["label_free"] is False
    assert load_labels(out).shape == (4, 2)


def test_undistort_inverts_the_plumb_bob_model():
    from radiovisual.baselines.pseudolabel import distort_points, undistort_points

    K = np.array([[900.0, 0, 720], [0, 900, 432], [0, 0, 1]])
    D = np.array([-0.3, 0.1, 1e-3, -5e-4, -0.02])
    uv = np.array([[100.0, 50.0], [720.0, 432.0], [1300.0, 800.0]])
    np.testing.assert_allclose(undistort_points(distort_points(uv, K, D), K, D), uv, atol=1e-3)


def test_end_to_end_cli(tree, tmp_path, capsys):
    """import-cruw -> pseudolabel -> localise --labels -> OLS AP/AR, all through the real commands."""
    import json

    from radiovisual.evaluate.ols import rod_metrics_for_store
    from radiovisual.localise import predict

    data, lab, loc = tmp_path / "c.zarr", tmp_path / "l.zarr", tmp_path / "loc"
    assert _cli("import-cruw", tree, "--out", data, "--detections", tree / "detections", "--quiet") == 0
    assert _cli("pseudolabel", data, "--out", lab, "--quiet") == 0
    assert _cli("localise", data, "--labels", lab, "--out", loc, "--preset", "smoke", "--set", "epochs=1",
                "--no-progress") == 0
    m = json.loads((loc / "metrics.json").read_text())
    # the localiser's stem was resolved for CRUW's grid (15.9 azimuth bins per beam) and recorded
    cfgs = [json.loads(p.read_text()) for p in loc.rglob("config.json")]
    assert cfgs and all((c["config"]["stem_range"], c["config"]["stem_azimuth"]) == (1, 4) for c in cfgs)
    assert m["label_free"] is False and np.isfinite(m["p50_m"]["mean"] if isinstance(m["p50_m"], dict)
                                                     else m["p50_m"])
    pred = predict(loc, open_dataset(data, labels=False).split("val").read("radar"))
    res = rod_metrics_for_store(pred, data, "val")
    assert 0.0 <= res["AP"] <= 1.0 and res["n_gt"] > 0
    # benchmark --data on the imported store adds the paper's pseudo-supervised row by itself
    out = tmp_path / "bench"
    assert _cli("benchmark", "--preset", "smoke", "--data", data, "--out", out, "--methods", "peak",
                "--baselines", "cfar", "--no-progress") == 0
    rows = json.loads((out / "metrics.json").read_text())["metrics"]
    assert set(rows) == {"supervised", "pseudo", "peak", "cfar"}
    assert rows["pseudo"]["label_free"] is False and rows["peak"]["label_free"] is True


def test_named_vision_file_and_radar_only_fallback(store, tmp_path):
    """An .npz mask source gives the same labels as the store's detections; no boxes -> CFAR choice (0.1)."""
    from radiovisual.baselines.pseudolabel import pseudo_labels

    sv = open_dataset(store, labels=False).split("train")
    f = tmp_path / "dets.npz"
    np.savez(f, boxes=sv.read("det_boxes"), scores=sv.read("det_scores"), classes=sv.read("det_class"))
    a, b = pseudo_labels(store, "train"), pseudo_labels(store, "train", vision=str(f))
    np.testing.assert_allclose(a[0], b[0])
    np.savez(f, boxes=np.full((len(sv), 1, 4), np.nan))
    lab, conf, _, stats = pseudo_labels(store, "train", vision=str(f))
    assert (conf == 0.1).all() and stats["radar_only"] == len(sv) and np.isfinite(lab).all()
    np.savez(f, boxes=np.zeros((len(sv) + 1, 1, 4)))
    with pytest.raises(Exception, match="boxes must be"):
        pseudo_labels(store, "train", vision=str(f))


def test_scene_codes_select_sequences(tree, tmp_path, capsys):
    assert _cli("import-cruw", tree, "--out", tmp_path / "cr.zarr", "--sequences", "CR", "--quiet") == 2
    assert "matches no sequence" in capsys.readouterr().err
    assert cruw.list_sequences(tree, ("PL",)) == sorted(SEQS)


def test_image_reduction_keeps_geometry(tree, store, tmp_path):
    """Halving the images halves K (in the i + 0.5 pixel convention) and maps boxes to the same rays."""
    cfg = CruwImportConfig(detections=str(tree / "detections"), val_sequences=(SEQS[0],), max_image_width=80)
    small = open_dataset(import_cruw(tree, tmp_path / "s.zarr", cfg, progress=False), labels=False)
    full = open_dataset(store, labels=False)
    assert small.split("train").shape("image") == (4, 48, 80, 3) and small.attrs["camera"]["image_reduction"] == 2
    k_small, k_full = (np.asarray(d.attrs["camera"]["K"])[:2] for d in (small, full))
    np.testing.assert_allclose(k_small, k_full / 2)
    b_full, b_small = full.split("train").read("det_boxes"), small.split("train").read("det_boxes")
    np.testing.assert_allclose(b_small + 0.5, (b_full + 0.5) / 2, atol=1e-4)  # continuous u = i + 0.5 halves


def test_store_states_frame_period_and_grid_resolution(store):
    """30 fps where synthetic stores state the frame period (mcl+track's speed gate), and the AWR1843's
    resolution where ``dataset.resolution`` reads it (CFAR windows, localiser stem)."""
    from radiovisual.baselines.pseudolabel import pseudo_labels
    from radiovisual.dataset.resolution import store_resolution
    from radiovisual.selflabel.track import viterbi_tracks

    ds = open_dataset(store, labels=False)
    dt = (ds.attrs.get("config") or {}).get("scene", {}).get("frame_dt_s")   # selflabel.run's lookup
    assert dt == pytest.approx(1 / 30)
    # the gate at 10 m/s: one frame allows 0.33 m, so a brighter candidate 3 m away is not a jump the
    # track takes (with the 1 s default that CRUW stores got before, it would be)
    cand = [np.array([[10.0, 0.0]]), np.array([[10.2, 0.0], [13.0, 0.0]]), np.array([[10.4, 0.0]])]
    unary = [np.zeros(1), np.array([2.0, 0.0]), np.zeros(1)]
    seq, frm = np.zeros(3, int), np.arange(3)
    assert viterbi_tracks(cand, unary, seq, frm, 10.0 * dt)[1] == 0
    assert viterbi_tracks(cand, unary, seq, frm, 10.0 * 1.0)[1] == 1
    g = store_resolution(ds)
    assert g.azimuth_bins_per_cell == pytest.approx(15.875, rel=1e-6)
    assert g.range_bins_per_cell == pytest.approx(cruw.RANGE_RESOLUTION_M / np.diff(cruw.range_grid_m())[0])
    stats = pseudo_labels(store, "train")[3]
    c = stats["config"]["cfar"]
    assert (c["guard_range"], c["train_range"], c["guard_azimuth"], c["train_azimuth"]) == (4, 8, 8, 16)
    assert stats["grid_resolution"]["source"].startswith("range: radio.range_resolution_m")


def test_export_carries_source_resolution_and_frame_period(tmp_path):
    """An exported synthetic store keeps its own beam and frame period through export -> import."""
    import zarr

    from radiovisual.dataset.cruw_export import export_cruw
    from radiovisual.dataset.resolution import store_resolution
    from radiovisual.dataset.toy import make_toy_dataset

    src = make_toy_dataset(tmp_path / "toy.zarr", n_train=3, n_val=3, n_test=3)
    g = zarr.open_group(str(src), mode="r+")    # state what synthetic stores state
    g.attrs.update({"radio": {"range_resolution_m": 0.1874, "array": {"cols": 16, "spacing_wavelengths": 0.5}},
                    "config": {"scene": {"frame_dt_s": 0.2}}})
    export_cruw(src, tmp_path / "ROD", progress=False)
    back = open_dataset(import_cruw(tmp_path / "ROD", tmp_path / "b.zarr", CruwImportConfig(val_fraction=0.0),
                                    progress=False), labels=False)
    assert back.attrs["config"]["scene"]["frame_dt_s"] == 0.2
    assert back.attrs["radio"]["array"]["cols"] == 16 and "sidecar" in back.attrs["radio"]["resolution_source"]
    # the 16-element beam on CRUW's bins: 0.125 / (2/127) = 7.9 bins per cell (CRUW's own: 15.9)
    assert store_resolution(back).azimuth_bins_per_cell == pytest.approx(0.125 * 127 / 2, rel=1e-6)


def test_export_skips_an_empty_split_and_refuses_all_empty(tmp_path):
    from radiovisual.dataset.cruw_export import export_cruw
    from radiovisual.dataset.toy import make_toy_dataset
    from radiovisual.errors import DatasetError

    src = make_toy_dataset(tmp_path / "toy.zarr", n_train=4, n_val=2, n_test=0)
    summary = export_cruw(src, tmp_path / "ROD", progress=False)
    assert summary["frames"] == 6
    with pytest.raises(DatasetError, match="no samples"):
        export_cruw(src, tmp_path / "ROD2", splits=("test",), progress=False)


@pytest.mark.parametrize("method", ["mcl", "mcl-paper"])
def test_pretraining_radio_stem_on_the_cruw_grid(store, tmp_path, method):
    """MCL on an imported store: the radio backbone's first conv resolves to CRUW's (1, 4) stem, the feature
    stride follows (4, 16), and both read-outs (per-bin MIL, the paper's conv2d with the vision backbone's own
    mask grid) self-label inside the grid."""
    import json

    from radiovisual.pretrain import load_backbones, run_pretrain
    from radiovisual.selflabel import load_labels, run_selflabel

    ov = ["train.batch_size=2", "loss.queue_size=2", "train.epochs=1"]
    run = run_pretrain(store, method, tmp_path / "pre", preset="smoke", overrides=ov, progress=False)
    cfg = json.loads((run / "config.json").read_text())["config"]["backbone"]
    assert (cfg["radio_stem_range"], cfg["radio_stem_azimuth"]) == (1, 4)
    bb = load_backbones(run)
    assert bb.stride == (4.0, 16.0) and bb.radio.net[0][0].kernel_size == (3, 9) and bb.vision.stride == (4, 4)
    labels = load_labels(run_selflabel(run, store, "val", tmp_path / "sl.zarr", progress=False))
    ds = open_dataset(store, labels=False)
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    assert labels.shape == (len(ds.split("val")), 2) and np.all(np.isfinite(labels))
    assert np.all((labels[:, 0] >= rb[0] - 1e-6) & (labels[:, 0] <= rb[-1] + 1e-6))
    assert np.all((labels[:, 1] >= ab[0] - 1e-6) & (labels[:, 1] <= ab[-1] + 1e-6))


def test_export_notes_window_pad_and_the_removed_chirps_option(tmp_path, capsys):
    """A magnitude-only store of 3-frame sequences: exported with one-line notes; ``--window 16`` refuses it
    before writing anything, ``--pad`` repeats the last frame; ``--chirps`` is gone (one line)."""
    from radiovisual.dataset.cruw_export import FRAME_MAP, sequence_name
    from radiovisual.dataset.toy import make_toy_dataset

    src = make_toy_dataset(tmp_path / "toy.zarr", n_train=6, n_val=3, n_test=3)

    def cli(*argv):
        capsys.readouterr()
        rc = _cli(*argv)
        return rc, [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]

    rc, err = cli("export-cruw", src, "--out", tmp_path / "A", "--quiet")
    notes = [ln for ln in err if ln.startswith("radiovisual: note: ")]
    assert rc == 0 and len(notes) == 3 and len(err) == 4
    for words in ("shorter than RODNet's 16-frame window", "no complex chirps", "does not state its frame period"):
        assert any(words in n for n in notes), (words, notes)
    name = sequence_name("train", 0)
    with pytest.raises(R.RodnetRuleError, match="num_samples=0"):
        R.prepare_sequence(tmp_path / "A", "train", name)
    rc, err = cli("export-cruw", src, "--out", tmp_path / "B", "--window", "16", "--quiet")
    assert rc == 2 and len(err) == 1 and "4 of 4 sequences are shorter than --window 16" in err[0]
    assert not (tmp_path / "B").exists()
    rc, err = cli("export-cruw", src, "--out", tmp_path / "C", "--window", "16", "--pad", "--quiet")
    assert rc == 0
    seq = R.prepare_sequence(tmp_path / "C", "train", name)
    assert seq["n_frame"] == 16 and seq["windows"] == 1
    with pytest.raises(R.RodnetRuleError, match="identical chirps"):   # magnitude only: no phase, no Doppler
        R.check_radar(seq)
    fmap = json.loads((tmp_path / "C" / FRAME_MAP).read_text())[name]
    assert fmap["source_frames"] == [0, 1, 2] and fmap["padded_frames"] == 13
    last = np.load(seq["radar_paths"][2][0])
    assert all(np.array_equal(np.load(p[0]), last) for p in seq["radar_paths"][3:])
    for argv, words in ((["--chirps", "0"], "--chirps was removed"), (["--pad"], "--pad needs --window")):
        rc, err = cli("export-cruw", src, "--out", tmp_path / "D", *argv, "--quiet")
        assert rc == 2 and len(err) == 1 and words in err[0]


def test_reexport_of_an_imported_store_renumbers_frames_and_keeps_a_map(tmp_path):
    """Imported CRUW frames with gaps (only annotated frames are imported: 0-4, 8-19) come out numbered 0..16,
    which RODNet's rules accept, with the source frame of each in the map."""
    from radiovisual.dataset.cruw_export import FRAME_MAP, export_cruw, sequence_name

    root = write_fixture(tmp_path / "rod", n_frames=20)
    for name in SEQS:
        ann = root / "annotations" / "train" / f"{name}.txt"
        ann.write_text("".join(ln + "\n" for ln in ann.read_text().splitlines() if int(ln.split()[0]) not in (5, 6, 7)))
    imp = import_cruw(root, tmp_path / "imp.zarr", CruwImportConfig(val_fraction=0.0), progress=False)
    src_frames = [*range(5), *range(8, 20)]
    assert open_dataset(imp).split("train").read("frame")[:17].tolist() == src_frames
    export_cruw(imp, tmp_path / "re", progress=False)
    fmap = json.loads((tmp_path / "re" / FRAME_MAP).read_text())
    for s, name in enumerate(SEQS):
        seq = R.prepare_sequence(tmp_path / "re", "train", sequence_name("train", s))
        assert seq["n_frame"] == 17 and seq["windows"] == 1
        m = fmap[sequence_name("train", s)]
        assert m["source_frames"] == src_frames and m["source_name"] == name
