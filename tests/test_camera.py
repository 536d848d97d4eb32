"""Camera rig: real Mitsuba renders of tiny box worlds checked against the stored pinhole model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from radiovisual.dataset.config import CameraConfig, SynthConfig
from radiovisual.errors import RadiovisualError
from radiovisual.scene.meshes import box, write_ply
from radiovisual.scene.world import Body, Part, World, world_to_radar_polar
from radiovisual.sensors import camera_model as cm

W, H = 96, 72
CAR = (4.4, 1.8, 1.6)  # length, width, height of the target's box [m]


def _cfg(spp: int = 2) -> SynthConfig:
    return replace(SynthConfig(), camera=CameraConfig(width=W, height=H, hfov_deg=90.0, spp=spp))


def _world(tmp, target_xy, yaws=None, building=True) -> World:
    g = write_ply(tmp / "ground.ply", *box(120, 120, 0.1, z0=-0.1))
    lower = write_ply(tmp / "car.ply", *box(CAR[0], CAR[1], 1.1, z0=0.0))
    cab = write_ply(tmp / "cab.ply", *box(2.2, 1.6, 0.5, z0=1.1))
    bld = write_ply(tmp / "bld.ply", *box(10, 6, 8))
    pos = np.array([[x, y, 0.0] for x, y in target_xy])
    yaws = np.zeros(len(pos)) if yaws is None else np.asarray(yaws, float)
    bodies = [
        Body("ground", "ground", [Part(str(g), "itu_concrete", (0.12, 0.12, 0.12))], (120, 120, 0.1),
             np.zeros((1, 3)), np.zeros(1)),
        Body("car0", "target", [Part(str(lower), "itu_metal", (0.8, 0.03, 0.03)),
                                Part(str(cab), "itu_glass", (0.05, 0.05, 0.07))],
             CAR, pos, yaws, radar_target=True),
    ]
    if building:
        bodies.append(Body("bld", "building", [Part(str(bld), "itu_concrete", (0.5, 0.5, 0.5))], (10, 6, 8),
                           np.array([[35.0, 12.0, 0.0]]), np.array([0.3])))
    rp = np.array([0.0, 0.0, 4.0])
    cp = rp + np.array([0.0, 0.0, 0.15])
    return World("test", bodies, "car0", len(pos), 0.2, rp, np.array([25.0, 0.0, 0.0]),
                 cp, np.array([25.0, 0.0, 0.15]))


@pytest.fixture(scope="module")
def rig():
    pytest.importorskip("mitsuba")
    from radiovisual.sensors.camera import CameraRig

    return CameraRig(_cfg())


@pytest.fixture(scope="module")
def sweep(rig, tmp_path_factory):
    """Target crossing from left to right at ~11 m (azimuth -25 deg .. +25 deg)."""
    az = np.deg2rad([-25.0, 0.0, 25.0])
    r = 11.0
    xy = [(r * np.cos(a), -r * np.sin(a)) for a in az]  # world y = -x_right
    world = _world(tmp_path_factory.mktemp("sweep"), xy, yaws=[0.4, 0.0, -0.3])
    return world, rig.render(world, seed=5), rig.attrs(world)


def _iou(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_outputs_shapes_and_types(sweep):
    world, out, attrs = sweep
    T = world.n_frames
    assert out["image"].shape == (T, H, W, 3) and out["image"].dtype == np.uint8
    assert out["mask"].shape == (T, H, W) and out["mask"].dtype == bool
    assert out["depth"].shape == (T, H, W) and out["depth"].dtype == np.float32
    assert out["bbox"].shape == (T, 4) and out["bbox"].dtype == np.float32
    # sky above the horizon: no hit, +inf depth, blue-ish and not white
    assert np.isinf(out["depth"][0, 0]).all()
    sky = out["image"][0, 0].astype(int)
    assert (sky[:, 2] > sky[:, 0] + 30).all() and sky.max() < 250
    assert np.isfinite(out["depth"][0, -1]).all()  # ground at the bottom row
    assert attrs["width"] == W and attrs["height"] == H and "convention" in attrs
    R = np.asarray(attrs["R_cam_from_radar"])
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)


def test_mask_matches_projected_box(sweep):
    world, out, attrs = sweep
    for t in range(world.n_frames):
        corners = cm.world_to_radar(world.target_body.box_corners(t), world.radar_position)
        uv = cm.project_points(corners, attrs)
        # projected corners in continuous px -> inclusive pixel-index box
        proj = np.array([uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()]) - 0.5
        mb = out["bbox"][t]
        assert out["mask"][t].sum() > 20
        assert mb[0] >= proj[0] - 2 and mb[1] >= proj[1] - 2 and mb[2] <= proj[2] + 2 and mb[3] <= proj[3] + 2
        iou = _iou(mb + [0, 0, 1, 1], proj + [0.5, 0.5, 0.5, 0.5])  # both as continuous extents
        assert iou > 0.8, (t, mb, proj, iou)
        # the mask bbox is exactly the mask's extent
        rows, cols = np.nonzero(out["mask"][t])
        np.testing.assert_array_equal(mb, [cols.min(), rows.min(), cols.max(), rows.max()])


def test_left_right_and_column_grows_with_azimuth(sweep):
    world, out, attrs = sweep
    cols = [np.nonzero(m)[1].mean() for m in out["mask"]]
    assert cols[0] < W / 2 - 5 and abs(cols[1] - W / 2) < 5 and cols[2] > W / 2 + 5
    assert cols[0] < cols[1] < cols[2]
    az = [world_to_radar_polar(world.target_point(t), world.radar_position)[1] for t in range(3)]
    assert az[0] < 0 < az[2]  # positive azimuth = right of the image
    u = cm.project_points(cm.world_to_radar(np.array([world.target_point(t) for t in range(3)]),
                                            world.radar_position), attrs)[:, 0]
    np.testing.assert_allclose(u - 0.5, cols, atol=3.0)


def test_rgb_agrees_with_mask(sweep):
    _, out, _ = sweep
    img = out["image"].astype(int)
    red = (img[..., 0] > img[..., 1] + 40) & (img[..., 0] > img[..., 2] + 40)
    for t in range(3):
        inside = red[t][out["mask"][t]].mean()
        outside = red[t][~out["mask"][t]].mean()
        assert inside > 0.4 and outside < 0.01, (t, inside, outside)


def test_depth_is_z_distance(sweep):
    world, out, attrs = sweep
    for t in range(3):
        p = cm.radar_to_camera(cm.world_to_radar(world.target_point(t), world.radar_position)[None], attrs)[0]
        d = out["depth"][t][out["mask"][t]]
        assert np.all(np.isfinite(d))
        assert abs(np.median(d) - p[2]) < max(CAR[:2]), (np.median(d), p[2])
        assert d.min() > p[2] - CAR[0] and d.max() < p[2] + CAR[0]


def test_static_target_and_invisible_target(rig, tmp_path):
    world = _world(tmp_path, [(10.0, 0.0)], building=False)  # one frame: the target is static
    out = rig.render(world, seed=0)
    cols = np.nonzero(out["mask"][0])[1]
    assert cols.size > 50 and abs(cols.mean() + 0.5 - W / 2) < 2  # on the optical axis
    world = _world(tmp_path, [(-10.0, 0.0)], building=False)  # behind the camera
    out = rig.render(world, seed=0)
    assert not out["mask"].any() and np.isnan(out["bbox"]).all()


def test_deterministic_and_seed_dependent(sweep, rig):
    world, out, _ = sweep
    again = rig.render(world, seed=5)
    for k in out:
        assert out[k].tobytes() == again[k].tobytes(), k
    other = rig.render(world, seed=6)
    assert not np.array_equal(other["image"], out["image"])
    np.testing.assert_array_equal(other["mask"], out["mask"])


def test_missing_mesh_is_a_clear_error(rig, tmp_path):
    world = _world(tmp_path, [(10.0, 0.0)], building=False)
    world.bodies[1].parts[0].mesh = str(tmp_path / "nope.ply")
    with pytest.raises(RadiovisualError, match="not found"):
        rig.render(world, seed=0)


def test_pixel_rays_and_ground_points_invert_projection(sweep):
    _, _, attrs = sweep
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(-8, 8, 50), rng.uniform(5, 30, 50), np.full(50, -attrs["radar_height_m"])])
    uv = cm.project_points(pts, attrs)
    np.testing.assert_allclose(cm.ground_points(uv, attrs), pts, atol=1e-6)
    d = cm.pixel_rays(uv, attrs)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0)
    c = cm.camera_centre_radar(attrs)
    np.testing.assert_allclose(c, [0.0, 0.0, 0.15], atol=1e-12)  # camera 15 cm above the radar
    v = (pts - c) / np.linalg.norm(pts - c, axis=1, keepdims=True)
    np.testing.assert_allclose(d, v, atol=1e-9)


def test_coexists_with_sionna_solve(sweep, rig):
    world, out, _ = sweep
    rt = pytest.importorskip("sionna.rt")
    import mitsuba as mi

    scene = rt.load_scene(rt.scene.floor_wall)
    scene.tx_array = rt.PlanarArray(num_rows=1, num_cols=1, pattern="iso", polarization="V")
    scene.rx_array = scene.tx_array
    scene.add(rt.Transmitter("tx", position=[-3.0, 0.0, 1.5]))
    scene.add(rt.Receiver("rx", position=[-3.0, 1.0, 1.5]))
    paths = rt.PathSolver()(scene, max_depth=1, samples_per_src=1000)
    assert np.asarray(paths.valid).any()
    variant = mi.variant()
    again = rig.render(world, seed=5)
    assert mi.variant() == variant  # the camera never switches Sionna's variant
    assert again["image"].tobytes() == out["image"].tobytes()
    paths2 = rt.PathSolver()(scene, max_depth=1, samples_per_src=1000)
    assert np.asarray(paths2.valid).sum() == np.asarray(paths.valid).sum()


def test_sample_mean_is_bit_identical_to_numpy_mean():
    """The render's per-pixel mean (issue 23: an explicit loop) keeps the bytes of ``mean(axis=2)``."""
    from radiovisual.sensors.camera import sample_mean

    rng = np.random.default_rng(0)
    for spp in (1, 2, 3, 8, 16):
        a = (rng.random((6, 5, spp, 3)) ** 9 * 10.0 ** rng.integers(-8, 3, (6, 5, spp, 3))).astype(np.float32)
        assert np.array_equal(sample_mean(a), a.astype(np.float64).mean(axis=2))
