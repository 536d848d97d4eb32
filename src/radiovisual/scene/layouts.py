"""Scenario layouts (parking lot, suburban street, street canyon; the intersection in ``scene.intersection``)
-> ``World``; their building blocks (window, cars, tracks) are in ``scene.blocks``.

Everything random is drawn from the ``rng`` passed in, so (cfg, seed) fixes the scene.
World frame as in ``scene.world``: radar at (0, 0, h) looking along +x with a downtilt;
world +y is to the radar's LEFT (dataset x_right = -y).

Geometry is kept inside the radar's range window and inside the azimuth sector both
sensors see (radar FOV and camera HFOV, minus a margin), so the target is always in view
and shares the range window with clutter (parked cars, walls), which makes the label
problem real. The target lane is kept clear: nothing stands between the radar and the
target's lane except cars lower than the line of sight from the mast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .blocks import (AZ_MARGIN_DEG, GLASS_RGB, MATERIAL_RGB, PAINTS, SCENARIO_MOTIONS,  # noqa: F401 (re-exported)
                     TARGET_HEIGHT_FOR_RANGE, WHEEL_RGB, _building, _car, _ground, _in_window, _models, _movers,
                     _park_cars, _sector, _static, _target, motion_mix)
from .cars import N_BASE_MODELS
from .intersection import intersection
from .meshes import box
from .objects import draw_weather
from .world import Body, World


# the built-in scenarios, in the order a "mix" store cycles through them per sequence
MIX_SCENARIOS = ("parking_lot", "suburban", "street_canyon")
# built-in scenarios added later, outside the default mix (which fixes the bytes of existing "mix" stores)
SCENARIOS_EXTRA = ("intersection",)


def _parking_lot(cfg, rng, cache, radar, depth):
    bodies = [_ground(cache, -5.0, depth + 20.0, depth + 15.0, "itu_concrete")]
    # The lane crosses the lot in front of two rows of parked cars (nose to nose), so the
    # radar's view of the lane is clear and the parked cars are the background clutter.
    x_lane = float(rng.uniform(0.36, 0.45) * depth)
    slot = 2.7  # slot width along y [m]
    rows = [x_lane + 5.8, x_lane + 11.8]
    cand = []
    for xr in rows:
        for y in np.arange(-depth, depth + 1e-6, slot):
            cand.append((xr, y))
    cand = np.array(cand)
    # nose in or nose out
    parked, target_model = _park_cars(cfg, rng, radar, cand, cache,
                                      lambda xy, rng: 0.0 if rng.random() < 0.5 else np.pi)
    bodies.extend(parked)
    # clutter at the back: a row of buildings/walls beyond the back row
    xb = rows[-1] + 4.0 + float(rng.uniform(2.0, 6.0))
    y = -depth - 10.0
    k = 0
    while y < depth + 10.0:
        w = float(rng.uniform(8.0, 16.0))
        if rng.random() < 0.8:
            wall = str(rng.choice(["itu_concrete", "itu_brick"]))
            bodies.append(_building(f"building_{k:02d}", cache, rng, float(rng.uniform(6.0, 10.0)), w,
                                    float(rng.uniform(4.0, 10.0)), wall, 0, (xb + 4.0, y + w / 2),
                                    glass=bool(rng.random() < 0.6)))
            k += 1
        y += w + float(rng.uniform(0.0, 4.0))
    # lamp posts (metal) behind the back row
    for i in range(int(rng.integers(1, 4))):
        xp = float(rows[-1] + 3.4)
        yp = float(rng.uniform(-0.6, 0.6) * depth)
        v, f = box(0.15, 0.15, 5.0)
        bodies.append(_static(f"pole_{i}", "prop", cache, [((v, f), "itu_metal")], (0.15, 0.15, 5.0), (xp, yp)))
    # The target drives in the open lot in front of the parked rows: across the view along the lane most
    # often (the lot's look), and in every other direction too (scene.motion docstring).
    front = rows[0] - 2.8                      # nose line of the first parked row [m]
    region = (0.0, front, -depth, depth)
    lot = (region, lambda c: bool(np.all(c[..., 0] <= front - 0.3)))
    movers, meta = _movers(cfg, rng, cache, radar, bodies, target_model, lot, lot)
    meta["lane_x_m"] = x_lane
    return bodies, movers, meta


def _street(cfg, rng, cache, radar, depth, canyon: bool):
    half_street = float(rng.uniform(6.0, 8.0) if canyon else rng.uniform(5.0, 6.5))
    bodies = [_ground(cache, -5.0, depth + 25.0, depth + 15.0, "itu_concrete")]  # ITU ground types stop at 10 GHz
    k = 0
    for side in (-1, 1):
        x = float(rng.uniform(-2.0, 3.0))
        while x < depth + 15.0:
            L = float(rng.uniform(10.0, 20.0) if canyon else rng.uniform(7.0, 12.0))
            W = float(rng.uniform(10.0, 16.0) if canyon else rng.uniform(7.0, 10.0))
            H = float(rng.uniform(15.0, 35.0) if canyon else rng.uniform(4.5, 8.0))
            setback = 0.5 if canyon else float(rng.uniform(3.0, 7.0))
            yc = side * (half_street + 2.5 + setback + W / 2)  # 2.5 m sidewalk
            if canyon:
                wall = str(rng.choice(["itu_concrete", "itu_glass", "itu_metal"], p=[0.6, 0.25, 0.15]))
            else:
                wall = str(rng.choice(["itu_brick", "itu_wood"]))
            bodies.append(_building(f"building_{k:02d}", cache, rng, L, W, H, wall, -side, (x + L / 2, yc),
                                    glass=wall != "itu_glass"))
            k += 1
            x += L + float(rng.uniform(0.0, 1.0) if canyon else rng.uniform(3.0, 8.0))
    # parked cars along both kerbs, nose along the street
    cand = []
    for side in (-1, 1):
        x = float(rng.uniform(2.0, 6.0))
        while x < depth + 5.0:
            cand.append((x, side * (half_street - 1.1)))
            x += float(rng.uniform(5.8, 9.0))
    cand = np.array(cand) if cand else np.zeros((0, 2))
    # drive on the right: parked with the traffic
    parked, target_model = _park_cars(cfg, rng, radar, cand, cache, lambda xy, rng: 0.0 if xy[1] < 0 else np.pi)
    bodies.extend(parked)
    # On the carriageway (between the kerbs, clear of the parked cars): along the street both ways most
    # often, and changing lanes or turning (scene.motion docstring).
    kerb = half_street - 0.3
    region = (0.0, depth + 5.0, -kerb, kerb)
    walk = half_street + 2.3      # kerb-side edge of the 2.5 m sidewalk
    movers, meta = _movers(cfg, rng, cache, radar, bodies, target_model,
                           (region, lambda c: bool(np.all(np.abs(c[..., 1]) <= kerb))),
                           ((0.0, depth + 5.0, -walk, walk), lambda c: bool(np.all(np.abs(c[..., 1]) <= walk))))
    meta["street_half_width_m"] = half_street
    return bodies, movers, meta


def scenario_of(cfg, sequence: int) -> str:
    """The scenario sequence ``sequence`` is built as: ``cfg.scenario``, or for ``mix`` the scenarios of
    ``scene.mix_scenarios`` (default: the three built-in ones) in turn, sequence k -> the (k mod n)-th: equal
    shares in every split."""
    if cfg.scenario != "mix":
        return cfg.scenario
    pool = tuple(getattr(cfg.scene, "mix_scenarios", ()) or MIX_SCENARIOS)
    return pool[int(sequence) % len(pool)]


def build_world(cfg, rng: np.random.Generator, cache_dir: str | Path, sequence: int = 0) -> World:
    """Draw one sequence's scene of ``cfg.scenario`` from ``rng`` (meshes cached in ``cache_dir``);
    ``sequence`` (the id within its split) picks the scenario of a ``mix`` store."""
    from dataclasses import replace

    from ..errors import ConfigError

    scenario = scenario_of(cfg, sequence)
    if scenario != cfg.scenario:
        cfg = replace(cfg, scenario=scenario)

    cache = Path(cache_dir)
    h = float(cfg.scene.bs_height_m)
    radar = np.array([0.0, 0.0, h])
    depth = float(min(cfg.radio.range_max_m, 30.0))
    look_at = np.array([min(15.0, 0.6 * depth), 0.0, 0.0])
    try:
        if cfg.scenario == "parking_lot":
            bodies, movers, meta = _parking_lot(cfg, rng, cache, radar, depth)
        elif cfg.scenario == "suburban":
            bodies, movers, meta = _street(cfg, rng, cache, radar, depth, canyon=False)
        elif cfg.scenario == "street_canyon":
            bodies, movers, meta = _street(cfg, rng, cache, radar, depth, canyon=True)
        elif cfg.scenario == "intersection":
            bodies, movers, meta = intersection(cfg, rng, cache, radar, depth)
        else:
            raise ConfigError(f"unknown scenario '{cfg.scenario}'")
    except ValueError as e:
        raise ConfigError(str(e)) from None
    pole = box(0.3, 0.3, h - 0.3)
    bodies.append(_static("bs_pole", "pole", cache, [(pole, "itu_metal")], (0.3, 0.3, h - 0.3), (-0.45, 0.0)))
    target = movers[0]
    bodies.extend(movers)
    parked = [b for b in bodies if b.kind == "parked_car"]
    weather = draw_weather(cfg, rng)
    if tuple(cfg.scene.weather):
        meta["weather"] = weather
    meta.update({
        "target_model": _model_name(target),
        "parked_models": [_model_name(b) for b in parked],
        "n_parked": len(parked),
        "n_base_car_models": N_BASE_MODELS,
    })
    cam_off = np.asarray(cfg.camera.offset_m, dtype=np.float64)
    return World(scenario=cfg.scenario, bodies=bodies, target="target", n_frames=int(cfg.scene.n_frames),
                 frame_dt_s=float(cfg.scene.frame_dt_s), radar_position=radar, radar_look_at=look_at,
                 camera_position=radar + cam_off, camera_look_at=look_at + cam_off, meta=meta,
                 objects=tuple(b.name for b in movers) if tuple(cfg.scene.objects) else ())


def _model_name(body: Body) -> str:
    """Model name, read back from the content-named hull file ``<car|ped|cyc>-<name>-hull-<hash>.ply``."""
    return Path(body.hull_mesh).name.split("-", 1)[1].split("-hull-")[0]
