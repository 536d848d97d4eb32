"""Ray-traced monostatic radar on Sionna RT: World -> range-azimuth and range-Doppler maps.

One Sionna scene is built per World (sequence): static bodies are merged into one SceneObject
per ITU radio material (diffuse scattering enabled; a fixed list, see ``RADAR_MATERIALS``, so
the compiled kernels do not depend on the scene: ``sionna_jit``), every ``radar_target`` body becomes a
3GPP TR 38.901 "vehicle-multi-sp" sensing target on its hull mesh. TX and RX are single
``tr38901`` elements at the radar position looking at ``radar_look_at``; the receive
array (columns along the horizontal array axis, optional rows) is applied analytically
from each path's arrival direction (far field), which is what Sionna's synthetic arrays do
as well but lets us do the range/angle/Doppler sums in one pass without materialising
per-antenna paths. Per frame only the target moves; clutter (PathSolver, los=False: the
direct TX->RX path has zero delay) and target/parked-car echoes (RCSSolver) are summed
coherently. DSP is in ``sensors.radar``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import RadiovisualError
from ..scene.meshes import merge, read_ply, write_ply
from . import radar as rp
from .targets import (SENSING_OBJECT_TYPE, itu_band, placeholder, pose_mover, radio_material,
                      scatterer_targets, sensing_target, slot_order, weather_db_per_km)

PRUNE_BELOW_NOISE_DB = 40.0  # paths this far below the per-bin noise floor are dropped


SOLVER_SEED_POOL = 8         # distinct ray-sampling seeds (see _solver_seed)
# Every radio material a layout may use (scene.layouts); one merged static shape each.
RADAR_MATERIALS = ("concrete", "brick", "glass", "metal", "wood")
# Stands in for an absent material: a 1 mm triangle 10 km below ground, which no ray reaches.
PLACEHOLDER_TRIANGLE = (np.array([[0, 0, -1e4], [1e-3, 0, -1e4], [0, 1e-3, -1e4]], np.float32),
                        np.array([[0, 1, 2]], np.int32))


def _solver_seed(seed: int, stream: int, pool: int) -> int:
    """Ray-tracer seed of a sequence: one of ``pool`` values, the same for all its frames.

    Sionna baked the seed into its JIT kernels as a literal, so every new seed cost a fresh
    compile; hence the small pool. The solvers now get it as an opaque value
    (``sionna_jit._OpaqueSeed``: one compile for all seeds), and the pool stays so that the
    data stay byte-identical. Using one seed per sequence also keeps the Monte-Carlo sampling of static
    clutter fixed within a sequence (static clutter should not shimmer between frames);
    scene geometry, TR 38.901 phases (hashed from directions) and thermal noise still vary.
    """
    return 1 + int(np.random.SeedSequence([int(seed), int(stream)]).generate_state(1)[0]) % max(1, pool)


class RadarSimulator:
    """Sionna-RT radar for one SynthConfig; ``simulate(world, seed)`` -> dict of arrays."""

    def __init__(self, cfg):
        from ..utils.env import import_sionna_rt

        self.cfg = cfg
        self.radio = cfg.radio
        self._rt = import_sionna_rt()
        from .sionna_jit import opaque_path_solver, opaque_rcs_solver

        # Sionna's default generator may return a different path set run to run under threaded
        # Dr.Jit (its docs say so; seen as a fan-out vs serial mismatch); the deterministic one is
        # the default (radio.deterministic_solver) and costs nothing measurable here.
        det = bool(getattr(cfg.radio, "deterministic_solver", True))
        self._path_solver = opaque_path_solver(deterministic=det)
        self._rcs_solver = opaque_rcs_solver(deterministic=det)
        self._pool = int(getattr(cfg.radio, "solver_seed_pool", SOLVER_SEED_POOL))
        # True (default, exact): clutter is re-traced every frame, so the moving target shadows it
        self._clutter_every_frame = bool(getattr(cfg.radio, "clutter_every_frame", True))
        r = self.radio
        self.rows = rp.range_rows(r)
        self._V = rp.beamformer(r)                      # [N, A]
        self._k0 = 2 * np.pi / r.wavelength_m
        self._d = rp.element_positions_m(r)              # [N]
        from .cube import CubeDSP, cube_enabled

        # complex chirps / raw cube (radio.cube_chirps): its own DSP; off, nothing below changes
        self._cube = CubeDSP(r, self.rows, self._V) if cube_enabled(r) else None
        self.timings: dict[str, float] = {}  # cumulative: scene_s, solve_s, clutter_solve_s, dsp_s, frames, n_paths

    # ------------------------------------------------------------------ public
    def attrs(self) -> dict:
        r = self.radio
        out = {
            "range_bins_m": rp.range_bins_m(r).tolist(),
            "azimuth_bins_rad": rp.azimuth_bins_rad(r).tolist(),
            "doppler_bins_mps": rp.doppler_bins_mps(r).tolist(),
            "radio": {
                "simulator": "sionna-rt " + _sionna_version(),
                "carrier_hz": r.carrier_hz, "bandwidth_hz": r.bandwidth_hz,
                "n_subcarriers": r.n_subcarriers, "subcarrier_spacing_hz": r.bandwidth_hz / r.n_subcarriers,
                "range_resolution_m": r.range_resolution_m,
                "array": {"rows": r.array_rows, "cols": r.array_cols, "spacing_wavelengths": r.spacing_wavelengths,
                          "axis": "columns along x_right (horizontal); rows summed coherently, unsteered",
                          "element_pattern": "tr38901", "polarization": "V", "applied": "analytically (far field)"},
                "range_window": "periodic Hann over subcarriers, IFFT normalised by 1/K",
                "azimuth_window": "Taylor taper (nbar=4, sll=30 dB) over columns, beamformer normalised to unit coherent gain",
                "doppler": {"symbols": r.doppler_symbols, "pri_s": r.pri_s, "window": "Hann over slow time",
                            "antenna": "reference column (element pattern only, no array gain)",
                            "velocity_sign": "positive = approaching"},
                "noise": {"model": "complex AWGN on the CFR, variance k_B*T*F*B per subcarrier",
                          "noise_figure_db": r.noise_figure_db, "noise_temperature_k": r.noise_temperature_k,
                          "tx_power_dbm": r.tx_power_dbm},
                "solver": {"clutter": "PathSolver(los=False, specular+diffuse, no refraction)",
                           "clutter_max_depth": r.clutter_max_depth,
                           "clutter_samples_per_src": r.clutter_samples_per_src,
                           "scattering_coefficient": r.scattering_coefficient,
                           "targets": f"RCSSolver on TR38901SensingTarget('{SENSING_OBJECT_TYPE}'), "
                                      "random_phases=True",
                           "rcs_max_depth": r.rcs_max_depth, "rcs_samples_per_sp": r.rcs_samples_per_sp,
                           "prune_below_noise_db": PRUNE_BELOW_NOISE_DB,
                           "seed": f"one ray-sampling seed per sequence from a pool of {self._pool}",
                           "clutter_every_frame": self._clutter_every_frame},
                "heatmap_units": "dBm (10*log10|y|^2, y in sqrt(mW)) at the beamformer output",
                "range_doppler_units": "dBm at the range-Doppler processor output",
            },
        }
        if self._cube is not None:
            out["radio"]["cube"] = self._cube.attrs()
        held = {m: f for m in RADAR_MATERIALS if abs((f := itu_band(m, r.carrier_hz)[0]) - r.carrier_hz / 1e9) > 1e-9}
        if held:   # outside ITU-R P.2040's bands: properties of the nearest band edge [GHz]
            out["radio"]["materials_held_at_band_edge_ghz"] = held
        if tuple(getattr(getattr(self.cfg, "scene", None), "objects", ()) or ()):
            out["radio"]["solver"]["road_users"] = (
                "cars: TR38901SensingTarget('vehicle-multi-sp'); pedestrians and cyclists: "
                "TR38901SensingTarget('human') on the torso-and-head hull plus ConstantRCSSensingTarget points for "
                "limbs, pedals and the bicycle frame (scene.people, scene.objects), each with its own velocity")
        return out

    def simulate(self, world, seed: int, progress=None) -> dict:
        """All frames of ``world``: radar [T,R,A], range_doppler [T,R,D] (float32 dB), csi [T,N,K]."""
        t0 = time.perf_counter()
        scene, movers = self._build_scene(world)
        self._tick("scene_s", time.perf_counter() - t0)
        T = world.n_frames
        r = self.radio
        R, A, D = len(self.rows), r.n_azimuth_bins, r.doppler_symbols
        out = {"radar": np.empty((T, R, A), np.float32), "range_doppler": np.empty((T, R, D), np.float32)}
        if r.save_csi:
            out["csi"] = np.empty((T, r.array_cols, r.n_subcarriers), np.complex64)
        if self._cube is not None:
            out.update(self._cube.allocate(T))
        noise_rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
        self._gamma_db_per_km = weather_db_per_km(world, r.carrier_hz)
        static_clutter = None
        if not self._clutter_every_frame and movers and r.clutter_max_depth >= 1:
            # Approximation (opt-in): clutter traced once per sequence with the road users parked far
            # below ground, so they neither shadow nor are counted in the static clutter.
            for poser, _, _ in movers:
                poser.set((0.0, 0.0, -1000.0), 0.0)
            static_clutter = self._solve(scene, seed, rcs=False)
        # With static clutter (and no stored CSI) its coherent range-antenna / range-Doppler sums
        # are the same every frame: computed once, only the target echoes are summed per frame.
        static_sum = None
        if static_clutter is not None and not r.save_csi and not (self._cube is not None and self._cube.raw):
            t0 = time.perf_counter()
            static_sum = self._coherent(static_clutter)
            self._tick("dsp_s", time.perf_counter() - t0)
        for f in range(T):
            t1 = time.perf_counter()
            for poser, body, k in movers:
                pose_mover(poser, body, k, f)
            if static_clutter is None:
                paths = self._solve(scene, seed)
            elif static_sum is None:
                paths = static_clutter + self._solve(scene, seed, clutter=False)
            else:
                paths = self._solve(scene, seed, clutter=False)
            t2 = time.perf_counter()
            res = self._dsp(paths, noise_rng, static_sum)
            t3 = time.perf_counter()
            self._tick("solve_s", t2 - t1)
            self._tick("dsp_s", t3 - t2)
            self._tick("frames", 1)
            out["radar"][f] = res["radar"]
            out["range_doppler"][f] = res["range_doppler"]
            if r.save_csi:
                out["csi"][f] = res["csi"]
            if self._cube is not None:
                self._cube.store(out, f, res)
            if progress is not None:
                progress(1)
        return out

    def _tick(self, key: str, v: float) -> None:
        self.timings[key] = self.timings.get(key, 0) + v

    # ------------------------------------------------------------------ scene
    def _build_scene(self, world):
        import mitsuba as mi
        from sionna.rt import PlanarArray, Receiver, SceneObject, Transmitter, load_scene
        r = self.radio
        scene = load_scene()
        scene.frequency = r.carrier_hz
        objs = []
        movers = []   # (Poser, Body, scatterer index or None): everything that moves per frame
        # Static geometry, merged per radio material into a FIXED list of shapes (a tiny
        # placeholder where a material is absent): Dr.Jit's virtual-call kernels depend on the
        # number of shapes, so a per-body shape count would compile new kernels for every scene.
        # Ray tracing is unchanged: same triangles, same materials.
        static: dict[str, list] = {m: [] for m in RADAR_MATERIALS}
        mover_names = {m.name for m in world.movers}
        for b in world.bodies:
            pos, yaw = b.pose(0)
            if b.radar_target and b.hull_mesh:
                if b.name not in mover_names:      # road users follow, in the config's slot order
                    objs.append(sensing_target(b, pos, yaw)[0])
                continue
            c, s = np.cos(yaw), np.sin(yaw)
            rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
            for p in b.parts:
                itu = p.radio_material[4:] if p.radio_material.startswith("itu_") else p.radio_material
                if itu not in static:
                    raise RadiovisualError(f"body '{b.name}': radio material '{p.radio_material}' is not one of "
                                           f"{', '.join('itu_' + m for m in RADAR_MATERIALS)}")
                v, f = read_ply(p.mesh)
                static[itu].append(((v.astype(np.float64) @ rot.T + pos).astype(np.float32), f))
        slot_tmp = tempfile.TemporaryDirectory(prefix="rv_slots_")
        for b in slot_order(self.cfg, world):
            if isinstance(b, str):        # an empty slot of class b: a placeholder far below the ground
                objs += placeholder(b, len(objs), Path(slot_tmp.name))
                continue
            st, poser = sensing_target(b, *b.pose(0))
            objs.append(st)
            movers.append((poser, b, None))
            movers += scatterer_targets(b, objs)
        slot_tmp.cleanup()
        with tempfile.TemporaryDirectory(prefix="rv_radar_") as tmp:
            statics = []
            for itu, meshes in static.items():
                v, f = merge(*meshes) if meshes else PLACEHOLDER_TRIANGLE
                path = write_ply(Path(tmp) / f"{itu}.ply", v, f)
                mat = radio_material(itu, r.carrier_hz, float(r.scattering_coefficient))
                statics.append(SceneObject(fname=str(path), name=f"static-{itu}", radio_material=mat))
        objs = statics + objs
        scene.add(objs)
        scene.tx_array = PlanarArray(num_rows=1, num_cols=1, pattern="tr38901", polarization="V")
        scene.rx_array = PlanarArray(num_rows=1, num_cols=1, pattern="tr38901", polarization="V")
        p = [float(v) for v in world.radar_position]
        la = [float(v) for v in world.radar_look_at]
        scene.add(Transmitter(name="radar-tx", position=mi.Point3f(*p), look_at=mi.Point3f(*la)))
        scene.add(Receiver(name="radar-rx", position=mi.Point3f(*p), look_at=mi.Point3f(*la)))
        # vertical array axis: world z tilted by the downtilt (boresight in the x-z plane)
        bore = np.asarray(world.radar_look_at, float) - np.asarray(world.radar_position, float)
        bore /= np.linalg.norm(bore)
        self._vert_axis = np.array([-bore[2] * np.sign(bore[0] or 1.0), 0.0, abs(bore[0])])
        self._vert_axis /= np.linalg.norm(self._vert_axis)
        return scene, movers

    # ------------------------------------------------------------------ solve
    def _solve(self, scene, seed: int, clutter: bool = True, rcs: bool = True) -> list[dict]:
        r = self.radio
        out = []
        t0 = time.perf_counter()
        if clutter and r.clutter_max_depth >= 1:
            out.append(self._path_solver(scene, max_depth=int(r.clutter_max_depth),
                                         samples_per_src=int(r.clutter_samples_per_src), los=False,
                                         specular_reflection=True, diffuse_reflection=True, refraction=False,
                                         synthetic_array=True, seed=_solver_seed(seed, 1, self._pool)))
        t1 = time.perf_counter()
        self._tick("clutter_solve_s", t1 - t0)
        if rcs and scene.sensing_targets:
            out.append(self._rcs_solver(scene, max_depth=int(r.rcs_max_depth),
                                        samples_per_sp=int(r.rcs_samples_per_sp),
                                        buffer_size_per_sp=int(r.rcs_samples_per_sp),
                                        los=True, specular_reflection=r.rcs_max_depth > 1, refraction=False,
                                        synthetic_array=True, seed=_solver_seed(seed, 2, self._pool)))
        arrs = [_path_arrays(p) for p in out]
        self._tick("n_paths", sum(len(p["tau"]) for p in arrs))
        return arrs

    # ------------------------------------------------------------------ DSP
    def _gains(self, path_sets: list[dict]):
        """Concatenated paths with their complex gains (TX power, elevation factor), pruned."""
        r = self.radio
        a = np.concatenate([p["a"] for p in path_sets]) if path_sets else np.zeros(0, complex)
        tau = np.concatenate([p["tau"] for p in path_sets]) if path_sets else np.zeros(0)
        u = np.concatenate([p["u"] for p in path_sets]) if path_sets else np.zeros((0, 3))
        fd = np.concatenate([p["doppler"] for p in path_sets]) if path_sets else np.zeros(0)
        g = a * rp.tx_amplitude(r) * rp.elevation_gain(u, self._vert_axis, r)
        gamma = getattr(self, "_gamma_db_per_km", 0.0)
        if gamma > 0:
            # rain / fog: specific attenuation along the whole path; c*tau is its length, both ways
            # for a monostatic radar (sensors.weather.path_amplitude_factor)
            from .weather import path_amplitude_factor

            g = g * path_amplitude_factor(gamma, rp.C0 * tau)
        # drop paths that cannot reach the noise floor even with full array + window gain
        floor_mw = rp.noise_power_w(r) * 1e3 * 3.0 / (8.0 * r.n_subcarriers)
        keep = (np.abs(g) ** 2) * 0.25 * r.array_cols > floor_mw * 10 ** (-PRUNE_BELOW_NOISE_DB / 10)
        return g[keep], tau[keep], u[keep], fd[keep]

    def _coherent(self, path_sets: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        """Noise-free path sums: range-antenna cube [R, N] (eqs. 1-2) and range-Doppler map [R, D]."""
        r = self.radio
        g, tau, u, fd = self._gains(path_sets)
        S = rp.steering(rp.sin_azimuth(u), r)                         # [P, N]
        M = rp.range_antenna_banded(tau, g, S, r, self.rows)           # sparse [R, P]
        # Range-Doppler on the reference column. Static paths all share the zero-Doppler
        # kernel, so they collapse to one range profile; only moving paths need their own.
        ref = r.array_cols // 2
        moving = np.abs(fd) > 1e-6
        rd = np.outer(M[:, ~moving] @ S[~moving, ref], rp.doppler_kernel(np.zeros(1), r)[0])
        if moving.any():
            rd += M[:, moving] @ (S[moving, ref][:, None] * rp.doppler_kernel(fd[moving], r))
        return M @ S, rd

    def _dsp(self, path_sets: list[dict], rng: np.random.Generator,
             static_sum: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
        """Heatmaps of one frame; ``static_sum`` = ``_coherent`` of paths shared by all frames."""
        if self._cube is not None:   # complex chirps on: sensors.cube computes the maps from the chirps
            return self._cube.frame(*self._gains(path_sets), rng, static_sum)
        r = self.radio
        res = {}
        if r.save_csi:
            # materialise the CFR (eq. 1) and derive the heatmap from it, so that the stored
            # CSI and the heatmap share one noise realisation
            g, tau, u, _ = self._gains(path_sets)
            S = rp.steering(rp.sin_azimuth(u), r)
            K, B, fc = r.n_subcarriers, r.bandwidth_hz, r.carrier_hz
            fk = (np.arange(K) - K / 2) * B / K
            E = np.exp(-2j * np.pi * (fc + fk[None]) * tau[:, None])        # [P, K]
            csi = (S * g[:, None]).T @ E + rp.cfr_noise(rng, (r.array_cols, K), r)   # [N, K]
            res["csi"] = csi.astype(np.complex64)
            xa = np.fft.ifft(rp.hann(K) * csi, axis=-1)[:, self.rows].T          # [R, N]
            _, rd = self._coherent(path_sets)
        else:
            xa, rd = self._coherent(path_sets)
            if static_sum is not None:
                xa, rd = xa + static_sum[0], rd + static_sum[1]
            xa = xa + rp.noise_range_antenna(rng, r, self.rows, r.array_cols)   # [R, N]
        res["radar"] = rp.to_db(xa @ self._V)
        res["range_doppler"] = rp.to_db(rd + rp.noise_range_doppler(rng, r, self.rows))
        return res


def _path_arrays(paths) -> dict:
    """Flatten a single-TX/single-RX Paths object to numpy: a, tau, arrival unit vectors, Doppler."""
    a_re, a_im = paths.a
    a = (np.asarray(a_re, np.float64) + 1j * np.asarray(a_im, np.float64)).ravel()
    tau = np.asarray(paths.tau, np.float64).ravel()
    th = np.asarray(paths.theta_r, np.float64).ravel()
    ph = np.asarray(paths.phi_r, np.float64).ravel()
    fd = np.asarray(paths.doppler, np.float64).ravel()
    valid = np.asarray(paths.valid).ravel().astype(bool)
    u = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], axis=-1)
    m = valid & (tau > 0) & np.isfinite(a)
    a, tau, u, fd = a[m], tau[m], u[m], fd[m]
    # canonical order: the summation order (hence the bytes) must not depend on thread timing
    o = np.lexsort((fd, a.imag, a.real, tau))
    return {"a": a[o], "tau": tau[o], "u": u[o], "doppler": fd[o]}


def _sionna_version() -> str:
    try:
        from importlib.metadata import version

        return version("sionna-rt")
    except Exception:  # pragma: no cover
        return "unknown"
