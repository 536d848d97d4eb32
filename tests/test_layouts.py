"""Scenario layouts: determinism, target inside the radar window, jittered parked cars, car family."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from radiovisual.dataset.config import SCENARIOS, resolve_synth_config
from radiovisual.scene.cars import N_BASE_MODELS, car_model, write_car_meshes
from radiovisual.scene.layouts import build_world
from radiovisual.scene.motion import MOTIONS, boxes_overlap
from radiovisual.scene.world import world_to_radar_polar


def _signature(w):
    return [(b.name, b.kind, tuple(np.round(b.positions.ravel(), 9)), tuple(np.round(b.yaws, 9)),
             tuple(p.mesh for p in b.parts), tuple(p.radio_material for p in b.parts)) for b in w.bodies]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_layout_deterministic_and_target_in_window(scenario, tmp_path):
    cfg = resolve_synth_config("quick", scenario=scenario)
    w1 = build_world(cfg, np.random.default_rng(7), tmp_path)
    w2 = build_world(cfg, np.random.default_rng(7), tmp_path)
    assert _signature(w1) == _signature(w2)
    w3 = build_world(cfg, np.random.default_rng(8), tmp_path)
    assert _signature(w1) != _signature(w3)
    for seed in range(6):
        w = build_world(cfg, np.random.default_rng(seed), tmp_path)
        assert w.n_frames == cfg.scene.n_frames
        tb = w.target_body
        assert tb.kind == "target" and tb.radar_target and len(tb.positions) == w.n_frames
        pts = np.array([w.target_point(f) for f in range(w.n_frames)])
        pol = world_to_radar_polar(pts, w.radar_position)
        assert np.all(pol[:, 0] > cfg.radio.range_min_m) and np.all(pol[:, 0] < cfg.radio.range_max_m)
        half = np.deg2rad(min(cfg.radio.azimuth_fov_deg, cfg.camera.hfov_deg) / 2)
        assert np.all(np.abs(pol[:, 1]) < half)
        # the per-frame velocities are those of the track: each step's chord is the mean of its two end
        # velocities to second order in the turn per frame (CTRV, scene.motion)
        vel = np.stack([tb.velocity_at(f) for f in range(w.n_frames)])
        step = np.diff(tb.positions, axis=0) / w.frame_dt_s
        assert np.allclose(step[:, :2], 0.5 * (vel[1:, :2] + vel[:-1, :2]), atol=0.03 * np.abs(vel).max())
        lo, hi = cfg.scene.speed_mps
        assert np.all(np.linalg.norm(vel, axis=1) <= hi + 1e-9)
        assert w.meta["target_motion"] in MOTIONS
        # radar looks straight ahead with a downtilt only; camera shares the direction
        assert w.radar_look_at[1] == 0 and w.radar_look_at[2] < w.radar_position[2]
        assert np.allclose(w.camera_look_at - w.camera_position, w.radar_look_at - w.radar_position)
        parked = [b for b in w.bodies if b.kind == "parked_car"]
        assert parked and all(b.radar_target and b.hull_mesh for b in parked)
        for b in parked:  # parked cars also inside the range window (they are the clutter)
            r = world_to_radar_polar(b.positions[0] + [0, 0, b.size[2] / 2], w.radar_position)[0]
            assert cfg.radio.range_min_m < r < cfg.radio.range_max_m


def test_parked_cars_are_jittered(tmp_path):
    cfg = resolve_synth_config("quick", scenario="parking_lot")
    still = replace(cfg, scene=replace(cfg.scene, jitter_std_m=0.0))
    # same rng stream -> same slots; jitter only moves the cars off the slot grid
    a = build_world(still, np.random.default_rng(3), tmp_path)
    b = build_world(cfg, np.random.default_rng(3), tmp_path)
    pa = np.array([x.positions[0, :2] for x in a.bodies if x.kind == "parked_car"])
    pb = np.array([x.positions[0, :2] for x in b.bodies if x.kind == "parked_car"])
    assert pa.shape == pb.shape
    d = np.linalg.norm(pa - pb, axis=1)
    assert np.all(d > 0) and np.all(d < 6 * cfg.scene.jitter_std_m * np.sqrt(2))
    assert len(np.unique(np.round(pa[:, 0], 6))) <= 2        # unjittered: two straight rows
    assert len(np.unique(np.round(pb[:, 0], 6))) == len(pb)  # jittered: every car off the row line


def test_car_family(tmp_path):
    models = [car_model(i) for i in range(10)]
    sizes = {m.size for m in models}
    assert len(sizes) >= 8 and len({m.name for m in models}) == 10
    for i, m in enumerate(models[:8]):
        v = np.concatenate([p[0] for p in m.parts])
        L, W, H = m.size
        assert np.allclose(v.min(axis=0), [-L / 2, -W / 2, 0.0], atol=1e-5)
        assert np.allclose(v.max(axis=0), [L / 2, W / 2, H], atol=1e-5)
        assert {p[2] for p in m.parts} == {"body", "glass", "wheel"}
        parts, hull = write_car_meshes(tmp_path, i)
        parts2, hull2 = write_car_meshes(tmp_path, i)
        assert hull == hull2 and parts == parts2 and hull.exists()
        assert hull.read_bytes().startswith(b"ply\nformat binary_little_endian")
    assert car_model(N_BASE_MODELS + 3).size[0] > car_model(3).size[0]  # stretched variants beyond the base set


def _segment_hits_box(p0, p1, lo, hi) -> bool:
    """Slab test: does the segment p0->p1 pass through the axis-aligned box [lo, hi]?"""
    d = p1 - p0
    t0, t1 = 0.0, 1.0
    for k in range(3):
        if abs(d[k]) < 1e-12:
            if p0[k] < lo[k] or p0[k] > hi[k]:
                return False
            continue
        a, b = sorted(((lo[k] - p0[k]) / d[k], (hi[k] - p0[k]) / d[k]))
        t0, t1 = max(t0, a), min(t1, b)
        if t0 > t1:
            return False
    return True


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_target_visible_at_frame0(scenario, tmp_path):
    cfg = resolve_synth_config("quick", scenario=scenario)
    for seed in range(5):
        w = build_world(cfg, np.random.default_rng(seed), tmp_path)
        tgt = w.target_point(0)
        for b in w.bodies:
            if b.kind in ("ground", "target"):
                continue
            c = b.box_corners(0)  # yaws are multiples of pi/2 here, so the AABB is the box
            assert not _segment_hits_box(w.radar_position, tgt, c.min(axis=0), c.max(axis=0)), (scenario, seed, b.name)
            # and the target never drives through anything (its footprint may be at any heading)
            foot = np.stack([w.target_body.box_corners(f)[[0, 2, 6, 4], :2] for f in range(w.n_frames)])
            assert not boxes_overlap(foot, c.min(axis=0), c.max(axis=0), margin=0.0).any(), (scenario, seed, b.name)


def test_mix_cycles_its_scenarios(tmp_path):
    from radiovisual.errors import ConfigError
    from radiovisual.scene.layouts import scenario_of

    cfg = resolve_synth_config("smoke", scenario="mix")
    assert [scenario_of(cfg, k) for k in range(4)] == ["parking_lot", "suburban", "street_canyon", "parking_lot"]
    two = resolve_synth_config("smoke", scenario="mix", overrides=["scene.mix_scenarios=[street_canyon,suburban]"])
    assert [scenario_of(two, k) for k in range(3)] == ["street_canyon", "suburban", "street_canyon"]
    w = build_world(two, np.random.default_rng(0), tmp_path, sequence=1)
    assert w.scenario == "suburban"
    with pytest.raises(ConfigError, match="mix_scenarios"):
        resolve_synth_config("smoke", scenario="mix", overrides=["scene.mix_scenarios=[moon]"])
