"""Synthesis configuration: frozen dataclasses + presets (smoke / quick / paper).

Resolve with ``resolve_synth_config(preset, overrides=[...], n=..., seed=...)``.
The resolved config (including the seed) is saved into every dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...config import resolve
from ...errors import ConfigError
from ...scene.layouts import MIX_SCENARIOS, SCENARIOS_EXTRA  # the scene stage owns the scenario list
from ...sensors.radar import C0  # one definition of the speed of light [m/s]

# "mix": sequence k of each split is built as scenario MIX_SCENARIOS[k % 3] (equal thirds, per sequence)
# Built-in scenarios added later go after "mix": generate.sequence_seed_sequence seeds by SCENARIOS.index, so
# existing stores keep their bytes.
SCENARIOS = MIX_SCENARIOS + ("mix",) + SCENARIOS_EXTRA
# ROD2021's range bins are k * (Fs / 134) * c / (2 S) (4e6 Hz sampling, 21.0017e12 Hz/s slope, dataset.cruw);
# an OFDM radar of bandwidth B has its IFFT bins at k * c / (2B), so B = S * 134 / Fs puts them on CRUW's.
CRUW_BANDWIDTH_HZ = 21.0017e12 * 134 / 4e6


@dataclass(frozen=True)
class RadioConfig:
    """Monostatic OFDM radar at the base station (paper Tab. 3 in the ``paper`` preset)."""

    carrier_hz: float = 28e9
    bandwidth_hz: float = 800e6
    n_subcarriers: int = 256
    array_rows: int = 1            # 1 -> ULA; N -> N x cols planar (azimuth beamformed over columns)
    array_cols: int = 16
    spacing_wavelengths: float = 0.5
    n_azimuth_bins: int = 64
    azimuth_fov_deg: float = 120.0  # azimuth bin centres span [-fov/2, +fov/2]
    azimuth_grid: str = "uniform"   # "uniform" in angle, or "sine": uniform in sin(az), like an angle FFT
    range_min_m: float = 2.0       # heatmap rows cover [range_min_m, range_max_m]
    range_max_m: float = 26.0
    tx_power_dbm: float = 30.0
    noise_figure_db: float = 8.0
    noise_temperature_k: float = 290.0
    # Ray tracing
    clutter_max_depth: int = 2
    clutter_samples_per_src: int = 30000
    scattering_coefficient: float = 0.4
    rcs_max_depth: int = 1
    rcs_samples_per_sp: int = 1000
    # Static clutter is re-solved every frame (exact: the moving target shadows it) or once per
    # sequence (about 40% less ray tracing; strong bins change by <= 0.22 dB at the 95th percentile).
    clutter_every_frame: bool = True
    # Sionna bakes the ray-sampling seed into compiled kernels: each new seed costs ~1 s of JIT per
    # solver, so sequences draw their solver seed from a small pool (thermal noise is seeded per frame).
    solver_seed_pool: int = 8
    # Sionna's default candidate generator is not deterministic under multi-threaded Dr.Jit (rarely a
    # different path set: a fan-out run then differed from a serial one). The deterministic generator
    # costs nothing measurable here (quick preset, 120 samples: 17.4 s vs 18.4 s warm, 2 cores) and
    # makes a seed fix the bytes; False restores Sionna's default.
    deterministic_solver: bool = True
    # Slow time for the range-Doppler map
    doppler_symbols: int = 64
    pri_s: float = 1e-4
    save_csi: bool = False
    # Complex radar cube (``sensors.cube``, docs/dataset-format.md): per frame, ``cube_chirps`` beamformed
    # complex range-azimuth chirps taken evenly from the slow-time burst (0 = off), and with ``cube_raw`` the
    # raw CFR of every chirp (chirp x subcarrier x antenna) from which the stored maps are computed.
    cube_chirps: int = 0
    cube_raw: bool = False
    # added after stores existed: left out of the config fingerprint while at their defaults
    FINGERPRINT_OMIT_DEFAULTS: ClassVar[tuple[str, ...]] = ("azimuth_grid", "cube_chirps", "cube_raw")

    @property
    def wavelength_m(self) -> float:
        return C0 / self.carrier_hz

    @property
    def range_resolution_m(self) -> float:
        """c / (2B) [m]: the range bin spacing."""
        return C0 / (2.0 * self.bandwidth_hz)

    def validate(self) -> None:
        if not self.carrier_hz > 0:
            raise ConfigError(f"radio.carrier_hz must be > 0, got {self.carrier_hz}")
        if not self.bandwidth_hz > 0:
            raise ConfigError(f"radio.bandwidth_hz must be > 0, got {self.bandwidth_hz}")
        if self.bandwidth_hz >= self.carrier_hz:
            raise ConfigError("radio.bandwidth_hz must be smaller than radio.carrier_hz")
        if self.n_subcarriers < 8:
            raise ConfigError(f"radio.n_subcarriers must be >= 8, got {self.n_subcarriers}")
        if self.array_rows < 1 or self.array_cols < 2:
            raise ConfigError("radio.array_rows must be >= 1 and radio.array_cols >= 2")
        if not 0 < self.spacing_wavelengths <= 2:
            raise ConfigError(f"radio.spacing_wavelengths must be in (0, 2], got {self.spacing_wavelengths}")
        if self.n_azimuth_bins < 4:
            raise ConfigError(f"radio.n_azimuth_bins must be >= 4, got {self.n_azimuth_bins}")
        if not 0 < self.azimuth_fov_deg <= 180:
            raise ConfigError(f"radio.azimuth_fov_deg must be in (0, 180], got {self.azimuth_fov_deg}")
        if self.azimuth_grid not in ("uniform", "sine"):
            raise ConfigError(f"radio.azimuth_grid must be 'uniform' or 'sine', got {self.azimuth_grid!r}")
        if not 0 <= self.range_min_m < self.range_max_m:
            raise ConfigError("radio.range_min_m must be >= 0 and < radio.range_max_m")
        unamb = self.n_subcarriers * self.range_resolution_m
        if self.range_max_m > unamb:
            raise ConfigError(
                f"radio.range_max_m={self.range_max_m} exceeds the unambiguous range "
                f"n_subcarriers*c/(2B)={unamb:.1f} m; raise n_subcarriers or lower range_max_m")
        if (self.range_max_m - self.range_min_m) < 4 * self.range_resolution_m:
            raise ConfigError("radio range window is narrower than 4 range bins")
        if self.doppler_symbols < 2 or not self.pri_s > 0:
            raise ConfigError("radio.doppler_symbols must be >= 2 and radio.pri_s > 0")
        if self.clutter_max_depth < 0 or self.rcs_max_depth < 1:
            raise ConfigError("radio.clutter_max_depth must be >= 0 and radio.rcs_max_depth >= 1")
        if not 0 <= self.cube_chirps <= self.doppler_symbols:
            raise ConfigError(f"radio.cube_chirps must be in [0, radio.doppler_symbols={self.doppler_symbols}] "
                              f"(chirps are taken from the slow-time burst), got {self.cube_chirps}")
        if self.cube_raw and self.cube_chirps < 1:
            raise ConfigError("radio.cube_raw needs radio.cube_chirps >= 1 (the raw cube is part of the cube option)")
        if self.cube_chirps and self.save_csi:
            raise ConfigError("radio.save_csi cannot be combined with radio.cube_chirps; "
                              "radio.cube_raw stores the CFR of every chirp (chirp 0 is the CSI)")


@dataclass(frozen=True)
class CameraConfig:
    """Pinhole RGB camera co-located with the radar (same orientation, small offset)."""

    width: int = 128
    height: int = 96
    hfov_deg: float = 100.0
    spp: int = 8
    offset_m: tuple[float, float, float] = (0.0, 0.0, 0.15)  # camera minus radar, world axes [m]

    def validate(self) -> None:
        if self.width < 8 or self.height < 8:
            raise ConfigError("camera.width and camera.height must be >= 8")
        if not 10 <= self.hfov_deg < 170:
            raise ConfigError(f"camera.hfov_deg must be in [10, 170), got {self.hfov_deg}")
        if self.spp < 1:
            raise ConfigError("camera.spp must be >= 1")


@dataclass(frozen=True)
class SceneConfig:
    """Scenario geometry and motion."""

    FINGERPRINT_OMIT_DEFAULTS: ClassVar[tuple[str, ...]] = ("mix_scenarios", "objects", "weather", "rain_mm_h",
                                                            "fog_lwc_g_m3", "scene_file", "tracks_file",
                                                            "scene_sha256")

    bs_height_m: float = 4.0
    n_frames: int = 15                 # frames per sequence
    frame_dt_s: float = 0.2            # time between frames [s]
    speed_mps: tuple[float, float] = (2.0, 6.0)  # target speed, uniform in [lo, hi]
    jitter_std_m: float = 0.10         # N(0, sigma) jitter of parked cars (per sequence)
    n_parked: int = 12                 # parked cars (parking lot); cars parked along the street otherwise
    # size of the procedural car-model family to draw from (models 0..n-1): scene.cars has N_BASE_MODELS (64)
    # distinct base shapes, stretched variants beyond; 8 keeps existing stores' bytes
    n_car_models: int = 8
    # kinds of target motion (scene.motion.MOTIONS), drawn uniformly; () = the scenario's own mix
    # (scene.layouts.SCENARIO_MOTIONS)
    target_motions: tuple[str, ...] = ()
    # scenario "mix": the scenarios its sequences cycle through (); () = the three original built-in ones (not
    # "intersection", which may be listed). Two of them make the training store of a held-out-scenario
    # benchmark (docs/benchmark.md)
    mix_scenarios: tuple[str, ...] = ()
    # Moving road users per sequence, "class:count" or "class:lo-hi" (count drawn per sequence), classes
    # car / pedestrian / cyclist (scene.objects). The first one drawn is the primary target
    # (``target_polar``). () = one car: the single-target world of v0.2, byte for byte.
    objects: tuple[str, ...] = ()
    # Weather drawn per sequence, "kind:weight" with kinds clear / rain / fog (sensors.weather);
    # () = always clear (v0.2's bytes). Rain rate and fog liquid water are uniform in the ranges below.
    weather: tuple[str, ...] = ()
    rain_mm_h: tuple[float, float] = (2.0, 50.0)        # ITU-R P.838 rain rate R [mm/h]
    fog_lwc_g_m3: tuple[float, float] = (0.05, 0.5)     # ITU-R P.840 liquid water content M [g/m^3]
    # The user's own scene (scene.user, docs/scenes.md; `synth --scene --tracks`): a Mitsuba 3 / Sionna RT
    # scene file as the static world and a YAML file placing the radar and camera and the road users' tracks.
    # scene_sha256 (set from the files by resolve_synth_config) puts their content into the fingerprint.
    scene_file: str = ""
    tracks_file: str = ""
    scene_sha256: str = ""

    def validate(self) -> None:
        if self.n_frames < 1:
            raise ConfigError("scene.n_frames must be >= 1")
        if not self.frame_dt_s > 0:
            raise ConfigError(f"scene.frame_dt_s must be > 0 (the frame period in seconds), got {self.frame_dt_s}")
        if not self.bs_height_m > 0:
            raise ConfigError("scene.bs_height_m must be > 0")
        lo, hi = self.speed_mps
        if not 0 <= lo <= hi:
            raise ConfigError("scene.speed_mps must be (lo, hi) with 0 <= lo <= hi")
        if self.jitter_std_m < 0 or self.n_parked < 0 or self.n_car_models < 1:
            raise ConfigError("scene.jitter_std_m, scene.n_parked must be >= 0 and scene.n_car_models >= 1")
        from ...scene.motion import MOTIONS

        builtin = MIX_SCENARIOS + SCENARIOS_EXTRA
        bad_scn = [m for m in self.mix_scenarios if m not in builtin]
        if bad_scn or len(set(self.mix_scenarios)) != len(self.mix_scenarios):
            raise ConfigError(f"scene.mix_scenarios: each of {', '.join(builtin)} at most once, got "
                              f"{list(self.mix_scenarios)}")
        bad = [m for m in self.target_motions if m not in MOTIONS]
        if bad:
            raise ConfigError(f"scene.target_motions: unknown kind(s) {', '.join(map(str, bad))} "
                              f"(choose from {', '.join(MOTIONS)})")
        from ...scene.objects import parse_objects, parse_weather

        parse_objects(self.objects)
        parse_weather(self.weather)
        for name, (lo, hi) in (("rain_mm_h", self.rain_mm_h), ("fog_lwc_g_m3", self.fog_lwc_g_m3)):
            if not 0 <= lo <= hi:
                raise ConfigError(f"scene.{name} must be (lo, hi) with 0 <= lo <= hi, got {(lo, hi)}")
        if bool(self.scene_file) != bool(self.tracks_file):
            raise ConfigError("scene.scene_file and scene.tracks_file go together (--scene XML --tracks YAML): "
                              "give both or neither")
        if self.scene_file and tuple(self.objects):
            raise ConfigError("scene.objects does not apply to a user scene: its road users come from the tracks "
                              "file (scene.tracks_file)")


@dataclass(frozen=True)
class SplitSizes:
    """Number of samples per split (rounded up to whole sequences)."""

    train: int = 1200
    val: int = 300
    test: int = 300

    def validate(self) -> None:
        if min(self.train, self.val, self.test) < 0 or self.train + self.val + self.test == 0:
            raise ConfigError("splits must be >= 0 and not all zero")


@dataclass(frozen=True)
class SynthConfig:
    scenario: str = "parking_lot"
    seed: int = 0
    radio: RadioConfig = field(default_factory=RadioConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    scene: SceneConfig = field(default_factory=SceneConfig)
    splits: SplitSizes = field(default_factory=SplitSizes)
    store_depth: bool = True

    def validate(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ConfigError(f"unknown scenario '{self.scenario}' (choose from {', '.join(SCENARIOS)})")
        for part in (self.radio, self.camera, self.scene, self.splits):
            part.validate()
        burst = self.radio.doppler_symbols * self.radio.pri_s
        if burst > self.scene.frame_dt_s:
            raise ConfigError(f"the slow-time burst (radio.doppler_symbols x radio.pri_s = {burst:.4g} s) must fit "
                              f"in one frame period (scene.frame_dt_s = {self.scene.frame_dt_s:.4g} s)")


SYNTH_PRESETS: dict[str, dict[str, Any]] = {
    # seconds: for tests
    "smoke": {
        "radio": {"n_subcarriers": 128, "array_cols": 8, "n_azimuth_bins": 32, "range_max_m": 22.0,
                  "clutter_max_depth": 1, "clutter_samples_per_src": 3000, "rcs_samples_per_sp": 200,
                  "doppler_symbols": 16},
        "camera": {"width": 64, "height": 48, "spp": 2},
        "scene": {"n_frames": 3, "n_parked": 6},
        # 18 train samples: enough for the smoke pretraining preset (batch 8 + queue 8 distinct samples),
        # so `synth --preset smoke` -> `pretrain --preset smoke` -> ... composes
        "splits": {"train": 18, "val": 9, "test": 9},
    },
    # the CPU default of `make demo`
    "quick": {"radio": {"clutter_every_frame": False, "rcs_samples_per_sp": 250}},
    # quick, made for RODNet (docs/cruw.md): ROD2021's 30 fps, 32-frame sequences (RODNet's 16-frame windows
    # fit), four complex chirps per frame, and the RA grid of ROD2021 itself: range bins k * Fs/134 * c/(2S),
    # k = 3..130 (bandwidth S * 134 / Fs puts our IFFT bins there) and 128 azimuth bins uniform in sin(az)
    "cruw": {"radio": {"clutter_every_frame": False, "rcs_samples_per_sp": 250,
                       "bandwidth_hz": CRUW_BANDWIDTH_HZ, "range_min_m": 0.639, "range_max_m": 27.7,
                       "n_azimuth_bins": 128, "azimuth_fov_deg": 180.0, "azimuth_grid": "sine", "cube_chirps": 4},
             "scene": {"n_frames": 32, "frame_dt_s": 1.0 / 30.0}},
    # paper Tab. 3: 16x16 array, 800 MHz at 28 GHz, 180 angle x 640 range bins, 24k/6k/10k
    "paper": {
        "radio": {"n_subcarriers": 640, "array_rows": 16, "array_cols": 16, "n_azimuth_bins": 180,
                  "azimuth_fov_deg": 180.0, "range_min_m": 0.0, "range_max_m": 119.8},
        "camera": {"width": 320, "height": 240, "spp": 16},
        "splits": {"train": 24000, "val": 6000, "test": 10000},
    },
}


def resolve_synth_config(preset: str = "quick", scenario: str | None = None, n: int | None = None,
                         seed: int | None = None, overrides: list[str] | None = None,
                         yaml_path: str | None = None) -> SynthConfig:
    """Preset <- YAML <- (scenario, seed) <- --set overrides; ``n`` rescales the split sizes."""
    extra: dict[str, Any] = {}
    if scenario is not None:
        extra["scenario"] = scenario
    if seed is not None:
        extra["seed"] = seed
    cfg = resolve(SynthConfig, SYNTH_PRESETS, preset, yaml_path, overrides, extra)
    if cfg.scene.scene_file:
        # a user scene: both files read now (one-line errors before any store exists); the tracks file's frames,
        # frame period and camera offset rank between the config YAML and --set; the files' hash joins the config
        from dataclasses import replace

        from ...config import merge
        from ...scene.user import check_user_scene

        fields, digest = check_user_scene(cfg.scene.scene_file, cfg.scene.tracks_file)
        if fields:
            cfg = resolve(SynthConfig, SYNTH_PRESETS, preset, yaml_path, overrides, merge(extra, fields))
        cfg = replace(cfg, scene=replace(cfg.scene, scene_sha256=digest))
    return rescale_splits(cfg, n) if n is not None else cfg


def rescale_splits(cfg: SynthConfig, n: int) -> SynthConfig:
    """``cfg`` with its split sizes rescaled to ``n`` samples in total (same proportions, each >= 1)."""
    from dataclasses import replace

    if n < 3:
        raise ConfigError(f"--n must be >= 3, got {n}")
    s = cfg.splits
    tot = s.train + s.val + s.test
    val = max(1, round(n * s.val / tot))
    test = max(1, round(n * s.test / tot))
    train = max(1, n - val - test)
    return replace(cfg, splits=SplitSizes(train=train, val=val, test=test))
