"""A procedural family of low-poly cars (body + glass cabin + wheels), cached as PLY files.

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
# cabin (bottom x0, bottom x1, top x0, top x1) as fractions of L from the rear (-L/2).
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
    """Model ``i`` of the family (any i >= 0; beyond the base set, stretched variants)."""
    if i < 0:
        raise ValueError(f"car model index must be >= 0, got {i}")
    name, L, W, H, sill, (cb0, cb1, ct0, ct1) = _BASE[i % N_BASE_MODELS]
    k = i // N_BASE_MODELS
    if k:  # deterministic variants: longer/wider/taller by a few per cent
        L, W, H = L * (1 + 0.04 * k), W * (1 + 0.015 * k), H * (1 + 0.02 * k)
        name = f"{name}-{k}"
    r = 0.30 + 0.04 * (H > 1.7)          # wheel radius [m]
    clear = 0.8 * r                      # body bottom above ground [m]
    z_sill = sill * H
    roof_t = 0.06 * H                    # roof slab thickness [m]
    x = lambda f: -L / 2 + f * L  # noqa: E731  (fraction of length from the rear -> x)
    inset = 0.06 * W                     # cabin is narrower than the body
    parts: list[tuple[np.ndarray, np.ndarray, str]] = []
    v, f = _slab(-L / 2, L / 2, -W / 2, W / 2, clear, z_sill)
    parts.append((v, f, "body"))
    v, f = _slab(x(cb0), x(cb1), -W / 2 + inset, W / 2 - inset, z_sill, H - roof_t, top_x=(x(ct0), x(ct1)))
    parts.append((v, f, "glass"))
    v, f = _slab(x(ct0), x(ct1), -W / 2 + inset, W / 2 - inset, H - roof_t, H)
    parts.append((v, f, "body"))
    ww = 0.22                            # wheel width [m]
    for fx in (0.17, 0.83):
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
