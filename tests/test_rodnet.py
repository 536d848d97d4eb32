"""RODNet-style teacher: ground-plane geometry against an independent projection, fusion, honesty."""

from __future__ import annotations

import numpy as np
import pytest

from radiovisual.baselines.rodnet import TeacherConfig, bbox_to_polar, teacher_labels_detailed
from radiovisual.errors import DatasetError

H_RADAR = 4.0


def _camera(W=512, H=384, hfov=100.0, tilt_deg=15.0, offset=(0.05, 0.0, 0.15)):
    """Pinhole camera above the radar, pitched down. Rows of R = camera axes (right, down, fwd) in radar frame."""
    f = (W / 2) / np.tan(np.deg2rad(hfov / 2))
    th = np.deg2rad(tilt_deg)
    R = np.array([[1.0, 0, 0], [0, -np.sin(th), -np.cos(th)], [0, np.cos(th), -np.sin(th)]])
    c = np.asarray(offset, float)
    return {"K": [[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]], "width": W, "height": H,
            "R_cam_from_radar": R.tolist(), "t_cam_from_radar_m": (-R @ c).tolist(), "radar_height_m": H_RADAR}


def _project(p_radar, cam):
    """Independent pinhole projection: p_cam = R p + t, (u, v) = K p_cam / z."""
    K, R, t = (np.asarray(cam[k], float) for k in ("K", "R_cam_from_radar", "t_cam_from_radar_m"))
    pc = np.asarray(p_radar, float) @ R.T + t
    uvw = pc @ K.T
    return uvw[..., :2] / uvw[..., 2:3]


def _box_corners(cx, cy, L, Wd, Hc, yaw):
    xs, ys, zs = np.meshgrid([-Wd / 2, Wd / 2], [-L / 2, L / 2], [0.0, Hc], indexing="ij")
    loc = np.stack([xs.ravel(), ys.ravel(), zs.ravel()], 1)
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return loc @ rot.T + np.array([cx, cy, -H_RADAR])


def _polar(p):
    r = np.linalg.norm(p)
    return np.array([r, np.arcsin(p[0] / r)])


def test_ground_point_ray_intersection_is_exact():
    cam = _camera()
    for x, y in [(0.0, 10.0), (-4.0, 15.0), (6.0, 9.0)]:
        p = np.array([x, y, -H_RADAR])
        u, v = _project(p, cam)
        # inclusive pixel indices whose bottom-centre point (x0+x1)/2 + 0.5, y1 + 0.5 is exactly (u, v)
        box = np.array([[u - 0.5 - 5, v - 12.5, u - 0.5 + 5, v - 0.5]])
        est = bbox_to_polar(box, cam, car_height_m=0.0, car_half_depth_m=0.0)[0]
        assert np.allclose(est, _polar(p), atol=1e-6)


@pytest.mark.parametrize("cx,cy,yaw,half_depth", [(0.0, 12.0, 0.0, 2.25), (-3.0, 14.0, 0.0, 2.25),
                                                  (3.0, 11.0, np.pi / 2, 0.9)])
def test_teacher_recovers_box_centre_from_projected_bbox(cx, cy, yaw, half_depth):
    cam = _camera()
    L, Wd, Hc = 4.5, 1.8, 1.5
    corners = _box_corners(cx, cy, L, Wd, Hc, yaw)
    uv = _project(corners, cam)
    bbox = np.floor([[uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()]])  # pixel indices
    truth = _polar(np.array([cx, cy, -H_RADAR + Hc / 2]))
    est = bbox_to_polar(bbox, cam, car_height_m=Hc, car_half_depth_m=half_depth)[0]
    xy = lambda p: np.array([p[0] * np.sin(p[1]), p[0] * np.cos(p[1])])  # noqa: E731
    # Off-axis perspective and pixel quantisation (512-px camera): within 0.5 m.
    assert np.linalg.norm(xy(est) - xy(truth)) < 0.5, (est, truth)


def test_bbox_above_horizon_or_empty_is_nan():
    cam = _camera(tilt_deg=0.0)
    # v above the principal point -> the ray points up and never meets the ground; NaN box = empty mask
    est = bbox_to_polar(np.array([[60, 10, 70, 20], [np.nan] * 4, [250, 300, 260, 310]]), cam, 1.5, 1.0)
    assert np.isnan(est[:2]).all() and np.isfinite(est[2]).all()


def _store(path, cam, n=6, seed=0):
    """Tiny store: RA blob at the car's near side + a stronger distractor; bbox from projection."""
    from radiovisual.dataset.format import create_root, mark_complete, polar_to_xy, write_split

    rng = np.random.default_rng(seed)
    rb = np.linspace(2.0, 26.0, 96)
    ab = np.deg2rad(np.linspace(-60, 60, 48))
    R, A = len(rb), len(ab)
    rr, aa = np.meshgrid(np.arange(R), np.arange(A), indexing="ij")
    radar = np.zeros((n, R, A), np.float32)
    bbox = np.zeros((n, 4), np.float32)
    mask = np.zeros((n, cam["height"], cam["width"]), bool)
    polar = np.zeros((n, 2), np.float32)
    for i in range(n):
        cx, cy = rng.uniform(-4, 4), rng.uniform(9, 16)
        corners = _box_corners(cx, cy, 4.5, 1.8, 1.5, 0.0)
        uv = _project(corners, cam)
        bbox[i] = np.floor((uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()))
        x0, y0, x1, y1 = np.clip(bbox[i], 0, [cam["width"] - 1, cam["height"] - 1] * 2).astype(int)
        mask[i, y0:y1 + 1, x0:x1 + 1] = True
        polar[i] = _polar(np.array([cx, cy, -H_RADAR + 0.75]))
        near = _polar(np.array([cx, cy - 2.0, -H_RADAR + 0.5]))  # radar sees the near face
        r0, a0 = np.interp(near[0], rb, np.arange(R)), np.interp(near[1], ab, np.arange(A))
        dr, da = (r0 + 30) % R, (a0 + 20) % A  # distractor elsewhere, stronger
        p = 50 * np.exp(-0.5 * (((rr - r0) / 1.5) ** 2 + ((aa - a0) / 1.2) ** 2))
        p += 120 * np.exp(-0.5 * (((rr - dr) / 1.5) ** 2 + ((aa - da) / 1.2) ** 2))
        radar[i] = 10 * np.log10(p + rng.exponential(1.0, (R, A)))
    arrays = {"radar": radar, "image": np.zeros((n, cam["height"], cam["width"], 3), np.uint8), "mask": mask,
              "bbox": bbox, "target_polar": polar, "target_xy": polar_to_xy(polar).astype(np.float32),
              "sequence": np.zeros(n, np.int32), "frame": np.arange(n, dtype=np.int32)}
    root = create_root(path, {"range_bins_m": rb.tolist(), "azimuth_bins_rad": ab.tolist(), "camera": cam})
    write_split(root, "train", arrays)
    mark_complete(root)
    return path


def test_teacher_fuses_camera_with_nearest_cfar_peak_without_gt(tmp_path):
    from radiovisual.dataset.format import open_dataset, polar_to_xy

    path = _store(tmp_path / "t.zarr", _camera())
    ds = open_dataset(path, labels=False)   # any GT read would raise LabelAccessError
    labels, conf, stats = teacher_labels_detailed(ds, "train", TeacherConfig())
    gt = open_dataset(path).split("train").read("target_polar")
    err = np.hypot(*(polar_to_xy(labels) - polar_to_xy(gt)).T)
    assert stats["fused"] == len(gt) and (conf == 1.0).all()
    # label = radar near-face centroid: within ~2.5 m of the box centre, never the distractor
    assert err.max() < 2.6
    # Camera-only with the prior equal to this car's half-length (the default 1.2 m prior is ~1 m short here).
    cam_only, _, s2 = teacher_labels_detailed(ds, "train", TeacherConfig(fusion="camera", car_half_depth_m=2.25))
    assert s2["camera_only"] == len(gt)
    assert np.median(np.hypot(*(polar_to_xy(cam_only) - polar_to_xy(gt)).T)) < 0.6


def test_teacher_needs_camera_pose(toy_dataset):
    from radiovisual.baselines.rodnet import teacher_labels

    with pytest.raises(DatasetError, match="camera attributes lack"):
        teacher_labels(toy_dataset, "train")


def test_run_rodnet_smoke_and_cli(tmp_path):
    from radiovisual.baselines.rodnet import run_rodnet
    from radiovisual.cli.main import main
    from radiovisual.localise import predict

    path = _store(tmp_path / "s.zarr", _camera(W=128, H=96), n=24, seed=1)
    run = run_rodnet(path, tmp_path / "run", preset="smoke", seed=0)
    lab = tmp_path / "run" / "teacher" / "labels.npy"
    stamp = lab.stat().st_mtime_ns
    from radiovisual.dataset.format import open_dataset

    pred = predict(run, open_dataset(path, labels=False).split("train").read("radar"))
    assert pred.shape == (24, 2) and np.isfinite(pred).all()
    # re-run resumes: cached teacher labels are reused, not recomputed
    run_rodnet(path, tmp_path / "run", preset="smoke", seed=0)
    assert lab.stat().st_mtime_ns == stamp
    # CLI end to end on the train split (the tiny store has no val); the same run: reused
    cli = ["rodnet", str(path), "--out", str(tmp_path / "run"), "--preset", "smoke", "--split", "train"]
    assert main(cli) == 0
    assert (tmp_path / "run" / "metrics.json").is_file()
    # localiser overrides reach the student ("same localiser for every method"); a changed student
    # config on a finished run is refused unless --force, and the unchanged teacher stage is reused
    assert main([*cli, "--set", "localise.epochs=2", "--set", "localise.width=4"]) == 2
    assert main([*cli, "--set", "localise.epochs=2", "--set", "localise.width=4", "--force"]) == 0
    import json

    student = json.loads((tmp_path / "run" / "student" / "config.json").read_text())
    assert student["config"]["epochs"] == 2 and student["config"]["width"] == 4 and student["label_free"] is True
    assert lab.stat().st_mtime_ns == stamp
    teacher = json.loads((tmp_path / "run" / "teacher" / "done.json").read_text())
    assert teacher["spec"]["config"]["cfar"]["guard_range"] == 4  # the CFAR preset's windows
    assert main([*cli, "--set", "car_half_depth_m=1.5"]) == 2  # teacher keys live under teacher.*


def test_confmap_ols_and_peak_nms():
    from radiovisual.baselines.confmap import confmap_peaks, confmap_target, ols

    # OLS by hand: d = 1 m, s = 10 m, kappa = 0.03 -> exp(-1 / (2 * 100 * 0.03))
    assert np.isclose(ols(np.array([0.0, 10.0]), np.array([1.0, 10.0]), 10.0), np.exp(-1 / 6))
    rb = np.linspace(2, 22, 101)
    ab = np.deg2rad(np.linspace(-60, 60, 61))
    a, b = np.array([rb[30], ab[20]]), np.array([rb[70], ab[45]])
    conf = np.maximum(confmap_target(a, rb, ab), 0.8 * confmap_target(b, rb, ab))
    conf[34, 22] = 0.99   # a secondary local maximum ~1 m from object a: location-based NMS must drop it
    from scipy.ndimage import maximum_filter

    assert (conf == maximum_filter(conf, size=3))[34, 22]
    assert len(confmap_peaks(conf, rb, ab, threshold=0.3, ols_threshold=1.0)) == 3  # no NMS: three peaks
    peaks = confmap_peaks(conf, rb, ab, threshold=0.3, ols_threshold=0.3)
    assert len(peaks) == 2
    assert np.allclose(peaks[0][0], a) and np.allclose(peaks[1][0], b) and peaks[0][1] > peaks[1][1]
