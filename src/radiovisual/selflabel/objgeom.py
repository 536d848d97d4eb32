"""Per-object geometry for self-labels, label-free: heading, size and the visible-face -> box-centre offset.

Why: a radar sees a car's *visible faces*, while a dataset may document its target point as the car's box
centre. How far the return sits from the centre depends on the object: half the car's length for a car
driving towards or away from the radar, half its width for one crossing the view, in between otherwise.
A constant cannot be right in every scene, so every quantity is estimated per object from what the sensors
give (radar range + Doppler, the camera mask, capture times) and a class prior, never from labels:

* heading: the direction of motion of the self-label track along its sequence (``track_velocity``);
* size: the car's extent across the line of sight from the mask's width through the learned camera map,
  fitted per sequence as a scale of the class's shape (``size_scale``);
* offset: which faces the radar sees, weighted by how squarely each faces it (``face_weights``), gives the
  offset from the returns' centroid to the box centre (``centre_offset``).

Frames: radar (x right, y forward) [m]; the line of sight of a point at azimuth az is e = (sin az, cos az).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Class shape prior (length, width) [m]: the passenger vehicle ("type 2") of 3GPP TR 37.885, Table 6.1.2-1,
# which TR 38.901 Sec. 7.9 (Table 7.9.6.1-3) names as its vehicle sensing target. Only the shape and the
# fallback size come from here: ``size_scale`` rescales it per object from the camera.
CLASS_SHAPE_M = {"car": (5.0, 2.0)}
# Sharpness of the face weighting: weight = cos(incidence)^p over the faces the radar sees. The TR 38.901
# vehicle lobes (Table 7.9.2.1-5) are 27-41 deg wide (3 dB), so the return is the squarest face's, with
# both sharing it near 45 deg; p = 8 halves a face's weight 24 deg off its normal relative to a square one.
FACE_SHARPNESS = 8.0


def robust_polyfit(t: np.ndarray, y: np.ndarray, degree: int, floor: float = 0.05,
                   max_subsets: int = 600) -> np.ndarray:
    """Least-median-of-squares polynomial, then least squares on its inliers; coefficients, highest first.

    Every (degree + 1)-subset of the samples (a deterministic spread of ``max_subsets`` when there are more)
    gives an exact candidate; the one with the smallest median squared residual wins, and the final fit
    uses the samples within 2.5 robust sigmas of it (at least ``floor``, in y's units). A track with up to
    half of its frames on another object still gets its own motion.
    """
    from itertools import combinations

    t, y = np.asarray(t, np.float64), np.asarray(y, np.float64)
    n, k = len(t), degree + 1
    if n <= k:
        return np.polyfit(t, y, min(degree, n - 1))
    subsets = list(combinations(range(n), k))
    if len(subsets) > max_subsets:
        subsets = [subsets[i] for i in np.linspace(0, len(subsets) - 1, max_subsets).round().astype(int)]
    V = np.vander(t, k)                                                   # [n, k]
    # all candidates at once (one batched solve and one row-wise median: ~20x faster than a Python loop,
    # which was most of a self-labelling run); the first smallest median wins, as in a sequential scan
    S = np.asarray(subsets, np.intp)                                      # [K, k]
    A = V[S]                                                              # [K, k, k]
    good = np.abs(np.linalg.det(A)) >= 1e-12
    if not good.any():
        return np.polyfit(t, y, degree)
    S, A = S[good], A[good]
    C = np.linalg.solve(A, y[S][..., None])[..., 0]                       # [K, k] exact candidates
    med = np.median((C @ V.T - y) ** 2, axis=1)                           # [K]
    # Batched and one-by-one arithmetic differ in the last bits, which decides exact ties (three collinear
    # samples give one line three times). The near-best candidates are re-scored one by one, in subset
    # order, exactly as a sequential scan would: the same winner, bit for bit.
    best, best_med = None, np.inf
    for i in np.flatnonzero(med <= med.min() * (1 + 1e-6) + 1e-24):
        c = np.linalg.solve(A[i], y[S[i]])
        m = float(np.median((V @ c - y) ** 2))
        if m < best_med:
            best, best_med = c, m
    res = V @ best - y
    sig = max(1.4826 * float(np.median(np.abs(res))), floor)
    ok = np.abs(res) <= 2.5 * sig
    return np.polyfit(t[ok], y[ok], degree) if ok.sum() > k else best


def track_velocity(xy: np.ndarray, sequence: np.ndarray, frame: np.ndarray, dt: float,
                   min_frames: int = 5) -> np.ndarray:
    """Velocity [m/s] of each sample from its sequence's self-label track, [N, 2] (NaN where unknown).

    xy [N, 2] label positions [m]; ``sequence``/``frame`` are capture metadata and ``dt`` the frame period [s].
    Per sequence, x(t) and y(t) are fitted by robust polynomials (quadratic from 7 frames on, so turning
    tracks keep their changing heading; a line below) and differentiated at each frame's time.
    """
    out = np.full((len(xy), 2), np.nan)
    for s in np.unique(sequence):
        m = np.flatnonzero(sequence == s)
        ok = m[np.isfinite(xy[m]).all(1)]
        if len(ok) < min_frames:
            continue
        t = frame[ok].astype(np.float64) * dt
        deg = 2 if len(ok) >= 7 else 1
        for k in range(2):
            c = robust_polyfit(t, xy[ok, k], deg)
            out[m, k] = np.polyval(np.polyder(c), frame[m].astype(np.float64) * dt)
    return out


def los(az: np.ndarray) -> np.ndarray:
    """Unit line of sight [N, 2] (x right, y forward) of azimuths az [rad] (positive right)."""
    return np.stack([np.sin(az), np.cos(az)], -1)


def face_weights(heading: np.ndarray, e: np.ndarray, p: float = FACE_SHARPNESS) -> np.ndarray:
    """Share of the radar return of each face (front, back, left, right) -> [N, 4], rows summing to 1.

    heading [N, 2] unit direction of motion (the car's front), e [N, 2] unit line of sight (radar -> car).
    A face is seen when its outward normal n points back at the radar (n . e < 0); its share is
    (-n . e)^p over the seen faces (``FACE_SHARPNESS``).
    """
    h = heading / np.maximum(np.linalg.norm(heading, axis=-1, keepdims=True), 1e-12)
    left = np.stack([-h[:, 1], h[:, 0]], -1)
    normals = np.stack([h, -h, left, -left], 1)                          # [N, 4, 2]
    c = np.clip(-(normals * e[:, None]).sum(-1), 0.0, None) ** p          # [N, 4]
    return c / np.maximum(c.sum(1, keepdims=True), 1e-12)


def centre_offset(heading: np.ndarray, e: np.ndarray, length: np.ndarray | float,
                  width: np.ndarray | float, p: float = FACE_SHARPNESS) -> np.ndarray:
    """Vector [N, 2] [m] from the radar's return (the weighted centre of the seen faces) to the box centre.

    Face centres sit at +-L/2 along the heading (front, back) and +-W/2 across it (left, right); the return
    is their ``face_weights`` average, so the centre is that average's negative away. Examples: a car
    driving straight at the radar gives +L/2 along the line of sight; a car crossing it gives +W/2.
    """
    N = len(e)
    h = heading / np.maximum(np.linalg.norm(heading, axis=-1, keepdims=True), 1e-12)
    left = np.stack([-h[:, 1], h[:, 0]], -1)
    L = np.broadcast_to(np.asarray(length, np.float64), (N,))[:, None]
    W = np.broadcast_to(np.asarray(width, np.float64), (N,))[:, None]
    faces = np.stack([h * L / 2, -h * L / 2, left * W / 2, -left * W / 2], 1)   # [N, 4, 2]
    w = face_weights(h, e, p)
    return -(w[..., None] * faces).sum(1)


def mean_offset_along_los(length: float, width: float, p: float = FACE_SHARPNESS, n: int = 360) -> float:
    """Average range offset [m] over uniformly distributed headings: the fallback for a car whose heading
    the track cannot tell (parked, or a sequence too short)."""
    psi = np.linspace(-np.pi, np.pi, n, endpoint=False)
    h = np.stack([np.cos(psi), np.sin(psi)], -1)
    e = np.broadcast_to([0.0, 1.0], (n, 2))
    return float(np.mean((centre_offset(h, e, length, width, p) * e).sum(-1)))


def cross_extent(heading: np.ndarray, e: np.ndarray, length: np.ndarray | float,
                 width: np.ndarray | float) -> np.ndarray:
    """[N] extent [m] of an L x W footprint across the line of sight: L |sin a| + W |cos a|, a = aspect."""
    h = heading / np.maximum(np.linalg.norm(heading, axis=-1, keepdims=True), 1e-12)
    cos_a = np.abs((h * e).sum(-1))
    return np.asarray(length) * np.sqrt(np.clip(1 - cos_a ** 2, 0, 1)) + np.asarray(width) * cos_a


def footprint_span(centre: np.ndarray, heading: np.ndarray, length: np.ndarray | float,
                   width: np.ndarray | float) -> np.ndarray:
    """[N] azimuth span [rad] of an L x W footprint centred at ``centre`` [N, 2] with ``heading`` [N, 2]: the
    horizontal extent of its silhouette as the co-located camera sees it (extreme corners' azimuths)."""
    N = len(centre)
    h = heading / np.maximum(np.linalg.norm(heading, axis=-1, keepdims=True), 1e-12)
    left = np.stack([-h[:, 1], h[:, 0]], -1)
    L = np.broadcast_to(np.asarray(length, np.float64), (N,))[:, None, None]
    W = np.broadcast_to(np.asarray(width, np.float64), (N,))[:, None, None]
    sl = np.array([1, 1, -1, -1], np.float64)[None, :, None]
    sw = np.array([1, -1, 1, -1], np.float64)[None, :, None]
    corners = centre[:, None] + sl * L / 2 * h[:, None] + sw * W / 2 * left[:, None]      # [N, 4, 2]
    az = np.arctan2(corners[..., 0], corners[..., 1])
    return az.max(1) - az.min(1)


def size_scale(span_rad: np.ndarray, range_m: np.ndarray, az: np.ndarray, heading: np.ndarray,
               sequence: np.ndarray, shape: tuple[float, float] = CLASS_SHAPE_M["car"],
               grid: np.ndarray = np.round(np.arange(0.5, 1.5001, 0.01), 4)) -> np.ndarray:
    """Per-sample scale s of the class shape (s L0, s W0), fitted per sequence to the mask's angular width.

    span_rad [N] the mask's azimuth span through the camera map [rad] (NaN: unknown); range_m [N] the radar
    return's range [m]; az [N] the object's azimuth [rad]; heading [N, 2] unit (rows NaN: unknown). For each
    candidate s the box is placed with its seen faces at the radar's range (``centre_offset``) and its
    silhouette span predicted (``footprint_span``); the sequence's s minimises the median absolute log
    ratio of measured to predicted span over its usable samples. 1 where nothing is known.
    """
    e = los(az)
    ok_all = np.isfinite(span_rad) & (span_rad > 0) & np.isfinite(heading).all(1) & np.isfinite(range_m)
    out = np.ones(len(span_rad))
    for sq in np.unique(sequence):
        m = np.flatnonzero((sequence == sq) & ok_all)
        if len(m) < 3:
            continue
        h, em, r = heading[m], e[m], range_m[m]
        cost = []
        for s in grid:
            L, W = s * shape[0], s * shape[1]
            c = (r + (centre_offset(h, em, L, W) * em).sum(1))[:, None] * em
            cost.append(np.median(np.abs(np.log(span_rad[m] / footprint_span(c, h, L, W)))))
        out[sequence == sq] = float(grid[int(np.argmin(cost))])
    return out


def object_geometry(range_m: np.ndarray, az: np.ndarray, az_radar: np.ndarray, extent_rad: np.ndarray,
                    sequence: np.ndarray, frame: np.ndarray, dt: float | None,
                    shape: tuple[float, float] = CLASS_SHAPE_M["car"], min_speed_mps: float = 0.5,
                    iterations: int = 3) -> dict[str, Any]:
    """Heading, size and face -> centre offset of every sample's object (module docstring).

    range_m [N] radar range of the return [m]; az [N] the object's azimuth (camera map) [rad]; az_radar [N] the
    return's radar azimuth [rad]; extent_rad [N] the mask's angular width through the camera map (NaN if
    unknown); capture metadata ``sequence``, ``frame``, ``dt`` [s] (None: no heading).
    Returns {"heading" [N,2] (NaN rows: unknown), "speed" [N], "scale" [N], "offset" [N,2] (return -> centre,
    from the radar's own return position), "range_offset" [N] (along the line of sight) [m]}.
    """
    e = los(az)
    N = len(range_m)
    fallback = mean_offset_along_los(shape[0], shape[1])
    rng_off = np.full(N, fallback)
    for _ in range(iterations):
        # the track of the current centre estimates: the returns' own track runs along the line of sight
        # towards the radar by the face offset, which tilts a heading fitted to it
        vel = (track_velocity((range_m + rng_off)[:, None] * e, sequence, frame, dt) if dt
               else np.full((N, 2), np.nan))
        speed = np.linalg.norm(vel, axis=1)
        known = np.isfinite(speed) & (speed >= min_speed_mps)
        heading = np.where(known[:, None], vel / np.maximum(speed, 1e-9)[:, None], np.nan)
        scale = np.where(known, size_scale(extent_rad, range_m, az, heading, sequence, shape), 1.0)
        L, W = scale * shape[0], scale * shape[1]
        off = fallback * e
        if known.any():
            off[known] = centre_offset(heading[known], e[known], L[known], W[known])
        rng_off = (off * e).sum(1)
    return {"heading": heading, "speed": speed, "scale": scale, "offset": off, "range_offset": rng_off,
            "e_radar": los(az_radar)}
