"""Pedestrians and cyclists: exact AABBs, closed parts, cached PLYs, and the limb micro-Doppler kinematics."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from radiovisual.scene.meshes import read_ply
from radiovisual.scene.motion import ctrv_track
from radiovisual.scene.people import (BOTTOM_BRACKET_M, CRANK_RADIUS_M, PEDAL_Y_M, SPEED_MPS, PersonModel,
                                      cadence_hz, cyclist_model, gait_frequency_hz, limb_scatterers,
                                      pedestrian_model, write_person_meshes)

MODELS = [("pedestrian", i) for i in range(8)] + [("cyclist", i) for i in range(6)]


def _model(cls: str, i: int) -> PersonModel:
    return pedestrian_model(i) if cls == "pedestrian" else cyclist_model(i)


def _closed_and_outward(v: np.ndarray, f: np.ndarray) -> tuple[bool, float]:
    """Every directed edge (by vertex position) has exactly one reverse twin; and the signed volume [m^3]."""
    key = [tuple(np.round(p, 6)) for p in v.astype(np.float64)]
    directed = Counter((key[a], key[b]) for tri in f for a, b in zip(tri, np.roll(tri, -1)))
    closed = all(n == 1 and directed.get((b, a)) == 1 for (a, b), n in directed.items())
    p = v.astype(np.float64)[f]
    vol = np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() / 6.0
    return closed, float(vol)


@pytest.mark.parametrize("cls,i", MODELS)
def test_aabb_exact_and_parts_closed(cls, i):
    m = _model(cls, i)
    assert m.cls == cls
    L, W, H = m.size
    v = np.concatenate([p[0] for p in m.parts])
    np.testing.assert_allclose(v.min(0), [-L / 2, -W / 2, 0.0], atol=1e-5)
    np.testing.assert_allclose(v.max(0), [L / 2, W / 2, H], atol=1e-5)
    roles = {p[2] for p in m.parts}
    if cls == "pedestrian":
        assert roles == {"skin", "clothes"}
        assert (1.5 <= H <= 1.95) or "child" in m.name
        assert 0.25 < L < 0.6 and 0.3 < W < 0.7        # TR 38.901's adult human is 0.5 x 0.5 x 1.75 m
    else:
        assert roles == {"skin", "clothes", "frame", "wheel"}
        assert 1.6 <= H <= 1.85 and 1.7 <= L <= 1.8
    for pv, pf, _ in m.parts:
        assert pv.dtype == np.float32 and pf.dtype == np.int32 and pv.shape[1] == 3 and pf.shape[1] == 3
        assert pf.min() >= 0 and pf.max() < len(pv)
        closed, vol = _closed_and_outward(pv, pf)
        assert closed and vol > 0                         # watertight, faces wound outwards


def test_family_distinct_and_child_small():
    peds = [pedestrian_model(i) for i in range(6)]
    assert len({m.name for m in peds}) == 6 and len({m.size for m in peds}) == 6
    assert min(peds, key=lambda m: m.size[2]).name == "child"
    assert len({cyclist_model(i).size for i in range(4)}) == 4
    with pytest.raises(ValueError):
        pedestrian_model(-1)


def test_write_person_meshes_cached(tmp_path):
    m = cyclist_model(1)
    parts, hull = write_person_meshes(tmp_path, m)
    assert [r for _, r in parts] == ["clothes", "skin", "frame", "wheel"]
    assert all(p.name.startswith(f"cyc-{m.name}-{r}-") for p, r in parts) and hull.name.startswith("cyc-road-hull-")
    mtimes = [p.stat().st_mtime_ns for p, _ in parts] + [hull.stat().st_mtime_ns]
    parts2, hull2 = write_person_meshes(tmp_path, cyclist_model(1))
    assert parts2 == parts and hull2 == hull              # same content -> same file, not rewritten
    assert [p.stat().st_mtime_ns for p, _ in parts] + [hull.stat().st_mtime_ns] == mtimes
    hv, hf = read_ply(hull)
    assert len(hv) == sum(len(p[0]) for p in m.parts) and len(hf) == sum(len(p[1]) for p in m.parts)
    pparts, phull = write_person_meshes(tmp_path, pedestrian_model(0))
    assert phull.name.startswith("ped-man-hull-") and phull != hull and len(pparts) == 2


@pytest.mark.parametrize("cls", ["pedestrian", "cyclist"])
@pytest.mark.parametrize("yaw_rate", [0.0, 0.6])
def test_limb_velocity_is_derivative_of_points(cls, yaw_rate):
    dt = 1e-3
    pos, yaw, vel = ctrv_track((8.0, -2.0), 2.5, 1.3 if cls == "pedestrian" else 5.0, yaw_rate, 1500, dt)
    pts, v, rcs = limb_scatterers(cls, 1.75, pos, yaw, vel, dt, phase0=0.4)
    K = 4 if cls == "pedestrian" else 2
    assert pts.shape == v.shape == (1500, K, 3) and rcs.shape == (K,) and np.all(rcs > 0)
    fd = (pts[2:] - pts[:-2]) / (2 * dt)
    np.testing.assert_allclose(v[1:-1], fd, atol=2e-3)
    assert np.all(pts[..., 2] > 0)                        # limbs stay above the ground


def test_walker_micro_doppler_spread_and_antiphase():
    speed, height = 1.4, 1.75
    f = gait_frequency_hz(speed, height)
    assert 0.85 < f < 1.0                                 # ~1.8 steps/s at 1.4 m/s (Boulic et al. 1990)
    dt = 0.01
    n = int(np.ceil(1.0 / (f * dt))) + 1                  # one full gait cycle
    pos, yaw, vel = ctrv_track((12.0, 1.0), np.pi, speed, 0.0, n, dt)   # walking towards a radar at the origin
    pts, v, _ = limb_scatterers("pedestrian", height, pos, yaw, vel, dt)
    radar = np.array([0.0, 0.0, 2.0])
    u = (pts - radar) / np.linalg.norm(pts - radar, axis=-1, keepdims=True)
    radial = np.einsum("tkc,tkc->tk", v, u)               # [T, K] radial velocity [m/s]
    body = np.einsum("tc,tc->t", np.c_[vel, np.zeros(n)], u[:, 0])
    spread = radial.max(0) - radial.min(0)
    assert np.all(spread > 0.5 * speed)                   # every limb smears the body line: micro-Doppler
    assert np.all(np.abs(radial.mean(0) - body.mean()) < 0.1 * speed)   # ... around the body speed
    swing = v - np.c_[vel, np.zeros(n)][:, None]          # [T, K, 3] limb motion relative to the body
    np.testing.assert_allclose(swing[:, 0, :2], -swing[:, 1, :2], atol=1e-9)   # legs in anti-phase
    np.testing.assert_allclose(swing[:, 2, :2], -swing[:, 3, :2], atol=1e-9)   # arms in anti-phase
    assert np.corrcoef(swing[:, 0, 0], swing[:, 2, 0])[0, 1] < -0.99       # left arm against left leg
    assert np.corrcoef(swing[:, 0, 0], swing[:, 3, 0])[0, 1] > 0.99
    # the swing repeats every gait cycle
    T = 1.0 / f
    p2, v2, _ = limb_scatterers("pedestrian", height, *ctrv_track((12.0, 1.0), np.pi, speed, 0.0, 2, T), T)
    np.testing.assert_allclose(v2[0] - v2[1], 0.0, atol=1e-9)


def test_cyclist_pedal_speed_matches_cadence():
    speed, dt = 5.0, 0.005
    pos, yaw, vel = ctrv_track((10.0, 3.0), 0.3, speed, 0.0, 400, dt)
    pts, v, _ = limb_scatterers("cyclist", 1.75, pos, yaw, vel, dt, phase0=1.0)
    cad = cadence_hz(speed)
    assert cad == pytest.approx(speed / (np.pi * 0.70 * 2.5))
    rel = np.linalg.norm(v - np.c_[vel, np.zeros(len(vel))][:, None], axis=-1)
    np.testing.assert_allclose(rel, cad * 2 * np.pi * CRANK_RADIUS_M, rtol=1e-9)
    # in the bike frame, both pedals circle the crank axle at the crank radius, half a turn apart
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    d = pts[..., :2] - pos[:, None]
    x_loc, y_loc = c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]
    xb, zb = BOTTOM_BRACKET_M
    np.testing.assert_allclose(np.hypot(x_loc - xb, pts[..., 2] - zb), CRANK_RADIUS_M, atol=1e-9)
    np.testing.assert_allclose(y_loc, np.broadcast_to([PEDAL_Y_M, -PEDAL_Y_M], y_loc.shape), atol=1e-9)
    np.testing.assert_allclose(x_loc[:, 0] - xb, -(x_loc[:, 1] - xb), atol=1e-9)


def test_class_kinematics_plausible():
    assert set(SPEED_MPS) == {"pedestrian", "cyclist"}
    lo, hi = SPEED_MPS["pedestrian"]
    for h in (1.5, 1.95):                                 # adult step rate 1.0-2.5 steps/s over the range
        assert 1.0 < 2 * gait_frequency_hz(lo, h) < 2 * gait_frequency_hz(hi, h) < 2.5
    lo, hi = SPEED_MPS["cyclist"]
    assert 15 < 60 * cadence_hz(lo) < 60 * cadence_hz(hi) < 100   # rpm


def test_bad_class_raises(tmp_path):
    track = ctrv_track((5.0, 0.0), 0.0, 1.0, 0.0, 3, 0.1)
    with pytest.raises(ValueError):
        limb_scatterers("horse", 1.7, *track, 0.1)
    bad = PersonModel(name="x", cls="horse", size=(1.0, 1.0, 1.0), parts=pedestrian_model(0).parts)
    with pytest.raises(ValueError):
        write_person_meshes(tmp_path, bad)
