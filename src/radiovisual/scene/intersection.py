"""The ``intersection`` scenario: a four-way (or T) junction seen by the base station down one of its roads.

World frame as in ``scene.world`` (radar at (0, 0, h) looking along +x). The *main road* runs along x through
the radar's position; the *cross road* runs along y and meets it at x = ``xc``, inside the range window. In a
T junction (30 % of sequences) the main road ends at the cross road, and a row of buildings closes the view
behind it.

* Buildings stand on the four corner lots (two, and the closing row, in a T), behind 2.5 m sidewalks and a
  setback, in the radar's ITU materials (concrete, brick, glass, metal, wood).
* Zebra crossings: white stripes 1 cm high on the ground just outside the junction box, on the near arm
  always, on one or both cross-road arms and sometimes the far arm. They are camera-only detail (concrete
  like the ground, so the radar sees the ground), part of the ground body: road users walk and drive over
  them.
* Parked cars along some kerbs, nose along the road, clear of the junction and of the crossings;
  traffic-light poles (metal) on some sidewalk corners.
* Road users (``blocks._movers``, ``scene.objects``): cars on the two carriageways (the car area is their
  union, 0.3 m off the kerbs), pedestrians on the sidewalks and zebra crossings, cyclists on the
  carriageways. The primary target car drives straight through either road or turns
  (``blocks.SCENARIO_MOTIONS["intersection"]``).

Everything random comes from the ``rng`` passed in, in a fixed order: (cfg, seed) fixes the scene.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .blocks import MATERIAL_RGB, _building, _in_window, _movers, _park_cars, _static
from .cars import cached_ply
from .meshes import box, merge
from .objects import MAST_BOX, clear_of
from .world import Body, Part

SIDEWALK_M = 2.5          # sidewalk width [m]
CROSSING_GAP_M = 0.5      # crossing starts this far outside the junction box [m]
STRIPE_W_M = 0.5          # zebra stripe width (and gap) [m]
STRIPE_H_M = 0.01         # zebra stripe height above the ground [m]
KERB_MARGIN_M = 0.3       # cars keep this far off the kerb [m]
RIDER_MIN_LEN_M = 1.0     # a footprint longer than this is a cyclist (bicycle ~1.75 m; a walker ~0.5 m)
# The stripes' camera colour: the white car paint (blocks.PAINTS[0]), so their BSDF is one of the camera's
# canonical static groups (sensors.camera) and adds no render kernel.
ZEBRA_RGB = (0.80, 0.80, 0.78)
# The base station's mast (objects.MAST_BOX) stands after the road users are drawn, so their area tests keep
# them off it here (a road user may enter the view from behind the radar).
WALLS = ("itu_concrete", "itu_brick", "itu_glass", "itu_metal", "itu_wood")
WALL_P = (0.3, 0.25, 0.15, 0.1, 0.2)

Rect = tuple[float, float, float, float]   # (x0, x1, y0, y1) [m]


def inside_any(points: np.ndarray, rects: list[Rect]) -> np.ndarray:
    """Boolean [...]: points [..., 2] inside at least one of the axis-aligned rectangles."""
    p = np.asarray(points, np.float64)
    out = np.zeros(p.shape[:-1], bool)
    for x0, x1, y0, y1 in rects:
        out |= (p[..., 0] >= x0) & (p[..., 0] <= x1) & (p[..., 1] >= y0) & (p[..., 1] <= y1)
    return out


def footprint_points(corners: np.ndarray) -> np.ndarray:
    """[T, 4, 2] footprint corners -> [T, 9, 2]: corners, edge midpoints and centre (the area test's points;
    the midpoints keep a car from cutting a corner lot between two carriageways)."""
    c = np.asarray(corners, np.float64)
    mids = 0.5 * (c + np.roll(c, -1, axis=1))
    return np.concatenate([c, mids, c.mean(1, keepdims=True)], 1)


def _stripes(rect: Rect, along_x: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Zebra stripes filling a crossing ``rect``: long axis along the traffic (x for a crossing of the main
    road, y for one of the cross road), 0.5 m wide with 0.5 m gaps across it."""
    x0, x1, y0, y1 = rect
    span0, span1 = (y0, y1) if along_x else (x0, x1)
    n = int((span1 - span0 + STRIPE_W_M) // (2 * STRIPE_W_M))
    first = 0.5 * (span0 + span1) - (n - 1) * STRIPE_W_M     # centred on the road
    out = []
    for k in range(n):
        c = first + 2 * STRIPE_W_M * k
        if along_x:
            out.append(box(x1 - x0, STRIPE_W_M, STRIPE_H_M, center_xy=(0.5 * (x0 + x1), c)))
        else:
            out.append(box(STRIPE_W_M, y1 - y0, STRIPE_H_M, center_xy=(c, 0.5 * (y0 + y1))))
    return out


def _ground_with_crossings(cache: Path, x0: float, x1: float, half_w: float,
                           crossings: list[tuple[Rect, bool]]) -> Body:
    """The ground slab (concrete) with the zebra stripes as a second, white part of the same body."""

    v, f = box(x1 - x0, 2 * half_w, 0.1, z0=-0.1, center_xy=((x0 + x1) / 2, 0.0))
    parts = [Part(str(cached_ply(cache, "ground-itu_concrete", v, f)), "itu_concrete",
                  MATERIAL_RGB["itu_concrete"])]
    stripes = [m for rect, along_x in crossings for m in _stripes(rect, along_x)]
    if stripes:
        sv, sf = merge(*stripes)
        parts.append(Part(str(cached_ply(cache, "zebra-itu_concrete", sv, sf)), "itu_concrete", ZEBRA_RGB))
    return Body(name="ground", kind="ground", parts=parts, size=(x1 - x0, 2 * half_w, 0.1),
                positions=np.array([[0.0, 0.0, 0.0]]), yaws=np.array([0.0]))


def _traffic_light(name: str, cache: Path, pos: tuple[float, float]) -> Body:
    """A metal pole with a signal head on top, inside a 0.3 m x 0.3 m footprint."""

    pole = box(0.14, 0.14, 2.7)
    head = box(0.3, 0.3, 0.9, z0=2.6)
    return _static(name, "prop", cache, [(merge(pole, head), "itu_metal")], (0.3, 0.3, 3.5), pos)


def intersection(cfg, rng: np.random.Generator, cache: Path, radar: np.ndarray, depth: float):
    """(static bodies, road users (primary target first), metadata) of one intersection sequence."""

    tee = bool(rng.random() < 0.3)
    hwm = float(rng.uniform(3.75, 5.0))          # main road half width (kerb to centre line) [m]
    hwc = float(rng.uniform(3.75, 5.0))          # cross road half width [m]
    xc = float(rng.uniform(0.42, 0.55) * depth)  # junction centre on the boresight [m]
    zw = float(rng.uniform(2.5, 3.5))            # crossing width (stripe length) [m]
    sw, g0 = SIDEWALK_M, CROSSING_GAP_M
    x_lo, x_hi, y_hi = -5.0, depth + 25.0, depth + 15.0       # extent of the ground [m]

    # Zebra crossings: the near arm always; one cross-road arm always, the other half the time; the far arm
    # (four-way only) half the time.
    side = 1 if rng.random() < 0.5 else -1
    both = bool(rng.random() < 0.5)
    far = bool(rng.random() < 0.5) and not tee
    arms = {"near": True, "left": side == 1 or both, "right": side == -1 or both, "far": far}
    crossings: dict[str, Rect] = {}
    if arms["near"]:
        crossings["near"] = (xc - hwc - g0 - zw, xc - hwc - g0, -hwm, hwm)
    if arms["far"]:
        crossings["far"] = (xc + hwc + g0, xc + hwc + g0 + zw, -hwm, hwm)
    if arms["left"]:
        crossings["left"] = (xc - hwc, xc + hwc, hwm + g0, hwm + g0 + zw)
    if arms["right"]:
        crossings["right"] = (xc - hwc, xc + hwc, -hwm - g0 - zw, -hwm - g0)
    bodies: list[Body] = [_ground_with_crossings(cache, x_lo, x_hi, y_hi,
                                                 [(r, k in ("near", "far")) for k, r in crossings.items()])]

    # Carriageways and sidewalks (x0, x1, y0, y1)
    x_main_end = xc + hwc if tee else x_hi
    roads: list[Rect] = [(x_lo, x_main_end, -hwm, hwm), (xc - hwc, xc + hwc, -y_hi, y_hi)]
    walks: list[Rect] = [(x_lo, xc - hwc, hwm, hwm + sw), (x_lo, xc - hwc, -hwm - sw, -hwm),
                         (xc - hwc - sw, xc - hwc, hwm, y_hi), (xc - hwc - sw, xc - hwc, -y_hi, -hwm)]
    if tee:
        walks.append((xc + hwc, xc + hwc + sw, -y_hi, y_hi))
    else:
        walks += [(xc + hwc, x_hi, hwm, hwm + sw), (xc + hwc, x_hi, -hwm - sw, -hwm),
                  (xc + hwc, xc + hwc + sw, hwm, y_hi), (xc + hwc, xc + hwc + sw, -y_hi, -hwm)]
    walks += list(crossings.values())

    # Buildings on the corner lots, behind the sidewalk and a setback
    k = 0

    def wall() -> str:
        return str(rng.choice(WALLS, p=WALL_P))

    near_end = xc - hwc - sw
    far_start = xc + hwc + sw
    for sy in (-1, 1):
        setback = float(rng.uniform(0.5, 3.0))
        y_in = hwm + sw + setback                          # lot edge along the main road [m]
        x = float(rng.uniform(-3.0, 0.0))
        x_end = near_end - float(rng.uniform(0.5, 3.0))    # lot edge along the cross road [m]
        while x_end - x >= 4.0:                            # near corner lot: buildings along the main road
            L = min(float(rng.uniform(6.0, 14.0)), x_end - x)
            W, H, mat = float(rng.uniform(8.0, 14.0)), float(rng.uniform(5.0, 20.0)), wall()
            bodies.append(_building(f"building_{k:02d}", cache, rng, L, W, H, mat, -sy,
                                    (x + L / 2, sy * (y_in + W / 2)), glass=mat != "itu_glass"))
            k += 1
            x += L + float(rng.uniform(0.0, 2.0))
        if tee:
            continue
        x = far_start + float(rng.uniform(0.5, 3.0))
        while x < depth + 15.0:                            # far corner lot
            L = float(rng.uniform(8.0, 16.0))
            W, H, mat = float(rng.uniform(8.0, 14.0)), float(rng.uniform(5.0, 25.0)), wall()
            facade = 0 if rng.random() < 0.5 else -sy
            bodies.append(_building(f"building_{k:02d}", cache, rng, L, W, H, mat, facade,
                                    (x + L / 2, sy * (y_in + W / 2)), glass=mat != "itu_glass"))
            k += 1
            x += L + float(rng.uniform(0.0, 2.0))
    if tee:   # the row across the end of the main road, facing the radar
        x0 = far_start + float(rng.uniform(0.5, 3.0))
        y = -depth - 10.0
        while y < depth + 10.0:
            W = float(rng.uniform(8.0, 16.0))
            L, H, mat = float(rng.uniform(8.0, 14.0)), float(rng.uniform(5.0, 25.0)), wall()
            bodies.append(_building(f"building_{k:02d}", cache, rng, L, W, H, mat, 0, (x0 + L / 2, y + W / 2),
                                    glass=mat != "itu_glass"))
            k += 1
            y += W + float(rng.uniform(0.0, 2.0))

    # Traffic lights on some sidewalk corners of the junction (at least one)
    corners = [(xc - hwc - 0.5, hwm + 0.5), (xc - hwc - 0.5, -hwm - 0.5),
               (xc + hwc + 0.5, hwm + 0.5), (xc + hwc + 0.5, -hwm - 0.5)]
    lit = rng.random(len(corners)) < 0.5
    lit[int(rng.integers(0, len(corners)))] = True
    for i, pos in enumerate(corners):
        if lit[i]:
            bodies.append(_traffic_light(f"traffic_light_{i}", cache, pos))

    # Parked cars along some kerbs (inside the carriageway, like the streets), nose along the road, clear of
    # the junction box and of the crossings by >= 1 m
    clear = 1.0 + 2.8                                      # slot centre to a crossing / the junction [m]
    segments: list[np.ndarray] = []
    main_starts = [(xc - hwc - (g0 + zw if arms["near"] else g0) - clear, -1)]    # near arm: towards the radar
    if not tee:
        main_starts.append((xc + hwc + (g0 + zw if arms["far"] else g0) + clear, 1))
    for x_from, direction in main_starts:
        for s in (-1, 1):
            xs = []
            x = x_from
            while 0.0 < x < depth + 5.0:
                xs.append(x)
                x += direction * float(rng.uniform(5.8, 7.5))
            segments.append(np.array([(x, s * (hwm - 1.1)) for x in xs]).reshape(-1, 2))
    for arm, s in (("left", 1), ("right", -1)):
        y_from = hwm + (g0 + zw if arms[arm] else g0) + clear
        for sx in (-1, 1):
            ys = []
            y = y_from
            while y < depth:
                ys.append(y)
                y += float(rng.uniform(5.8, 7.5))
            segments.append(np.array([(xc + sx * (hwc - 1.1), s * y) for y in ys]).reshape(-1, 2))
    use = rng.random(len(segments)) < 0.75
    cand = np.concatenate([seg for seg, u in zip(segments, use) if u] or [np.zeros((0, 2))])
    if not len(cand) or not _in_window(cfg, radar, cand, 2.8, margin_m=0.0).any():
        cand = np.concatenate(segments)          # no parking in view on the drawn kerbs: every kerb

    def yaw_of(xy, rng) -> float:   # drive on the right: parked with the traffic of their kerb
        if abs(xy[1]) < hwm:
            return 0.0 if xy[1] < 0 else np.pi
        return np.pi / 2 if xy[0] > xc else -np.pi / 2

    parked, target_model = _park_cars(cfg, rng, radar, cand, cache, yaw_of)
    bodies.extend(parked)

    # Road users: cars on the two carriageways (0.3 m off the kerbs); walkers on sidewalks and crossings,
    # cyclists on the carriageways (told apart by footprint length: the one area test serves both)
    lanes = [(x_lo, x_main_end, -hwm + KERB_MARGIN_M, hwm - KERB_MARGIN_M),
             (xc - hwc + KERB_MARGIN_M, xc + hwc - KERB_MARGIN_M, -y_hi, y_hi)]

    def on_road(c) -> bool:
        return bool(np.all(inside_any(footprint_points(c), lanes))) and clear_of([MAST_BOX], c)

    def on_foot(c) -> bool:
        rider = float(np.linalg.norm(np.asarray(c)[0, 0] - np.asarray(c)[0, 3])) > RIDER_MIN_LEN_M
        return bool(np.all(inside_any(footprint_points(c), roads if rider else walks))) and clear_of([MAST_BOX], c)

    reach = 0.7 * depth
    car_region = (0.0, depth + 2.0, -reach, reach)
    walk_region = (xc - hwc - sw - zw - 2.0, xc + hwc + sw + zw + 2.0,
                   -(hwm + sw + zw + 2.0), hwm + sw + zw + 2.0)
    movers, meta = _movers(cfg, rng, cache, radar, bodies, target_model, (car_region, on_road),
                           (walk_region, on_foot))
    meta["intersection"] = {
        "kind": "t" if tee else "four_way", "centre_x_m": xc, "main_half_width_m": hwm,
        "cross_half_width_m": hwc, "sidewalk_m": sw,
        "crossings": {k: [float(v) for v in r] for k, r in crossings.items()},
        "roads": [[float(v) for v in r] for r in roads], "walks": [[float(v) for v in r] for r in walks]}
    return bodies, movers, meta
