"""Tiny triangle-mesh toolkit: boxes and PLY files both Sionna RT and Mitsuba load."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def box(length: float, width: float, height: float, z0: float = 0.0,
        center_xy: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box [m]: x in +-length/2, y in +-width/2, z in [z0, z0+height].

    Returns (vertices [24, 3] float32, faces [12, 3] int32) with 4 vertices per face
    so that flat normals stay flat, outward-facing (counter-clockwise seen from outside).
    """
    cx, cy = center_xy
    x0, x1 = cx - length / 2, cx + length / 2
    y0, y1 = cy - width / 2, cy + width / 2
    z1 = z0 + height
    quads = [
        [(x0, y0, z0), (x0, y1, z0), (x1, y1, z0), (x1, y0, z0)],  # bottom (-z)
        [(x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1)],  # top (+z)
        [(x0, y0, z0), (x1, y0, z0), (x1, y0, z1), (x0, y0, z1)],  # -y
        [(x0, y1, z0), (x0, y1, z1), (x1, y1, z1), (x1, y1, z0)],  # +y
        [(x0, y0, z0), (x0, y0, z1), (x0, y1, z1), (x0, y1, z0)],  # -x
        [(x1, y0, z0), (x1, y1, z0), (x1, y1, z1), (x1, y0, z1)],  # +x
    ]
    verts = np.array([v for q in quads for v in q], dtype=np.float32)
    faces = []
    for i in range(6):
        b = 4 * i
        faces += [(b, b + 1, b + 2), (b, b + 2, b + 3)]
    return verts, np.array(faces, dtype=np.int32)


def merge(*meshes: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    vs, fs, off = [], [], 0
    for v, f in meshes:
        vs.append(v)
        fs.append(f + off)
        off += len(v)
    return np.concatenate(vs).astype(np.float32), np.concatenate(fs).astype(np.int32)


def write_ply(path: str | Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Binary little-endian PLY (vertex x,y,z float; face uchar+int indices), written atomically."""
    from ..utils.io import atomic_path

    v = np.ascontiguousarray(vertices, dtype="<f4")
    f = np.ascontiguousarray(faces, dtype="<i4")
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(v)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(f)}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode("ascii")
    face_rec = np.empty(len(f), dtype=[("n", "u1"), ("i", "<i4", (3,))])
    face_rec["n"] = 3
    face_rec["i"] = f
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(header)
            fh.write(v.tobytes())
            fh.write(face_rec.tobytes())
    return path


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(vertices [V,3] float32, faces [F,3] int32) of a PLY written by ``write_ply``."""
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    nv = nf = None
    for line in header:
        if line.startswith("element vertex"):
            nv = int(line.split()[-1])
        elif line.startswith("element face"):
            nf = int(line.split()[-1])
    if nv is None or nf is None or "format binary_little_endian 1.0" not in header:
        raise ValueError(f"{path}: not a PLY written by radiovisual.scene.meshes.write_ply")
    v = np.frombuffer(data, "<f4", nv * 3, end).reshape(nv, 3)
    rec = np.frombuffer(data, [("n", "u1"), ("i", "<i4", (3,))], nf, end + nv * 12)
    return v.astype(np.float32), rec["i"].astype(np.int32)
