"""RGB camera + exact target mask / depth, rendered with Mitsuba 3 from a ``scene.World``.

Design (why, not what):
  * The Mitsuba scene is built once per World (sequence); per frame only the moving
    bodies' vertex buffers are rewritten in place (rebuilding scenes per
    frame was ~5x slower in the prototype).
  * Rays come from our own pinhole model (``camera_model``), not from a Mitsuba sensor:
    the RGB image, the mask/depth and the stored K/R/t are then the same camera by
    construction, with no handedness ambiguity of Mitsuba's perspective sensor.
  * RGB: ``spp`` jittered rays per pixel through the ``path`` integrator's ``sample``;
    the per-pixel mean is taken in NumPy in fixed order, so there is no atomic
    accumulation into a film and the bytes are reproducible for a given seed.
  * Mask / depth: one pixel-centre ray per pixel, ``scene.ray_intersect``; the hit shape's
    registry id is compared with the target's shapes (the ``shape_index`` AOV does not
    follow ``shapes()`` order). Depth is z along the optical axis [m], +inf for sky.
  * The global Mitsuba variant is never touched: Sionna keeps its own for the radar in the
    same process. Objects are built with ``mitsuba.parser`` for ``llvm_ad_rgb`` and types come
    from the ``mitsuba.llvm_ad_rgb`` module (``mi.set_variant`` re-imports Mitsuba's Python AD
    integrators, ~0.2 s per switch measured, two switches per sequence otherwise).
  * ``mi.render`` itself is NOT bit-reproducible on multithreaded LLVM (measured: repeated
    renders with one seed differ by ~3e-7, atomic film accumulation), hence the above.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RadiovisualError
from ..scene.meshes import merge, write_ply
from ..scene.world import World
from . import camera_model as cm

VARIANT = "llvm_ad_rgb"
SKY_ZENITH = (0.16, 0.30, 0.80)          # linear RGB radiance of the sky at the zenith
SKY_HORIZON = (0.50, 0.60, 0.82)         # ... and at the horizon (a lighter haze)
FAR_GROUND = (0.20, 0.20, 0.19)          # below the horizon, seen past the end of the ground mesh
SUN_IRRADIANCE = (3.2, 3.0, 2.7)         # warm-white directional sun
SUN_DIRECTION = (0.45, -0.35, -1.0)      # direction the light travels (world), from behind-left-above
PATH_MAX_DEPTH = 3
# Share of light samples given to the sun. The path integrator picks ONE emitter per light
# sample; at 50/50 the sun's delta light became 0-or-2x binary noise. The smooth sky is
# still found well by cosine (BSDF) sampling under MIS.
SUN_SAMPLING = 0.97
# Airlight of the Koschmieder model in rain / fog (linear RGB): the horizon radiance of an overcast,
# scattering atmosphere, a light neutral grey at the level of the clear sky's horizon haze
FOG_AIRLIGHT = (0.60, 0.62, 0.65)


def _mitsuba():
    """(mitsuba, mitsuba.llvm_ad_rgb, drjit) without changing the active variant."""
    from ..utils.env import ensure_llvm

    ensure_llvm()
    try:
        import drjit as dr
        import mitsuba as mi
    except ImportError as e:
        raise RadiovisualError(f"Mitsuba 3 is not installed ({e}); run `make setup`") from None
    if VARIANT not in mi.variants():
        raise RadiovisualError(f"this Mitsuba build lacks the '{VARIANT}' variant")
    import importlib

    return mi, importlib.import_module(f"mitsuba.{VARIANT}"), dr


def _instantiate(mi, desc: dict):
    """``mi.load_dict`` for our variant, whatever variant is active (Sionna's, or none)."""
    from mitsuba import parser

    cfg = parser.ParserConfig(VARIANT)
    # Mitsuba would otherwise merge meshes sharing a BSDF (and identical objects), losing the
    # per-part shape ids we move and test against; static geometry is merged by us instead.
    cfg.merge_meshes = False
    cfg.merge_equivalent = False
    try:
        state = parser.parse_dict(cfg, desc)
        parser.transform_all(cfg, state)
        return parser.instantiate(cfg, state)
    except Exception as e:  # Mitsuba raises RuntimeError with a multi-line message
        raise RadiovisualError(f"Mitsuba could not build the camera scene: {str(e).splitlines()[0]}") from None


def _mesh_params(mr, shape) -> dict:
    """{name: (handle, cpptype)} of a shape's parameters (a minimal ``mi.traverse``)."""

    class _Grab(mr.TraversalCallback):
        def __init__(self):
            super().__init__()
            self.props: dict = {}

        def put(self, name, value, flags, cpptype=None):
            self.props[name] = (value, cpptype)

    g = _Grab()
    shape.traverse(g)
    return g.props


def _get(mr, shape, props, name) -> np.ndarray:
    ptr, ct = props[name]
    return np.array(mr.get_property(ptr, ct, shape))


def _bsdf(part) -> dict:
    rgb = [float(min(max(c, 0.0), 1.0)) for c in part.color]
    if "glass" in part.radio_material:
        # dark, slightly glossy windows: a cheap dielectric coat over a dark base
        return {"type": "plastic", "diffuse_reflectance": {"type": "rgb", "value": rgb},
                "int_ior": 1.5, "specular_reflectance": 0.6}
    return {"type": "diffuse", "reflectance": {"type": "rgb", "value": rgb}}


# A 1 mm triangle 10 km below ground: stands in for a BSDF group a scene lacks; no ray reaches it.
PLACEHOLDER_TRIANGLE = (np.array([[0, 0, -1e4], [1e-3, 0, -1e4], [0, 1e-3, -1e4]], np.float32),
                        np.array([[0, 1, 2]], np.int32))


# Two 1 mm triangles at opposite corners of a 20 km cube: they fix the scene's bounding box (and
# so the emitters' bounding sphere) for every World; no ray of a scene a few 100 m across reaches them.
BOUNDS_TRIANGLES = tuple((PLACEHOLDER_TRIANGLE[0] * np.float32(k) + np.float32(c) * np.float32([1, 1, 0]),
                          PLACEHOLDER_TRIANGLE[1])
                         for k, c in ((1.0, -1e4), (-1.0, 1e4)))


def _canonical_static_bsdfs() -> list[dict]:
    """Every static BSDF the scene layouts can produce, in a fixed order."""
    from ..scene import layouts as L
    from ..scene.world import Part

    parts = [Part("", m, c) for m, c in L.MATERIAL_RGB.items()]
    parts += [Part("", "itu_metal", tuple(float(x) for x in p)) for p in L.PAINTS]
    parts += [Part("", "itu_glass", L.GLASS_RGB), Part("", "itu_metal", L.WHEEL_RGB)]
    return [_bsdf(p) for p in parts]


def _sky_bitmap(rows: int = 64, cols: int = 8) -> np.ndarray:
    """Lat-long sky [rows, cols, 3] float32; row 0 = zenith (after the +y -> +z rotation)."""
    theta = (np.arange(rows) + 0.5) / rows * np.pi  # from the zenith
    w = np.clip(theta / (np.pi / 2), 0.0, 1.0)[:, None] ** 2
    sky = (1 - w) * np.asarray(SKY_ZENITH) + w * np.asarray(SKY_HORIZON)
    sky[theta > np.pi / 2] = FAR_GROUND
    return np.ascontiguousarray(np.repeat(sky[:, None, :], cols, axis=1), dtype=np.float32)


def _pose_matrix(pos: np.ndarray, yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    m = np.eye(4)
    m[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    m[:3, 3] = pos
    return m


def _load_mesh(mi, mr, path: str, to_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vertices [V,3] float32 in world, faces [F,3] int32) of any PLY Mitsuba can read."""
    m = _instantiate(mi, {"type": "ply", "filename": str(path), "to_world": mr.ScalarTransform4f(to_world.tolist())})
    props = _mesh_params(mr, m)
    v = _get(mr, m, props, "vertex_positions").astype(np.float32).reshape(-1, 3)
    f = _get(mr, m, props, "faces").astype(np.int64).reshape(-1, 3).astype(np.int32)
    return v, f


def _is_dynamic(body) -> bool:
    p = np.asarray(body.positions, np.float64).reshape(-1, 3)
    y = np.asarray(body.yaws, np.float64).reshape(-1)
    return bool(np.ptp(p, axis=0).max() > 0 or np.ptp(y) > 0) if (len(p) > 1 or len(y) > 1) else False


class _Visual:
    """The Mitsuba scene of one World plus the handles needed to move its bodies."""

    def __init__(self, world: World, mi, mr, dr):
        scene: dict[str, Any] = {
            "type": "scene",
            "integrator": {"type": "path", "max_depth": PATH_MAX_DEPTH, "hide_emitters": False},
            # an envmap, not a constant emitter: its importance sampling puts the light samples
            # in the bright upper hemisphere, far less noise on the ground at a few spp
            "sky": {"type": "envmap", "bitmap": mi.Bitmap(_sky_bitmap()),
                    "to_world": mr.ScalarTransform4f().rotate([1.0, 0.0, 0.0], 90.0),
                    "sampling_weight": 1.0 - SUN_SAMPLING},
            "sun": {"type": "directional", "direction": list(SUN_DIRECTION),
                    "irradiance": {"type": "rgb", "value": list(SUN_IRRADIANCE)},
                    "sampling_weight": SUN_SAMPLING},
        }
        self.dynamic: list[tuple[Any, str]] = []   # (body, shape id)
        target_ids: list[str] = []
        if world.target not in {b.name for b in world.bodies}:
            raise RadiovisualError(f"world has no body named '{world.target}' (its target)")
        static: dict[str, list] = {}   # BSDF key -> [(vertices [V,3] world, faces [F,3])]
        bsdfs: dict[str, dict] = {}
        movers = {b.name for b in world.movers}   # road users: each keeps an instance id, moving or not
        for bi, body in enumerate(world.bodies):
            dyn = _is_dynamic(body)
            own = dyn or body.name in movers  # keeps its own shapes (moved / masked)
            pos, yaw = body.pose(0)
            for pi, part in enumerate(body.parts):
                if not Path(part.mesh).is_file():
                    raise RadiovisualError(f"mesh of body '{body.name}' not found: {part.mesh}")
                bsdf = _bsdf(part)
                if not own:
                    key = repr(bsdf)
                    bsdfs[key] = bsdf
                    static.setdefault(key, []).append(_load_mesh(mi, mr, part.mesh, _pose_matrix(pos, yaw)))
                    continue
                sid = f"b{bi}_p{pi}"
                d = {"type": "ply", "filename": str(part.mesh), "face_normals": True, "bsdf": bsdf}
                if dyn:
                    self.dynamic.append((body, sid))
                else:
                    d["to_world"] = mr.ScalarTransform4f(_pose_matrix(pos, yaw).tolist())
                scene[sid] = d
                if body.name == world.target:
                    target_ids.append(sid)
        # Static geometry is merged per BSDF: Dr.Jit traces every shape / BSDF instance at each
        # virtual-call site of the integrator, so fewer instances = less tracing per frame.
        # The groups are a FIXED, ordered list (every BSDF a layout can produce; a placeholder
        # triangle far below ground where a scene lacks one): the traced kernels depend on the
        # number and order of shapes, so a per-scene list compiled new render kernels for every
        # sequence (measured: 2 per sequence, ~0.14 s on 2 cores, and unbounded cache growth).
        for bsdf in _canonical_static_bsdfs():
            key = repr(bsdf)
            bsdfs.setdefault(key, bsdf)
        order = {repr(b): i for i, b in enumerate(_canonical_static_bsdfs())}
        groups = sorted(bsdfs, key=lambda k: (order.get(k, len(order)), k))
        tmp = tempfile.TemporaryDirectory(prefix="rv_cam_")
        for gi, key in enumerate(groups):
            meshes = static.get(key) or [PLACEHOLDER_TRIANGLE]
            if gi == 0:
                # Fixed scene bounds: the sun's (directional emitter's) bounding sphere is a literal
                # in the render kernel, so a per-scene bbox compiled a new kernel every sequence.
                meshes = meshes + list(BOUNDS_TRIANGLES)
            path = write_ply(Path(tmp.name) / f"static{gi}.ply", *merge(*meshes))
            scene[f"static{gi}"] = {"type": "ply", "filename": str(path), "face_normals": True, "bsdf": bsdfs[key]}
        try:
            self.scene = _instantiate(mi, scene)
        finally:
            tmp.cleanup()
        self.integrator = self.scene.integrator()
        by_id = {sh.id(): sh for sh in self.scene.shapes()}
        self.handles = {sid: (by_id[sid], _mesh_params(mr, by_id[sid])) for _, sid in self.dynamic}
        # vertices of dynamic parts in their body frame, as Mitsuba stored them (loaded untransformed)
        self.local = {sid: _get(mr, sh, pr, "vertex_positions").astype(np.float64).reshape(-1, 3)
                      for sid, (sh, pr) in self.handles.items()}
        reg = {sid: int(dr.reinterpret_array(mr.UInt32, mr.ShapePtr(by_id[sid]))[0]) for sid in by_id}
        self.target_reg = [reg[sid] for sid in target_ids]
        # instance id per shape registry id: road user k (world.movers order) -> k + 1, all else 0
        movers = {b.name: k + 1 for k, b in enumerate(world.movers)}
        self.instance_of = {reg[sid]: movers[world.bodies[int(sid[1:].split("_")[0])].name]
                            for sid in by_id if sid.startswith("b") and "_p" in sid
                            and world.bodies[int(sid[1:].split("_")[0])].name in movers}
        self.current: dict[str, tuple] = {}
        self.sampler = _instantiate(mi, {"type": "independent"})

    def set_frame(self, frame: int, mr, dr) -> None:
        changed = []
        for body, sid in self.dynamic:
            pos, yaw = body.pose(frame)
            gait = getattr(body, "gait", None)
            key = (tuple(pos), yaw) if gait is None else (tuple(pos), yaw, frame)
            if self.current.get(sid) == key:
                continue
            c, s = np.cos(yaw), np.sin(yaw)
            rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
            local = self.local[sid] if gait is None else gait.deform(self.local[sid], frame)   # a walker's limbs
            v = local @ rot.T + pos
            shape, props = self.handles[sid]
            ptr, ct = props["vertex_positions"]
            mr.set_property(ptr, ct, mr.Float(v.astype(np.float32).ravel()))
            shape.parameters_changed(["vertex_positions"])
            self.current[sid] = key
            changed.append(sid)
        if changed:
            self.scene.parameters_changed(changed)  # rebuilds the acceleration structure
            dr.eval()


def weather_beta_per_m(world: World) -> float:
    """Visible extinction coefficient [1/m] of the world's weather (0 when clear or unset)."""
    from .weather import Weather

    return Weather.of_world(world).camera_beta_per_m()


def ray_length_per_depth(K: np.ndarray, W: int, H: int) -> np.ndarray:
    """[H, W] distance along each pixel-centre ray per metre of z_cam depth: |(x, y, 1)| of its ray."""
    u = (np.arange(W) + 0.5 - K[0, 2]) / K[0, 0]
    v = (np.arange(H) + 0.5 - K[1, 2]) / K[1, 1]
    return np.sqrt(u[None, :] ** 2 + v[:, None] ** 2 + 1.0)


def _frame_seed(seed: int, frame: int) -> int:
    """Decorrelated 32-bit sampler seed per (sequence seed, frame)."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(frame)])
    return int(ss.generate_state(1, np.uint32)[0])


def sample_mean(arr: np.ndarray) -> np.ndarray:
    """[H, W, spp, 3] float32 samples -> [H, W, 3] float64 per-pixel mean, added in sample order: the same
    float64 additions (and bytes) as ``arr.astype(np.float64).mean(axis=2)`` without its slow strided
    reduction (~10 ms of CPU per quick frame, issue 23)."""
    acc = arr[:, :, 0].astype(np.float64)
    for k in range(1, arr.shape[2]):
        acc += arr[:, :, k]
    return acc / arr.shape[2]


def srgb_u8(linear: np.ndarray) -> np.ndarray:
    """Linear RGB -> sRGB-encoded uint8 (IEC 61966-2-1 transfer curve)."""
    x = np.clip(linear, 0.0, 1.0)
    s = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055)
    return np.round(s * 255.0).astype(np.uint8)


class CameraRig:
    """The camera co-located with the radar; renders whole sequences of a World."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.cam = cfg.camera
        self.cam.validate()

    def attrs(self, world: World) -> dict[str, Any]:
        return cm.camera_attrs(self.cam.width, self.cam.height, self.cam.hfov_deg,
                               world.camera_position, world.camera_look_at, world.radar_position)

    def render(self, world: World, seed: int) -> dict[str, np.ndarray]:
        """All ``world.n_frames`` frames: image uint8 [T,H,W,3] (sRGB), mask bool [T,H,W]
        (target pixels), depth float32 [T,H,W] (z_cam [m], +inf = sky), bbox float32 [T,4]."""
        W, H, T = self.cam.width, self.cam.height, int(world.n_frames)
        if T < 1:
            raise RadiovisualError(f"world.n_frames must be >= 1, got {T}")
        mi, mr, dr = _mitsuba()
        vis = _Visual(world, mi, mr, dr)
        rays = self._ray_setup(self.attrs(world), world, mr, dr)
        image = np.empty((T, H, W, 3), np.uint8)
        mask = np.empty((T, H, W), bool)
        depth = np.empty((T, H, W), np.float32)
        instance = np.empty((T, H, W), np.uint8)
        beta = weather_beta_per_m(world)
        ray_len = ray_length_per_depth(np.asarray(self.attrs(world)["K"]), W, H) if beta > 0 else None
        for t in range(T):
            vis.set_frame(t, mr, dr)
            rgb, instance[t], depth[t] = self._render_frame(vis, rays, _frame_seed(seed, t), mr, dr)
            mask[t] = instance[t] == 1
            if beta > 0:
                from .weather import koschmieder

                # Koschmieder on the distance along each pixel's ray (depth is z_cam)
                rgb = koschmieder(rgb, depth[t].astype(np.float64) * ray_len, beta, np.asarray(FOG_AIRLIGHT))
            image[t] = srgb_u8(rgb)
        return {"image": image, "mask": mask, "depth": depth, "bbox": cm.bbox_from_mask(mask),
                "instance": instance}

    # -- internals -------------------------------------------------------------------
    def _ray_setup(self, attrs, world, mr, dr) -> dict:
        """World-space ray basis d(u, v) = d0 + u*du + v*dv (unnormalised; camera z = 1)."""
        K = np.asarray(attrs["K"])
        R_cw = cm.cam_from_world_rotation(world.camera_position, world.camera_look_at)
        fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
        d0 = R_cw.T @ np.array([-cx / fx, -cy / fy, 1.0])
        du = R_cw.T @ np.array([1.0 / fx, 0.0, 0.0])
        dv = R_cw.T @ np.array([0.0, 1.0 / fy, 0.0])

        # opaque so the traced kernels do not bake per-world constants in (kernel-cache reuse)
        def vec(a):
            return mr.Vector3f(*[dr.opaque(mr.Float, float(x)) for x in a])

        return {"o": vec(world.camera_position), "d0": vec(d0), "du": vec(du), "dv": vec(dv)}

    def _render_frame(self, vis: _Visual, rays: dict, frame_seed: int, mr, dr):
        W, H, spp = self.cam.width, self.cam.height, self.cam.spp
        # RGB: lane = pixel * spp + sample, pixel = row * W + col
        n = W * H * spp
        sampler = vis.sampler
        sampler.seed(dr.opaque(mr.UInt32, frame_seed), n)
        idx = dr.arange(mr.UInt32, n)
        pix = idx // spp
        col = mr.Float(pix % W)
        row = mr.Float(pix // W)
        jit = sampler.next_2d()
        d = rays["d0"] + (col + jit.x) * rays["du"] + (row + jit.y) * rays["dv"]
        ray = mr.RayDifferential3f(mr.Ray3f(rays["o"], dr.normalize(d)))
        spec, _, _ = vis.integrator.sample(vis.scene, sampler, ray)
        rgb = mr.Color3f(spec)
        # mask / depth: one pixel-centre ray per pixel
        m = W * H
        pidx = dr.arange(mr.UInt32, m)
        pc = mr.Float(pidx % W) + 0.5
        pr = mr.Float(pidx // W) + 0.5
        dc = rays["d0"] + pc * rays["du"] + pr * rays["dv"]
        norm = dr.norm(dc)
        si = vis.scene.ray_intersect(mr.Ray3f(rays["o"], dc / norm))
        hit = si.is_valid()
        z = dr.select(hit, si.t / norm, dr.inf)
        # the hit shape's registry id goes to the host, which maps it to a road-user instance: the kernel
        # does not depend on how many road users (or parts) a World has
        sid = dr.select(hit, dr.reinterpret_array(mr.UInt32, si.shape), 0)
        dr.eval(rgb, z, sid)
        arr = sample_mean(np.stack([np.asarray(rgb.x), np.asarray(rgb.y), np.asarray(rgb.z)], axis=-1)
                          .reshape(H, W, spp, 3))
        ids = np.asarray(sid, np.uint32)
        inst = np.zeros(ids.shape, np.uint8)
        for reg, k in vis.instance_of.items():
            inst[ids == reg] = k
        if not vis.instance_of:    # a World without road users: the target's parts are instance 1
            inst[np.isin(ids, vis.target_reg) & (ids != 0)] = 1
        return arr, inst.reshape(H, W), np.asarray(z, np.float32).reshape(H, W)
