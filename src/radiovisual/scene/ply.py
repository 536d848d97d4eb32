"""Reading PLY meshes as other tools write them (ascii or binary, any vertex properties, polygons), for user
scenes (``scene.user``). ``scene.meshes`` writes and reads the one binary layout the sensors load."""

from __future__ import annotations

from pathlib import Path

import numpy as np

_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
              "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
              "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}


def read_mesh_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(vertices [V,3] float64, triangles [F,3] int64) of any ascii / binary PLY (polygons fan-triangulated).
    ValueError says what is wrong."""
    data = Path(path).read_bytes()
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise ValueError("not a PLY file")
    body = data.index(b"\n", end) + 1
    fmt, elements = None, []           # [(name, count, [(prop, type | (count type, item type))])]
    for line in data[:body].decode("ascii", "replace").splitlines()[1:]:
        w = line.split()
        if len(w) >= 2 and w[0] == "format":
            fmt = w[1]
        elif len(w) == 3 and w[0] == "element":
            elements.append((w[1], int(w[2]), []))
        elif w[:1] == ["property"] and elements:
            elements[-1][2].append((w[4], (w[2], w[3])) if w[1] == "list" and len(w) == 5 else (w[-1], w[1]))
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise ValueError(f"unsupported PLY format '{fmt}'")
    bo = "<" if fmt == "binary_little_endian" else ">"
    try:
        read = _ply_ascii(data[body:], elements) if fmt == "ascii" else _ply_binary(data, body, elements, bo)
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"truncated or malformed PLY data ({type(e).__name__}: {e})") from None
    vert = read.get("vertex")
    if vert is None or any(c not in vert for c in "xyz"):
        raise ValueError("no vertex element with x, y, z")
    v = np.stack([np.asarray(vert[c], np.float64) for c in "xyz"], 1)
    faces = (read.get("face") or {})
    polys = faces.get("vertex_indices", faces.get("vertex_index"))
    if isinstance(polys, np.ndarray) and polys.ndim == 2:    # fixed-length polygons: fan-triangulate at once
        f = np.concatenate([np.stack([polys[:, 0], polys[:, i], polys[:, i + 1]], 1)
                            for i in range(1, polys.shape[1] - 1)] or [np.zeros((0, 3))]).astype(np.int64)
    else:
        tris = [(q[0], q[i], q[i + 1]) for q in (polys if polys is not None else []) for i in range(1, len(q) - 1)]
        f = np.asarray(tris, np.int64).reshape(-1, 3)
    if not len(f):
        raise ValueError("no faces (a face element with vertex_indices)")
    if f.min() < 0 or f.max() >= len(v) or not np.isfinite(v).all():
        raise ValueError("face indices out of range or non-finite vertices")
    return v, f


def _ply_ascii(text: bytes, elements) -> dict:
    tok, i, out = text.split(), 0, {}
    for name, n, props in elements:
        cols: dict[str, list] = {p: [] for p, _ in props}
        for _ in range(n):
            for p, t in props:
                if isinstance(t, tuple):
                    k = int(tok[i])
                    cols[p].append([int(float(x)) for x in tok[i + 1:i + 1 + k]])
                    i += 1 + k
                else:
                    cols[p].append(float(tok[i]))
                    i += 1
        out[name] = cols
    return out


def _ply_binary(data: bytes, off: int, elements, bo: str) -> dict:
    out = {}
    for name, n, props in elements:
        if all(not isinstance(t, tuple) for _, t in props):     # scalars only: one structured read
            rec = np.frombuffer(data, [(p, bo + _PLY_TYPES[t]) for p, t in props], n, off)
            out[name] = {p: rec[p] for p, _ in props}
            off += rec.nbytes
            continue
        fixed = _ply_fixed_lists(data, off, n, props, bo)
        if fixed is not None:                                  # every list of one length (all triangles)
            out[name], off = fixed
            continue
        cols: dict[str, list] = {p: [] for p, _ in props}
        for _ in range(n):
            for p, t in props:
                if isinstance(t, tuple):
                    ct, it = np.dtype(bo + _PLY_TYPES[t[0]]), np.dtype(bo + _PLY_TYPES[t[1]])
                    k = int(np.frombuffer(data, ct, 1, off)[0])
                    cols[p].append(np.frombuffer(data, it, k, off + ct.itemsize).tolist())
                    off += ct.itemsize + k * it.itemsize
                else:
                    dt = np.dtype(bo + _PLY_TYPES[t])
                    cols[p].append(np.frombuffer(data, dt, 1, off)[0])
                    off += dt.itemsize
        out[name] = cols
    return out


def _ply_fixed_lists(data: bytes, off: int, n: int, props, bo: str):
    """({prop: values}, new offset) when every list of the element has the first record's length, else None."""
    fields, k = [], None
    for p, t in props:
        if isinstance(t, tuple):
            if k is None:
                k = int(np.frombuffer(data, bo + _PLY_TYPES[t[0]], 1, off + sum(np.dtype(d).itemsize
                                                                              for _, d, *_ in fields))[0])
            fields += [(p + "#n", bo + _PLY_TYPES[t[0]]), (p, bo + _PLY_TYPES[t[1]], (k,))]
        else:
            fields.append((p, bo + _PLY_TYPES[t]))
    dt = np.dtype(fields)
    if n == 0 or off + n * dt.itemsize > len(data):
        return None
    rec = np.frombuffer(data, dt, n, off)
    if any((rec[f[0]] != k).any() for f in fields if f[0].endswith("#n")):
        return None
    return {p: rec[p] for p, _ in props}, off + rec.nbytes
