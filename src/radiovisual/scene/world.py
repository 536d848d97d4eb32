"""The scene description: ONE object feeds both sensors (radar and camera).

Coordinate conventions (world frame, metres):
  * z up, ground plane at z = 0.
  * The base station pole stands at the origin; the radar phase centre is at
    ``radar_position`` = (0, 0, bs_height). Radar and camera look along world +x
    (boresight, "forward"), with a downtilt only (no yaw, no roll), so the array
    axis is world y and stays horizontal.
  * Radar frame used by the dataset: x_right = -y_world, y_fwd = +x_world.
    Azimuth is positive to the right: az = asin(x_right / slant_range), the cone
    angle a horizontal ULA measures; range is the slant range from the phase centre.

Bodies are rigid: each has parts (meshes in the body's local frame, x = length axis,
origin at the centre of the ground footprint, z up from 0) posed by (position, yaw).
Moving bodies have one pose per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Part:
    mesh: str                      # path to a PLY file in the body's local frame
    radio_material: str            # Sionna ITU material, e.g. "itu_concrete", "itu_metal", "itu_glass"
    color: tuple[float, float, float]  # linear-RGB albedo for the camera


@dataclass
class Body:
    name: str
    kind: str                      # "ground" | "building" | "parked_car" | "target" | "pole" | "prop"
    parts: list[Part]
    size: tuple[float, float, float]  # (length, width, height) [m] of the local bounding box
    positions: np.ndarray          # [T, 3] or [1, 3]: footprint centre per frame (world) [m]
    yaws: np.ndarray               # [T] or [1]: heading about +z [rad], 0 = along world +x
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)  # [m/s], world frame
    radar_target: bool = False     # modelled as a 3GPP TR 38.901 vehicle sensing target
    hull_mesh: str | None = None   # single watertight-ish mesh used for the sensing target
    velocities: np.ndarray | None = None  # [T, 3] per-frame velocity [m/s] (turning tracks); else ``velocity``
    object_class: str | None = None  # road users: "car" | "pedestrian" | "cyclist" (scene.objects); else None
    # micro-Doppler scatterers of a road user (limbs, pedals): {"points": [T,K,3] world [m],
    # "velocities": [T,K,3] [m/s], "rcs_m2": [K]} (scene.people.limb_scatterers); None for rigid bodies
    scatterers: dict | None = None
    # a walker's camera mesh per frame (scene.people.Gait: ``deform(local_vertices, frame)``); None = rigid
    gait: object | None = None

    def velocity_at(self, frame: int) -> np.ndarray:
        """World velocity [m/s] at ``frame``: the per-frame track if there is one, else the constant one."""
        if self.velocities is not None:
            return np.asarray(self.velocities[min(frame, len(self.velocities) - 1)], np.float64)
        return np.asarray(self.velocity, np.float64)

    def pose(self, frame: int) -> tuple[np.ndarray, float]:
        i = min(frame, len(self.positions) - 1)
        return np.asarray(self.positions[i], dtype=np.float64), float(self.yaws[min(frame, len(self.yaws) - 1)])

    def box_corners(self, frame: int) -> np.ndarray:
        """[8, 3] world corners of the body's oriented bounding box at ``frame``."""
        (cx, cy, cz), yaw = self.pose(frame)
        L, W, H = self.size
        xs, ys, zs = np.meshgrid([-L / 2, L / 2], [-W / 2, W / 2], [0.0, H], indexing="ij")
        local = np.stack([xs.ravel(), ys.ravel(), zs.ravel()], axis=1)
        c, s = np.cos(yaw), np.sin(yaw)
        rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        return local @ rot.T + np.array([cx, cy, cz])


@dataclass
class World:
    scenario: str
    bodies: list[Body]
    target: str                    # name of the target body
    n_frames: int
    frame_dt_s: float
    radar_position: np.ndarray     # [3] world [m]
    radar_look_at: np.ndarray      # [3] world [m] (same x-z plane as radar_position: downtilt only)
    camera_position: np.ndarray    # [3]
    camera_look_at: np.ndarray     # [3]
    meta: dict = field(default_factory=dict)
    objects: tuple[str, ...] = ()  # names of the moving road users, the primary target first; () = (target,)

    @property
    def movers(self) -> list[Body]:
        """The road users (primary target first): the bodies named in ``objects``, or just the target."""
        return [self.body(n) for n in (self.objects or (self.target,))]

    def body(self, name: str) -> Body:
        for b in self.bodies:
            if b.name == name:
                return b
        raise KeyError(name)

    @property
    def target_body(self) -> Body:
        return self.body(self.target)

    def target_point(self, frame: int) -> np.ndarray:
        """World position of the labelled target point: centre of the car's 3-D bounding box."""
        return self.centre_point(self.target_body, frame)

    @staticmethod
    def centre_point(b: Body, frame: int) -> np.ndarray:
        """Centre of a body's 3-D bounding box at ``frame`` (the labelled point of every road user)."""
        (x, y, z), _ = b.pose(frame)
        return np.array([x, y, z + b.size[2] / 2.0])


def world_to_radar_polar(points: np.ndarray, radar_position: np.ndarray) -> np.ndarray:
    """World points [..., 3] -> radar (slant range [m], azimuth [rad], positive right)."""
    d = np.asarray(points, dtype=np.float64) - np.asarray(radar_position, dtype=np.float64)
    rng = np.linalg.norm(d, axis=-1)
    x_right = -d[..., 1]
    az = np.arcsin(np.clip(x_right / np.maximum(rng, 1e-9), -1.0, 1.0))
    return np.stack([rng, az], axis=-1)
