"""The label-free camera model of the self-label chain (selflabel.geometry): pinhole azimuths, its robust
fit and search, the ground-plane range of a mask's foot row, against brute-force projections."""

from __future__ import annotations

import numpy as np

from radiovisual.selflabel import geometry as geo


def _project(pts: np.ndarray, f: float, W: int, H: int, pitch: float, cam_h: float) -> tuple[np.ndarray, np.ndarray]:
    """Radar-frame points (x right, y forward, z up) -> normalised (u, v) of a pinhole camera at height cam_h
    pitched down by ``pitch`` (OpenCV axes), principal point at the image centre."""
    d = pts - np.array([0.0, 0.0, cam_h])
    zc = d[:, 1] * np.cos(pitch) - d[:, 2] * np.sin(pitch)      # optical axis
    yc = -d[:, 1] * np.sin(pitch) - d[:, 2] * np.cos(pitch)     # image down
    x_px = (W - 1) / 2 + f * d[:, 0] / zc
    y_px = (H - 1) / 2 + f * yc / zc
    return 2 * x_px / (W - 1) - 1, 2 * y_px / (H - 1) - 1


def test_pixel_azimuth_is_the_cone_angle_for_any_pitch():
    rng = np.random.default_rng(0)
    W, H, f = 128, 96, 53.7
    pts = np.stack([rng.uniform(-8, 8, 500), rng.uniform(4, 25, 500), rng.uniform(0, 2, 500)], 1)
    for pitch in (0.0, 0.26, 0.5):
        u, v = _project(pts, f, W, H, pitch, 4.0)
        fit = {"s": (W - 1) / (2 * f), "u0": 0.0, "v0": 0.0, "k": (H - 1) / (W - 1)}
        d = pts - np.array([0.0, 0.0, 4.0])
        truth = np.arcsin(d[:, 0] / np.linalg.norm(d, axis=1))     # the ULA's cone angle from the camera centre
        assert np.abs(geo.pixel_to_azimuth(u, v, fit) - truth).max() < 1e-9


def test_fit_and_search_recover_the_camera_with_outliers():
    rng = np.random.default_rng(1)
    W, H, f = 128, 96, 60.0
    s_true = (W - 1) / (2 * f)
    k = (H - 1) / (W - 1)
    u, v = rng.uniform(-0.8, 0.8, 400) + 0.05, rng.uniform(-0.2, 0.9, 400)
    truth = {"s": s_true, "u0": 0.05, "v0": 0.0, "k": k}
    az = geo.pixel_to_azimuth(u, v, truth) + rng.normal(0, np.deg2rad(1.0), 400)
    az[:60] = rng.uniform(-1, 1, 60)                                  # 15 % wrong returns
    fit = geo.fit_pixel_azimuth(u, v, az, k)
    assert abs(fit["s"] - s_true) < 0.03 and abs(fit["u0"] - 0.05) < 0.02 and fit["sigma_rad"] < np.deg2rad(1.6)
    # the search: one strong return per sample at the true azimuth among clutter
    ab = np.deg2rad(np.linspace(-60, 60, 64))
    P = rng.normal(0, 1, (400, 8, 64))
    col = np.round(geo.frac_index(geo.pixel_to_azimuth(u, v, truth), ab)).astype(int)
    P[np.arange(400), 4, col] += 20.0
    P[:, 2, 30] += 25.0                                               # a static clutter return in every map
    found = geo.search_pixel_azimuth(P, np.zeros(400), np.full(400, 7), u, v, k, ab)
    assert abs(found["s"] / s_true - 1) < 0.06 and abs(found["u0"] - 0.05) < 0.05


def test_ground_range_of_the_foot_row():
    rng = np.random.default_rng(2)
    W, H, f, pitch, cam_h = 128, 96, 53.7, 0.26, 4.15
    d = rng.uniform(5, 24, 300)
    pts = np.stack([rng.uniform(-3, 3, 300), d, np.zeros(300)], 1)
    u, v = _project(pts, f, W, H, pitch, cam_h)
    r = np.linalg.norm(pts - [0, 0, cam_h], axis=1)
    a = (H - 1) / (2 * f)
    r_meas = r * (1 + rng.normal(0, 0.02, 300))
    r_meas[:30] += 8.0                                                # labels on another object
    fit = geo.fit_ground_range(v, r_meas, a)
    assert abs(fit["pitch_rad"] - pitch) < 0.02 and abs(fit["height_m"] - cam_h) < 0.2
    assert fit["inlier_frac"] > 0.85 and fit["rel_sigma"] < 0.04
    assert np.nanmedian(np.abs(geo.ground_range(v, fit, a) / r - 1)) < 0.02


def test_mask_rows_and_extent():
    m = np.zeros((3, 6, 10), bool)
    m[0, 1:3, 2:5] = True
    m[1, 3:6, 6:8] = True              # touches the bottom border: foot unknown
    rows = geo.mask_bottom_rows(m)
    assert np.isclose(rows[0], (2 + 0.5) * 2 / 5 - 1) and np.isnan(rows[1]) and np.isnan(rows[2])
    assert np.isclose(geo.mask_centroid_rows(m)[0], 1.5 * 2 / 5 - 1)
    ext = geo.mask_extent_cols(m)
    assert np.allclose(ext[0], [1.5 * 2 / 9 - 1, 4.5 * 2 / 9 - 1]) and np.isnan(ext[2]).all()
