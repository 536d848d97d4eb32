"""A procedural family of low-poly cars (body + glass cabin + wheels), cached as PLY files.

``N_BASE_MODELS`` distinct base shapes (saloons, fastbacks, hatchbacks, estates, coupes and sports cars, city
cars, crossovers and SUVs, people carriers, pickups, vans with a closed cargo box behind the cab, taxis with a
roof sign), each with its own proportions, cabin position, axle positions and wheel size; beyond them
``car_model(i)`` gives stretched variants. All are the radar's "car" class (TR 38.901 ``vehicle-multi-sp``).

Local frame (as ``scene.world`` requires): x = length axis (front at +x), origin at the
centre of the ground footprint, z up from 0. Every model's axis-aligned bounding box is
exactly [-L/2, L/2] x [-W/2, W/2] x [0, H], so the sensing-target hull (the merged parts)
has the size the TR 38.901 vehicle model places its scattering points on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .meshes import merge, write_ply

Mesh = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class CarModel:
    name: str
    size: tuple[float, float, float]          # (L, W, H) [m]
    parts: list[tuple[np.ndarray, np.ndarray, str]]  # (vertices [V,3], faces [F,3], role)


# name, L, W, H [m], sill height (top of the lower body) as a fraction of H,
# cabin (bottom x0, bottom x1, top x0, top x1) as fractions of L from the rear (-L/2),
# and optionally a dict of shape options (``car_model``; absent = the defaults of rows 0-9):
#   axles (rear, front): wheel centres as fractions of L from the rear      default (0.17, 0.83)
#   wheel_r [m]: wheel radius                                              default 0.30, 0.34 if H > 1.7 m
#   inset: cabin inset from each side as a fraction of W                   default 0.06
#   cab_h: top of the cabin roof as a fraction of H (a box / cargo part then reaches H)   default 1
#   cargo (x0, x1, top): a closed body box on the sill from x0 to x1 (fractions of L) up to top * H
#   roof_box (x0, x1, h [m]): a box on the roof (taxi sign, light bar, roof box); the roof then stops h below H
# Rows 0-9 are the v0.2 family and must never change (stores draw models 0..scene.n_car_models-1);
# new shapes are appended after them. Lengths stay <= 5.6 m (a parking-lot row is 6 m deep, scene.layouts).
_BASE = (
    ("sedan",     4.70, 1.85, 1.45, 0.52, (0.18, 0.78, 0.30, 0.62)),
    ("hatchback", 4.10, 1.78, 1.48, 0.50, (0.04, 0.72, 0.08, 0.55)),
    ("suv",       4.80, 1.95, 1.75, 0.55, (0.04, 0.74, 0.06, 0.62)),
    ("van",       5.20, 2.00, 2.10, 0.45, (0.02, 0.90, 0.02, 0.82)),
    ("pickup",    5.40, 2.00, 1.85, 0.55, (0.42, 0.80, 0.44, 0.70)),
    ("estate",    4.80, 1.85, 1.50, 0.52, (0.04, 0.76, 0.05, 0.60)),
    ("compact",   3.60, 1.65, 1.50, 0.48, (0.05, 0.75, 0.10, 0.58)),
    ("coupe",     4.50, 1.85, 1.30, 0.53, (0.20, 0.75, 0.35, 0.60)),
    ("minivan",   5.00, 1.95, 1.80, 0.48, (0.03, 0.86, 0.04, 0.74)),
    ("microcar",  2.70, 1.55, 1.55, 0.45, (0.04, 0.84, 0.08, 0.70)),
    # --- appended (v0.4): notchbacks and saloons
    ("notchback",      4.55, 1.80, 1.44, 0.52, (0.20, 0.76, 0.32, 0.60), {"axles": (0.16, 0.82)}),
    ("saloon-large",   5.05, 1.90, 1.48, 0.53, (0.20, 0.77, 0.33, 0.63), {"axles": (0.15, 0.83), "wheel_r": 0.34}),
    ("limousine",      5.60, 1.95, 1.50, 0.52, (0.18, 0.80, 0.30, 0.68), {"axles": (0.14, 0.85), "wheel_r": 0.35}),
    ("saloon-compact", 4.30, 1.75, 1.42, 0.51, (0.19, 0.77, 0.31, 0.61)),
    ("saloon-boxy",    4.60, 1.72, 1.42, 0.55, (0.20, 0.76, 0.26, 0.70), {"inset": 0.04}),
    ("saloon-ev",      4.70, 1.90, 1.46, 0.48, (0.10, 0.82, 0.24, 0.66), {"axles": (0.14, 0.86), "wheel_r": 0.34}),
    # fastbacks, liftbacks, coupes and sports cars
    ("fastback",       4.75, 1.88, 1.40, 0.52, (0.08, 0.76, 0.28, 0.58)),
    ("liftback",       4.62, 1.82, 1.43, 0.51, (0.06, 0.75, 0.25, 0.57)),
    ("coupe-2plus2",   4.30, 1.80, 1.32, 0.53, (0.18, 0.72, 0.34, 0.58)),
    ("grand-tourer",   4.90, 1.95, 1.30, 0.54, (0.22, 0.70, 0.36, 0.58), {"axles": (0.16, 0.84), "wheel_r": 0.35}),
    ("sports",         4.40, 1.90, 1.22, 0.55, (0.22, 0.70, 0.38, 0.58), {"axles": (0.16, 0.82), "wheel_r": 0.33}),
    ("supercar",       4.55, 2.00, 1.15, 0.55, (0.28, 0.72, 0.40, 0.60), {"axles": (0.15, 0.82), "wheel_r": 0.34,
                                                                       "inset": 0.10}),
    ("roadster",       4.00, 1.78, 1.25, 0.60, (0.30, 0.68, 0.38, 0.55), {"axles": (0.18, 0.82)}),
    ("muscle",         4.85, 1.92, 1.35, 0.56, (0.25, 0.72, 0.36, 0.60), {"wheel_r": 0.34}),
    ("cabriolet",      4.55, 1.82, 1.38, 0.56, (0.25, 0.72, 0.35, 0.60)),
    # hatchbacks and city cars
    ("hatch-small",    3.85, 1.72, 1.47, 0.50, (0.04, 0.72, 0.08, 0.56)),
    ("hatch-hot",      4.25, 1.80, 1.43, 0.52, (0.05, 0.72, 0.10, 0.55), {"wheel_r": 0.33}),
    ("three-door",     3.95, 1.75, 1.42, 0.51, (0.05, 0.70, 0.12, 0.52)),
    ("hatch-boxy",     3.80, 1.68, 1.56, 0.50, (0.03, 0.76, 0.04, 0.72), {"inset": 0.04}),
    ("hatch-ev",       4.20, 1.80, 1.57, 0.48, (0.04, 0.80, 0.08, 0.62), {"axles": (0.14, 0.86)}),
    ("city-car",       3.40, 1.60, 1.52, 0.47, (0.04, 0.78, 0.08, 0.62), {"axles": (0.16, 0.84), "wheel_r": 0.28}),
    ("kei-car",        3.39, 1.47, 1.70, 0.42, (0.03, 0.86, 0.04, 0.76), {"axles": (0.15, 0.85), "wheel_r": 0.27}),
    ("two-seater",     2.50, 1.60, 1.54, 0.46, (0.05, 0.82, 0.10, 0.68), {"axles": (0.20, 0.80), "wheel_r": 0.28}),
    ("quadricycle",    2.40, 1.40, 1.48, 0.44, (0.06, 0.84, 0.10, 0.70), {"axles": (0.18, 0.82), "wheel_r": 0.24}),
    # estates (wagons)
    ("estate-large",   5.00, 1.90, 1.52, 0.52, (0.03, 0.77, 0.04, 0.62), {"axles": (0.15, 0.83)}),
    ("estate-compact", 4.40, 1.78, 1.48, 0.51, (0.04, 0.76, 0.05, 0.60)),
    ("shooting-brake", 4.90, 1.88, 1.40, 0.53, (0.04, 0.74, 0.06, 0.56), {"wheel_r": 0.33}),
    ("estate-roofbox", 4.75, 1.84, 1.86, 0.42, (0.04, 0.76, 0.05, 0.60), {"roof_box": (0.20, 0.58, 0.40),
                                                                       "wheel_r": 0.31}),
    # crossovers and SUVs
    ("crossover",      4.45, 1.84, 1.62, 0.54, (0.05, 0.74, 0.08, 0.60)),
    ("crossover-coupe", 4.60, 1.88, 1.58, 0.56, (0.10, 0.74, 0.24, 0.58), {"wheel_r": 0.34}),
    ("suv-compact",    4.20, 1.80, 1.66, 0.55, (0.04, 0.74, 0.06, 0.60), {"wheel_r": 0.33}),
    ("suv-large",      5.10, 2.00, 1.85, 0.55, (0.03, 0.75, 0.04, 0.64), {"axles": (0.15, 0.84), "wheel_r": 0.38}),
    ("suv-ev",         4.75, 1.92, 1.65, 0.50, (0.05, 0.82, 0.10, 0.66), {"axles": (0.14, 0.86), "wheel_r": 0.36}),
    ("offroader",      4.60, 1.90, 1.92, 0.55, (0.03, 0.72, 0.04, 0.68), {"axles": (0.16, 0.84), "wheel_r": 0.40,
                                                                       "inset": 0.03}),
    ("jeep",           4.10, 1.85, 1.85, 0.55, (0.12, 0.68, 0.12, 0.66), {"axles": (0.17, 0.80), "wheel_r": 0.40,
                                                                       "inset": 0.02}),
    ("suv-roofrack",   4.80, 1.95, 2.02, 0.50, (0.02, 0.74, 0.02, 0.70), {"roof_box": (0.10, 0.65, 0.10),
                                                                       "wheel_r": 0.38}),
    # people carriers
    ("mpv-compact",    4.40, 1.80, 1.66, 0.48, (0.04, 0.84, 0.05, 0.68)),
    ("minivan-large",  5.20, 2.00, 1.78, 0.47, (0.03, 0.86, 0.05, 0.76), {"axles": (0.15, 0.84)}),
    ("kombi",          4.50, 1.75, 1.95, 0.42, (0.02, 0.96, 0.03, 0.92), {"axles": (0.16, 0.86), "wheel_r": 0.30}),
    ("microvan",       3.40, 1.48, 1.90, 0.40, (0.03, 0.92, 0.04, 0.88), {"axles": (0.15, 0.85), "wheel_r": 0.26}),
    ("minibus",        5.55, 2.05, 2.50, 0.40, (0.02, 0.92, 0.02, 0.85), {"axles": (0.14, 0.80), "wheel_r": 0.37}),
    # pickups
    ("pickup-compact", 5.00, 1.85, 1.75, 0.55, (0.40, 0.78, 0.42, 0.68)),
    ("pickup-crew",    5.55, 2.02, 1.90, 0.56, (0.35, 0.80, 0.37, 0.72), {"axles": (0.17, 0.82), "wheel_r": 0.40}),
    ("pickup-single",  5.20, 1.95, 1.80, 0.56, (0.50, 0.80, 0.52, 0.72), {"wheel_r": 0.38}),
    ("pickup-heavy",   5.60, 2.03, 1.98, 0.58, (0.38, 0.78, 0.40, 0.72), {"axles": (0.18, 0.80), "wheel_r": 0.42}),
    ("ute",            4.95, 1.85, 1.55, 0.55, (0.45, 0.78, 0.48, 0.68)),
    # vans with a closed cargo box behind the cab
    ("panel-van",      5.40, 2.05, 2.35, 0.42, (0.66, 0.93, 0.70, 0.86), {"axles": (0.15, 0.85), "wheel_r": 0.36,
                                                                       "cab_h": 0.88, "cargo": (0.0, 0.66, 1.0)}),
    ("van-compact",    4.50, 1.85, 1.85, 0.45, (0.55, 0.90, 0.58, 0.82), {"axles": (0.15, 0.85),
                                                                       "cargo": (0.0, 0.55, 1.0)}),
    ("ambulance",      5.50, 2.10, 2.60, 0.40, (0.72, 0.94, 0.75, 0.88), {"axles": (0.16, 0.82), "wheel_r": 0.37,
                                                                       "cab_h": 0.85, "cargo": (0.0, 0.72, 1.0)}),
    ("camper",         5.60, 2.20, 2.90, 0.38, (0.72, 0.93, 0.74, 0.87), {"axles": (0.18, 0.84), "wheel_r": 0.38,
                                                                       "cab_h": 0.78, "cargo": (0.0, 0.72, 1.0)}),
    ("box-van",        5.58, 2.15, 2.75, 0.36, (0.76, 0.95, 0.78, 0.90), {"axles": (0.16, 0.86), "wheel_r": 0.40,
                                                                       "cab_h": 0.80, "cargo": (0.0, 0.74, 1.0)}),
    # taxis and liveried cars (a box on the roof)
    ("taxi",           4.85, 1.85, 1.67, 0.46, (0.18, 0.78, 0.28, 0.64), {"roof_box": (0.42, 0.54, 0.12)}),
    ("london-cab",     4.60, 1.85, 1.83, 0.48, (0.10, 0.78, 0.12, 0.66), {"wheel_r": 0.33, "inset": 0.04}),
    ("police-estate",  4.80, 1.85, 1.62, 0.48, (0.04, 0.76, 0.05, 0.60), {"roof_box": (0.38, 0.50, 0.10)}),
)
N_BASE_MODELS = len(_BASE)


def _prism(bottom: np.ndarray, top: np.ndarray) -> Mesh:
    """Convex hexahedron from a bottom and a top quad ([4,3] each, same winding).

    Four vertices per face keep flat normals flat; faces are oriented outwards by
    checking each face normal against the direction from the centroid.
    """
    c = np.concatenate([bottom, top]).mean(axis=0)
    b, t = bottom, top
    quads = [b[::-1], t, [b[0], b[1], t[1], t[0]], [b[1], b[2], t[2], t[1]],
             [b[2], b[3], t[3], t[2]], [b[3], b[0], t[0], t[3]]]
    verts, faces = [], []
    for q in quads:
        q = np.asarray(q, dtype=np.float64)
        n = np.cross(q[1] - q[0], q[2] - q[0])
        if np.dot(n, q.mean(axis=0) - c) < 0:
            q = q[::-1]
        base = len(verts)
        verts.extend(q.tolist())
        faces += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    return np.asarray(verts, dtype=np.float32), np.asarray(faces, dtype=np.int32)


def _slab(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float,
          top_x: tuple[float, float] | None = None) -> Mesh:
    """Box (or trapezoidal wedge when ``top_x`` narrows the top in x) [m]."""
    tx0, tx1 = top_x if top_x is not None else (x0, x1)
    bottom = np.array([(x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0)])
    top = np.array([(tx0, y0, z1), (tx1, y0, z1), (tx1, y1, z1), (tx0, y1, z1)])
    return _prism(bottom, top)


def car_model(i: int) -> CarModel:
    """Model ``i`` of the family (any i >= 0; beyond the ``N_BASE_MODELS`` base shapes, stretched variants)."""
    if i < 0:
        raise ValueError(f"car model index must be >= 0, got {i}")
    row = _BASE[i % N_BASE_MODELS]
    name, L, W, H, sill, (cb0, cb1, ct0, ct1) = row[:6]
    opt = row[6] if len(row) > 6 else {}
    k = i // N_BASE_MODELS
    if k:  # deterministic variants: longer/wider/taller by a few per cent
        L, W, H = L * (1 + 0.04 * k), W * (1 + 0.015 * k), H * (1 + 0.02 * k)
        name = f"{name}-{k}"
    r = opt.get("wheel_r", 0.30 + 0.04 * (H > 1.7))   # wheel radius [m]
    clear = 0.8 * r                      # body bottom above ground [m]
    z_sill = sill * H
    roof_t = 0.06 * H                    # roof slab thickness [m]
    x = lambda f: -L / 2 + f * L  # noqa: E731  (fraction of length from the rear -> x)
    inset = opt.get("inset", 0.06) * W   # cabin is narrower than the body
    top = H                              # top of the cabin roof [m]
    if "roof_box" in opt:
        top = H - opt["roof_box"][2]
    elif "cab_h" in opt:
        top = opt["cab_h"] * H
    parts: list[tuple[np.ndarray, np.ndarray, str]] = []
    v, f = _slab(-L / 2, L / 2, -W / 2, W / 2, clear, z_sill)
    parts.append((v, f, "body"))
    v, f = _slab(x(cb0), x(cb1), -W / 2 + inset, W / 2 - inset, z_sill, top - roof_t, top_x=(x(ct0), x(ct1)))
    parts.append((v, f, "glass"))
    v, f = _slab(x(ct0), x(ct1), -W / 2 + inset, W / 2 - inset, top - roof_t, top)
    parts.append((v, f, "body"))
    if "cargo" in opt:                   # closed cargo box behind the cab (vans)
        c0, c1, ctop = opt["cargo"]
        v, f = _slab(x(c0), x(c1), -W / 2, W / 2, z_sill, ctop * H)
        parts.append((v, f, "body"))
    if "roof_box" in opt:                # sign / light bar / roof box on the roof, narrower than the cabin
        b0, b1, _ = opt["roof_box"]
        v, f = _slab(x(b0), x(b1), -W / 2 + 2 * inset, W / 2 - 2 * inset, top, H)
        parts.append((v, f, "body"))
    ww = 0.22                            # wheel width [m]
    for fx in opt.get("axles", (0.17, 0.83)):
        for sy in (-1, 1):
            cx, cy = x(fx), sy * (W / 2 - ww / 2)
            v, f = _slab(cx - r, cx + r, cy - ww / 2, cy + ww / 2, 0.0, 2 * r)
            parts.append((v, f, "wheel"))
    return CarModel(name=name, size=(float(L), float(W), float(H)), parts=parts)


def _content_name(prefix: str, v: np.ndarray, f: np.ndarray) -> str:
    h = hashlib.sha1(np.ascontiguousarray(v, "<f4").tobytes() + np.ascontiguousarray(f, "<i4").tobytes())
    return f"{prefix}-{h.hexdigest()[:16]}.ply"


def cached_ply(cache_dir: str | Path, prefix: str, v: np.ndarray, f: np.ndarray) -> Path:
    """Write a mesh under a content-derived name (idempotent; atomic, so concurrent writers are safe)."""
    path = Path(cache_dir) / _content_name(prefix, v, f)
    if not path.exists():
        write_ply(path, v, f)
    return path


def write_car_meshes(cache_dir: str | Path, i: int) -> tuple[list[tuple[Path, str]], Path]:
    """PLY files of model ``i``: per-role parts [(path, role)] (one file per role) and the hull.

    The hull (all parts merged) is what the radar uses as the TR 38.901 sensing-target mesh.
    """
    m = car_model(i)
    by_role: dict[str, list[Mesh]] = {}
    for v, f, role in m.parts:
        by_role.setdefault(role, []).append((v, f))
    parts = []
    for role in ("body", "glass", "wheel"):
        v, f = merge(*by_role[role])
        parts.append((cached_ply(cache_dir, f"car-{m.name}-{role}", v, f), role))
    v, f = merge(*[(v, f) for v, f, _ in m.parts])
    hull = cached_ply(cache_dir, f"car-{m.name}-hull", v, f)
    return parts, hull
