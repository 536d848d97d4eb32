"""The ``intersection`` scenario: a four-way or T junction with zebra crossings, corner buildings and road users."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from radiovisual.dataset.config import SCENARIOS, resolve_synth_config
from radiovisual.scene.layouts import (MIX_SCENARIOS, PAINTS, SCENARIO_MOTIONS, SCENARIOS_EXTRA, build_world,
                                       scenario_of)
from radiovisual.scene.meshes import read_ply
from radiovisual.scene.motion import boxes_overlap, footprint_corners
from radiovisual.scene.objects import class_size_speed, footprints_overlap, mover_corners
from radiovisual.scene.world import world_to_radar_polar

OBJS = "scene.objects=car:2,pedestrian:2,cyclist:1"
ITU_WALLS = {"itu_concrete", "itu_brick", "itu_glass", "itu_metal", "itu_wood"}


def _inside(pts, rects, tol: float = 1e-9) -> np.ndarray:
    pts = np.asarray(pts, np.float64)
    ok = np.zeros(pts.shape[:-1], bool)
    for x0, x1, y0, y1 in rects:
        ok |= (pts[..., 0] >= x0 - tol) & (pts[..., 0] <= x1 + tol) & (pts[..., 1] >= y0 - tol) \
            & (pts[..., 1] <= y1 + tol)
    return ok


def _worlds(preset, tmp_path, seeds=range(6)):
    cfg = resolve_synth_config(preset, scenario="intersection", overrides=[OBJS])
    return cfg, [build_world(cfg, np.random.default_rng(s), tmp_path) for s in seeds]


@pytest.mark.parametrize("preset", ["smoke", "quick"])
def test_road_users_keep_to_their_areas_and_clear_of_everything(preset, tmp_path):
    cfg, worlds = _worlds(preset, tmp_path)
    walked = []
    for w in worlds:
        assert w.scenario == "intersection"
        geo = w.meta["intersection"]
        assert geo["kind"] in ("four_way", "t") and "near" in geo["crossings"]
        movers = w.movers
        assert [m.name for m in movers][0] == "target" and len(movers) >= 3
        assert {m.object_class for m in movers} >= {"car", "pedestrian"}
        buildings = [b for b in w.bodies if b.kind == "building"]
        statics = [b for b in w.bodies if b.kind not in ("ground",) and b.name not in w.objects]
        assert buildings and {p.radio_material for b in buildings for p in b.parts} <= ITU_WALLS
        for m in movers:
            c = mover_corners(m)
            assert c.shape == (w.n_frames, 4, 2)
            for b in statics:   # clear of every building, parked car, traffic light and the mast
                bc = b.box_corners(0)
                assert not boxes_overlap(c, bc.min(0), bc.max(0), margin=0.0).any(), (m.name, b.name)
            # the area holds the footprint the track was drawn for (objects.class_size_speed: a person's is the
            # class's model 0, a few cm off the person's own)
            (L, W, _), _ = class_size_speed(cfg, m.object_class, m.size)
            foot = footprint_corners(m.positions[:, :2], m.yaws, L, W)
            if m.object_class == "pedestrian":   # on a sidewalk or a zebra crossing, every frame
                assert _inside(foot, geo["walks"]).all(), m.name
                walked.append(_inside(m.positions[:, :2], list(geo["crossings"].values())).mean())
            else:                                 # cars and cyclists on the carriageways
                assert _inside(foot, geo["roads"]).all(), m.name
        for i in range(len(movers)):   # road users never overlap one another
            for j in range(i + 1, len(movers)):
                assert not footprints_overlap(mover_corners(movers[i]), mover_corners(movers[j]), margin=0.0), \
                    (movers[i].name, movers[j].name)
        # the primary target stays in the radar and camera window
        pts = np.array([w.target_point(f) for f in range(w.n_frames)])
        pol = world_to_radar_polar(pts, w.radar_position)
        assert np.all(pol[:, 0] > cfg.radio.range_min_m) and np.all(pol[:, 0] < cfg.radio.range_max_m)
        assert np.all(np.abs(pol[:, 1]) < np.deg2rad(min(cfg.radio.azimuth_fov_deg, cfg.camera.hfov_deg) / 2))
        # parked cars keep off the crossings and out of the junction box
        box = (geo["centre_x_m"] - geo["cross_half_width_m"], geo["centre_x_m"] + geo["cross_half_width_m"],
               -geo["main_half_width_m"], geo["main_half_width_m"])
        for b in (b for b in w.bodies if b.kind == "parked_car"):
            bc = b.box_corners(0)
            lo, hi = bc.min(0), bc.max(0)
            for x0, x1, y0, y1 in [box, *geo["crossings"].values()]:
                assert hi[0] < x0 or lo[0] > x1 or hi[1] < y0 or lo[1] > y1, b.name
    assert walked and max(walked) > 0   # some pedestrian is on a zebra crossing


def test_zebra_crossings_are_white_stripes_on_the_ground(tmp_path):
    _, worlds = _worlds("smoke", tmp_path, seeds=range(3))
    for w in worlds:
        ground = [b for b in w.bodies if b.kind == "ground"]
        assert len(ground) == 1 and len(ground[0].parts) == 2   # the slab and its stripes: no obstacle to anyone
        stripes = ground[0].parts[1]
        assert stripes.radio_material == "itu_concrete" and min(stripes.color) > 0.7
        # the white paint's colour: a BSDF the camera already groups (no new render kernel per scene)
        assert tuple(stripes.color) == tuple(float(c) for c in PAINTS[0])
        v, f = read_ply(stripes.mesh)
        assert np.isclose(v[:, 2].min(), 0.0) and np.isclose(v[:, 2].max(), 0.01, atol=1e-6)
        crossings = list(w.meta["intersection"]["crossings"].values())
        assert len(crossings) >= 2 and _inside(v[:, :2], crossings, tol=1e-5).all()
        assert len(f) // 12 >= 3 * len(crossings)   # a few stripes (12 triangles each) per crossing


def test_junction_kinds_and_target_motions(tmp_path):
    cfg = resolve_synth_config("quick", scenario="intersection")
    kinds, motions, materials, lights = Counter(), Counter(), set(), []
    for seed in range(20):
        w = build_world(cfg, np.random.default_rng(seed), tmp_path)
        kinds[w.meta["intersection"]["kind"]] += 1
        motions[w.meta["target_motion"]] += 1
        materials |= {b.parts[0].radio_material for b in w.bodies if b.kind == "building"}
        lights.append(sum(b.name.startswith("traffic_light") for b in w.bodies))
        assert w.meta["n_parked"] >= 1   # parked cars along some kerbs, in view
    assert set(kinds) == {"four_way", "t"}
    assert motions["turning"] >= 3 and motions["approaching"] + motions["receding"] >= 3
    assert set(motions) <= {k for k, _ in SCENARIO_MOTIONS["intersection"]} | {"diagonal"}
    assert len(materials) >= 4 and materials <= ITU_WALLS
    assert min(lights) >= 1


def test_scenario_lists_keep_existing_seeds():
    from radiovisual.dataset.synthesis.generate import scenario_index, sequence_seed_sequence

    # appended after "mix": SCENARIOS.index of every existing scenario (the sequence seeds) is unchanged
    assert SCENARIOS[:4] == ("parking_lot", "suburban", "street_canyon", "mix") and SCENARIOS_EXTRA == ("intersection",)
    assert SCENARIOS[4] == "intersection" and MIX_SCENARIOS == ("parking_lot", "suburban", "street_canyon")
    cfg = resolve_synth_config("smoke", scenario="street_canyon")
    assert sequence_seed_sequence(cfg, "val", 3).entropy == [0, 2, 1, 3]
    assert [scenario_index(s) for s in ("parking_lot", "suburban", "street_canyon", "intersection", "x")] == \
        [0, 1, 2, 3, -1]
    # the default mix is the original three; the intersection joins a mix when listed
    mix = resolve_synth_config("smoke", scenario="mix")
    assert [scenario_of(mix, k) for k in range(4)] == ["parking_lot", "suburban", "street_canyon", "parking_lot"]
    four = resolve_synth_config("smoke", scenario="mix",
                                overrides=["scene.mix_scenarios=[parking_lot,suburban,street_canyon,intersection]"])
    assert scenario_of(four, 3) == "intersection"


def test_smoke_synth_of_the_intersection(tmp_path):
    pytest.importorskip("sionna.rt")
    from radiovisual.dataset.format import open_dataset

    out = tmp_path / "int"
    r = subprocess.run([sys.executable, "-m", "radiovisual.cli.main", "synth", "--preset", "smoke", "--scenario",
                        "intersection", "--n", "3", "--seed", "1", "--set", "scene.objects=car:1,pedestrian:1",
                        "--out", str(out), "--no-progress"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    ds = open_dataset(out)
    for split in ("train", "val", "test"):
        sv = ds.split(split)
        assert (sv.read("scenario_id") == 3).all()
        objs = sv.read("objects")
        assert objs.shape[1] == 2 and sorted(objs[0, :, 2].astype(int).tolist()) == [0, 2]   # a pedestrian, a car
        assert sv.read("mask").any(axis=(1, 2)).all()        # the target car is in the picture
        assert np.isfinite(sv.read("radar")).all()
