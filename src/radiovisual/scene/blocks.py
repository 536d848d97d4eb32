"""Building blocks of the scenario layouts (``scene.layouts``, ``scene.intersection``): the sensor window,
static bodies, cars, parked rows, and the road users' tracks (``_target``, ``_movers``).

Everything random is drawn from the ``rng`` passed in; the draw order is part of every store's
reproducibility contract, so these functions keep it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cars import cached_ply, car_model, write_car_meshes
from .meshes import box
from .motion import MOTIONS, draw_track, segment_hits_box
from .objects import (MAST_BOX, class_size_speed, clear_of, draw_mover_track, mover_corners, object_counts,
                      person_body, static_boxes)
from .world import Body, Part, world_to_radar_polar

# Linear-RGB car paints (white, silver, black, red, blue, green, yellow, grey, orange, navy, beige, teal)
PAINTS = np.array([
    (0.80, 0.80, 0.78), (0.45, 0.46, 0.48), (0.02, 0.02, 0.025), (0.55, 0.03, 0.03),
    (0.04, 0.12, 0.50), (0.03, 0.22, 0.06), (0.75, 0.60, 0.04), (0.18, 0.18, 0.19),
    (0.80, 0.25, 0.02), (0.02, 0.04, 0.15), (0.55, 0.45, 0.30), (0.03, 0.30, 0.30)])
GLASS_RGB = (0.02, 0.025, 0.03)
WHEEL_RGB = (0.01, 0.01, 0.01)
MATERIAL_RGB = {"itu_concrete": (0.35, 0.35, 0.34), "itu_brick": (0.40, 0.12, 0.08),
                "itu_wood": (0.35, 0.22, 0.12), "itu_glass": (0.10, 0.14, 0.18),
                "itu_metal": (0.50, 0.50, 0.52), "itu_medium_dry_ground": (0.12, 0.12, 0.12)}
AZ_MARGIN_DEG = 8.0   # keep the whole car this far inside the narrower sensor FOV
TARGET_HEIGHT_FOR_RANGE = 0.75  # [m] representative target height for range checks


def _sector(cfg) -> tuple[float, float, float]:
    """(max |azimuth| [rad], min slant range [m], max slant range [m]) usable for the target."""
    half = min(cfg.radio.azimuth_fov_deg / 2.0, cfg.camera.hfov_deg / 2.0) - AZ_MARGIN_DEG
    return np.deg2rad(max(half, 5.0)), cfg.radio.range_min_m, cfg.radio.range_max_m


def _in_window(cfg, radar: np.ndarray, xy: np.ndarray, half_len: float, margin_m: float = 1.0) -> np.ndarray:
    """Boolean [N]: footprint centres xy [N,2] whose car (half length) lies in the sector."""
    amax, rmin, rmax = _sector(cfg)
    pts = np.concatenate([xy, np.full((len(xy), 1), TARGET_HEIGHT_FOR_RANGE)], axis=1)
    rp = world_to_radar_polar(pts, radar)
    return ((rp[:, 0] >= rmin + half_len + margin_m) & (rp[:, 0] <= rmax - half_len - margin_m)
            & (np.abs(rp[:, 1]) <= amax))


def _static(name: str, kind: str, cache: Path, meshes: list[tuple[tuple[np.ndarray, np.ndarray], str]],
            size: tuple[float, float, float], pos: tuple[float, float], yaw: float = 0.0) -> Body:
    parts = [Part(str(cached_ply(cache, f"{kind}-{mat}", v, f)), mat, MATERIAL_RGB.get(mat, (0.3, 0.3, 0.3)))
             for (v, f), mat in meshes]
    return Body(name=name, kind=kind, parts=parts, size=tuple(float(s) for s in size),
                positions=np.array([[pos[0], pos[1], 0.0]]), yaws=np.array([yaw]))


def _building(name: str, cache: Path, rng: np.random.Generator, L: float, W: float, H: float,
              wall: str, facade_dir: int, pos: tuple[float, float], glass: bool = True,
              kind: str = "building") -> Body:
    """A box building (length along x, width along y) with a glass band on one facade.

    ``facade_dir`` is the local axis the glazed facade faces: 0 = -x (towards the radar),
    +1 = +y, -1 = -y.
    """
    meshes = [(box(L, W, H), wall)]
    if glass:
        t = 0.05
        z0 = 0.25 * H
        gh = 0.5 * H
        if facade_dir == 0:
            meshes.append((box(t, 0.8 * W, gh, z0=z0, center_xy=(-L / 2 - t / 2, 0.0)), "itu_glass"))
        else:
            meshes.append((box(0.8 * L, t, gh, z0=z0, center_xy=(0.0, facade_dir * (W / 2 + t / 2))), "itu_glass"))
    size = (L + 0.1, W + 0.1, H)
    return _static(name, kind, cache, meshes, size, pos)


def _car(name: str, kind: str, cache: Path, model_idx: int, paint, pos_xy, yaw: float,
         n_frames: int = 1, velocity=(0.0, 0.0, 0.0)) -> Body:
    parts, hull = write_car_meshes(cache, model_idx)
    m = car_model(model_idx)
    rgb = {"body": tuple(float(c) for c in paint), "glass": GLASS_RGB, "wheel": WHEEL_RGB}
    mat = {"body": "itu_metal", "glass": "itu_glass", "wheel": "itu_metal"}
    pos = np.atleast_2d(np.asarray(pos_xy, dtype=np.float64))
    pos = np.concatenate([pos, np.zeros((len(pos), 1))], axis=1)
    return Body(name=name, kind=kind, parts=[Part(str(p), mat[r], rgb[r]) for p, r in parts],
                size=m.size, positions=pos, yaws=np.full(len(pos), float(yaw)),
                velocity=tuple(float(v) for v in velocity), radar_target=True, hull_mesh=str(hull))


def _ground(cache: Path, x0: float, x1: float, half_w: float, mat: str) -> Body:
    v, f = box(x1 - x0, 2 * half_w, 0.1, z0=-0.1, center_xy=((x0 + x1) / 2, 0.0))
    return _static("ground", "ground", cache, [((v, f), mat)], (x1 - x0, 2 * half_w, 0.1), (0.0, 0.0))


def _models(cfg, rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, max(1, cfg.scene.n_car_models), size=n)



def _park_cars(cfg, rng: np.random.Generator, radar: np.ndarray, cand: np.ndarray, cache: Path,
               yaw_of) -> tuple[list[Body], int]:
    """Fill up to ``n_parked`` of the candidate slots [K, 2] (inside the radar window) with jittered cars.

    Returns the parked bodies and the model index drawn for the target (one draw shared with the
    parked cars, so the target's model comes from the same family). ``yaw_of(xy, rng)`` gives each
    car's heading; the RNG draw order is part of the dataset's reproducibility contract.
    """
    ok = cand[_in_window(cfg, radar, cand, 2.8, margin_m=0.0)] if len(cand) else cand
    n = min(cfg.scene.n_parked, len(ok))
    chosen = ok[np.sort(rng.choice(len(ok), size=n, replace=False))] if n else np.zeros((0, 2))
    models = _models(cfg, rng, n + 1)
    paints = PAINTS[rng.permutation(len(PAINTS))]
    jit = rng.normal(0.0, cfg.scene.jitter_std_m, size=(n, 2))
    bodies = [_car(f"parked_{i:02d}", "parked_car", cache, int(models[i]), paints[i % len(paints)], xy + j,
                   yaw_of(xy, rng))
              for i, (xy, j) in enumerate(zip(chosen, jit))]
    return bodies, int(models[n])

# Motion mix per scenario (kind, probability): what kinds of drive each place sees (scene.motion).
SCENARIO_MOTIONS = {
    "parking_lot": (("crossing", 0.4), ("diagonal", 0.2), ("approaching", 0.1), ("receding", 0.1),
                    ("turning", 0.2)),
    "suburban": (("approaching", 0.3), ("receding", 0.3), ("diagonal", 0.2), ("turning", 0.2)),
    "street_canyon": (("approaching", 0.3), ("receding", 0.3), ("diagonal", 0.2), ("turning", 0.2)),
    # straight through along the main road both ways or along the cross road, and turning at the junction often
    "intersection": (("approaching", 0.2), ("receding", 0.2), ("crossing", 0.25), ("turning", 0.35)),
}


def motion_mix(cfg, scenario: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The (kinds, weights) the target's motion is drawn from: ``scene.target_motions`` if set (uniform over
    the listed kinds), else the scenario's own mix."""
    chosen = tuple(cfg.scene.target_motions)
    if chosen:
        return chosen, tuple(1.0 for _ in chosen)
    pairs = SCENARIO_MOTIONS[scenario]
    return tuple(k for k, _ in pairs), tuple(w for _, w in pairs)


def _target(cfg, rng, cache, radar, bodies, model: int, region, drivable, cls: str = "car") -> tuple[Body, dict]:
    """Draw the primary target's track (``scene.motion.draw_track``) and build its Body.

    A track is kept when, at every frame, the object lies in the radar/camera window (``_in_window``), on
    its area (``drivable``), clear of every static body (0.3 m margin), and the radar sees its box centre
    unblocked. A car (the v0.2 target) keeps v0.2's draws; a pedestrian or cyclist (``scene.objects``
    listing it first) walks or rides any kind of motion.
    """
    car_size = car_model(model).size
    (L, W, H), speed = class_size_speed(cfg, cls, car_size)
    # the mast stands after the layout (build_world); a car target (v0.2's draws) never reaches it
    boxes = static_boxes(bodies) + ([MAST_BOX] if cls != "car" else [])

    def feasible(pos, yaw, corners) -> bool:
        if not np.all(_in_window(cfg, radar, pos, L / 2, margin_m=0.5)) or not drivable(corners):
            return False
        if not clear_of(boxes, corners):
            return False
        centres = np.concatenate([pos, np.full((len(pos), 1), H / 2)], 1)
        return not any(segment_hits_box(radar, c, lo, hi) for c in centres for lo, hi in boxes)

    if cls == "car":
        kinds, weights = motion_mix(cfg, cfg.scenario if cfg.scenario in SCENARIO_MOTIONS else "parking_lot")
    else:
        kinds, weights = tuple(cfg.scene.target_motions) or MOTIONS, None
        weights = tuple(1.0 for _ in kinds)
    tr = draw_track(rng, kinds, weights, region, (L, W), speed, int(cfg.scene.n_frames),
                    float(cfg.scene.frame_dt_s), feasible)
    if tr is None:
        raise ValueError(f"no feasible {cls} track for the target inside the radar window; check radio.range_*, "
                         "the FOVs and scene.speed_mps")
    meta = {"target_motion": tr.kind, "target_heading0_deg": float(np.rad2deg(tr.yaws[0])),
            "target_yaw_rate_dps": float(np.rad2deg(tr.yaw_rate)), "target_model_index": int(model),
            "target_speed_mps": tr.speed}
    if cls != "car":
        body, _ = person_body("target", cls, cache, rng, tr, float(cfg.scene.frame_dt_s))
        body.kind = "target"
        meta.update({"target_class": cls, "target_model_index": -1})
        return body, meta
    paint = PAINTS[int(rng.integers(0, len(PAINTS)))]
    body = _car("target", "target", cache, model, paint, tr.positions, 0.0)
    body.yaws = tr.yaws.copy()
    body.velocity = (float(tr.velocities[0, 0]), float(tr.velocities[0, 1]), 0.0)
    body.velocities = np.concatenate([tr.velocities, np.zeros((len(tr.velocities), 1))], 1)
    body.object_class = "car"
    return body, meta


def _movers(cfg, rng, cache, radar, bodies, model: int, car_area, walk_area) -> tuple[list[Body], dict]:
    """The sequence's road users (``scene.objects``), primary target first, and their metadata.

    ``car_area`` / ``walk_area`` = (region (x0, x1, y0, y1) [m] of track starts, area test on [T,4,2]
    corners) for cars and for pedestrians / cyclists. Road users after the first may enter or leave the
    view (in the window for at least half the frames) and occlude one another; they never overlap.
    """
    classes = object_counts(cfg, rng)
    region, area = car_area if classes[0] == "car" else walk_area
    target, meta = _target(cfg, rng, cache, radar, bodies, model, region, area, cls=classes[0])
    movers = [target]
    objs = [{"name": "target", "class": classes[0], "motion": meta["target_motion"],
             "speed_mps": meta["target_speed_mps"]}]
    boxes = static_boxes(bodies) + [MAST_BOX]     # road users keep clear of the base station's mast too
    for k, cls in enumerate(classes[1:], start=1):
        m = int(_models(cfg, rng, 1)[0])
        size, speed = class_size_speed(cfg, cls, car_model(m).size)
        region, area = car_area if cls == "car" else walk_area

        def feasible(pos, yaw, corners, L=size[0]) -> bool:
            inside = _in_window(cfg, radar, pos, L / 2, margin_m=0.0)
            return bool(inside.mean() >= 0.5) and area(corners) and clear_of(boxes, corners)

        tr = draw_mover_track(cfg, rng, cls, size, speed, region, feasible, [mover_corners(b) for b in movers])
        if tr is None:   # a crowded scene: fewer road users, said in the metadata
            continue
        name = f"{cls}_{k:02d}"
        if cls == "car":
            body = _car(name, "road_user", cache, m, PAINTS[int(rng.integers(0, len(PAINTS)))], tr.positions, 0.0)
            body.yaws = tr.yaws.copy()
            body.velocities = np.concatenate([tr.velocities, np.zeros((len(tr.velocities), 1))], 1)
            body.velocity = tuple(float(v) for v in body.velocities[0])
            body.object_class = "car"
        else:
            body, _ = person_body(name, cls, cache, rng, tr, float(cfg.scene.frame_dt_s))
        movers.append(body)
        objs.append({"name": name, "class": cls, "motion": tr.kind, "speed_mps": tr.speed})
    if tuple(cfg.scene.objects):
        meta["objects"] = objs
        meta["objects_requested"] = len(classes)
    return movers, meta
