"""Pure-NumPy pinhole model of the camera that sits beside the radar.

Frames (all right-handed, metres):
  * world: z up, ground at z = 0 (see ``scene.world``).
  * radar: origin at the radar phase centre, x_right = -y_world, y_fwd = +x_world,
    z_up = +z_world (horizontal: the radar's downtilt is NOT part of this frame).
  * camera: OpenCV, x right, y down, z along the optical axis.
    ``p_cam = R_cam_from_radar @ p_radar + t_cam_from_radar``.
Pixels: continuous coordinates (u right, v down) in which pixel column ``i`` spans
[i, i+1) and has its centre at u = i + 0.5; so the principal point of a centred
camera is (W/2, H/2). ``bbox`` values and mask indices are integer pixel indices
(inclusive extremes), i.e. a pixel index ``i`` corresponds to u = i + 0.5.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..errors import RadiovisualError

# p_world - radar_position = WORLD_FROM_RADAR @ p_radar
WORLD_FROM_RADAR = np.array([[0.0, 1.0, 0.0],
                             [-1.0, 0.0, 0.0],
                             [0.0, 0.0, 1.0]])

CONVENTION = ("radar frame: origin at the radar phase centre, x right (= -y_world), y forward "
              "(= +x_world, horizontal), z up; camera frame: OpenCV (x right, y down, z optical axis); "
              "p_cam = R_cam_from_radar @ p_radar + t_cam_from_radar_m; pixel (u right, v down) = "
              "K @ p_cam / z with pixel index i centred at u = i + 0.5; bbox = inclusive pixel indices "
              "(x0, y0, x1, y1) of the mask; depth = z_cam [m], +inf where no surface is hit")


def intrinsics(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """K [3, 3] of a centred pinhole with square pixels: f = (W/2) / tan(hfov/2) [px]."""
    f = 0.5 * width / np.tan(np.deg2rad(hfov_deg) / 2.0)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def cam_from_world_rotation(position: np.ndarray, look_at: np.ndarray) -> np.ndarray:
    """Rows = camera axes (right, down, forward) in world coordinates; world up = +z."""
    fwd = np.asarray(look_at, np.float64) - np.asarray(position, np.float64)
    n = np.linalg.norm(fwd)
    if n < 1e-9:
        raise RadiovisualError("camera look_at coincides with the camera position")
    fwd /= n
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-6:
        raise RadiovisualError("camera looks straight up or down; its roll is undefined")
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    return np.stack([right, down, fwd])


def camera_attrs(width: int, height: int, hfov_deg: float, camera_position: np.ndarray,
                 camera_look_at: np.ndarray, radar_position: np.ndarray) -> dict[str, Any]:
    """The JSON-able camera description stored as the dataset's root attr ``camera``."""
    R_cw = cam_from_world_rotation(camera_position, camera_look_at)
    R = R_cw @ WORLD_FROM_RADAR
    t = R_cw @ (np.asarray(radar_position, np.float64) - np.asarray(camera_position, np.float64))
    return {
        "K": intrinsics(width, height, hfov_deg).tolist(),
        "width": int(width),
        "height": int(height),
        "hfov_deg": float(hfov_deg),
        "R_cam_from_radar": R.tolist(),
        "t_cam_from_radar_m": t.tolist(),
        "radar_height_m": float(np.asarray(radar_position, np.float64)[2]),
        "convention": CONVENTION,
    }


def _unpack(cam: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        K = np.asarray(cam["K"], np.float64).reshape(3, 3)
        R = np.asarray(cam["R_cam_from_radar"], np.float64).reshape(3, 3)
        t = np.asarray(cam["t_cam_from_radar_m"], np.float64).reshape(3)
    except (KeyError, ValueError) as e:
        raise RadiovisualError(f"camera attrs lack a valid K / R_cam_from_radar / t_cam_from_radar_m ({e})") from None
    return K, R, t


def world_to_radar(points_world: np.ndarray, radar_position: np.ndarray) -> np.ndarray:
    """World points [..., 3] -> radar frame [..., 3] (x right, y forward, z up) [m]."""
    d = np.asarray(points_world, np.float64) - np.asarray(radar_position, np.float64)
    return d @ WORLD_FROM_RADAR  # row-vector form of WORLD_FROM_RADAR.T @ d


def radar_to_camera(points_radar: np.ndarray, cam: Mapping[str, Any]) -> np.ndarray:
    _, R, t = _unpack(cam)
    return np.asarray(points_radar, np.float64) @ R.T + t


def project_points(points_radar: np.ndarray, cam: Mapping[str, Any]) -> np.ndarray:
    """Radar-frame points [N, 3] [m] -> pixels [N, 2] (u, v); NaN for points behind the camera."""
    K, _, _ = _unpack(cam)
    pc = radar_to_camera(np.atleast_2d(points_radar), cam)
    z = pc[:, 2:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = (pc @ K.T)[:, :2] / z
    uv[z[:, 0] <= 1e-9] = np.nan
    return uv


def camera_centre_radar(cam: Mapping[str, Any]) -> np.ndarray:
    """The camera's optical centre in the radar frame [3] [m]."""
    _, R, t = _unpack(cam)
    return -R.T @ t


def pixel_rays(uv: np.ndarray, cam: Mapping[str, Any]) -> np.ndarray:
    """Pixels [N, 2] (continuous u, v) -> unit ray directions [N, 3] in the radar frame.

    The rays start at ``camera_centre_radar(cam)`` (not at the radar origin).
    """
    K, R, _ = _unpack(cam)
    uv = np.atleast_2d(np.asarray(uv, np.float64))
    h = np.concatenate([uv, np.ones((len(uv), 1))], axis=1)
    d_cam = h @ np.linalg.inv(K).T
    d = d_cam @ R  # R.T @ d_cam per row: camera -> radar
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def ground_points(uv: np.ndarray, cam: Mapping[str, Any], height_above_ground_m: float = 0.0) -> np.ndarray:
    """Intersect pixel rays with the horizontal plane z_radar = -radar_height_m + height [m].

    Returns [N, 3] radar-frame points; NaN rows where a ray does not descend to the plane.
    """
    c = camera_centre_radar(cam)
    d = pixel_rays(uv, cam)
    z_plane = -float(cam["radar_height_m"]) + height_above_ground_m
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (z_plane - c[2]) / d[:, 2]
    out = c + s[:, None] * d
    out[~(s > 0)] = np.nan
    return out


def bbox_from_mask(mask: np.ndarray) -> np.ndarray:
    """Masks [T, H, W] -> [T, 4] float32 (x0, y0, x1, y1) inclusive pixel indices; NaN if empty."""
    mask = np.asarray(mask, bool)
    out = np.full((mask.shape[0], 4), np.nan, np.float32)
    for i, m in enumerate(mask):
        cols = np.flatnonzero(m.any(axis=0))
        if cols.size:
            rows = np.flatnonzero(m.any(axis=1))
            out[i] = (cols[0], rows[0], cols[-1], rows[-1])
    return out
