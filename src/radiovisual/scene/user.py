"""The user's own scene (docs/scenes.md): a Mitsuba 3 / Sionna RT scene file as the static world, the radar
and camera placed and the road users moved as a tracks file says.

* Scene XML (the format of Sionna RT's example scenes): every ``<shape type="ply">`` is one static body; its
  ``filename`` is relative to the XML; its material is a ``<ref id>`` to (or a nested) ``<bsdf>`` that is
  either ``type="itu-radio-material"`` with ``<string name="type" value="concrete"/>`` or any bsdf whose id
  names the ITU material (``itu_concrete``, ``mat-itu_concrete``). An optional ``<rgb name="reflectance"
  | "color">`` in the bsdf is the camera albedo (linear RGB), else ``layouts.MATERIAL_RGB``'s. A shape's
  ``<transform name="to_world">`` (translate, scale, rotate, matrix) is applied.
* Tracks YAML: ``radar`` (position, look_at: downtilt only), ``camera`` (offset), ``frames``, ``frame_dt_s``
  and ``objects`` (the first is the primary target), each a polyline (``waypoints`` at ``speed_mps``) or a
  CTRV track (``start``, ``heading_deg``, ``speed_mps``, ``yaw_rate_dps``) -- every key in docs/scenes.md.

A user scene is ONE fixed world: every sequence replays the same tracks from t = 0; sequences differ only in
their sensor noise (radar thermal noise, ray and pixel sampling) and, with ``scene.weather``, the weather.
Every problem with a file is a one-line ``ConfigError`` naming the file.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .cars import cached_ply
from .blocks import MATERIAL_RGB, PAINTS, _car
from .motion import Track, ctrv_track
from .objects import draw_weather, person_body
from .ply import read_mesh_ply
from .world import Body, Part, World

# The radio materials the radar models (``sensors.sionna_radar.RADAR_MATERIALS``; tests keep them equal)
SUPPORTED_MATERIALS = ("concrete", "brick", "glass", "metal", "wood")
CLASSES = ("car", "pedestrian", "cyclist")
TOP_KEYS = ("radar", "camera", "frames", "frame_dt_s", "objects")
OBJECT_KEYS = ("class", "model", "color", "speed_mps", "waypoints", "start", "heading_deg", "yaw_rate_dps")


def _err(path, msg: str) -> ConfigError:
    return ConfigError(f"{path}: {msg}")


# ----------------------------------------------------------------------------- scene XML
def _value(el, tag: str, name: str) -> str | None:
    for c in el.findall(tag):
        if c.get("name") == name:
            return c.get("value")
    return None


def _nums(text: str | None) -> list[float]:
    return [float(x) for x in str(text or "").replace(",", " ").split()]


def _material(b) -> str | None:
    """The ITU material name ('concrete') of a bsdf element, or None if it does not say."""
    if b.get("type") == "itu-radio-material":
        return _value(b, "string", "type")
    ident = b.get("id") or ""
    ident = ident[4:] if ident.startswith("mat-") else ident
    if ident.startswith("itu_"):
        return ident[4:]
    inner = b.find("bsdf")          # e.g. a twosided wrapper around a diffuse bsdf
    return _material(inner) if inner is not None else None


def _colour(b) -> tuple[float, float, float] | None:
    for el in b.iter("rgb"):
        if el.get("name") in ("reflectance", "color", "diffuse_reflectance", "base_color"):
            c = _nums(el.get("value"))
            c = c * 3 if len(c) == 1 else c
            if len(c) == 3:
                return tuple(float(min(max(x, 0.0), 1.0)) for x in c)
    return None


def _transform(t) -> np.ndarray:
    """4x4 matrix of a Mitsuba ``<transform>`` (operations applied in document order)."""
    M = np.eye(4)
    for op in t:
        A = np.eye(4)
        vec = _nums(op.get("value")) or [float(op.get(a, d)) for a, d in
                                         zip("xyz", (1.0,) * 3 if op.tag == "scale" else (0.0,) * 3)]
        if op.tag == "translate":
            A[:3, 3] = vec
        elif op.tag == "scale":
            A[:3, :3] = np.diag(vec * 3 if len(vec) == 1 else vec)
        elif op.tag == "rotate":
            if len(vec) != 3 or not np.linalg.norm(vec) > 0:
                raise ValueError("<rotate> needs a non-zero axis (x, y, z or value) and an angle")
            k = np.asarray(vec, np.float64) / np.linalg.norm(vec)
            a = np.deg2rad(float(op.get("angle", 0.0)))
            K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
            A[:3, :3] = np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K
        elif op.tag == "matrix" and len(vec) in (9, 16):
            A = np.asarray(vec).reshape(4, 4) if len(vec) == 16 else np.pad(np.reshape(vec, (3, 3)), (0, 1))
            A[3, 3] = 1.0
        else:
            raise ValueError(f"transform operation <{op.tag}> is not supported (translate, scale, rotate, matrix)")
        M = A @ M
    return M


def parse_scene_xml(path: str | Path) -> list[dict]:
    """Every shape of a scene file: [{"id", "mesh" (Path), "material" ("itu_concrete"), "color" (or None),
    "to_world" (4x4 or None)}], checked (meshes exist, materials supported); ConfigError otherwise."""
    p = Path(path)
    if not p.is_file():
        raise _err(p, "scene file not found")
    try:
        root = ET.parse(p).getroot()
    except ET.ParseError as e:
        raise _err(p, f"not well-formed XML ({e})") from None
    if root.tag != "scene":
        raise _err(p, f"the root element is <{root.tag}>, not <scene>")
    bsdfs = {b.get("id"): b for b in root.iter("bsdf") if b.get("id")}
    supported = ", ".join("itu_" + m for m in SUPPORTED_MATERIALS)
    shapes, seen = [], set()
    for k, s in enumerate(root.findall("shape")):
        sid = s.get("id") or f"shape_{k}"
        where = f"shape '{sid}'"
        if s.get("type") != "ply":
            raise _err(p, f"{where} has type '{s.get('type')}': only type=\"ply\" shapes are supported "
                          "(export the mesh as PLY)")
        fn = _value(s, "string", "filename")
        if not fn:
            raise _err(p, f"{where} has no <string name=\"filename\" value=\"...\"/>")
        mesh = p.parent / fn
        if not mesh.is_file():
            raise _err(p, f"{where}: mesh file '{fn}' not found" + (f" ({mesh})" if str(mesh) != fn else ""))
        ref, inline = s.find("ref"), s.find("bsdf")
        if ref is not None and ref.get("id") not in bsdfs:
            raise _err(p, f"{where} refers to bsdf '{ref.get('id')}', which the file does not define")
        b = bsdfs[ref.get("id")] if ref is not None else inline
        if b is None:
            raise _err(p, f"{where} has no material (a <ref id=\"...\"/> or a nested <bsdf>)")
        mat = _material(b)
        if mat is None:
            raise _err(p, f"{where}: cannot tell the radio material of bsdf '{b.get('id', '')}' (use "
                          "type=\"itu-radio-material\" with <string name=\"type\" value=\"concrete\"/>, or an id "
                          "like 'itu_concrete')")
        if mat not in SUPPORTED_MATERIALS:
            raise _err(p, f"{where} uses radio material '{mat}', which the radar does not model "
                          f"(supported: {supported})")
        t = s.find("transform")
        try:
            to_world = _transform(t) if t is not None else None
            colour = _colour(b)
        except (ValueError, TypeError) as e:
            raise _err(p, f"{where}: {e}") from None
        name = sid if sid not in seen else f"{sid}#{k}"
        seen.add(name)
        shapes.append({"id": name, "mesh": mesh, "material": "itu_" + mat, "color": colour,
                       "to_world": to_world})
    if not shapes:
        raise _err(p, "no <shape> elements: the scene is empty")
    return shapes


def _shape_mesh(xml: Path, sh: dict) -> tuple[np.ndarray, np.ndarray]:
    try:
        v, f = read_mesh_ply(sh["mesh"])
    except (OSError, ValueError) as e:
        raise _err(xml, f"shape '{sh['id']}': {sh['mesh'].name}: {e}") from None
    M = sh["to_world"]
    return (v if M is None else v @ M[:3, :3].T + M[:3, 3]), f


def load_scene_xml(path: str | Path, cache_dir: str | Path) -> list[Body]:
    """The static bodies of a scene file: one per shape, named ``scene:<shape id>``, kind ``static``, its mesh
    re-written (in the body's local frame, origin at the footprint centre at its lowest z) into ``cache_dir``."""
    bodies = []
    for sh in parse_scene_xml(path):
        v, f = _shape_mesh(Path(path), sh)
        lo, hi = v.min(0), v.max(0)
        origin = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])
        mesh = cached_ply(cache_dir, f"user-{sh['material']}", (v - origin).astype(np.float32), f.astype(np.int32))
        rgb = sh["color"] or MATERIAL_RGB.get(sh["material"], (0.3, 0.3, 0.3))
        bodies.append(Body(name=f"scene:{sh['id']}", kind="static", parts=[Part(str(mesh), sh["material"], rgb)],
                           size=tuple(float(x) for x in hi - lo), positions=origin[None], yaws=np.zeros(1)))
    return bodies


# ----------------------------------------------------------------------------- tracks YAML
def _keys(p, where: str, d: dict, allowed: tuple[str, ...]) -> None:
    bad = [k for k in d if k not in allowed]
    if bad:
        raise _err(p, f"{where}unknown key '{bad[0]}' (valid: {', '.join(allowed)})")


def _num(p, key: str, x, *, lo: float | None = None, positive: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not np.isfinite(x):
        raise _err(p, f"{key} must be a number, got {x!r}")
    if positive and not x > 0:
        raise _err(p, f"{key} must be > 0, got {x}")
    if lo is not None and x < lo:
        raise _err(p, f"{key} must be >= {lo:g}, got {x}")
    return float(x)


def _vec(p, key: str, x, n: int) -> np.ndarray:
    if not isinstance(x, (list, tuple)) or len(x) != n:
        raise _err(p, f"{key} must be a list of {n} numbers, got {x!r}")
    return np.array([_num(p, key, c) for c in x])


def _need(p, where: str, d: dict, key: str):
    if key not in d:
        raise _err(p, f"{where}missing key '{key}'")
    return d[key]


def load_tracks(path: str | Path) -> dict:
    """A tracks file, checked: {"radar": {"position", "look_at"}, "camera_offset" (or None), "frames",
    "frame_dt_s" (None when absent), "objects": [{"class", "model", "color", "speed_mps", and "waypoints"
    [K,2] or "start" [2] + "heading_deg" + "yaw_rate_dps"}]}; ConfigError naming the file otherwise."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise _err(p, "tracks file not found")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise _err(p, f"not valid YAML ({at}{' '.join(str(getattr(e, 'problem', None) or e).split())})") from None
    if not isinstance(data, dict):
        raise _err(p, f"the top level must be a mapping with keys {', '.join(TOP_KEYS)}")
    _keys(p, "", data, TOP_KEYS)
    radar = _need(p, "", data, "radar")
    if not isinstance(radar, dict):
        raise _err(p, "radar must be a mapping with position and look_at")
    _keys(p, "radar: ", radar, ("position", "look_at"))
    pos = _vec(p, "radar.position", _need(p, "radar: ", radar, "position"), 3)
    look = _vec(p, "radar.look_at", _need(p, "radar: ", radar, "look_at"), 3)
    if abs(look[1] - pos[1]) > 1e-6 or look[0] <= pos[0]:
        raise _err(p, f"radar.look_at must lie ahead of the radar along +x with the radar's y ({pos[1]:g}): the "
                      "radar looks along world +x with a downtilt only")
    cam = data.get("camera") or {}
    if not isinstance(cam, dict):
        raise _err(p, "camera must be a mapping with offset")
    _keys(p, "camera: ", cam, ("offset",))
    out = {"radar": {"position": pos, "look_at": look},
           "camera_offset": tuple(_vec(p, "camera.offset", cam["offset"], 3)) if "offset" in cam else None,
           "frames": None, "frame_dt_s": None, "objects": []}
    if data.get("frames") is not None:
        frames = data["frames"]
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
            raise _err(p, f"frames must be an integer >= 1, got {frames!r}")
        out["frames"] = int(frames)
    if data.get("frame_dt_s") is not None:
        out["frame_dt_s"] = _num(p, "frame_dt_s", data["frame_dt_s"], positive=True)
    objs = _need(p, "", data, "objects")
    if not isinstance(objs, list) or not objs:
        raise _err(p, "objects must be a non-empty list (the first object is the primary target)")
    for i, o in enumerate(objs):
        out["objects"].append(_object(p, f"objects[{i}]", o))
    return out


def _object(p, w: str, o) -> dict:
    if not isinstance(o, dict):
        raise _err(p, f"{w} must be a mapping with class, speed_mps and waypoints (or start, heading_deg)")
    _keys(p, f"{w}: ", o, OBJECT_KEYS)
    cls = _need(p, f"{w}: ", o, "class")
    if cls not in CLASSES:
        raise _err(p, f"{w}.class '{cls}' is not one of {', '.join(CLASSES)}")
    spec = {"class": cls, "speed_mps": _num(p, f"{w}.speed_mps", _need(p, f"{w}: ", o, "speed_mps"), lo=0.0),
            "model": None, "color": None}
    if o.get("model") is not None:
        m = o["model"]
        if isinstance(m, bool) or not isinstance(m, int) or m < 0:
            raise _err(p, f"{w}.model must be an integer >= 0, got {m!r}")
        spec["model"] = m
    if o.get("color") is not None:
        if cls != "car":
            raise _err(p, f"{w}.color is a car's paint; a {cls}'s look is picked by model")
        c = _vec(p, f"{w}.color", o["color"], 3)
        if c.min() < 0 or c.max() > 1:
            raise _err(p, f"{w}.color must be linear RGB in [0, 1], got {o['color']}")
        spec["color"] = tuple(float(x) for x in c)
    if ("waypoints" in o) == ("start" in o):
        raise _err(p, f"{w}: give either waypoints (a polyline) or start and heading_deg (a CTRV track)")
    if "waypoints" in o:
        wp = o["waypoints"]
        if not isinstance(wp, list) or len(wp) < 2:
            raise _err(p, f"{w}.waypoints needs at least 2 points [[x, y], ...], got {wp!r}")
        if "heading_deg" in o or "yaw_rate_dps" in o:
            raise _err(p, f"{w}: heading_deg and yaw_rate_dps belong to a start track, not to waypoints")
        pts = np.stack([_vec(p, f"{w}.waypoints[{j}]", q, 2) for j, q in enumerate(wp)])
        keep = np.concatenate([[True], np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-9])
        if keep.sum() < 2:
            raise _err(p, f"{w}.waypoints are all the same point")
        spec["waypoints"] = pts[keep]
    else:
        spec["start"] = _vec(p, f"{w}.start", o["start"], 2)
        spec["heading_deg"] = _num(p, f"{w}.heading_deg", _need(p, f"{w}: ", o, "heading_deg"))
        spec["yaw_rate_dps"] = _num(p, f"{w}.yaw_rate_dps", o.get("yaw_rate_dps", 0.0))
    return spec


def object_track(spec: dict, n_frames: int, dt: float) -> Track:
    """The per-frame track of one tracks-file object: a polyline driven at constant speed from its first
    waypoint (it stops at the last one), or the CTRV track of its start, heading and yaw rate."""
    v, T = float(spec["speed_mps"]), int(n_frames)
    if "waypoints" not in spec:
        w = float(np.deg2rad(spec["yaw_rate_dps"]))
        return Track("ctrv", *ctrv_track(tuple(spec["start"]), float(np.deg2rad(spec["heading_deg"])), v, w, T, dt),
                     v, w)
    wp = np.asarray(spec["waypoints"], np.float64)
    seg = np.diff(wp, axis=0)
    L = np.linalg.norm(seg, axis=1)
    cum = np.concatenate([[0.0], np.cumsum(L)])
    travel = v * np.arange(T) * float(dt)
    s = np.minimum(travel, cum[-1])
    j = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1)
    d = seg[j] / L[j][:, None]
    pos = wp[j] + ((s - cum[j]) / L[j])[:, None] * seg[j]
    vel = np.where((travel < cum[-1])[:, None], v * d, 0.0)
    return Track("waypoints", pos, np.arctan2(d[:, 1], d[:, 0]), vel, v, 0.0)


# ----------------------------------------------------------------------------- checks, provenance, the World
def scene_provenance(scene_file: str | Path, tracks_file: str | Path) -> dict:
    """{"scene_file", "tracks_file", "scene_sha256" (the XML and every mesh it names, in order),
    "tracks_sha256", "sha256" (both)}: a changed file changes these."""
    h = hashlib.sha256(Path(scene_file).read_bytes())
    for sh in parse_scene_xml(scene_file):
        h.update(sh["mesh"].read_bytes())
    scene, tracks = h.hexdigest(), hashlib.sha256(Path(tracks_file).read_bytes()).hexdigest()
    return {"scene_file": str(scene_file), "tracks_file": str(tracks_file), "scene_sha256": scene,
            "tracks_sha256": tracks, "sha256": hashlib.sha256((scene + tracks).encode()).hexdigest()}


def check_user_scene(scene_file: str | Path, tracks_file: str | Path) -> tuple[dict, str]:
    """Read both files completely (every mesh too) before anything is written. Returns the config fields the
    tracks file sets ({"scene": {"n_frames", "frame_dt_s"}, "camera": {"offset_m"}}, only those it gives) and
    the files' combined sha256 (``scene.scene_sha256``)."""
    tr = load_tracks(tracks_file)
    for sh in parse_scene_xml(scene_file):
        _shape_mesh(Path(scene_file), sh)
    fields: dict = {}
    for key, name in (("frames", "n_frames"), ("frame_dt_s", "frame_dt_s")):
        if tr[key] is not None:
            fields.setdefault("scene", {})[name] = tr[key]
    if tr["camera_offset"] is not None:
        fields["camera"] = {"offset_m": list(tr["camera_offset"])}
    return fields, scene_provenance(scene_file, tracks_file)["sha256"]


def build_user_world(cfg, rng: np.random.Generator, cache_dir: str | Path, sequence: int = 0, *,
                     scene_file: str | Path | None = None, tracks_file: str | Path | None = None) -> World:
    """The World of a user scene (``build_world``'s signature: a drop-in ``world_builder``). Files default to
    ``cfg.scene.scene_file`` / ``cfg.scene.tracks_file``; frames, frame period and camera offset come from
    ``cfg`` (the tracks file's values reach it through ``resolve_synth_config``). ``rng`` draws only the weather
    (``scene.weather``): the world is the same in every sequence. Road users: ``target`` (the first object),
    then ``<class>_<k>``; a person's look and a car's model come from ``model`` (default: its index)."""
    scene_file = scene_file or cfg.scene.scene_file
    tracks_file = tracks_file or cfg.scene.tracks_file
    if not scene_file or not tracks_file:
        raise ConfigError("a user scene needs both files: scene.scene_file (--scene) and scene.tracks_file (--tracks)")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    tr = load_tracks(tracks_file)
    statics = load_scene_xml(scene_file, cache)
    prov = scene_provenance(scene_file, tracks_file)
    want = getattr(cfg.scene, "scene_sha256", "")
    if want and prov["sha256"] != want:
        raise ConfigError(f"{scene_file}, {tracks_file}: changed since the config was resolved (sha256 "
                          f"{prov['sha256'][:12]}, config {want[:12]}); synthesise into a new --out")
    T, dt = int(cfg.scene.n_frames), float(cfg.scene.frame_dt_s)
    movers, objs = [], []
    for k, o in enumerate(tr["objects"]):
        name, kind = ("target", "target") if k == 0 else (f"{o['class']}_{k:02d}", "road_user")
        track = object_track(o, T, dt)
        model = int(o["model"] if o["model"] is not None else k)
        if o["class"] == "car":
            paint = o["color"] or tuple(float(c) for c in PAINTS[model % len(PAINTS)])
            body = _car(name, kind, cache, model, paint, track.positions, 0.0)
            body.yaws = track.yaws.copy()
            body.velocities = np.concatenate([track.velocities, np.zeros((T, 1))], 1)
            body.velocity = tuple(float(x) for x in body.velocities[0])
            body.object_class = "car"
        else:
            body, _ = person_body(name, o["class"], cache, np.random.default_rng(model), track, dt)
            body.kind = kind
        movers.append(body)
        objs.append({"name": name, "class": o["class"], "motion": track.kind, "speed_mps": o["speed_mps"],
                     "model_index": model})
    first = tr["objects"][0]
    meta = {"user_scene": prov, "objects": objs, "target_class": first["class"],
            "target_model_index": objs[0]["model_index"] if first["class"] == "car" else -1}
    if tuple(getattr(cfg.scene, "weather", ()) or ()):
        meta["weather"] = draw_weather(cfg, rng)
    radar, look = tr["radar"]["position"], tr["radar"]["look_at"]
    off = np.asarray(cfg.camera.offset_m, np.float64)
    return World(scenario="user", bodies=statics + movers, target="target", n_frames=T, frame_dt_s=dt,
                 radar_position=radar, radar_look_at=look, camera_position=radar + off, camera_look_at=look + off,
                 meta=meta, objects=tuple(b.name for b in movers))
