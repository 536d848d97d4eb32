"""Keep Sionna RT's JIT kernels independent of the scene instance ("compile once, run many").

Dr.Jit traces Python code into kernels and bakes every Python scalar it meets as a literal,
so a kernel's hash changes with any value that reaches it that way. Measured (kernel history,
quick preset, 2 cores): without this module each new sequence compiled ~80 kernels (~7 s),
because of three sources, fixed here without changing a single computed value:

1. Object poses: ``SceneObject.position``/``orientation`` setters transform the vertices with
   the translation / rotation as literals (one new kernel per placed object and per target
   move). ``Poser`` writes ``R(yaw) @ local + t`` with *opaque* R and t instead.
2. Sensing-target geometry: ``RCSSolver._sensing_geometry`` gathers positions/orientations
   from width-1 (literal) arrays; the positions of the scattering points were a new kernel
   every frame. ``OpaqueRCSSolver`` builds them from host memory (opaque) instead, and takes
   the velocities from ``_rv_velocity`` (Sionna's per-shape velocity texture is a literal too).
3. Path counts: ``RCSSolver._pair_legs`` divides by the number of legs (a Python int), which
   then specialised ~17 downstream kernels per distinct count. Here the divisor is opaque.
4. One RCS/CPM callable per scattering point: ``dr.switch`` traced all 65 of 13 identical
   vehicles every call and built one huge kernel; ``_share_callables`` dispatches on the
   point's index within its target over one target's callables (same numbers).
5. Ray-sampling seeds: both solvers validate ``seed`` as a Python int and hand it to the sampler
   and to the TR 38.901 direction hashes, where it became a literal: every seed of the pool
   compiled the largest solver kernels again (issue 23: up to ~25 s of LLVM time in one
   sequence of a cold street-canyon run on a loaded 2-core machine). ``_OpaqueSeed`` passes the
   same value as an opaque ``UInt32`` (same integer hashes, same bytes), so they compile once.

The radar and camera scenes also keep a fixed list of static shapes (``sionna_radar``,
``camera``): virtual-call kernels depend on the number and order of shapes. What stays literal
(bounded): the number of cars and path counts inside Sionna's ``Paths`` tensors (a few small kernels
per distinct count).
``prune_kernel_cache`` bounds ``~/.drjit``. Measured effect: ``docs/synthesis.md`` ("Throughput").
"""

from __future__ import annotations

import numpy as np


def _opaque_f(mi, dr, values) -> object:
    """An opaque ``mi.Float`` from Python/NumPy values (memory-backed, never a literal)."""
    # From a Python list, not a NumPy buffer: Dr.Jit copies it into its own (aligned) memory;
    # a NumPy buffer's alignment (1 or 4 bytes) would leak into the kernel and change its hash.
    a = mi.Float([float(x) for x in np.atleast_1d(np.asarray(values, np.float64)).ravel()])
    dr.make_opaque(a)
    return a


def _opaque_p3(mi, dr, xyz: np.ndarray):
    """[N, 3] -> opaque ``mi.Point3f`` of width N."""
    xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
    return mi.Point3f(_opaque_f(mi, dr, xyz[:, 0]), _opaque_f(mi, dr, xyz[:, 1]), _opaque_f(mi, dr, xyz[:, 2]))


class Poser:
    """Moves one SceneObject rigidly: vertices = R(yaw) @ local + t, with opaque R and t.

    ``local`` are the vertices as loaded (body frame: footprint centre at the origin, z up).
    Equivalent to Sionna's ``orientation``/``position`` setters (rotation about z by ``yaw``,
    Sionna orientation ``(yaw, 0, 0)``), but the traced kernel is the same for every object,
    pose and scene, so it compiles once per process.
    """

    def __init__(self, obj):
        import drjit as dr
        import mitsuba as mi

        self.obj = obj
        params = mi.traverse(obj.mi_mesh)
        self.local = dr.unravel(mi.Point3f, params["vertex_positions"])
        dr.make_opaque(self.local)
        self.pose: tuple[tuple[float, ...], float] | None = None

    def set(self, pos, yaw: float) -> None:
        """Footprint centre ``pos`` [m] (world) and heading ``yaw`` [rad] about +z."""
        import drjit as dr
        import mitsuba as mi

        key = (tuple(float(v) for v in pos), float(yaw))
        if key == self.pose:
            return
        c, s = float(np.cos(yaw)), float(np.sin(yaw))
        cs = _opaque_f(mi, dr, [c, s])
        cy, sy = dr.gather(mi.Float, cs, 0), dr.gather(mi.Float, cs, 1)  # opaque, width 1
        t = _opaque_p3(mi, dr, key[0])
        v = self.local
        new = mi.Point3f(cy * v.x - sy * v.y + t.x, sy * v.x + cy * v.y + t.y, v.z + t.z)
        obj = self.obj
        scene = obj.scene
        if scene is None:
            params = mi.traverse(obj.mi_mesh)
            key_vp = "vertex_positions"
        else:
            params = scene.mi_scene_params
            key_vp = obj.mi_mesh.id() + ".vertex_positions"
        params[key_vp] = dr.ravel(new)
        params.update()
        # keep Sionna's bookkeeping consistent (``orientation`` is read by the RCS solver);
        # memory-backed, so reading it back on the host needs no kernel
        obj._orientation = _opaque_p3(mi, dr, [[float(yaw), 0.0, 0.0]])
        if scene is not None:
            scene.scene_geometry_updated()
        self.pose = key


def _opaque_seed(seed):
    """A Python int seed as an opaque ``mi.UInt32`` (anything else unchanged)."""
    import drjit as dr
    import mitsuba as mi

    return dr.opaque(mi.UInt32, int(seed)) if isinstance(seed, (int, np.integer)) else seed


class _OpaqueSeed:
    """Wraps a Sionna candidate generator: its ``seed`` keyword arrives as an opaque UInt32 (item 5 above)."""

    def __init__(self, generator):
        self.__dict__["_generator"] = generator

    def __call__(self, *args, **kwargs):
        if "seed" in kwargs:
            kwargs["seed"] = _opaque_seed(kwargs["seed"])
        return self._generator(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._generator, name)

    def __setattr__(self, name, value):
        setattr(self._generator, name, value)


def opaque_path_solver(deterministic: bool = False):
    """Sionna's ``PathSolver`` whose kernels do not depend on the ray-sampling seed."""
    from sionna.rt import PathSolver

    solver = PathSolver(deterministic=deterministic)
    solver._candidate_generator = _OpaqueSeed(solver._candidate_generator)
    return solver


def _bbox_centre(obj) -> np.ndarray:
    b = obj.mi_mesh.bbox()
    return (np.array(b.min, np.float64).ravel() + np.array(b.max, np.float64).ravel()) / 2.0


def _velocity(st) -> np.ndarray:
    """Velocity [m/s] set by radiovisual (``_rv_velocity``), else Sionna's own attribute."""
    v = getattr(st, "_rv_velocity", None)
    return np.array(v if v is not None else np.array(st.velocity).ravel(), np.float64)


def _half_extents(obj) -> np.ndarray:
    """Sionna's ``lcs_half_extents`` (0.5 * LCS box extents * scaling), on the host."""
    b = obj._lcs_bbox
    ext = np.array(b.max, np.float64).ravel() - np.array(b.min, np.float64).ravel()
    return 0.5 * ext * np.broadcast_to(np.array(obj.scaling, np.float64).ravel(), 3)


def _same_callable(a, b) -> bool:
    """Two RCS/CPM callables compute the same function (same class, same parameters)."""
    return a is b or (type(a) is type(b) and hasattr(a, "__dict__") and vars(a) == vars(b))


def _unique_index(items: list, unique: list) -> list[int]:
    """Index of each item in ``unique`` (by ``_same_callable``), appending the ones not there yet."""
    out = []
    for c in items:
        k = next((i for i, u in enumerate(unique) if _same_callable(c, u)), None)
        if k is None:
            unique.append(c)
            k = len(unique) - 1
        out.append(k)
    return out


def _share_callables(spst, sts, local_indices):
    """Scattering points whose RCS/CPM are dispatched over the DISTINCT callables of all targets (e.g. 13
    TR 38.901 vehicles: 5 callables instead of 65; vehicles, humans and constant-RCS limb points: a
    handful), with the point -> callable map an opaque array.

    Sionna's ``dr.switch`` over one callable per point traces every branch each call (measured:
    ~60 % of the Python time of a solve) and makes one huge kernel whose size, and hash, grow with the
    number of targets. A callable's value depends only on its parameters, the local directions and the
    seed, so dispatching on the index of an equal callable gives the same numbers; the kernel then
    depends only on the set of distinct callables (fixed per config: ``sionna_radar`` pads the road users
    to the config's maximum per class).
    """
    import drjit as dr
    import mitsuba as mi
    from sionna.rt.rcs import scattering_points as sp_mod

    first = sts[0].scattering_model.spst
    homogeneous = all(
        len(o.rcs_callables) == len(first.rcs_callables) and len(o.cpm_callables) == len(first.cpm_callables)
        and all(_same_callable(a, b) for a, b in zip(o.rcs_callables + o.cpm_callables,
                                                     first.rcs_callables + first.cpm_callables))
        for o in (st.scattering_model.spst for st in sts[1:]))
    if homogeneous:     # one target's callables, dispatched on the point's index within its target
        rcs_list, cpm_list = first.rcs_callables, first.cpm_callables
        rcs_idx = cpm_idx = local_indices
    else:
        rcs_list, cpm_list = [], []
        rcs_idx = mi.UInt(_unique_index(spst.rcs_callables, rcs_list))
        cpm_idx = mi.UInt(_unique_index(spst.cpm_callables, cpm_list))
        dr.make_opaque(rcs_idx, cpm_idx)

    class SharedCallablePoints(sp_mod.ScatteringPoints):
        def eval_jones_matrix(self, k_i, k_s, st_orientations, st_indices, spst_indices, seed=0):
            # ScatteringPoints.eval_jones_matrix (sionna-rt 2.2), dispatched on the shared callables
            seed = _opaque_seed(seed)
            k_i_local, k_s_local = self._local_directions(k_i, k_s, st_orientations, st_indices, spst_indices)
            ri = dr.gather(mi.UInt, rcs_idx, spst_indices)
            ci = ri if cpm_idx is rcs_idx else dr.gather(mi.UInt, cpm_idx, spst_indices)
            sigma = sp_mod._eval_callables(rcs_list, ri, k_i_local, k_s_local, seed)
            cpm_real, cpm_imag = sp_mod._eval_callables(cpm_list, ci, k_i_local, k_s_local, seed)
            amplitude = dr.sqrt(sigma)
            return amplitude * cpm_real, amplitude * cpm_imag

    shared = SharedCallablePoints()
    shared._rv_shared = True
    shared.lcs_positions, shared.lcs_orientations = spst.lcs_positions, spst.lcs_orientations
    shared.rcs_callables, shared.cpm_callables = spst.rcs_callables, spst.cpm_callables
    return shared


def opaque_rcs_solver(deterministic: bool = False):
    """An ``RCSSolver`` whose kernels do not depend on target poses or path counts."""
    import drjit as dr
    import mitsuba as mi
    from sionna.rt.rcs import RCSSolver
    from sionna.rt.rcs.scattering_points import ScatteringPoints
    from sionna.rt.utils import SourceExclusionBoxes, box_contains

    class OpaqueRCSSolver(RCSSolver):
        def _sensing_geometry(self, scene):
            # Same quantities as RCSSolver._sensing_geometry (sionna-rt 2.2), read on the host
            # and uploaded as memory-backed arrays, so no pose is baked into a kernel.
            sts = list(scene.sensing_targets.values())
            # position = AABB centre and half extents from the host-side (scalar) boxes: reading
            # ``st.position`` would evaluate a literal expression, i.e. compile a kernel per pose
            pos = np.array([_bbox_centre(st) for st in sts])
            ori = np.array([np.array(st.orientation, np.float64).ravel() for st in sts])
            vel = np.array([_velocity(st) for st in sts])
            scl = np.array([np.broadcast_to(np.array(st.scaling, np.float64).ravel(), 3) for st in sts])
            half = np.array([_half_extents(st) for st in sts])
            st_positions, st_orientations = _opaque_p3(mi, dr, pos), _opaque_p3(mi, dr, ori)
            st_velocities = mi.Vector3f(_opaque_p3(mi, dr, vel))
            st_scalings = mi.Vector3f(_opaque_p3(mi, dr, scl))
            st_half_extents = mi.Vector3f(_opaque_p3(mi, dr, half))
            spst = ScatteringPoints().concat([st.scattering_model.spst for st in sts])
            if dr.width(spst.lcs_positions) == 0:
                raise ValueError("The sensing targets of the scene have no scattering points")
            lp = np.array(spst.lcs_positions, np.float64).reshape(3, -1).T
            lo = np.array(spst.lcs_orientations, np.float64).reshape(3, -1).T
            spst.lcs_positions, spst.lcs_orientations = _opaque_p3(mi, dr, lp), _opaque_p3(mi, dr, lo)
            num_spst = [dr.width(st.scattering_model.spst.lcs_positions) for st in sts]
            spst_st_indices = mi.UInt(np.repeat(np.arange(len(sts)), num_spst).tolist())
            spst_local_indices = mi.UInt(np.concatenate([np.arange(n) for n in num_spst]).tolist())
            dr.make_opaque(spst_st_indices, spst_local_indices)
            spst = _share_callables(spst, sts, spst_local_indices)
            spst_lcs_positions = spst.scaled_lcs_positions(st_scalings, spst_st_indices)
            spst_positions = spst.gcs_positions(st_positions, st_orientations, spst_st_indices,
                                                st_scalings=st_scalings)
            spst_half_extents = dr.gather(mi.Vector3f, st_half_extents, spst_st_indices)
            spst_boxes = SourceExclusionBoxes(
                centers=dr.gather(mi.Point3f, st_positions, spst_st_indices),
                half_extents=spst_half_extents,
                orientations=dr.gather(mi.Point3f, st_orientations, spst_st_indices),
                enabled=box_contains(spst_lcs_positions, spst_half_extents))
            return (spst, st_orientations, st_velocities, spst_st_indices, spst_local_indices,
                    spst_positions, spst_boxes)

        def _pair_legs(self, from_tx_paths, to_rx_paths, max_depth):
            # RCSSolver._pair_legs with the number of legs opaque (it was a literal divisor)
            num_from_tx = from_tx_paths.buffer_size
            num_to_rx = to_rx_paths.buffer_size
            if (num_from_tx == 0) or (num_to_rx == 0):
                return dr.zeros(mi.UInt, 0), dr.zeros(mi.UInt, 0)
            n_from = dr.opaque(mi.UInt, num_from_tx)
            n_depth = dr.opaque(mi.UInt, max_depth)
            num_inter_from_tx = from_tx_paths.num_interactions()
            num_inter_to_rx = to_rx_paths.num_interactions()
            pair = dr.arange(mi.UInt, num_from_tx * num_to_rx)
            from_tx_ind = pair % n_from
            to_rx_ind = pair // n_from
            same_spst = (dr.gather(mi.UInt, from_tx_paths.target_indices, from_tx_ind)
                         == dr.gather(mi.UInt, to_rx_paths.source_indices, to_rx_ind))
            depth = (dr.gather(mi.UInt, num_inter_from_tx, from_tx_ind)
                     + dr.gather(mi.UInt, num_inter_to_rx, to_rx_ind) + 1)
            pair = dr.compress(same_spst & (depth <= n_depth))
            return dr.gather(mi.UInt, from_tx_ind, pair), dr.gather(mi.UInt, to_rx_ind, pair)

    solver = OpaqueRCSSolver(deterministic=deterministic)
    solver._candidate_generator = _OpaqueSeed(solver._candidate_generator)
    return solver


DEFAULT_CACHE_MB = 1024


def prune_kernel_cache(max_mb: float | None = None, cache_dir=None) -> int:
    """Keep Dr.Jit's on-disk kernel cache (``~/.drjit``) under ``max_mb``: delete the least
    recently used kernels down to 75% of it. Returns the number of files removed.

    With the fixes above a new scene adds only a few small kernels (one per distinct path count),
    but nothing in Dr.Jit bounds the directory. Limit: ``RADIOVISUAL_DRJIT_CACHE_MB`` (default
    1024; 0 disables). A kernel deleted under a running process is simply recompiled.
    """
    import os
    from pathlib import Path

    if max_mb is None:
        max_mb = float(os.environ.get("RADIOVISUAL_DRJIT_CACHE_MB", DEFAULT_CACHE_MB))
    d = Path(cache_dir) if cache_dir is not None else Path.home() / ".drjit"
    if max_mb <= 0 or not d.is_dir():
        return 0
    files = []
    total = 0
    for f in d.iterdir():
        try:
            st = f.stat()
        except OSError:
            continue
        if f.is_file():
            files.append((max(st.st_atime, st.st_mtime), st.st_size, f))
            total += st.st_size
    limit = max_mb * 2**20
    if total <= limit:
        return 0
    removed = 0
    for _, size, f in sorted(files):
        if total <= 0.75 * limit:
            break
        try:
            f.unlink()
            total -= size
            removed += 1
        except OSError:
            pass
    return removed
