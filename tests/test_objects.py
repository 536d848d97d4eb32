"""Several road users of three classes and weather, through the real sensors (Sionna RT, Mitsuba) and store."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from radiovisual.dataset.config import resolve_synth_config
from radiovisual.errors import ConfigError

OBJS = "scene.objects=car:1,pedestrian:1,cyclist:1"


def test_specs_are_validated():
    from radiovisual.scene.objects import object_counts, parse_objects, parse_weather

    assert parse_objects(("car:1", "pedestrian:0-3")) == [("car", 1, 1), ("pedestrian", 0, 3)]
    kinds, p = parse_weather(("clear:2", "fog:2"))
    assert kinds == ("clear", "fog") and np.allclose(p, [0.5, 0.5])
    for bad in (["scene.objects=truck:1"], ["scene.objects=car:x"], ["scene.objects=pedestrian:0,car:1"],
                ["scene.objects=car:3-1"], ["scene.weather=snow:1"], ["scene.rain_mm_h=5,1"]):
        with pytest.raises(ConfigError):
            resolve_synth_config("smoke", overrides=bad)
    # () draws nothing: the v0.2 world (one car), the RNG untouched
    cfg = resolve_synth_config("smoke")
    rng = np.random.default_rng(0)
    assert object_counts(cfg, rng) == ["car"] and rng.random() == np.random.default_rng(0).random()


def test_bad_objects_spec_is_one_line_and_no_store(tmp_path):
    out = tmp_path / "s"
    r = subprocess.run([sys.executable, "-m", "radiovisual.cli.main", "synth", "--preset", "smoke", "--n", "3",
                        "--set", "scene.objects=truck:2", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode != 0 and not out.exists()
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "truck" in lines[0]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    pytest.importorskip("sionna.rt")
    from radiovisual.dataset.synth import synthesise

    cfg = resolve_synth_config("smoke", scenario="street_canyon", seed=5, n=3, overrides=[OBJS])
    out = tmp_path_factory.mktemp("mo") / "store"
    synthesise(cfg, out, progress=False)
    return cfg, out


def test_every_object_is_labelled_on_a_radar_return_and_in_its_mask(store):
    from radiovisual.dataset.format import open_dataset
    from radiovisual.dataset.synthesis.generate import SequenceGenerator
    from radiovisual.sensors import camera_model as cm

    cfg, out = store
    ds = open_dataset(out)
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    gen = SequenceGenerator(cfg, out.parent / "cache", radar=object(), camera=object())
    checked = 0
    for split in ("train", "val"):
        sv = ds.split(split)
        radar, objs, inst = sv.read("radar"), sv.read("objects"), sv.read("instance_mask")
        seq, frame, mask = sv.read("sequence"), sv.read("frame"), sv.read("mask")
        assert objs.shape[1:] == (3, 13) and np.array_equal(inst == 1, mask)
        for i in range(len(radar)):
            assert sorted(objs[i, :, 2].astype(int).tolist()) == [0, 1, 2]   # one per class, every frame
            world, _, _ = gen.world(split, int(seq[i]))
            for k, o in enumerate(objs[i]):
                # a return within one resolution cell: 10 dB over the map's median
                r, a = np.argmin(abs(rb - o[0])), np.argmin(abs(ab - o[1]))
                assert radar[i, max(r - 1, 0):r + 2, max(a - 1, 0):a + 2].max() > np.median(radar[i]) + 10.0
                cols = np.nonzero((inst[i] == k + 1).any(0))[0]
                assert bool(o[8]) == (len(cols) > 0)
                if len(cols):
                    pt = cm.world_to_radar(world.centre_point(world.movers[k], int(frame[i]))[None],
                                           world.radar_position)
                    u = cm.project_points(pt, ds.attrs["camera"])[0, 0]
                    assert cols.min() - 1 <= u <= cols.max() + 2, (split, i, k)
                    assert (o[9], o[11]) == (cols.min(), cols.max() + 1)
                    checked += 1
    assert checked >= 6


def test_occluded_road_user_is_flagged_not_visible(tmp_path):
    pytest.importorskip("mitsuba")
    from radiovisual.dataset.synthesis.generate import object_labels
    from radiovisual.scene.layouts import _car
    from radiovisual.scene.motion import Track
    from radiovisual.scene.objects import person_body
    from radiovisual.scene.world import World
    from radiovisual.sensors.camera import CameraRig

    cfg = resolve_synth_config("smoke")
    T, dt = 2, 0.2
    radar = np.array([0.0, 0.0, 4.0])
    cam = radar + np.asarray(cfg.camera.offset_m)
    van = _car("target", "target", tmp_path, 3, (0.8, 0.8, 0.8), np.array([[7.0, 0.0]] * T), 0.0)
    van.object_class = "car"
    # a pedestrian 3 m behind the van, on the camera's line of sight through its middle
    tr = Track("receding", np.array([[11.0, 0.0], [11.0, 0.0]]), np.zeros(T), np.zeros((T, 2)), 0.0, 0.0)
    ped, _ = person_body("pedestrian_01", "pedestrian", tmp_path, np.random.default_rng(1), tr, dt)
    ped.scatterers = None
    world = World("test", [van, ped], "target", T, dt, radar, np.array([15.0, 0.0, 0.0]), cam,
                  np.array([15.0, 0.0, 0.0]) + np.asarray(cfg.camera.offset_m), objects=("target", "pedestrian_01"))
    out = CameraRig(cfg).render(world, seed=3)
    objs = object_labels(world, out["instance"], 2)
    assert objs[:, 0, 8].tolist() == [1.0, 1.0] and objs[:, 1, 8].tolist() == [0.0, 0.0]
    assert np.isnan(objs[:, 1, 9:]).all()


@pytest.fixture(scope="module")
def radar77(tmp_path_factory):
    """A smoke world at 77 GHz (rain attenuation there is large enough to measure in a 20 m window)."""
    pytest.importorskip("sionna.rt")
    from radiovisual.scene.layouts import build_world
    from radiovisual.sensors.sionna_radar import RadarSimulator

    cfg = resolve_synth_config("smoke", scenario="suburban", overrides=["radio.carrier_hz=77e9", "scene.n_frames=2"])
    cache = tmp_path_factory.mktemp("w77")
    # the first scene whose target stays beyond 14 m: a two-way path long enough for rain to cost > 0.4 dB
    for seed in range(100):
        world = build_world(cfg, np.random.default_rng(seed), cache)
        if min(np.linalg.norm(world.target_point(f) - world.radar_position) for f in range(2)) > 14.0:
            break
    return cfg, world, RadarSimulator(cfg)


@pytest.mark.parametrize("weather", [{"kind": "rain", "rain_mm_h": 50.0, "fog_lwc_g_m3": 0.0},
                                     {"kind": "fog", "rain_mm_h": 0.0, "fog_lwc_g_m3": 0.5}])
def test_weather_lowers_the_target_peak_by_the_two_way_attenuation(radar77, weather):
    from radiovisual.dataset.store.format import polar_to_bins
    from radiovisual.scene.world import world_to_radar_polar
    from radiovisual.sensors import radar as rp
    from radiovisual.sensors.weather import Weather

    cfg, world, sim = radar77
    clear = sim.simulate(replace(world, meta={**world.meta, "weather": {"kind": "clear"}}), seed=4)["radar"]
    wet = sim.simulate(replace(world, meta={**world.meta, "weather": weather}), seed=4)["radar"]
    gamma = Weather(**weather).radio_db_per_km(77e9)
    for f in range(world.n_frames):
        polar = world_to_radar_polar(world.target_point(f)[None], world.radar_position)
        r, a = np.round(polar_to_bins(polar, rp.range_bins_m(cfg.radio), rp.azimuth_bins_rad(cfg.radio))[0]).astype(int)
        win = (slice(max(r - 1, 0), r + 2), slice(max(a - 1, 0), a + 2))
        drop = clear[f][win].max() - wet[f][win].max()
        assert drop == pytest.approx(gamma * 2 * polar[0, 0] / 1e3, abs=0.2)
    if weather["kind"] == "rain":
        assert gamma * 2 * polar[0, 0] / 1e3 > 0.4   # the check above is not trivially met


def test_camera_fog_follows_koschmieder_on_the_stored_depth(tmp_path):
    pytest.importorskip("mitsuba")
    from radiovisual.scene.layouts import build_world
    from radiovisual.sensors.camera import FOG_AIRLIGHT, CameraRig, ray_length_per_depth
    from radiovisual.sensors.weather import Weather

    cfg = resolve_synth_config("smoke", overrides=["scene.n_frames=1"])
    world = build_world(cfg, np.random.default_rng(2), tmp_path)
    rig = CameraRig(cfg)
    fog = {"kind": "fog", "rain_mm_h": 0.0, "fog_lwc_g_m3": 0.2}
    clear = rig.render(world, seed=1)
    foggy = rig.render(replace(world, meta={**world.meta, "weather": fog}), seed=1)

    def linear(u8):
        x = u8.astype(np.float64) / 255.0
        return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)

    beta = Weather(**fog).camera_beta_per_m()
    d = clear["depth"][0].astype(np.float64) * ray_length_per_depth(np.asarray(rig.attrs(world)["K"]),
                                                                     cfg.camera.width, cfg.camera.height)
    t = np.exp(-beta * d)[..., None]
    want = linear(clear["image"][0]) * t + np.asarray(FOG_AIRLIGHT) * (1 - t)
    unclipped = (clear["image"][0] < 255).all(-1)      # a saturated clear pixel hides its true radiance
    assert unclipped.mean() > 0.8
    assert np.abs(linear(foggy["image"][0]) - want)[unclipped].max() < 0.01   # 8-bit quantisation, both images
    assert np.array_equal(foggy["depth"], clear["depth"]) and (t < 0.9).mean() > 0.3   # the fog is visible


def test_walker_limbs_show_micro_doppler(tmp_path):
    """A pedestrian walking away: next to the torso's Doppler, on its fastest limb's side, the range-Doppler
    map holds >= 10 dB more power with the limb scatterers than with the torso alone (micro-Doppler that
    TR 38.901's single-point human lacks)."""
    pytest.importorskip("sionna.rt")
    from radiovisual.scene.layouts import _ground
    from radiovisual.scene.motion import Track, ctrv_track
    from radiovisual.scene.objects import person_body
    from radiovisual.scene.world import World
    from radiovisual.sensors import radar as rp
    from radiovisual.sensors.sionna_radar import RadarSimulator

    cfg = resolve_synth_config("quick", overrides=["scene.n_frames=3"])
    T, dt = 3, 0.2
    track = Track("receding", *ctrv_track((7.0, 1.0), 0.0, 1.5, 0.0, T, dt), 1.5, 0.0)
    ped, _ = person_body("target", "pedestrian", tmp_path, np.random.default_rng(0), track, dt)
    radar = np.array([0.0, 0.0, 4.0])
    look = np.array([15.0, 0.0, 0.0])
    ground = _ground(tmp_path, -5.0, 40.0, 30.0, "itu_concrete")
    sim = RadarSimulator(cfg)
    rb, db = rp.range_bins_m(cfg.radio), rp.doppler_bins_mps(cfg.radio)
    maps = {}
    for limbs in (True, False):
        body = ped if limbs else replace(ped, scatterers=None)
        world = World("t", [ground, body], "target", T, dt, radar, look, radar, look, objects=("target",))
        maps[limbs] = sim.simulate(world, seed=1)["range_doppler"]
    sc = ped.scatterers

    def radial(f):      # limbs' and torso's radial velocities [m/s] at frame f (+ approaching)
        u = sc["points"][f] - radar
        c = World.centre_point(ped, f) - radar
        return (-(sc["velocities"][f] * u / np.linalg.norm(u, axis=1, keepdims=True)).sum(1),
                -float(ped.velocities[f] @ c) / np.linalg.norm(c))

    def lead(f):        # how far the fastest limb runs ahead of the torso, away from zero-Doppler clutter
        v, t = radial(f)
        return float(((v - t) * np.sign(t)).max())

    f = max(range(T), key=lead)
    v_rad, torso = radial(f)
    i = int(np.argmin(abs(rb - np.linalg.norm(World.centre_point(ped, f) - radar))))
    fastest = v_rad[np.argmax((v_rad - torso) * np.sign(torso))]
    assert abs(fastest - torso) > 1.2 * (db[1] - db[0])        # the limb leaves the torso's Doppler bin
    # two bins off the torso's, towards the limb: past the torso's Hann main lobe, inside the limb's
    k = int(np.argmin(abs(db - torso))) + 2 * int(np.sign(fastest - torso))
    with_limbs, torso_only = (maps[x][f, i - 3:i + 4, k].max() for x in (True, False))
    assert with_limbs - torso_only > 10.0


def test_show_marks_every_road_user(store, tmp_path):
    from radiovisual.dataset.store.inspect import show

    _, out = store
    png = show(out, "val", 1, tmp_path / "s.png")
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_walker_camera_limbs_follow_the_radar_gait(tmp_path):
    """The camera mesh's left foot sits where the radar's left shin scatterer says the leg points (same gait)."""
    from radiovisual.scene.motion import Track, ctrv_track
    from radiovisual.scene.objects import person_body
    from radiovisual.scene.people import pedestrian_model

    T, dt = 8, 0.2
    track = Track("crossing", *ctrv_track((8.0, 3.0), -np.pi / 2, 1.4, 0.0, T, dt), 1.4, 0.0)
    ped, name = person_body("p", "pedestrian", tmp_path, np.random.default_rng(3), track, dt)
    model = pedestrian_model(int(np.random.default_rng(3).integers(0, 1 << 16)))   # person_body's first draw
    assert model.name == name
    local = np.concatenate([v for v, _, _ in model.parts]).astype(np.float64)
    hip = model.rig["hip"]
    sc = ped.scatterers
    feet = []
    for f in range(T):
        v = ped.gait.deform(local, f)
        foot = v[(v[:, 2] < 1e-6) & (v[:, 1] > 0)]                 # the left sole
        feet.append(foot[:, 0].mean() - model.rig["shift"][0])    # from under the hip (centring moved it)
        # the left shin scatterer, in the body frame (x forward along the heading)
        d = sc["points"][f, 0, :2] - ped.positions[f, :2]
        c, s = np.cos(ped.yaws[f]), np.sin(ped.yaws[f])
        x_shin, z_shin = c * d[0] + s * d[1], sc["points"][f, 0, 2]
        assert feet[-1] * (1 - z_shin / hip) == pytest.approx(x_shin, abs=0.005)   # on the leg's axis
    assert np.ptp(feet) > 0.2          # the legs swing: the foot moves relative to the body over the frames
