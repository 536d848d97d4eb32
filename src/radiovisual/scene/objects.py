"""Road users beyond the primary target (``scene.objects``) and per-sequence weather (``scene.weather``).

The simulator states what the world is: several moving cars, pedestrians and cyclists, each on its own
kinematic track (``scene.motion``), entering, leaving and occluding one another; and the weather the
sequence was recorded in. Nothing here knows what a learner needs.

Spec strings (config keys ``scene.objects`` / ``scene.weather``):

* objects: ``"class:count"`` or ``"class:lo-hi"`` (count uniform in [lo, hi] per sequence), classes
  ``car``, ``pedestrian``, ``cyclist``. The first entry's first object is the primary target (``target``,
  whose centre is ``target_polar``); () means one car, the v0.2 world.
* weather: ``"kind:weight"``, kinds ``clear``, ``rain``, ``fog``; () means always clear.

RNG contract: with both specs empty nothing here draws, so v0.2 stores keep their bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ConfigError
from .motion import MOTIONS, boxes_overlap, draw_track, footprint_corners
from .world import Body, Part

# Class names and ids in CRUW / ROD2021 order (dataset.cruw.CLASSES, evaluate.ols.CLASSES)
CLASSES = ("pedestrian", "cyclist", "car")
WEATHER_KINDS = ("clear", "rain", "fog")
# Footprint box of the base station's mast, (lo, hi) [m]: scene.layouts.build_world adds the mast (0.3 m square
# at (-0.45, 0)) after the road users are drawn, so their tracks keep clear of this box.
MAST_BOX = (np.array([-0.6, -0.15, 0.0]), np.array([-0.3, 0.15, 1.0]))
# Camera colours (linear RGB): clothes and skin tones; bicycle frames
CLOTHES_RGB = ((0.05, 0.05, 0.06), (0.30, 0.02, 0.02), (0.03, 0.08, 0.30), (0.40, 0.40, 0.38),
               (0.04, 0.18, 0.05), (0.50, 0.30, 0.05), (0.20, 0.20, 0.22))
SKIN_RGB = ((0.60, 0.42, 0.32), (0.40, 0.26, 0.18), (0.20, 0.12, 0.08), (0.70, 0.52, 0.42))
FRAME_RGB = ((0.50, 0.02, 0.02), (0.02, 0.10, 0.45), (0.05, 0.05, 0.05), (0.60, 0.60, 0.62))
# Radio materials of the person / bicycle meshes. The radar echo of a person comes from the TR 38.901
# 'human' sensing target placed on the hull, not from these materials; they matter for the camera only.
ROLE_MATERIAL = {"skin": "itu_wood", "clothes": "itu_wood", "frame": "itu_metal", "wheel": "itu_wood"}


def parse_objects(spec: tuple[str, ...] | list[str]) -> list[tuple[str, int, int]]:
    """``("car:1", "pedestrian:1-3")`` -> [(class, lo, hi)]; ConfigError naming the bad entry."""
    out: list[tuple[str, int, int]] = []
    for item in spec:
        cls, _, count = str(item).partition(":")
        cls, count = cls.strip(), (count.strip() or "1")
        lo_s, _, hi_s = count.partition("-")
        try:
            lo, hi = int(lo_s), int(hi_s or lo_s)
        except ValueError:
            raise ConfigError(f"scene.objects: '{item}' is not class:count or class:lo-hi") from None
        if cls not in CLASSES:
            raise ConfigError(f"scene.objects: unknown class '{cls}' in '{item}' (choose from {', '.join(CLASSES)})")
        if not 0 <= lo <= hi or hi > 16:
            raise ConfigError(f"scene.objects: '{item}' needs 0 <= lo <= hi <= 16")
        if any(c == cls for c, _, _ in out):
            raise ConfigError(f"scene.objects: class '{cls}' listed twice")
        out.append((cls, lo, hi))
    if out and out[0][1] < 1:
        raise ConfigError(f"scene.objects: the first entry ('{spec[0]}') is the primary target and needs a "
                          "count >= 1")
    return out


def parse_weather(spec: tuple[str, ...] | list[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """``("clear:2", "rain:1", "fog:1")`` -> (kinds, probabilities); () -> (("clear",), [1])."""
    kinds, weights = [], []
    for item in spec:
        kind, _, w = str(item).partition(":")
        kind = kind.strip()
        try:
            weight = float(w) if w.strip() else 1.0
        except ValueError:
            raise ConfigError(f"scene.weather: '{item}' is not kind:weight") from None
        if kind not in WEATHER_KINDS:
            raise ConfigError(f"scene.weather: unknown kind '{kind}' (choose from {', '.join(WEATHER_KINDS)})")
        if weight < 0 or kind in kinds:
            raise ConfigError(f"scene.weather: '{item}' needs a weight >= 0 and each kind at most once")
        kinds.append(kind)
        weights.append(weight)
    if not kinds:
        return ("clear",), np.ones(1)
    p = np.asarray(weights, np.float64)
    if p.sum() <= 0:
        raise ConfigError("scene.weather: the weights sum to 0")
    return tuple(kinds), p / p.sum()


def draw_weather(cfg, rng: np.random.Generator) -> dict:
    """The sequence's weather: {"kind", "rain_mm_h", "fog_lwc_g_m3"}; no draw at all when ``scene.weather``
    is empty (v0.2 bytes)."""
    if not tuple(cfg.scene.weather):
        return {"kind": "clear", "rain_mm_h": 0.0, "fog_lwc_g_m3": 0.0}
    kinds, p = parse_weather(cfg.scene.weather)
    kind = str(kinds[int(rng.choice(len(kinds), p=p))])
    rain = float(rng.uniform(*cfg.scene.rain_mm_h)) if kind == "rain" else 0.0
    fog = float(rng.uniform(*cfg.scene.fog_lwc_g_m3)) if kind == "fog" else 0.0
    return {"kind": kind, "rain_mm_h": rain, "fog_lwc_g_m3": fog}


def object_counts(cfg, rng: np.random.Generator) -> list[str]:
    """Classes of this sequence's movers, primary first: () -> ["car"] without a draw."""
    spec = parse_objects(tuple(cfg.scene.objects))
    if not spec:
        return ["car"]
    out: list[str] = []
    for cls, lo, hi in spec:
        out += [cls] * int(rng.integers(lo, hi + 1))
    return out


def footprints_overlap(a: np.ndarray, b: np.ndarray, margin: float = 0.3) -> bool:
    """Do two oriented footprint tracks [T, 4, 2] overlap (grown by ``margin``) at any common frame?

    Separating-axis test per frame on both rectangles' edge normals (exact for two rectangles)."""
    def grow(c: np.ndarray) -> np.ndarray:
        centre = c.mean(1, keepdims=True)
        d = c - centre
        n = np.linalg.norm(d, axis=-1, keepdims=True)
        return centre + d * (1 + margin / np.maximum(n, 1e-9))
    a, b = grow(np.asarray(a, np.float64)), grow(np.asarray(b, np.float64))
    axes = np.stack([a[:, 1] - a[:, 0], a[:, 3] - a[:, 0], b[:, 1] - b[:, 0], b[:, 3] - b[:, 0]], 1)  # [T, 4, 2]
    pa = np.einsum("tkd,tad->tak", a, axes)
    pb = np.einsum("tkd,tad->tak", b, axes)
    separated = (pa.max(-1) < pb.min(-1)) | (pb.max(-1) < pa.min(-1))
    return bool((~separated.any(-1)).any())


# Bicycle frame as one constant-RCS point at the bike's centre, moving with the rider [m^2]. Approximate:
# measured bicycles at 77 GHz span about -10 to +5 dBsm with aspect; -3 dBsm is a mid value.
BIKE_FRAME_RCS_M2 = 0.5
BIKE_FRAME_HEIGHT_M = 0.55


def person_body(name: str, cls: str, cache: Path, rng: np.random.Generator, track, dt: float) -> tuple[Body, str]:
    """A pedestrian or cyclist Body on ``track``: people meshes for the camera, the torso-and-head hull for
    the radar's TR 38.901 'human' target, and the limb (and frame) scatterers for micro-Doppler."""
    from . import people

    model = _person_model(cls, int(rng.integers(0, 1 << 16)))
    clothes = CLOTHES_RGB[int(rng.integers(0, len(CLOTHES_RGB)))]
    skin = SKIN_RGB[int(rng.integers(0, len(SKIN_RGB)))]
    frame = FRAME_RGB[int(rng.integers(0, len(FRAME_RGB)))]
    colour = {"skin": skin, "clothes": clothes, "frame": frame, "wheel": (0.01, 0.01, 0.01)}
    parts, _ = people.write_person_meshes(cache, model)
    pos = np.concatenate([track.positions, np.zeros((len(track.positions), 1))], 1)
    vel = np.concatenate([track.velocities, np.zeros((len(track.velocities), 1))], 1)
    phase0 = float(rng.uniform(0.0, 2 * np.pi))
    pts, pvel, rcs = people.limb_scatterers(cls, model.size[2], track.positions, track.yaws, track.velocities, dt,
                                           phase0)
    # the camera's walker swings its legs and arms with the same gait (speed: the track's mean, as above)
    speed = float(np.linalg.norm(track.velocities, axis=1).mean()) if len(track.velocities) else 0.0
    gait = people.walking_gait(model, speed, len(pos), dt, phase0)
    if cls == "cyclist":
        centre = np.concatenate([track.positions, np.full((len(pos), 1), BIKE_FRAME_HEIGHT_M)], 1)
        pts = np.concatenate([pts, centre[:, None]], 1)
        pvel = np.concatenate([pvel, vel[:, None]], 1)
        rcs = np.concatenate([rcs, [BIKE_FRAME_RCS_M2]])
    body = Body(name=name, kind="road_user",
                parts=[Part(str(p), ROLE_MATERIAL.get(r, "itu_wood"), colour.get(r, clothes)) for p, r in parts],
                size=tuple(float(s) for s in model.size), positions=pos, yaws=track.yaws.copy(),
                velocity=tuple(float(v) for v in vel[0]), radar_target=True, hull_mesh=str(_radar_hull(cache, model)),
                velocities=vel, object_class=cls,
                scatterers={"points": pts, "velocities": pvel, "rcs_m2": np.asarray(rcs, np.float64)}, gait=gait)
    return body, model.name


def _radar_hull(cache: Path, model) -> Path:
    """The radar's sensing-target mesh of a person: the parts wholly above the hip (torso, head), so the
    limb and pedal scatterers below and beside it are not inside the absorbing hull."""
    from .cars import cached_ply
    from .meshes import merge

    hip = 0.5 * model.size[2]
    upper = [(v, f) for v, f, _ in model.parts if float(np.min(v[:, 2])) >= hip]
    upper = upper or [(v, f) for v, f, _ in model.parts]
    v, f = merge(*upper)
    pre = "ped" if model.cls == "pedestrian" else "cyc"
    return cached_ply(cache, f"{pre}-{model.name}-hull", v, f)


def _person_model(cls: str, i: int):
    from . import people

    return people.pedestrian_model(i) if cls == "pedestrian" else people.cyclist_model(i)


def class_size_speed(cfg, cls: str, car_size: tuple[float, float, float]) -> tuple[tuple, tuple[float, float]]:
    """(L, W, H) [m] used for feasibility and the class's speed range [m/s]."""
    from . import people

    if cls == "car":
        return car_size, tuple(cfg.scene.speed_mps)
    m = _person_model(cls, 0)
    return m.size, tuple(people.SPEED_MPS[cls])


def draw_mover_track(cfg, rng, cls: str, size, speed, region, feasible: Callable, mobile: list[np.ndarray]):
    """A track for one extra road user: any motion kind, clear of ``mobile`` (other movers' footprints)."""
    L, W = size[0], size[1]

    def ok(pos, yaw, corners) -> bool:
        return feasible(pos, yaw, corners) and not any(footprints_overlap(corners, c) for c in mobile)

    return draw_track(rng, MOTIONS, tuple(1.0 for _ in MOTIONS), region, (L, W), speed, int(cfg.scene.n_frames),
                      float(cfg.scene.frame_dt_s), ok, tries=150)


def mover_corners(body: Body) -> np.ndarray:
    """[T, 4, 2] footprint corners of a moving body."""
    return footprint_corners(np.asarray(body.positions, np.float64)[:, :2], np.asarray(body.yaws, np.float64),
                             body.size[0], body.size[1])


def static_boxes(bodies: list[Body]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Axis-aligned (lo, hi) boxes of every non-ground static body (obstacles of a track)."""
    out = []
    for b in bodies:
        if b.kind == "ground" or len(np.asarray(b.positions).reshape(-1, 3)) > 1:
            continue
        c = b.box_corners(0)
        out.append((c.min(axis=0), c.max(axis=0)))
    return out


def clear_of(boxes, corners: np.ndarray) -> bool:
    return not any(boxes_overlap(corners, lo, hi).any() for lo, hi in boxes)
