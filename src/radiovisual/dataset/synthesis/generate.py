"""One paired radar/camera sequence from a SynthConfig: scene -> sensors -> labels.

Every sequence draws from its own RNG, seeded by ``(cfg.seed, scenario, split, seq_id)``,
so a sample never depends on processing order, resume, or sharding.
Labels are computed from the same ``World`` that both sensors see.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...errors import DatasetError
from .config import MIX_SCENARIOS, SCENARIOS, SynthConfig
from ..store.format import SPLITS, polar_to_xy

# Which point of the target body ``target_polar`` refers to (stored as root attr ``target_point``).
TARGET_POINT = ("centre of the target car's 3-D bounding box (footprint centre raised by half the car height); "
                "range is the slant range from the radar phase centre")
# Bodies counted as "other cars" for the ``reflectors`` label.
REFLECTOR_KINDS = ("parked_car",)


def sequence_seed_sequence(cfg: SynthConfig, split: str, seq_id: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(cfg.seed), SCENARIOS.index(cfg.scenario), SPLITS.index(split), int(seq_id)])


def sequence_rng(cfg: SynthConfig, split: str, seq_id: int) -> np.random.Generator:
    """The per-sequence RNG: depends on nothing but the config seed, scenario, split and id."""
    return np.random.default_rng(sequence_seed_sequence(cfg, split, seq_id))


def max_reflectors(cfg: SynthConfig) -> int:
    """K of the ``reflectors`` label: the most other cars a scene of this config holds (>= 1)."""
    return max(1, int(cfg.scene.n_parked))


def radar_xy(points: np.ndarray, radar_position: np.ndarray) -> np.ndarray:
    """World points [..., 3] -> radar-frame (x right, y forward) [m], the ``target_xy`` convention
    (x = r sin az, y = r cos az with r the slant range)."""
    from ...scene.world import world_to_radar_polar

    return polar_to_xy(world_to_radar_polar(points, radar_position))


def scenario_index(name: str) -> int:
    """Index of a built-in scenario in MIX_SCENARIOS + SCENARIOS_EXTRA (the per-sample ``scenario_id``: 0-2 the
    original three, 3 the intersection), -1 for any other."""
    from ...scene.layouts import SCENARIOS_EXTRA

    builtin = MIX_SCENARIOS + SCENARIOS_EXTRA
    return builtin.index(name) if name in builtin else -1


def world_labels(world: Any, n_frames: int, k_max: int) -> dict[str, np.ndarray]:
    """Ground-truth labels of one sequence, all from the World (no sensor involved)."""
    from ...scene.world import world_to_radar_polar

    T = n_frames
    pts = np.stack([world.target_point(f) for f in range(T)])                  # [T, 3] world [m]
    polar = world_to_radar_polar(pts, world.radar_position)                     # [T, 2] (m, rad)
    tb = world.target_body
    # Radar frame: x_right = -y_world, y_fwd = +x_world (scene/world.py docstring).
    v = np.asarray(tb.velocity, dtype=np.float64)
    if getattr(tb, "velocities", None) is not None:   # per-frame velocity (turning tracks)
        vw = np.stack([tb.velocity_at(f) for f in range(T)])
    elif not np.any(v) and len(tb.positions) > 1 and world.frame_dt_s > 0:
        # No declared velocity: the finite-difference velocity of the footprint track.
        vw = np.gradient(np.asarray(tb.positions, np.float64), world.frame_dt_s, axis=0)[:T]
        vw = np.concatenate([vw, np.repeat(vw[-1:], T - len(vw), 0)]) if len(vw) < T else vw
    else:
        vw = np.repeat(v[None], T, 0)
    velocity = np.stack([-vw[:, 1], vw[:, 0]], axis=-1)                          # [T, 2] (x_right, y_fwd) [m/s]
    refl = np.full((T, k_max, 2), np.nan, np.float64)
    cars = [b for b in world.bodies if b.kind in REFLECTOR_KINDS and b.name != world.target]
    for f in range(T):
        if not cars:
            break
        centres = np.stack([b.pose(f)[0] + np.array([0.0, 0.0, b.size[2] / 2.0]) for b in cars])
        xy = radar_xy(centres, world.radar_position)                           # [n_cars, 2]
        if len(xy) > k_max:  # keep the k_max nearest, deterministically
            xy = xy[np.argsort(np.hypot(xy[:, 0], xy[:, 1]), kind="stable")[:k_max]]
        refl[f, :len(xy)] = xy
    # index into scene.cars.car_model (the procedural family); -1 if the World does not say
    model = int(world.meta.get("target_model_index", -1)) if isinstance(world.meta, dict) else -1
    return {
        "car_model": np.full(T, model, np.int32),
        "target_polar": polar.astype(np.float32),
        "target_xy": polar_to_xy(polar).astype(np.float32),
        "reflectors": refl.astype(np.float32),
        "velocity": velocity.astype(np.float32),
    }


def max_objects(cfg: SynthConfig) -> int:
    """K of the ``objects`` label: the most road users a sequence of this config holds."""
    from ...scene.objects import parse_objects

    if getattr(cfg.scene, "tracks_file", ""):   # a user scene: the road users of its tracks file (scene.user)
        from ...scene.user import load_tracks

        return len(load_tracks(cfg.scene.tracks_file)["objects"])
    return sum(hi for _, _, hi in parse_objects(tuple(cfg.scene.objects)))


def object_labels(world: Any, instance: np.ndarray, k_max: int) -> np.ndarray:
    """``objects`` [T, k_max, len(OBJECT_FIELDS)] of every road user (world.movers order = instance - 1).

    Position = the centre of the body's 3-D box (as ``target_polar``); velocity in the radar frame;
    visibility and box from the camera's instance mask (an occluded or out-of-view object: not visible).
    """
    from ...scene.objects import CLASSES
    from ...scene.world import world_to_radar_polar
    from ..store.format import OBJECT_FIELDS

    T = len(instance)
    out = np.full((T, k_max, len(OBJECT_FIELDS)), np.nan, np.float32)
    for k, b in enumerate(world.movers[:k_max]):
        pts = np.stack([world.centre_point(b, f) for f in range(T)])
        polar = world_to_radar_polar(pts, world.radar_position)
        xy = polar_to_xy(polar)
        vw = np.stack([b.velocity_at(f) for f in range(T)])
        for f in range(T):
            rows, cols = np.nonzero(instance[f] == k + 1)
            box = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) if len(rows) else (np.nan,) * 4
            out[f, k] = (polar[f, 0], polar[f, 1], CLASSES.index(b.object_class or "car"), k + 1, xy[f, 0],
                         xy[f, 1], -vw[f, 1], vw[f, 0], float(len(rows) > 0), *box)
    return out


def instance_classes(world: Any, instance: np.ndarray, k_max: int) -> np.ndarray:
    """``instance_class`` [T, k_max] int8: the class id of camera instance k + 1 in each frame, -1 where the
    camera does not see it. What an instance segmenter outputs with its masks (a camera annotation, like
    ``instance_mask``), so label-free stages may read it; class ids as ``scene.objects.CLASSES``."""
    from ...scene.objects import CLASSES

    T = len(instance)
    out = np.full((T, k_max), -1, np.int8)
    for k, b in enumerate(world.movers[:k_max]):
        seen = (instance == k + 1).any(axis=(1, 2))
        out[seen, k] = CLASSES.index(b.object_class or "car")
    return out


def weather_labels(world: Any, T: int) -> np.ndarray:
    """``weather`` [T, 3]: (kind id in scene.objects.WEATHER_KINDS, rain [mm/h], fog LWC [g/m^3])."""
    from ...scene.objects import WEATHER_KINDS

    w = world.meta.get("weather") or {"kind": "clear"}
    row = (WEATHER_KINDS.index(w["kind"]), w.get("rain_mm_h", 0.0), w.get("fog_lwc_g_m3", 0.0))
    return np.tile(np.asarray(row, np.float32), (T, 1))


class SequenceGenerator:
    """Builds scenes and runs both sensors; the simulators are built once per process.

    ``world_builder``, ``radar`` and ``camera`` may be injected (benchmarks, tests);
    by default they are the real Sionna RT radar and Mitsuba camera.
    """

    def __init__(self, cfg: SynthConfig, cache_dir: str | Path, *, world_builder: Callable | None = None,
                 radar: Any = None, camera: Any = None):
        self.cfg = cfg
        self.cache_dir = Path(cache_dir)
        if world_builder is None and cfg.scene.scene_file:   # the user's own scene (docs/scenes.md)
            from ...scene.user import build_user_world as world_builder
        if world_builder is None:
            from ...scene.layouts import build_world as world_builder
        if radar is None:
            from ...sensors.sionna_jit import prune_kernel_cache
            from ...sensors.sionna_radar import RadarSimulator

            prune_kernel_cache()  # bound ~/.drjit (RADIOVISUAL_DRJIT_CACHE_MB)

            radar = RadarSimulator(cfg)
        if camera is None:
            from ...sensors.camera import CameraRig

            camera = CameraRig(cfg)
        self.build_world = world_builder
        self.radar = radar
        self.camera = camera
        self.timings: dict[str, float] = {"world": 0.0, "radar": 0.0, "camera": 0.0, "labels": 0.0}
        self._camera_attrs: dict | None = None

    def world(self, split: str, seq_id: int) -> tuple[Any, int, int]:
        """The sequence's World and its radar / camera seeds."""
        rng = sequence_rng(self.cfg, split, seq_id)
        # Sensor seeds first, so they do not depend on how many draws the layout consumes.
        radar_seed, camera_seed = (int(s) for s in rng.integers(0, 2**31 - 1, size=2))
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        if self.cfg.scenario == "mix":   # the sequence id picks its scenario (scene.layouts.scenario_of)
            world = self.build_world(self.cfg, rng, self.cache_dir, sequence=seq_id)
        else:
            world = self.build_world(self.cfg, rng, self.cache_dir)
        return world, radar_seed, camera_seed

    def generate(self, split: str, seq_id: int) -> dict[str, np.ndarray]:
        """All arrays of one sequence, each with leading dimension T = cfg.scene.n_frames."""
        T = self.cfg.scene.n_frames
        t0 = time.perf_counter()
        world, radar_seed, camera_seed = self.world(split, seq_id)
        t1 = time.perf_counter()
        rad = self.radar.simulate(world, radar_seed)
        t2 = time.perf_counter()
        cam = self.camera.render(world, camera_seed)
        t3 = time.perf_counter()
        out: dict[str, np.ndarray] = {
            "radar": np.asarray(rad["radar"], np.float32),
            "image": np.asarray(cam["image"], np.uint8),
            "mask": np.asarray(cam["mask"], bool),
            "bbox": np.asarray(cam["bbox"], np.float32),
        }
        out.update(world_labels(world, T, max_reflectors(self.cfg)))
        out["sequence"] = np.full(T, seq_id, np.int32)
        # capture metadata (which site the base station is at), not a label: index into MIX_SCENARIOS + SCENARIOS_EXTRA
        out["scenario_id"] = np.full(T, scenario_index(getattr(world, "scenario", self.cfg.scenario)), np.int32)
        out["frame"] = np.arange(T, dtype=np.int32)
        if "range_doppler" in rad and rad["range_doppler"] is not None:
            out["range_doppler"] = np.asarray(rad["range_doppler"], np.float32)
        if self.cfg.radio.save_csi and rad.get("csi") is not None:
            out["csi"] = np.asarray(rad["csi"], np.complex64)
        for k in ("radar_chirps", "radar_cube"):   # radio.cube_chirps / cube_raw (sensors.cube)
            if rad.get(k) is not None:
                out[k] = np.asarray(rad[k], np.complex64)
        if self.cfg.store_depth:
            out["depth"] = np.asarray(cam["depth"], np.float32)
        if tuple(self.cfg.scene.objects) or self.cfg.scene.scene_file:   # road users: per-object table, instances
            inst = np.asarray(cam.get("instance", out["mask"]), np.uint8)
            out["objects"] = object_labels(world, inst, max_objects(self.cfg))
            out["instance_mask"] = inst
            out["instance_class"] = instance_classes(world, inst, max_objects(self.cfg))
        if tuple(self.cfg.scene.weather):
            out["weather"] = weather_labels(world, T)
        if self._camera_attrs is None:
            self._camera_attrs = self.camera.attrs(world)
        self.timings["world"] += t1 - t0
        self.timings["radar"] += t2 - t1
        self.timings["camera"] += t3 - t2
        self.timings["labels"] += time.perf_counter() - t3
        check_sequence(out, T, where=f"{split} sequence {seq_id}")
        return out

    def attrs(self) -> dict[str, Any]:
        """Sensor attributes for the store root (radar bins, radio, camera). JSON-able."""
        from ..store.format import _jsonable

        a = dict(self.radar.attrs())
        if self._camera_attrs is not None:
            a["camera"] = self._camera_attrs
        if self.cfg.scene.scene_file:   # the user scene's files and their sha256 (scene.user.scene_provenance)
            from ...scene.user import scene_provenance

            a["user_scene"] = scene_provenance(self.cfg.scene.scene_file, self.cfg.scene.tracks_file)
        return _jsonable(a)


def check_sequence(arrs: dict[str, np.ndarray], T: int, where: str) -> None:
    """One clear error if a sensor returned something off-contract (wrong T, non-finite radar)."""
    for k, v in arrs.items():
        if v.shape[:1] != (T,):
            raise DatasetError(f"{where}: array '{k}' has shape {v.shape}, expected leading dimension {T}")
    if not np.isfinite(arrs["radar"]).all():
        raise DatasetError(f"{where}: radar heatmap has non-finite values (the simulator must floor its dB)")


def meta_to_array(meta: dict[str, Any]) -> np.ndarray:
    """A JSON dict as a uint8 array (storable in an .npz without pickle)."""
    return np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)


def array_to_meta(a: np.ndarray) -> dict[str, Any]:
    return json.loads(bytes(np.asarray(a, np.uint8)).decode())
