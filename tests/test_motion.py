"""Target motion (scene.motion): CTRV tracks, footprint overlap, the kind mix of the sampler."""

from __future__ import annotations

import numpy as np

from radiovisual.scene.motion import MOTIONS, boxes_overlap, ctrv_track, draw_track, footprint_corners


def test_ctrv_straight_and_turning_match_numerical_integration():
    pos, yaw, vel = ctrv_track((3.0, -2.0), 0.4, 5.0, 0.0, 11, 0.2)
    t = np.arange(11) * 0.2
    assert np.allclose(pos, np.array([3.0, -2.0]) + 5.0 * t[:, None] * [np.cos(0.4), np.sin(0.4)], atol=1e-12)
    assert np.allclose(yaw, 0.4) and np.allclose(np.linalg.norm(vel, axis=1), 5.0)
    # turning: exact closed form vs a fine Euler integration of p' = v (cos psi, sin psi), psi' = w (tol 1 mm)
    pos, yaw, vel = ctrv_track((0.0, 0.0), -1.0, 4.0, 0.6, 15, 0.2)
    n = 200_000
    dt = 2.8 / n
    psi = -1.0 + 0.6 * dt * np.arange(n)
    p = np.concatenate([[[0.0, 0.0]], np.cumsum(4.0 * dt * np.stack([np.cos(psi), np.sin(psi)], 1), 0)])
    ref = p[np.round(np.arange(15) * 0.2 / dt).astype(int)]
    assert np.abs(pos - ref).max() < 1e-3
    assert np.allclose(yaw, -1.0 + 0.6 * np.arange(15) * 0.2)
    assert np.allclose(vel, 4.0 * np.stack([np.cos(yaw), np.sin(yaw)], 1))


def test_boxes_overlap_matches_point_sampling():
    rng = np.random.default_rng(0)
    for _ in range(300):
        c = rng.uniform(-4, 4, 2)
        yaw = rng.uniform(-np.pi, np.pi)
        corners = footprint_corners(c[None], np.array([yaw]), 4.5, 1.8)
        lo = rng.uniform(-3, 1, 2)
        hi = lo + rng.uniform(0.5, 3, 2)
        got = bool(boxes_overlap(corners, lo, hi, margin=0.0)[0])
        # reference: dense samples of the footprint, any inside the box
        u, v = np.meshgrid(np.linspace(-2.25, 2.25, 91), np.linspace(-0.9, 0.9, 37))
        px = c[0] + np.cos(yaw) * u - np.sin(yaw) * v
        py = c[1] + np.sin(yaw) * u + np.cos(yaw) * v
        inside = ((px >= lo[0]) & (px <= hi[0]) & (py >= lo[1]) & (py <= hi[1])).any()
        if inside:            # sampling can only miss thin overlaps, never invent one
            assert got


def test_draw_track_keeps_the_mix_and_the_kinds():
    rng = np.random.default_rng(1)
    kinds, w = ("crossing", "approaching", "turning"), (0.5, 0.3, 0.2)
    got = [draw_track(rng, kinds, w, (5, 15, -5, 5), (4.7, 1.9), (2.0, 6.0), 15, 0.2, lambda *a: True)
           for _ in range(1500)]
    freq = np.array([sum(t.kind == k for t in got) for k in kinds]) / len(got)
    assert np.all(np.abs(freq - np.array(w)) < 0.04), freq
    for t in got:
        psi0 = t.yaws[0]
        turn = abs(t.yaws[-1] - psi0)
        if t.kind == "approaching":
            assert abs(np.angle(np.exp(1j * (psi0 - np.pi)))) <= np.deg2rad(15) + 1e-9 and turn < 1e-9
        if t.kind == "crossing":
            assert abs(abs(np.angle(np.exp(1j * psi0))) - np.pi / 2) <= np.deg2rad(15) + 1e-9
        if t.kind == "turning":
            assert np.deg2rad(45) - 1e-9 <= turn <= np.deg2rad(120) + 1e-9
        assert 2.0 <= t.speed <= 6.0
    # a kind that never fits hands over to one that does; nothing fitting gives None
    only_turns = draw_track(rng, ("receding",), (1.0,), (0, 1, 0, 1), (4.0, 2.0), (2, 3), 15, 0.2,
                            lambda p, y, c: abs(y[-1] - y[0]) > 0.1, tries=50)
    assert only_turns is not None and only_turns.kind == "turning"
    assert draw_track(rng, MOTIONS, (1,) * 5, (0, 1, 0, 1), (4.0, 2.0), (2, 3), 15, 0.2,
                      lambda *a: False, tries=5) is None
