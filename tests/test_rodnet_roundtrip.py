"""A RODNet user's round trip without RODNet or a download: a real smoke store with the complex cube (Sionna RT +
Mitsuba) is exported with ``export-cruw`` and read by ``rodnet_reader`` (RODNet's ``prepare_data`` /
``CRDataset`` rules), which must accept it and must fail on each of the eight problems of issue 21."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import rodnet_reader as R  # noqa: E402

from radiovisual.dataset import cruw, open_dataset  # noqa: E402

pytest.importorskip("sionna.rt")

SMOKE_CUBE = ["--preset", "smoke", "--set", "scene.n_frames=16", "--set", "scene.frame_dt_s=0.0333333",
              "--set", "radio.cube_chirps=4", "--set", "radio.cube_raw=true",
              "--set", "splits.train=16", "--set", "splits.val=16", "--set", "splits.test=0", "--quiet"]


def _cli(capsys, *argv) -> tuple[int, list[str]]:
    from radiovisual.cli.main import main

    capsys.readouterr()
    rc = main([str(a) for a in argv])
    return rc, [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from radiovisual.cli.main import main

    out = tmp_path_factory.mktemp("cube") / "smoke.zarr"
    assert main(["synth", *SMOKE_CUBE, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def tree(store, tmp_path_factory):
    from radiovisual.dataset.cruw_export import export_cruw

    root = tmp_path_factory.mktemp("rod") / "ROD"
    export_cruw(store, root, progress=False)
    return root


def test_stored_cube_reproduces_the_stored_maps(store):
    """Goal of issue 21: RA and RD recomputed from the stored raw cube by the documented FFT chain agree with the
    stored maps within 0.1 dB wherever the map is within 40 dB of its peak; chirp 0 is the RA map."""
    from radiovisual.config import from_dict
    from radiovisual.dataset.config import SynthConfig
    from radiovisual.sensors.cube import maps_from_raw

    ds = open_dataset(store, labels=False)
    radio = from_dict(SynthConfig, ds.attrs["config"]).radio
    cube_attrs = ds.attrs["radio"]["cube"]
    assert cube_attrs["chirp_index"] == [0, 4, 8, 12] and cube_attrs["raw"] is True
    worst = {"radar": 0.0, "range_doppler": 0.0}
    for split in ds.splits:
        sv = ds.split(split)
        cube, chirps = sv.read("radar_cube"), sv.read("radar_chirps")
        maps = {k: sv.read(k) for k in worst}
        assert cube.shape[1:] == (16, 128, 8) and chirps.shape[1:] == (4,) + maps["radar"].shape[1:]
        for i in range(len(sv)):
            Y, ra, rd = maps_from_raw(cube[i], radio)
            for k, got in (("radar", ra), ("range_doppler", rd)):
                ref = maps[k][i]
                m = ref >= ref.max() - 40.0
                worst[k] = max(worst[k], float(np.abs(got - ref)[m].max()))
            np.testing.assert_allclose(10 * np.log10(np.abs(chirps[i, 0].astype(complex)) ** 2), maps["radar"][i],
                                       atol=1e-3)
            np.testing.assert_allclose(chirps[i], Y[cube_attrs["chirp_index"]], atol=1e-4 * np.abs(Y).max())
        assert not np.allclose(chirps[:, 1], chirps[:, 0])          # the chirps differ (Doppler, noise)
    assert worst["radar"] <= 0.1 and worst["range_doppler"] <= 0.1, worst


def test_export_passes_rodnets_rules_and_imports_back(store, tree, tmp_path, capsys):
    got = R.read_tree(tree)
    assert [s["name"] for s in got["train"]] == ["2019_05_09_RVTRAIN0000"]
    assert [s["name"] for s in got["test"]] == ["2019_05_09_RVVAL0000"]      # val is never trained on
    assert all(s["windows"] == 1 for v in got.values() for s in v)
    w = R.load_window(got["train"][0], 0)
    assert w.shape == (2, 16, 4, 128, 128) and np.abs(w[1]).max() > 0      # 16 frames x 4 chirps, phase kept
    side = json.loads((tree / cruw.EXPORT_SIDECAR).read_text())
    assert side["radar_complex"] and side["frame_rate_hz"] == pytest.approx(30.0, abs=1e-3) and not side["notes"]
    assert (tree / "splits" / "val.txt").read_text().split() == ["2019_05_09_RVVAL0000"]
    cfg: dict = {}
    exec((tree / "rodnet_splits.py").read_text(), cfg)                  # the dataset_cfg entries RODNet takes
    assert cfg["valid"] == {"subdir": "test", "seqs": ["2019_05_09_RVVAL0000"]} and cfg["train"]["subdir"] == "train"
    # labels sit at the quantised target's nearest RA bins (prepare_data's ra2idx)
    sv = open_dataset(store).split("train")
    for f, objs in enumerate(got["train"][0]["objects"]):
        r, a = cruw.quantise_to_label_grid(sv.read("target_polar", f).astype(np.float64))
        assert objs == [("car", *R.ra2idx(r, a))]
    rc, err = _cli(capsys, "import-cruw", tree, "--out", tmp_path / "back.zarr", "--quiet", "--val-fraction", "0")
    assert rc == 0
    back = open_dataset(tmp_path / "back.zarr")
    assert back.attrs["splits"] == {"train": 16, "val": 16}             # the sidecar names val
    # the export's gain is divided out again: the imported peak is the source's in dBm (resampled grid)
    assert abs(back.split("train").read("radar").max() - sv.read("radar").max()) < 1.5


def _drop_frames(root, seq, keep):
    d = root / "sequences" / "train" / seq
    for f in range(16):
        if f not in keep:
            (d / cruw.IMAGE_DIR / f"{f:010d}.jpg").unlink()
            for c in cruw.CHIRP_IDS:
                (d / cruw.RADAR_DIR / f"{f:06d}_{c:04d}.npy").unlink()
    ann = root / "annotations" / "train" / f"{seq}.txt"
    ann.write_text("".join(ln + "\n" for ln in ann.read_text().splitlines() if int(ln.split()[0]) in keep))


def _short(root, seq):                     # 1: sequences shorter than RODNet's 16-frame window
    _drop_frames(root, seq, set(range(8)))


def _no_test_split(root, seq):            # 2: everything under sequences/train
    shutil.rmtree(root / "sequences" / "test")


def _identical_chirps(root, seq):         # 3: one snapshot written four times
    d = root / "sequences" / "train" / seq / cruw.RADAR_DIR
    for f in range(16):
        for c in cruw.CHIRP_IDS[1:]:
            shutil.copy(d / f"{f:06d}_0000.npy", d / f"{f:06d}_{c:04d}.npy")


def _tiny_magnitudes(root, seq):          # 3: magnitudes of 1e-3 and below: black on the devkit's 0..1 scale
    for p in (root / "sequences" / "train" / seq / cruw.RADAR_DIR).iterdir():
        np.save(p, np.load(p) * np.float32(1e-3))


def _five_fps(root, seq):                 # 4: frames 0.2 s apart
    p = root / cruw.EXPORT_SIDECAR
    p.write_text(json.dumps({**json.loads(p.read_text()), "frame_dt_s": 0.2}))


def _one_chirp(root, seq):                # 5: --chirps 0
    for p in (root / "sequences" / "train" / seq / cruw.RADAR_DIR).glob("*_0[1-9]*.npy"):
        p.unlink()


def _gaps(root, seq):                     # 6: frames 0-7, 11-18 (a re-export that kept source numbers)
    d = root / "sequences" / "train" / seq
    for f in range(15, 7, -1):
        (d / cruw.IMAGE_DIR / f"{f:010d}.jpg").rename(d / cruw.IMAGE_DIR / f"{f + 3:010d}.jpg")
        for c in cruw.CHIRP_IDS:
            (d / cruw.RADAR_DIR / f"{f:06d}_{c:04d}.npy").rename(d / cruw.RADAR_DIR / f"{f + 3:06d}_{c:04d}.npy")


def _unknown_calib_date(root, seq):       # 7: calib/2000_01_01
    shutil.rmtree(root / "calib" / "2019_09_29")
    (root / "calib" / "2019_05_09").rename(root / "calib" / "2000_01_01")


@pytest.mark.parametrize("breaker, words", [
    (_short, "num_samples=0"), (_no_test_split, "sequences/test does not exist"),
    (_identical_chirps, "identical chirps"), (_tiny_magnitudes, "0..1 colour scale"),
    (_five_fps, "30 frames/s"), (_one_chirp, "Error while preparing"), (_gaps, "contiguous"),
    (_unknown_calib_date, "loading calibration data failed")])
def test_reader_fails_on_each_problem(tree, tmp_path, breaker, words):
    root = tmp_path / "ROD"
    shutil.copytree(tree, root)
    breaker(root, "2019_05_09_RVTRAIN0000")
    with pytest.raises(R.RodnetRuleError, match=words):
        R.read_tree(root)


def test_scores_above_one_are_refused_as_the_devkit_does():   # problem 8
    from radiovisual.errors import EvaluationError
    from radiovisual.evaluate.ols import evaluate_localiser_points, evaluate_rod

    gts = [np.array([[10.0, 0.1, 2.0]])]
    with pytest.raises(EvaluationError, match="must lie in \\[0, 1\\]") as e:
        evaluate_rod(gts, [np.array([[10.0, 0.1, 2.0, 1.5]])])
    assert "\n" not in str(e.value)
    with pytest.raises(EvaluationError, match="got -0.2"):
        evaluate_localiser_points(np.array([[10.0, 0.1]]), np.array([[[10.0, 0.1, 2.0]]]), score=np.array([-0.2]))
    assert evaluate_rod(gts, [np.array([[10.0, 0.1, 2.0, 1.0]])])["AP"] > 0.9   # 1 itself is allowed
