"""Kernel reuse in the Sionna radar (sensors.sionna_jit): same numbers as Sionna's own code paths,
and kernels that do not depend on poses (so a new scene or frame compiles nothing new)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("sionna.rt")

from radiovisual.dataset.config import resolve_synth_config  # noqa: E402
from radiovisual.scene.cars import write_car_meshes  # noqa: E402
from radiovisual.scene.layouts import _car, _ground  # noqa: E402
from radiovisual.scene.world import World  # noqa: E402


def _vertices(obj) -> np.ndarray:
    import mitsuba as mi

    return np.array(mi.traverse(obj.mi_mesh)["vertex_positions"]).reshape(-1, 3)


def test_poser_matches_sionna_setters_and_reuses_its_kernel(tmp_path):
    """Poser (opaque transform) == Sionna's orientation + position setters (rotate about the AABB
    centre, then translate so the local origin lands on ``pos``), to float32 precision (1e-4 m)."""
    import drjit as dr
    import mitsuba as mi
    from sionna.rt import SceneObject

    from radiovisual.sensors.sionna_jit import Poser

    _, hull = write_car_meshes(tmp_path, 3)
    pos, yaw = np.array([11.3, -4.2, 0.0]), 0.7
    ref = SceneObject(fname=str(hull), name="ref")
    c = np.array(ref.position).ravel().astype(np.float64)
    ref.orientation = mi.Point3f(yaw, 0.0, 0.0)
    rot = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    now = np.array(ref.position).ravel().astype(np.float64)
    ref.position = mi.Point3f(*[float(v) for v in now + (pos - (c + rot @ (-c)))])
    mine = SceneObject(fname=str(hull), name="mine")
    poser = Poser(mine)
    with dr.scoped_set_flag(dr.JitFlag.KernelHistory, True):
        dr.kernel_history()
        poser.set(pos, yaw)
        h1 = {k["hash"] for k in dr.kernel_history() if k.get("type") == dr.KernelType.JIT}
        poser.set(pos + [3.0, 1.0, 0.0], -1.2)  # another pose: the very same kernels
        h2 = {k["hash"] for k in dr.kernel_history() if k.get("type") == dr.KernelType.JIT}
        poser.set(pos, yaw)
        dr.kernel_history()
    np.testing.assert_allclose(_vertices(mine), _vertices(ref), atol=1e-4)
    np.testing.assert_allclose(np.array(mine.orientation).ravel(), [yaw, 0, 0], atol=1e-7)
    assert h1 and h1 == h2


@pytest.fixture(scope="module")
def small_scene(tmp_path_factory):
    from radiovisual.sensors.sionna_radar import RadarSimulator

    cache = tmp_path_factory.mktemp("jit")
    c = resolve_synth_config("smoke")
    cfg = replace(c, radio=replace(c.radio, rcs_samples_per_sp=200))
    bodies = [_ground(cache, -5.0, 40.0, 30.0, "itu_concrete"),
              _car("parked_00", "parked_car", cache, 1, (0.5, 0.5, 0.5), [14.0, 3.0], 0.0),
              _car("target", "target", cache, 0, (0.5, 0.5, 0.5), [[10.0, -2.0], [10.0, -1.0]], np.pi / 2,
                   velocity=(0.0, 5.0, 0.0))]
    radar, look = np.array([0.0, 0.0, 4.0]), np.array([12.0, 0.0, 0.0])
    world = World("parking_lot", bodies, "target", 2, 0.2, radar, look, radar, look)
    sim = RadarSimulator(cfg)
    scene, target = sim._build_scene(world)
    return cfg, sim, scene


def test_opaque_rcs_solver_equals_sionna_rcs_solver(small_scene):
    """Same paths (delay, gain, direction, Doppler incl. the target's 5 m/s) as sionna's RCSSolver."""
    from sionna.rt.rcs import RCSSolver

    from radiovisual.sensors.sionna_jit import opaque_rcs_solver
    from radiovisual.sensors.sionna_radar import _path_arrays

    cfg, sim, scene = small_scene
    # Sionna's own solver reads the velocity from the shape attribute: give it the same one
    import mitsuba as mi

    st = scene.sensing_targets["target"]
    kw = dict(max_depth=1, samples_per_sp=200, buffer_size_per_sp=200, los=True, specular_reflection=False,
              refraction=False, synthetic_array=True, seed=5)
    mine = _path_arrays(opaque_rcs_solver()(scene, **kw))
    st.velocity = mi.Vector3f(*st._rv_velocity)
    ref = _path_arrays(RCSSolver()(scene, **kw))
    assert len(ref["tau"]) >= 5 and len(mine["tau"]) == len(ref["tau"])
    np.testing.assert_allclose(mine["tau"], ref["tau"], rtol=1e-6)
    np.testing.assert_allclose(mine["a"], ref["a"], rtol=1e-4, atol=1e-12 * np.abs(ref["a"]).max())
    np.testing.assert_allclose(mine["u"], ref["u"], atol=1e-5)
    np.testing.assert_allclose(mine["doppler"], ref["doppler"], rtol=1e-4, atol=1e-3)
    assert np.abs(ref["doppler"]).max() > 10.0  # the moving target's Doppler is in both


def test_prune_kernel_cache_keeps_the_newest_under_the_limit(tmp_path):
    import os

    from radiovisual.sensors.sionna_jit import prune_kernel_cache

    for i in range(10):
        f = tmp_path / f"k{i}.llvm.v6.bin"
        f.write_bytes(b"x" * 2**17)           # 0.125 MB each, 1.25 MB in all
        os.utime(f, (1000 + i, 1000 + i))      # k0 oldest
    assert prune_kernel_cache(2.0, tmp_path) == 0
    removed = prune_kernel_cache(1.0, tmp_path)  # down to <= 0.75 MB: the 6 newest stay
    left = sorted(p.name for p in tmp_path.iterdir())
    assert removed == 4 and left == sorted(f"k{i}.llvm.v6.bin" for i in range(4, 10))
    assert prune_kernel_cache(0, tmp_path) == 0  # 0 disables


def test_static_clutter_sum_once_equals_per_frame_sum(small_scene):
    """Summing the static clutter once per sequence (quick preset) gives the per-frame heatmaps
    of summing everything every frame, to float32 rounding (1e-3 dB)."""
    cfg, sim, _ = small_scene
    rng = np.random.default_rng(0)

    def paths(n, moving):
        u = rng.normal(size=(n, 3))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        return {"a": (rng.normal(size=n) + 1j * rng.normal(size=n)) * 1e-5, "tau": rng.uniform(2e-8, 1.5e-7, n),
                "u": u, "doppler": rng.uniform(-300, 300, n) if moving else np.zeros(n)}

    clutter, target = paths(400, False), paths(12, True)
    a = sim._dsp([clutter, target], np.random.default_rng(7))
    b = sim._dsp([target], np.random.default_rng(7), sim._coherent([clutter]))
    for k in ("radar", "range_doppler"):
        np.testing.assert_allclose(b[k], a[k], atol=1e-3)


def test_solver_seed_is_opaque_same_paths_no_new_kernels(small_scene):
    """Both solvers take the ray-sampling seed as an opaque value (issue 23): a new seed compiles none of the
    solvers' kernels again (a literal seed recompiled the largest, thousands of operations; small ones that carry
    a path count may still compile), and a seed gives the paths Sionna's own solvers give for it."""
    import drjit as dr
    from sionna.rt import PathSolver
    from sionna.rt.rcs import RCSSolver

    from radiovisual.sensors.sionna_jit import opaque_path_solver, opaque_rcs_solver
    from radiovisual.sensors.sionna_radar import _path_arrays

    _, _, scene = small_scene
    rcs_kw = dict(max_depth=1, samples_per_sp=200, buffer_size_per_sp=200, los=True, specular_reflection=False,
                  refraction=False, synthetic_array=True)
    clut_kw = dict(max_depth=1, samples_per_src=3000, los=False, specular_reflection=True,
                   diffuse_reflection=True, refraction=False, synthetic_array=True)
    solvers = ((opaque_rcs_solver(), RCSSolver(), rcs_kw), (opaque_path_solver(), PathSolver(), clut_kw))
    for mine, _, kw in solvers:
        mine(scene, seed=3, **kw)                                 # compile once
    with dr.scoped_set_flag(dr.JitFlag.KernelHistory, True):
        dr.kernel_history()
        for mine, _, kw in solvers:
            mine(scene, seed=7, **kw)                             # another seed of the pool
        new = [k for k in dr.kernel_history() if k.get("type") == dr.KernelType.JIT and not k.get("cache_hit")
               and k.get("operation_count", 0) > 500]
    assert not new, f"{len(new)} large kernels compiled for a new seed"
    for mine, ref, kw in solvers:
        a, b = _path_arrays(mine(scene, seed=11, **kw)), _path_arrays(ref(scene, seed=11, **kw))
        assert len(a["tau"]) == len(b["tau"]) > 0
        np.testing.assert_array_equal(a["tau"], b["tau"])
        np.testing.assert_array_equal(a["a"], b["a"])
