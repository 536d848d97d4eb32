"""Target motion: kinematic tracks of the moving target in every direction.

A track is a constant-speed, constant-turn-rate (CTRV) path of the car's footprint centre, sampled at the
frame times. World frame as in ``scene.world``: x forward (the radar boresight), y to the radar's left, yaw
0 along +x, counter-clockwise positive.

Kinds of motion (``MOTIONS``), by the track's initial heading psi0 relative to world +x (the boresight)
and its total turn over the sequence:

* ``crossing``:    |psi0| within 15 deg of +-90 deg (drives across the view), straight
* ``approaching``: psi0 within 15 deg of 180 deg (drives towards the base station), straight
* ``receding``:    psi0 within 15 deg of 0 deg, straight
* ``diagonal``:    psi0 25-65 deg off the x axis in any quadrant, straight
* ``turning``:     any initial heading; constant turn rate with a total turn of 45-120 deg

The simulator states what the world is: scenarios pick a mix of these (``layouts``), and the sampler
keeps a track only if the whole car stays inside the drivable region, the radar/camera window and clear of
every static body at every frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

MOTIONS = ("crossing", "approaching", "receding", "diagonal", "turning")


@dataclass(frozen=True)
class Track:
    kind: str
    positions: np.ndarray     # [T, 2] footprint centre (world x, y) [m]
    yaws: np.ndarray          # [T] heading [rad]
    velocities: np.ndarray    # [T, 2] world velocity [m/s]
    speed: float              # [m/s]
    yaw_rate: float           # [rad/s]


def ctrv_track(start_xy: tuple[float, float], heading: float, speed: float, yaw_rate: float,
               n_frames: int, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact constant-turn-rate-and-velocity integration (the CTRV model, e.g. Schubert et al. 2008, eq. 2).

    start_xy [m], heading psi0 [rad], speed v [m/s], yaw_rate w [rad/s], T frames dt [s] apart ->
    positions [T, 2] [m], yaws [T] [rad], velocities [T, 2] [m/s]:

        psi(t) = psi0 + w t
        p(t)   = p0 + (v / w) (sin psi(t) - sin psi0, cos psi0 - cos psi(t))   (w != 0)
        p(t)   = p0 + v t (cos psi0, sin psi0)                                   (w == 0)
    """
    t = np.arange(int(n_frames), dtype=np.float64) * float(dt)
    psi = float(heading) + float(yaw_rate) * t
    p0 = np.asarray(start_xy, np.float64)
    if abs(yaw_rate) < 1e-9:
        d = np.stack([np.cos(heading) * t, np.sin(heading) * t], 1) * speed
    else:
        k = speed / yaw_rate
        d = k * np.stack([np.sin(psi) - np.sin(heading), np.cos(heading) - np.cos(psi)], 1)
    vel = speed * np.stack([np.cos(psi), np.sin(psi)], 1)
    return p0[None] + d, psi, vel


def footprint_corners(positions: np.ndarray, yaws: np.ndarray, length: float, width: float) -> np.ndarray:
    """[T, 2] centres and [T] yaws of an L x W footprint -> [T, 4, 2] world corners [m]."""
    lx = np.array([1, 1, -1, -1]) * length / 2
    ly = np.array([1, -1, -1, 1]) * width / 2
    c, s = np.cos(yaws)[:, None], np.sin(yaws)[:, None]
    return np.stack([positions[:, :1] + c * lx - s * ly, positions[:, 1:2] + s * lx + c * ly], -1)


def _heading(kind: str, rng: np.random.Generator) -> float:
    """Initial heading [rad] of a motion ``kind`` (module docstring)."""
    j = np.deg2rad(rng.uniform(-15.0, 15.0))
    if kind == "crossing":
        return float((np.pi / 2 if rng.random() < 0.5 else -np.pi / 2) + j)
    if kind == "approaching":
        return float(np.pi + j)
    if kind == "receding":
        return float(j)
    if kind == "diagonal":
        return float(np.deg2rad(rng.uniform(25.0, 65.0)) * (1 if rng.random() < 0.5 else -1)
                     + (np.pi if rng.random() < 0.5 else 0.0))
    return float(rng.uniform(-np.pi, np.pi))   # turning: any start heading


def draw_track(rng: np.random.Generator, kinds: tuple[str, ...], weights: tuple[float, ...],
               region: tuple[float, float, float, float], size: tuple[float, float], speed_mps: tuple[float, float],
               n_frames: int, dt: float, feasible: Callable[[np.ndarray, np.ndarray, np.ndarray], bool],
               tries: int = 300) -> Track | None:
    """Draw a track of a kind from ``kinds`` (probabilities ``weights``) whose car stays feasible.

    region = (x0, x1, y0, y1): the box start points are drawn from [m]; size = (L, W) [m];
    ``feasible(positions [T,2], yaws [T], corners [T,4,2])`` checks windows, drivable area and obstacles.
    The kind is drawn once, so the scenario's mix holds; start, heading, speed and turn are redrawn up to
    ``tries`` times, the speed from the lower half of its range after half of them (a slower car covers
    less ground and fits where a fast one does not). A kind that never fits hands over to the others in
    order of weight, then to the remaining ``MOTIONS`` (the track's ``kind`` says what was drawn, and the
    datasheet counts them); None if nothing fits.
    """
    p = np.asarray(weights, np.float64)
    p = p / p.sum()
    first = int(rng.choice(len(kinds), p=p))
    order = [str(kinds[first])] + [str(kinds[i]) for i in np.argsort(-p, kind="stable") if i != first]
    order += [k for k in MOTIONS if k not in order]   # last resort: any kind that fits this scene
    lo, hi = speed_mps
    for kind in order:
        for attempt in range(tries):
            top = hi if attempt < tries // 2 else lo + 0.5 * (hi - lo)
            start = (float(rng.uniform(region[0], region[1])), float(rng.uniform(region[2], region[3])))
            psi0 = _heading(kind, rng)
            v = float(rng.uniform(lo, top))
            w = 0.0
            if kind == "turning":
                dur = max(dt * (n_frames - 1), 1e-9)
                w = float(np.deg2rad(rng.uniform(45.0, 120.0)) / dur * (1 if rng.random() < 0.5 else -1))
            pos, yaw, vel = ctrv_track(start, psi0, v, w, n_frames, dt)
            corners = footprint_corners(pos, yaw, size[0], size[1])
            if feasible(pos, yaw, corners):
                return Track(kind=kind, positions=pos, yaws=yaw, velocities=vel, speed=v, yaw_rate=w)
    return None


def segment_hits_box(p0: np.ndarray, p1: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> bool:
    """Slab test: does the 3-D segment p0 -> p1 pass through the axis-aligned box [lo, hi]?"""
    d = p1 - p0
    t0, t1 = 0.0, 1.0
    for k in range(3):
        if abs(d[k]) < 1e-12:
            if p0[k] < lo[k] or p0[k] > hi[k]:
                return False
            continue
        a, b = sorted(((lo[k] - p0[k]) / d[k], (hi[k] - p0[k]) / d[k]))
        t0, t1 = max(t0, a), min(t1, b)
        if t0 > t1:
            return False
    return True


def boxes_overlap(corners: np.ndarray, lo: np.ndarray, hi: np.ndarray, margin: float = 0.3) -> np.ndarray:
    """[T, 4, 2] oriented footprints vs one axis-aligned box [lo, hi] (x, y) grown by ``margin`` -> [T] bool.

    Separating-axis test on the world axes and on the footprint's own two axes (exact for two rectangles).
    """
    lo = np.asarray(lo, np.float64)[:2] - margin
    hi = np.asarray(hi, np.float64)[:2] + margin
    box = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])     # [4, 2]
    c = np.asarray(corners, np.float64)
    T = len(c)
    axes = np.stack([np.broadcast_to([1.0, 0.0], (T, 2)), np.broadcast_to([0.0, 1.0], (T, 2)),
                     c[:, 1] - c[:, 0], c[:, 3] - c[:, 0]], 1)                              # [T, 4 axes, 2]
    pa = np.einsum("tkd,tad->tak", c, axes)                                                 # [T, axes, 4]
    pb = np.einsum("kd,tad->tak", box, axes)
    separated = (pa.max(-1) < pb.min(-1)) | (pb.max(-1) < pa.min(-1))                      # [T, axes]
    return ~separated.any(-1)
