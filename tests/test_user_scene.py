"""The user's own scene (scene.user, docs/scenes.md): the shipped mini scene through `synth --scene --tracks` with
the real sensors, labels that follow the tracks file, one-line errors for bad files, and the doc's code."""

from __future__ import annotations

import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from radiovisual.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "examples" / "scenes" / "mini"
DOC = ROOT / "docs" / "scenes.md"
ENV = {**os.environ, "OMP_NUM_THREADS": "2"}


def doc_bash_lines() -> list[list[str]]:
    block = re.findall(r"^```bash\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)[0]
    return [shlex.split(ln) for ln in block.strip().splitlines()]


def cli(args: list[str], cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "radiovisual.cli.main", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The doc's command (`radiovisual synth --preset smoke --scene ... --tracks ...`), as 3 samples."""
    pytest.importorskip("sionna.rt")
    out = tmp_path_factory.mktemp("user") / "mystore"
    synth = doc_bash_lines()[0]
    assert synth[:2] == ["radiovisual", "synth"] and "--scene" in synth and "--tracks" in synth
    args = [str(out) if a == "/tmp/mystore" else a for a in synth[1:]] + ["--n", "3", "--no-progress"]
    r = cli(args)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def polar(p, radar) -> np.ndarray:
    d = np.asarray(p, float) - np.asarray(radar, float)
    r = np.linalg.norm(d)
    return np.array([r, np.arcsin(-d[1] / r)])


def test_mini_scene_labels_follow_the_tracks_and_the_radar_sees_them(store):
    from radiovisual.dataset.format import open_dataset
    from radiovisual.scene.cars import car_model
    from radiovisual.scene.user import scene_provenance

    tracks = yaml.safe_load((MINI / "tracks.yaml").read_text())
    radar = tracks["radar"]["position"]
    car, ped = tracks["objects"]
    dt, H_car = 0.2, car_model(car["model"]).size[2]
    ds = open_dataset(store)
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    assert ds.attrs["user_scene"] == scene_provenance("examples/scenes/mini/mini.xml",
                                                      "examples/scenes/mini/tracks.yaml")
    assert ds.attrs["config"]["scene"]["scene_file"] == "examples/scenes/mini/mini.xml"
    h_ped = _ped_height(store)
    radars = []
    for split in ("train", "val", "test"):
        sv = ds.split(split)
        tp, objs, frame = sv.read("target_polar"), sv.read("objects"), sv.read("frame")
        rad, vel, inst = sv.read("radar"), sv.read("velocity"), sv.read("instance_mask")
        assert objs.shape[1:] == (2, 13) and objs[:, :, 2].tolist() == [[2, 0]] * len(tp)   # car, pedestrian
        assert (sv.read("scenario_id") == -1).all()
        radars.append(rad[0])
        for i, f in enumerate(frame):
            # the car drives the YAML polyline from its first waypoint at speed_mps (+y here)
            x0, y0 = car["waypoints"][0]
            want = polar([x0, y0 + car["speed_mps"] * dt * f, H_car / 2], radar)
            np.testing.assert_allclose(tp[i], want, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(vel[i], [-car["speed_mps"], 0.0], atol=1e-5)   # radar frame: to the left
            # the pedestrian walks its CTRV track (heading -90 deg: towards -y)
            sx, sy = ped["start"]
            want = polar([sx, sy - ped["speed_mps"] * dt * f, h_ped / 2], radar)
            np.testing.assert_allclose(objs[i, 1, :2], want, rtol=1e-5, atol=1e-5)
            for k in range(2):   # a return within one cell of each road user, 10 dB over the map's median
                r, a = np.argmin(abs(rb - objs[i, k, 0])), np.argmin(abs(ab - objs[i, k, 1]))
                assert rad[i, max(r - 1, 0):r + 2, max(a - 1, 0):a + 2].max() > np.median(rad[i]) + 10.0
                assert objs[i, k, 8] == 1.0 and (inst[i] == k + 1).any()   # both seen by the camera
    # one fixed world, repeated captures: the same labels, independent radar noise
    assert not np.array_equal(radars[0], radars[1])


def _ped_height(store) -> float:
    """Height of the shipped pedestrian (model 1: its index) from the World the store was made of."""
    from radiovisual.dataset.config import resolve_synth_config
    from radiovisual.scene.user import build_user_world

    cfg = resolve_synth_config("smoke", overrides=[f"scene.scene_file={MINI / 'mini.xml'}",
                                                   f"scene.tracks_file={MINI / 'tracks.yaml'}"])
    return build_user_world(cfg, np.random.default_rng(0), store.parent / "cache").movers[1].size[2]


def test_doc_info_and_show_commands_run(store, tmp_path):
    for cmd in doc_bash_lines()[1:]:
        assert cmd[0] == "radiovisual" and cmd[1] in ("info", "show")
        args = [str(store) if a == "/tmp/mystore" else str(tmp_path / "val0.png") if a.endswith(".png") else a
                for a in cmd[1:]]
        r = cli(args)
        assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "val0.png").stat().st_size > 10_000


def _edit(src: Path, dst: Path, old: str, new: str) -> Path:
    text = src.read_text()
    assert old in text, old
    dst.write_text(text.replace(old, new, 1))
    return dst


BAD = {   # case -> (file edited, old, new, words the one line must hold)
    "malformed_xml": ("mini.xml", "</scene>", "</scen>", ["not well-formed XML"]),
    "missing_ply": ("mini.xml", "meshes/pole.ply", "meshes/lamp.ply", ["meshes/lamp.ply", "not found"]),
    "unknown_material": ("mini.xml", '"metal"', '"marble"', ["marble", "itu_concrete, itu_brick"]),
    "bad_class": ("tracks.yaml", "class: pedestrian", "class: truck", ["objects[1].class 'truck'"]),
    "one_waypoint": ("tracks.yaml", "[[9.0, -6.0], [9.0, 6.0]]", "[[9.0, -6.0]]", ["at least 2 points"]),
    "negative_speed": ("tracks.yaml", "speed_mps: 1.4", "speed_mps: -1.4", ["objects[1].speed_mps", ">= 0"]),
    "missing_key": ("tracks.yaml", "    speed_mps: 4.0", "", ["objects[0]", "missing key 'speed_mps'"]),
    "radar_yaw": ("tracks.yaml", "[13.2, 0.0, 0.0]", "[13.2, 3.0, 0.0]", ["radar.look_at", "downtilt"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_file_is_one_line_naming_it_and_no_store(case, tmp_path, capsys):
    from radiovisual.cli.main import main

    shutil.copytree(MINI, tmp_path / "mini")
    name, old, new, words = BAD[case]
    bad = _edit(MINI / name, tmp_path / "mini" / f"bad_{name}", old, new)
    xml = bad if name == "mini.xml" else tmp_path / "mini" / "mini.xml"
    tracks = bad if name == "tracks.yaml" else tmp_path / "mini" / "tracks.yaml"
    out = tmp_path / "store"
    rc = main(["synth", "--preset", "smoke", "--n", "3", "--scene", str(xml), "--tracks", str(tracks),
               "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and not out.exists()
    assert len(err) == 1 and err[0].startswith("radiovisual: error: ") and bad.name in err[0], err
    assert all(w in err[0] for w in words), err[0]


def test_scene_file_parts_materials_colours_and_transforms(tmp_path):
    from radiovisual.scene.layouts import MATERIAL_RGB
    from radiovisual.scene.user import SUPPORTED_MATERIALS, load_scene_xml, parse_scene_xml

    bodies = {b.name: b for b in load_scene_xml(MINI / "mini.xml", tmp_path)}
    assert list(bodies) == ["scene:ground", "scene:brick_building", "scene:glass_building", "scene:pole"]
    brick, glass, ground = bodies["scene:brick_building"], bodies["scene:glass_building"], bodies["scene:ground"]
    assert brick.parts[0].radio_material == "itu_brick" and brick.parts[0].color == (0.45, 0.15, 0.08)   # "color"
    assert glass.parts[0].radio_material == "itu_glass" and glass.parts[0].color == (0.10, 0.16, 0.22)   # by id
    assert ground.parts[0].color == MATERIAL_RGB["itu_concrete"]                                      # default
    # world-coordinate meshes become bodies posed at their footprint: the brick box spans x 18..26, y 7..15
    np.testing.assert_allclose(brick.box_corners(0).min(0), [18, 7, 0], atol=1e-5)
    np.testing.assert_allclose(brick.box_corners(0).max(0), [26, 15, 8], atol=1e-5)
    np.testing.assert_allclose(ground.box_corners(0)[:, 2].min(), -0.1, atol=1e-6)
    try:
        from radiovisual.sensors.sionna_radar import RADAR_MATERIALS
    except ImportError:
        RADAR_MATERIALS = SUPPORTED_MATERIALS
    assert SUPPORTED_MATERIALS == RADAR_MATERIALS   # every material accepted here is one the radar models
    # an ascii PLY of quads, translated then rotated 90 deg about z by a to_world transform
    (tmp_path / "q.ply").write_text("ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\n"
                                    "property float z\nproperty float nx\nelement face 1\n"
                                    "property list uchar int vertex_indices\nend_header\n"
                                    "0 0 0 9\n1 0 0 9\n1 1 0 9\n0 1 0 9\n4 0 1 2 3\n")
    (tmp_path / "t.xml").write_text(
        '<scene version="3.0.0"><bsdf type="twosided" id="mat-itu_wood"><bsdf type="diffuse"/></bsdf>'
        '<shape type="ply" id="q"><string name="filename" value="q.ply"/><ref id="mat-itu_wood"/>'
        '<transform name="to_world"><translate x="2"/><rotate z="1" angle="90"/></transform></shape></scene>')
    (b,) = load_scene_xml(tmp_path / "t.xml", tmp_path / "cache")
    assert b.parts[0].radio_material == "itu_wood"
    np.testing.assert_allclose(b.box_corners(0).min(0), [-1, 2, 0], atol=1e-6)   # (2..3, 0..1) -> (-1..0, 2..3)
    # Sionna RT's own sample scenes parse (those in the five materials), or name the material they lack
    scenes = Path(pytest.importorskip("sionna.rt").__file__).parent / "scenes"
    assert len(parse_scene_xml(scenes / "box" / "box.xml")) == 1
    with pytest.raises(ConfigError, match="simple_street_canyon.xml: shape .* 'marble'"):
        parse_scene_xml(scenes / "simple_street_canyon" / "simple_street_canyon.xml")


def test_tracks_are_sampled_at_constant_speed():
    from radiovisual.scene.motion import ctrv_track
    from radiovisual.scene.user import object_track

    # an L-shaped polyline (4 m along +x, then 2 m along +y) at 2 m/s, 0.5 s frames: 1 m per frame
    tr = object_track({"waypoints": [[0, 0], [4, 0], [4, 2]], "speed_mps": 2.0}, 9, 0.5)
    np.testing.assert_allclose(tr.positions[:7], [[0, 0], [1, 0], [2, 0], [3, 0], [4, 0], [4, 1], [4, 2]])
    np.testing.assert_allclose(tr.positions[7:], [[4, 2], [4, 2]])      # it stops at the last waypoint
    np.testing.assert_allclose(tr.yaws[[0, 3, 5]], [0, 0, np.pi / 2])   # facing along its segment
    np.testing.assert_allclose(tr.velocities[[0, 5, 6, 8]], [[2, 0], [0, 2], [0, 0], [0, 0]])
    ct = object_track({"start": [1, 2], "heading_deg": 30.0, "yaw_rate_dps": 20.0, "speed_mps": 3.0}, 5, 0.2)
    pos, yaw, vel = ctrv_track((1, 2), np.deg2rad(30), 3.0, np.deg2rad(20), 5, 0.2)
    np.testing.assert_allclose(ct.positions, pos)
    np.testing.assert_allclose(ct.yaws, yaw)
    np.testing.assert_allclose(ct.velocities, vel)


def test_config_keys_fingerprint_and_the_tracks_files_timing(tmp_path):
    from radiovisual.config import fingerprint
    from radiovisual.dataset.config import resolve_synth_config

    from radiovisual.config import _fingerprint_dict

    plain = resolve_synth_config("smoke")   # the new keys stay out of existing configs' fingerprints
    assert not {"scene_file", "tracks_file", "scene_sha256"} & set(_fingerprint_dict(plain)["scene"])
    shutil.copytree(MINI, tmp_path / "mini")
    xml, tracks = tmp_path / "mini" / "mini.xml", tmp_path / "mini" / "tracks.yaml"
    keys = [f"scene.scene_file={xml}", f"scene.tracks_file={tracks}"]
    a = resolve_synth_config("smoke", overrides=keys)
    assert a.scene.n_frames == 3 and len(a.scene.scene_sha256) == 64
    tracks.write_text(tracks.read_text().replace("# frames: 15", "frames: 5").replace("offset: [0.0, 0.0, 0.15]",
                                                                                     "offset: [0.0, 0.0, 0.3]"))
    b = resolve_synth_config("smoke", overrides=keys)
    assert (b.scene.n_frames, b.camera.offset_m) == (5, (0.0, 0.0, 0.3))         # the tracks file sets them
    assert b.scene.scene_sha256 != a.scene.scene_sha256 and fingerprint(b) != fingerprint(a)
    assert resolve_synth_config("smoke", overrides=keys + ["scene.n_frames=4"]).scene.n_frames == 4  # --set wins
    (tmp_path / "mini" / "meshes" / "pole.ply").write_bytes((MINI / "meshes" / "ground.ply").read_bytes())
    assert resolve_synth_config("smoke", overrides=keys).scene.scene_sha256 != b.scene.scene_sha256   # meshes too
    with pytest.raises(ConfigError, match="give both"):
        resolve_synth_config("smoke", overrides=keys[:1])
    with pytest.raises(ConfigError, match="scene.objects does not apply"):
        resolve_synth_config("smoke", overrides=keys + ["scene.objects=car:1"])


def test_shipped_example_is_small_and_make_mini_rebuilds_its_meshes(tmp_path):
    from radiovisual.scene.meshes import box, write_ply

    assert sum(p.stat().st_size for p in MINI.rglob("*") if p.is_file()) < 100_000
    boxes = runpy.run_path(str(MINI / "make_mini.py"), run_name="not_main")["BOXES"]
    for name, (L, W, H, centre, z0) in boxes.items():
        mine = write_ply(tmp_path / f"{name}.ply", *box(L, W, H, z0=z0, center_xy=centre))
        assert mine.read_bytes() == (MINI / "meshes" / f"{name}.ply").read_bytes(), name


def test_docs_python_blocks_run(tmp_path, capsys, monkeypatch):
    """docs/scenes.md's ```python blocks, in order, in one namespace, from a directory holding `examples`."""
    pytest.importorskip("sionna.rt")
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)
    assert len(blocks) == 2
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": "__docs__"}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{DOC.name}[block {i}]", "exec"), ns)
    world, hand, heat, frames = ns["world"], ns["hand"], ns["heatmaps"], ns["frames"]
    assert [b.name for b in world.movers] == ["target", "pedestrian_01"] and world.scenario == "user"
    T = hand.n_frames
    assert heat.shape[0] == T and np.isfinite(heat).all() and frames["image"].shape[0] == T
    assert (frames["mask"].sum(axis=(1, 2)) > 0).all()   # the hand-made van is seen, and masked, every frame
    assert "scene:ground" in capsys.readouterr().out
