"""Label-free self-label geometry: column->azimuth fit, radar snapping, the peak floor, Viterbi tracking."""

from __future__ import annotations

import numpy as np

from radiovisual.selflabel import geometry as geo
from radiovisual.selflabel.track import viterbi_tracks


def test_mask_centroid_cols_normalised():
    m = np.zeros((3, 4, 9), bool)
    m[0, :, 0] = True
    m[1, 1:3, 4] = True
    m[1, 2, 8] = True                      # centroid (4 + 4 + 8) / 3 = 16/3
    u = geo.mask_centroid_cols(m)
    np.testing.assert_allclose(u[:2], [-1.0, 2 * (16 / 3) / 8 - 1])
    assert np.isnan(u[2])


def test_column_azimuth_fit_recovers_pinhole_map_despite_outliers():
    rng = np.random.default_rng(0)
    u = rng.uniform(-1, 1, 400)
    true = np.arctan(1.19 * u + 0.03)                  # pinhole: tan(az) linear in the column
    az = true + rng.normal(0, 0.01, 400)
    out = rng.random(400) < 0.3                          # 30 % gross outliers (attention on clutter)
    az[out] = rng.uniform(-1.0, 1.0, out.sum())
    fit = geo.fit_column_azimuth(u, az, seed=0)
    err = np.abs(geo.column_to_azimuth(u, fit) - true)
    assert err.max() < np.deg2rad(1.0) and 0.6 < fit["inlier_frac"] < 0.8
    assert 0.005 < fit["sigma_rad"] < 0.025   # robust spread: the 0.01 rad noise, widened by outliers in the MAD


def test_snap_picks_strongest_return_in_window_and_centroid():
    P = np.full((1, 40, 20), -30.0)
    P[0, 10, 5] = 0.0                                    # target, near the prior
    P[0, 11, 5] = 0.0                                    # equal neighbour: centroid between rows 10 and 11
    P[0, 30, 15] = 10.0                                  # a stronger return outside the window
    b = geo.snap_to_radar(P, np.array([12.0]), np.array([6.0]), 4, 3)
    np.testing.assert_allclose(b[0], [10.5, 5.0])
    np.testing.assert_allclose(geo.strongest_return(P)[0], [30.0, 15.0])


def test_local_maxima_sorted_and_windowed():
    p = np.zeros((10, 10))
    p[2, 2], p[7, 7], p[5, 5] = 3.0, 5.0, 4.0
    assert geo.local_maxima(p, 2, (0, 10), (0, 10)) == [(7, 7), (5, 5)]
    assert geo.local_maxima(p, 5, (0, 4), (0, 4)) == [(2, 2)]


def test_viterbi_prefers_smooth_path_over_single_frame_outlier():
    # one sequence of 5 frames moving 1 m per frame along x; frame 2 offers a stronger (lower unary) outlier
    cands, unary = [], []
    for t in range(5):
        c = [[float(t), 0.0]]
        u = [0.0]
        if t == 2:
            c.append([2.0, 8.0])
            u = [0.5, 0.0]
        cands.append(np.array(c))
        unary.append(np.array(u))
    seq = np.zeros(5, int)
    frame = np.array([4, 3, 2, 1, 0])[::-1].copy()
    pick = viterbi_tracks(cands, unary, seq, frame, step_m=1.2)
    assert pick.tolist() == [0, 0, 0, 0, 0]
    # with a motion model that allows 10 m per frame, the unary wins
    assert viterbi_tracks(cands, unary, seq, frame, step_m=10.0)[2] == 1


def test_selflabel_config_on_off_spellings_and_face_prior_rule():
    from radiovisual.selflabel.config import resolve_selflabel_config
    from radiovisual.selflabel.run import face_shift_m

    cfg = resolve_selflabel_config(overrides=["face_prior=off", "debias=on"])   # YAML reads off/on as booleans
    assert (cfg.face_prior, cfg.debias) == ("off", "on")
    auto = resolve_selflabel_config()
    box = {"target_point": "centre of the target car's 3-D bounding box (footprint centre raised ...)"}
    assert face_shift_m(auto, box) == auto.face_to_centre_m > 0       # documented box centre: the prior applies
    assert face_shift_m(auto, {"target_point": "toy blob centre"}) == 0.0
    assert face_shift_m(cfg, box) == 0.0


def _doppler_scene(n_seq=12, n_fr=15, dt=0.2, seed=0):
    """Constant-velocity cars crossing in front of the radar; returns ranges, true azimuths, range rates."""
    rng = np.random.default_rng(seed)
    seq, fr, r, az, vr = [], [], [], [], []
    for s in range(n_seq):
        p0 = np.array([rng.uniform(-8, -2), rng.uniform(9, 15)])
        v = np.array([rng.uniform(3, 6), rng.uniform(-1, 1)])
        for f in range(n_fr):
            p = p0 + v * f * dt
            a = np.arctan2(p[0], p[1])
            seq.append(s), fr.append(f), r.append(np.hypot(*p)), az.append(a)
            vr.append(v @ np.array([np.sin(a), np.cos(a)]))
    return np.array(seq), np.array(fr), np.array(r), np.array(az), np.array(vr)


def test_radial_velocity_parabolic_peak_matches_reference():
    from radiovisual.selflabel.doppler import radial_velocity

    dop = np.linspace(-10, 10, 41)                       # 0.5 m/s bins, positive = approaching
    true_vr = np.array([1.23, -2.71, 0.0])               # range rates [m/s]
    rd = np.full((3, 8, 41), -60.0)
    for i, v in enumerate(true_vr):                      # a parabola in dB centred on the approaching speed -v
        rd[i, 4] = -((dop + v) / 0.5) ** 2
    got = radial_velocity(rd, np.array([4.0, 4.4, 3.6]), dop)
    np.testing.assert_allclose(got, true_vr, atol=1e-9)  # a parabola is refined exactly


def test_doppler_map_scale_recovers_a_too_steep_map():
    from radiovisual.selflabel.doppler import doppler_map_scale

    seq, fr, r, az, vr = _doppler_scene()
    u = np.tan(az) / 1.2                                 # pinhole: tan(az) = 1.2 u
    fit = {"coef": [1.2 * 1.08, 0.0], "slope": 1.2 * 1.08, "icpt": 0.0}   # 8 % too steep, as a biased radar fit
    res = doppler_map_scale(r, u, fit, vr, seq, fr, 0.2, span=0.2, step=0.005)
    assert res["used"]
    assert abs(res["scale"] - 1 / 1.08) <= 0.006        # within about one grid step of the true scale
    ks = np.array([c[0] for c in res["curve"]])
    vals = np.array([c[1] for c in res["curve"]])
    assert vals[np.argmin(np.abs(ks - 1.0))] > 5 * vals.min()   # the unscaled map disagrees with the Doppler
