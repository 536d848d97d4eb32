"""CFAR / DBSCAN / pipeline tests against independent references (brute force, Monte Carlo, hand sums)."""

from __future__ import annotations

import numpy as np
import pytest

from radiovisual.baselines.cfar import ca_alpha, ca_cfar_2d, cfar_2d, os_alpha, os_cfar_2d
from radiovisual.baselines.cluster import cluster_detections, weighted_centroid
from radiovisual.errors import ConfigError


def _noise(seed: int, shape=(200, 200)) -> np.ndarray:
    # Square-law detected complex Gaussian noise: exponential power with mean 1.
    return np.random.default_rng(seed).exponential(1.0, size=shape)


@pytest.mark.parametrize("pfa", [1e-2, 1e-3])
def test_ca_cfar_false_alarm_rate_matches_pfa(pfa):
    x = _noise(1)
    det, _ = ca_cfar_2d(x, guard=(2, 2), train=(4, 4), pfa=pfa)
    measured = det.mean()
    assert abs(measured - pfa) / pfa < 0.3, measured


@pytest.mark.parametrize("pfa", [1e-2, 1e-3])
def test_os_cfar_false_alarm_rate_matches_pfa(pfa):
    x = _noise(2)
    det, _ = os_cfar_2d(x, guard=(1, 1), train=(3, 3), pfa=pfa, rank=0.75)
    measured = det.mean()
    assert abs(measured - pfa) / pfa < 0.3, measured


def test_os_alpha_against_monte_carlo_order_statistic():
    # Independent check of Rohling's product formula: simulate the k-th order statistic directly.
    rng = np.random.default_rng(3)
    N, k, pfa = 24, 18, 1e-2
    a = os_alpha(N, k, pfa)
    train = np.sort(rng.exponential(size=(200_000, N)), axis=1)[:, k - 1]
    cut = rng.exponential(size=200_000)
    assert abs((cut > a * train).mean() - pfa) / pfa < 0.1


def test_ca_alpha_closed_form():
    # Pfa = (1 + alpha/N)^-N for the mean-normalised CA detector.
    for N in (8, 40, 120):
        a = ca_alpha(N, 1e-3)
        assert np.isclose((1 + a / N) ** (-N), 1e-3)


def test_ca_threshold_matches_brute_force_including_edges():
    x = _noise(4, (23, 17))
    g, t, pfa = (1, 2), (3, 2), 1e-2
    _, thr = ca_cfar_2d(x, g, t, pfa)
    R, A = x.shape
    for i, j in [(0, 0), (11, 8), (22, 16), (0, 9), (12, 0), (5, 3)]:
        vals = []
        for di in range(-g[0] - t[0], g[0] + t[0] + 1):
            for dj in range(-g[1] - t[1], g[1] + t[1] + 1):
                if abs(di) <= g[0] and abs(dj) <= g[1]:
                    continue
                if 0 <= i + di < R and 0 <= j + dj < A:
                    vals.append(x[i + di, j + dj])
        N = len(vals)
        ref = N * (pfa ** (-1 / N) - 1) * np.mean(vals)
        assert np.isclose(thr[i, j], ref), (i, j)


def test_os_threshold_matches_brute_force_with_wrap_axis():
    x = _noise(5, (15, 12))
    g, t, pfa, rank = (1, 1), (2, 2), 1e-2, 0.5
    _, thr = os_cfar_2d(x, g, t, pfa, rank, edge=("shrink", "wrap"))
    R, A = x.shape
    for i, j in [(0, 0), (7, 11), (14, 5)]:
        vals = [x[i + di, (j + dj) % A] for di in range(-3, 4) for dj in range(-3, 4)
                if not (abs(di) <= 1 and abs(dj) <= 1) and 0 <= i + di < R]
        vals = np.sort(vals)
        k = int(np.ceil(rank * len(vals)))
        assert np.isclose(thr[i, j], os_alpha(len(vals), k, pfa) * vals[k - 1])


@pytest.mark.parametrize("variant", ["ca", "os"])
@pytest.mark.parametrize("where", [(50, 60), (0, 0), (99, 79), (0, 40), (70, 79)])
def test_point_target_detected_at_its_bin_including_borders(variant, where):
    x = _noise(6, (100, 80))
    x[where] = 300.0  # ~25 dB SNR
    det, _ = cfar_2d(x, variant, (2, 2), (4, 4), 1e-4)
    assert det[where]
    # And it is the strongest exceedance (threshold ratio) in the map.
    _, thr = cfar_2d(x, variant, (2, 2), (4, 4), 1e-4)
    assert np.unravel_index(np.argmax(x / thr), x.shape) == where


def test_cfar_rejects_bad_params():
    with pytest.raises(ConfigError):
        ca_cfar_2d(np.ones((5, 5)), (1, 1), (0, 0), 1e-3)
    with pytest.raises(ConfigError):
        cfar_2d(np.ones((5, 5)), "go", (1, 1), (1, 1), 1e-3)
    with pytest.raises(ConfigError):
        ca_cfar_2d(np.ones((5, 5)), (1, 1), (1, 1), 1.5)


def test_dbscan_groups_extended_target_and_separates_distant_ones():
    det = np.zeros((40, 40), bool)
    det[5:12, 5:8] = True          # extended target, 21 cells
    det[30:33, 30:34] = True       # a second object far away
    det[20, 2] = True              # isolated false alarm -> noise, dropped
    p = np.ones(det.shape)
    p[30:33, 30:34] = 5.0
    rb, ab = np.arange(40) * 0.5, np.deg2rad(np.linspace(-60, 60, 40))
    cl = cluster_detections(det, p, rb, ab, eps=1.5, min_samples=3)
    assert len(cl) == 2
    sizes = sorted(c.size for c in cl)
    assert sizes == [12, 21]
    assert cl[0].size == 12  # strongest (total power 60 vs 21) first


def test_power_weighted_centroid_by_hand():
    det = np.zeros((6, 6), bool)
    det[2, 2] = det[2, 3] = det[3, 2] = True
    p = np.zeros((6, 6))
    p[2, 2], p[2, 3], p[3, 2] = 1.0, 3.0, 4.0
    rb = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    ab = np.array([-0.3, -0.2, -0.1, 0.0, 0.1, 0.2])
    (c,) = cluster_detections(det, p, rb, ab, eps=1.5, min_samples=1)
    # range: (1*3 + 3*3 + 4*4)/8 = 3.5 ; azimuth: (1*-0.1 + 3*0.0 + 4*-0.1)/8 = -0.0625
    assert np.allclose(c.centroid, [3.5, -0.0625])
    assert np.allclose(weighted_centroid(np.array([1.0, 2.0]), np.array([0.0, 1.0]), np.array([1.0, 1.0])), [1.5, 0.5])


def test_cluster_in_metres_space():
    det = np.zeros((20, 20), bool)
    det[10, 9:12] = True
    rb = np.linspace(5, 15, 20)
    ab = np.deg2rad(np.linspace(-30, 30, 20))
    # neighbouring azimuth cells at ~10 m are ~0.55 m apart
    assert len(cluster_detections(det, np.ones(det.shape), rb, ab, eps=0.7, min_samples=1, space="metres")) == 1
    assert len(cluster_detections(det, np.ones(det.shape), rb, ab, eps=0.3, min_samples=1, space="metres")) == 3


# ---------------------------------------------------------------- pipeline on the toy store

def test_run_cfar_toy_label_free_and_genie(toy_dataset):
    from radiovisual.baselines.cfar_pipeline import CFARConfig, run_cfar, run_cfar_detailed
    from radiovisual.dataset.format import open_dataset, polar_to_xy

    cfg = CFARConfig(guard_range=2, train_range=4, guard_azimuth=2, train_azimuth=4, pfa=1e-3)
    ds = open_dataset(toy_dataset, labels=False)  # label-free path must not touch GT
    pred, stats = run_cfar_detailed(ds, "val", genie=False, cfg=cfg)
    assert pred.shape == (len(ds.split("val")), 2) and np.isfinite(pred).all()
    assert stats["candidates_per_frame"] >= 1 and not stats["doppler_used"]
    genie = run_cfar(toy_dataset, "val", genie=True, cfg=cfg)
    gt = open_dataset(toy_dataset).split("val").read("target_polar")
    e_genie = np.hypot(*(polar_to_xy(genie) - polar_to_xy(gt)).T)
    e_plain = np.hypot(*(polar_to_xy(pred) - polar_to_xy(gt)).T)
    # Toy blobs are 1.2-bin Gaussians (bin 0.5 m): the genie cluster centroid lies on the target.
    assert np.median(e_genie) < 0.5
    assert np.median(e_genie) <= np.median(e_plain) + 1e-9


def _blob(shape, r0, c0, s=1.2):
    rr, cc = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return np.exp(-0.5 * (((rr - r0) / s) ** 2 + ((cc - c0) / s) ** 2))


def test_domain_matching_and_moving_selection():
    from radiovisual.baselines.cfar_pipeline import CFARConfig, detect_frame, select

    rng = np.random.default_rng(7)
    R, A, D = 80, 48, 32
    rb = np.linspace(2, 22, R)
    ab = np.deg2rad(np.linspace(-60, 60, A))
    vb = np.linspace(-8, 8, D, endpoint=False)
    v0 = int(np.argmin(np.abs(vb)))
    # RA: strong parked car at row 20, weaker moving car at row 50, ghost at row 70 (no RD echo)
    ra = 400 * _blob((R, A), 20, 10) + 100 * _blob((R, A), 50, 30) + 100 * _blob((R, A), 70, 40)
    rd = 400 * _blob((R, D), 20, v0) + 100 * _blob((R, D), 50, v0 + 8)
    db = lambda p: 10 * np.log10(p + rng.exponential(1.0, p.shape))  # noqa: E731
    cfg = CFARConfig(guard_range=3, train_range=6, guard_azimuth=2, train_azimuth=4, pfa=1e-4)
    res = detect_frame(db(ra), db(rd), rb, ab, vb, cfg)
    rows = sorted(int(np.argmin(np.abs(rb - c.polar[0]))) for c in res.candidates)
    assert rows == [20, 50]                       # the ghost has no RD partner -> dropped
    assert [c.moving for c in sorted(res.candidates, key=lambda c: c.polar[0])] == [False, True]
    assert abs(select(res, cfg)[0] - rb[50]) < 0.3                    # "moving" rule
    strongest = CFARConfig(**{**cfg.__dict__, "selection": "strongest"})
    assert abs(select(res, strongest)[0] - rb[20]) < 0.3
    # genie picks whatever is nearest to the given truth
    assert abs(select(res, cfg, gt_polar=np.array([rb[20], ab[10]]))[0] - rb[20]) < 0.3


def test_fallback_is_strongest_cell_when_nothing_detected():
    from radiovisual.baselines.cfar_pipeline import CFARConfig, detect_frame, select

    ra = np.zeros((30, 20))               # flat 0 dB map: no CFAR exceedance anywhere
    ra[12, 7] = 0.5                       # a faint bump below any threshold
    rb, ab = np.linspace(2, 10, 30), np.linspace(-1, 1, 20)
    res = detect_frame(ra, None, rb, ab, None, CFARConfig(pfa=1e-6))
    assert not res.candidates
    assert np.allclose(select(res, CFARConfig()), [rb[12], ab[7]])


def test_cfar_cli_stage_dir_metrics_and_bad_input(toy_dataset, tmp_path, capsys):
    import json

    from radiovisual.cli.main import main

    out = tmp_path / "cfar"
    rc = main(["cfar", str(toy_dataset), "--genie", "--set", "guard_range=2", "--set", "train_range=4",
               "--out", str(out)])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["method"] == "cfar-genie" and m["genie"] is True and m["p50_m"] >= 0 and m["stats"]["n"] == 12
    assert m["stats"]["config"]["guard_range"] == 2  # --set reached the stage (saved resolved config)
    done = json.loads((out / "done.json").read_text())
    assert done["stage"] == "cfar" and done["spec"]["config"]["train_range"] == 4
    stamp = (out / "pred.npy").stat().st_mtime_ns
    assert main(["cfar", str(toy_dataset), "--genie", "--set", "guard_range=2", "--set", "train_range=4",
                 "--out", str(out)]) == 0
    assert (out / "pred.npy").stat().st_mtime_ns == stamp  # finished stage reused
    capsys.readouterr()
    # a changed config on the same directory: one line naming the change, unless --force
    assert main(["cfar", str(toy_dataset), "--genie", "--set", "guard_range=3", "--set", "train_range=4",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "config.guard_range 2 -> 3" in err[0] and "--force" in err[0]
    assert main(["cfar", str(toy_dataset), "--genie", "--set", "guard_range=3", "--set", "train_range=4",
                 "--out", str(out), "--force"]) == 0
    assert json.loads((out / "stats.json").read_text())["config"]["guard_range"] == 3
    # tuning scores on train GT: refused without --genie
    assert main(["cfar", str(toy_dataset), "--tune"]) == 2
    assert "genie" in capsys.readouterr().err
    assert main(["cfar", str(tmp_path / "nope.zarr")]) == 2
    assert main(["cfar", str(toy_dataset), "--set", "variant=xx"]) == 2
    assert "error" in capsys.readouterr().err


def test_tune_cfar_uses_the_callers_train_score_only(toy_dataset):
    from radiovisual.baselines.cfar_pipeline import CFARConfig, tune_cfar
    from radiovisual.evaluate.score import train_scorer

    cfg, rows = tune_cfar(toy_dataset, train_scorer(toy_dataset, 8), genie=True, base=CFARConfig(),
                          grid={"pfa": (1e-2, 1e-4)}, limit=8)
    assert len(rows) == 2 and cfg.pfa == min(rows, key=lambda r: r["train_score"])["pfa"]


def _quick_like_grid():
    """Bins and radio attrs of the quick preset: 128 range bins at the 0.187 m resolution, 64 azimuth bins
    uniform over +-60 deg, a 16-element lambda/2 array."""
    res = 299_792_458.0 / (2 * 800e6)
    rb = 2.0 + res * np.arange(128)
    ab = np.deg2rad(np.linspace(-60, 60, 64))
    return {"radio": {"range_resolution_m": res, "array": {"cols": 16, "spacing_wavelengths": 0.5}}}, rb, ab


def test_windows_resolve_from_resolution_cells_per_grid():
    from radiovisual.baselines.cfar_pipeline import CFARConfig, detect_frame
    from radiovisual.dataset import cruw
    from radiovisual.dataset.resolution import grid_resolution

    attrs, rb, ab = _quick_like_grid()
    g = grid_resolution(attrs, rb, ab)
    # by hand: 1/(16 * 0.5) in sin(az) over the boresight spacing (bins at +-0.95 deg and 2.86 deg)
    d = np.deg2rad(120 / 63)
    assert g.azimuth_bins_per_cell == pytest.approx(0.125 / ((np.sin(1.5 * d) + np.sin(0.5 * d)) / 2), rel=1e-9)
    assert g.range_bins_per_cell == pytest.approx(1.0, abs=1e-9)
    w = CFARConfig().for_grid(g)
    # the native quick grid reproduces the windows stated in bins before (4/8 range, 2/4 azimuth)
    assert (w.guard_range, w.train_range, w.guard_azimuth, w.train_azimuth) == (4, 8, 2, 4) and w.resolved
    # CRUW: 8 virtual elements -> 0.25 in sin(az) over 2/127 per bin = 15.875 bins per beam; range
    # resolution 0.22304 m over 0.21305 m bins
    c = grid_resolution({"radio": {"range_resolution_m": cruw.RANGE_RESOLUTION_M,
                                   "array": {"cols": 8, "spacing_wavelengths": 0.5}}},
                        cruw.range_grid_m(), cruw.azimuth_grid_rad())
    assert c.azimuth_bins_per_cell == pytest.approx(0.25 * 127 / 2, rel=1e-9)
    w = CFARConfig().for_grid(c)
    assert (w.guard_range, w.train_range, w.guard_azimuth, w.train_azimuth) == (4, 8, 8, 16)
    # explicit bins win over "auto"; a store without radio attrs uses the stated assumption (toy stores)
    assert CFARConfig(guard_azimuth=3).for_grid(c).guard_azimuth == 3
    t = CFARConfig().for_grid(grid_resolution({}, rb, ab))
    assert (t.guard_range, t.train_range, t.guard_azimuth, t.train_azimuth) == (4, 8, 2, 4)
    with pytest.raises(ConfigError, match="auto"):
        CFARConfig(guard_range="wide").validate()
    # detect_frame resolves an unresolved config the same way as explicit bins
    rng = np.random.default_rng(1)
    ra = 10 * np.log10(rng.exponential(1.0, (40, 24)))
    ra[20, 10] += 30
    r1 = detect_frame(ra, None, rb[:40], ab[:24], None, CFARConfig(pfa=1e-3))
    r2 = detect_frame(ra, None, rb[:40], ab[:24], None, CFARConfig(pfa=1e-3, guard_range=4, train_range=8,
                                                                    guard_azimuth=2, train_azimuth=4))
    assert r1.n_detections == r2.n_detections > 0
