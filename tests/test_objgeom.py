"""Per-object geometry estimators (selflabel.objgeom) on synthetic cases with a known answer."""

from __future__ import annotations

import numpy as np

from radiovisual.scene.motion import ctrv_track
from radiovisual.selflabel.objgeom import (centre_offset, cross_extent, face_weights, footprint_span,
                                           mean_offset_along_los, object_geometry, size_scale, track_velocity)


def _e(az):
    return np.stack([np.sin(az), np.cos(az)], -1)


def test_face_offset_radial_crossing_diagonal():
    az = np.deg2rad(np.array([0.0, 20.0, -35.0]))
    e = _e(az)
    # driving straight at the radar: the front face returns, the centre is L/2 further along the line of sight
    off = centre_offset(-e, e, 4.6, 1.9)
    assert np.allclose(off, 2.3 * e, atol=1e-3)
    # receding: the back face, again L/2 behind it
    assert np.allclose(centre_offset(e, e, 4.6, 1.9), 2.3 * e, atol=1e-3)
    # crossing (heading perpendicular to the line of sight): a side face, W/2
    perp = np.stack([e[:, 1], -e[:, 0]], -1)
    assert np.allclose(centre_offset(perp, e, 4.6, 1.9), 0.95 * e, atol=1e-3)
    # 45 deg: front and side share the return, the offset lies between W/2 and L/2 (along the line of sight)
    h45 = (-e + perp) / np.sqrt(2)
    w = face_weights(h45, e)
    assert np.allclose(w[:, 0], 0.5, atol=1e-6) and np.allclose(w[:, 3] + w[:, 2], 0.5, atol=1e-6)
    along = (centre_offset(h45, e, 4.6, 1.9) * e).sum(1)
    assert np.allclose(along, 0.5 * (2.3 + 0.95) / np.sqrt(2), atol=1e-6)
    assert 0.95 < mean_offset_along_los(4.6, 1.9) < 2.3
    assert np.allclose(cross_extent(perp, e, 4.6, 1.9), 4.6) and np.allclose(cross_extent(e, e, 4.6, 1.9), 1.9)


def test_track_velocity_straight_and_turning_with_noise():
    rng = np.random.default_rng(0)
    for yaw_rate in (0.0, 0.5):
        pos, yaw, vel = ctrv_track((-3.0, 8.0), 0.7, 4.0, yaw_rate, 15, 0.2)
        xy = pos + rng.normal(0, 0.05, pos.shape)
        seq, frm = np.zeros(15, int), np.arange(15)
        v = track_velocity(xy, seq, frm, 0.2)
        ang = np.abs(np.angle(np.exp(1j * (np.arctan2(v[:, 1], v[:, 0]) - yaw))))
        assert np.median(ang) < np.deg2rad(3) and ang.max() < np.deg2rad(12), np.rad2deg(ang)
        assert abs(np.median(np.linalg.norm(v, axis=1)) - 4.0) < 0.15
    # a 3-frame sequence tells nothing
    assert np.isnan(track_velocity(xy[:3], seq[:3], frm[:3], 0.2)).all()


def test_size_scale_recovers_the_car():
    rng = np.random.default_rng(1)
    az = rng.uniform(-0.5, 0.5, 30)
    e = _e(az)
    psi = rng.uniform(-np.pi, np.pi, 30)
    h = np.stack([np.cos(psi), np.sin(psi)], -1)
    seq = np.repeat(np.arange(3), 10)
    true = np.repeat([0.8, 1.0, 1.1], 10)
    r_c = rng.uniform(6, 20, 30)
    L, W = 5.0 * true, 2.0 * true
    ret = r_c - (centre_offset(h, e, L, W) * e).sum(1)          # the radar's range: the seen faces
    span = footprint_span(r_c[:, None] * e, h, L, W) * (1 + rng.normal(0, 0.02, 30))
    span[4] = 1.0                                                # one broken mask
    s = size_scale(span, ret, az, h, seq)
    assert np.allclose(s, true, atol=0.04), s


def test_object_geometry_end_to_end_on_a_radial_car():
    # a car approaching along a lane 3 m right of boresight: the radar sees its front, L/2 short of the centre
    pos, yaw, _ = ctrv_track((3.0, 20.0), -np.pi / 2, 4.0, 0.0, 15, 0.2)    # here: x right, y forward
    centre_r = np.hypot(pos[:, 0], pos[:, 1])
    az = np.arctan2(pos[:, 0], pos[:, 1])
    L, W = 4.5, 1.8
    e = _e(az)
    ret = centre_r - (centre_offset(np.array([[0.0, -1.0]] * 15), e, L, W) * e).sum(1)
    # the mask's width in angle: the footprint corners' azimuth span (the silhouette's horizontal extent)
    corners = pos[:, None] + np.array([[W / 2, L / 2], [-W / 2, L / 2], [W / 2, -L / 2], [-W / 2, -L / 2]])[None]
    caz = np.arctan2(corners[..., 0], corners[..., 1])
    ext = caz.max(1) - caz.min(1)
    g = object_geometry(ret, az, az, ext, np.zeros(15, int), np.arange(15), 0.2)
    assert np.allclose(g["scale"], 0.9, atol=0.05)
    assert np.allclose(ret + g["range_offset"], centre_r, atol=0.1)
    assert np.all(np.abs(g["range_offset"] - L / 2 * np.abs(np.cos(az))) < 0.2)


def test_robust_polyfit_equals_the_sequential_least_median_scan():
    """The batched candidate search picks what a plain loop over the subsets picks (first smallest median)."""
    from itertools import combinations

    from radiovisual.selflabel.objgeom import robust_polyfit

    def reference(t, y, degree, floor=0.05, max_subsets=600):
        n, k = len(t), degree + 1
        subsets = list(combinations(range(n), k))
        if len(subsets) > max_subsets:
            subsets = [subsets[i] for i in np.linspace(0, len(subsets) - 1, max_subsets).round().astype(int)]
        V = np.vander(t, k)
        best, best_med = None, np.inf
        for idx in subsets:
            A = V[list(idx)]
            if abs(np.linalg.det(A)) < 1e-12:
                continue
            c = np.linalg.solve(A, y[list(idx)])
            med = float(np.median((V @ c - y) ** 2))
            if med < best_med:
                best, best_med = c, med
        res = V @ best - y
        sig = max(1.4826 * float(np.median(np.abs(res))), floor)
        ok = np.abs(res) <= 2.5 * sig
        return np.polyfit(t[ok], y[ok], degree) if ok.sum() > k else best

    rng = np.random.default_rng(0)
    for trial in range(20):
        n = int(rng.integers(5, 16))
        t = np.round(rng.uniform(0, 3, n), 1)             # repeated times: singular subsets to skip
        y = 0.4 * t ** 2 - t + rng.normal(0, 0.05, n)
        y[rng.random(n) < 0.3] += rng.normal(0, 3, n)[:1]  # a share of frames on another object
        for deg in (1, 2):
            if len(np.unique(t)) > deg:
                np.testing.assert_array_equal(robust_polyfit(t, y, deg), reference(t, y, deg))
