"""Self-labelling configuration (``radiovisual selflabel --set key=value``): one frozen dataclass.

Defaults were chosen with label-free proxies only (see docs/selflabel-localise.md, "Selection protocol"):
the temporal jitter of the self-labels along sequences and the attention's peak-to-sidelobe ratio on the
train split. Nothing here was chosen on ground truth or on the validation split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import resolve
from ..errors import ConfigError
from .attention import REFINE_METHODS


@dataclass(frozen=True)
class SelfLabelConfig:
    refine: str = "parabolic"          # sub-bin peak refinement: parabolic | softargmax | none | auto
    calibrate: bool = True             # receptive-field centres from the backbone's stated geometry
    export_attention: int = 16         # attention maps stored for the report
    batch_size: int = 64
    range_shift_m: float = 0.0         # extra explicit range shift [m] (a prior, not a fit)
    # The radar's dominant return of a car is its face nearest to the radar, while a dataset whose documented
    # target point is the car's box centre labels a point about half a car width further away. Prior, never
    # fitted: half the width of the 3GPP TR 38.901 (Sec. 7.9) vehicle sensing target, 4.7 x 1.86 x 1.5 m.
    face_prior: str = "auto"           # auto: on when the dataset's attrs document a box-centre target point
    # object: per object, from its track's heading, its mask's width and the class shape (selflabel/objgeom.py);
    # constant: the same face_to_centre_m for every sample (the v0.2 prior, half a car's width)
    face_model: str = "object"
    face_to_centre_m: float = 0.93
    # face_model=object: the class's footprint (a mid-size passenger car; the per-object offset scales with
    # it, selflabel/objgeom.py), the speed below which a track tells no heading, and the centre's azimuth:
    # camera (the learned camera model), radar (the returns moved to their centres) or mean (of both)
    class_length_m: float = 4.7
    class_width_m: float = 1.86
    min_heading_speed_mps: float = 0.5
    centre_azimuth: str = "mean"
    # --- mcl-paper (literal Eq. 2 conv2d read-out of raw features) ---
    normalize: bool = False            # cosine instead of raw dot product
    debias: str = "auto"               # subtract split-mean map + sign: on | off | auto (lower temporal jitter)
    # --- mcl (per-bin MIL read-out) ---
    azimuth_map: bool = True           # learn image column -> radar azimuth across the split (no calibration)
    # pinhole: a pinhole camera model (focal scale + principal column, the mask centroid's row included),
    # calibrated against the radar by search, then refined (selflabel/pinhole_chain.py); poly: the v0.2
    # column-only tan(az) = poly(u) map with its Doppler scale
    azimuth_model: str = "pinhole"
    snap: bool = True                  # strongest radar return near the prior, then its blob centroid
    range_window_m: float = 1.5        # half window around the first range prior [m]
    # first range prior of the camera search and snap round 0 (pinhole chain): attention (the MIL attention's
    # peak row), doppler (the strongest moving return of the range-Doppler map, doppler.moving_range_rows) or
    # auto (per store, the one whose ranges move more smoothly along the sequences: lower temporal jitter)
    range_source: str = "auto"
    # prior range of snap rounds >= 1: camera = the mask's foot row through a ground-plane model fitted across
    # the split (label-free, geometry.fit_ground_range); attention = the attention's range + its median offset
    range_prior: str = "camera"
    azimuth_window_sigmas: float = 3.0  # half window around the mapped azimuth, in robust residual sigmas
    min_azimuth_window_deg: float = 3.0
    final_azimuth: str = "map"         # radar (snapped blob) | map (mask column via the learned map) | mean
    # scale of the learned map from the radar's Doppler (selflabel/doppler.py): auto = on where the store has a
    # range-Doppler map and a frame period; the search spans 1 +- doppler_scale_span
    doppler_scale: str = "auto"
    doppler_scale_span: float = 0.2
    search_azimuth_deg: float = 15.0   # first-round half window around the attention's azimuth
    snap_rounds: int = 3               # snap / re-fit rounds
    # pinhole chain: passes of snap rounds + centre stage; pass 2 starts from the camera model the centre
    # stage refitted (a label-free fixed point) instead of the Hough search; its figures in info['pass2']
    chain_passes: int = 2
    centroid_db: float = 6.0           # blob centroid over bins within this many dB of the peak
    # --- mcl+track (Viterbi along each sequence) ---
    track: bool = False
    max_speed_mps: float = 10.0        # motion model: upper bound on target speed
    track_candidates: int = 6          # radar local maxima per frame offered to the tracker
    seed: int = 0                      # robust-fit sampling

    def __post_init__(self) -> None:
        # YAML reads `--set face_prior=off` as the boolean false (then str() -> "False"): accept either spelling
        for name in ("face_prior", "debias", "doppler_scale"):
            v = {"true": "on", "false": "off"}.get(str(getattr(self, name)).lower())
            if v is not None:
                object.__setattr__(self, name, v)

    def validate(self) -> None:
        if self.refine not in REFINE_METHODS + ("auto",):
            raise ConfigError(f"unknown refine method '{self.refine}' (choose from "
                              f"{', '.join(REFINE_METHODS + ('auto',))})")
        if self.face_prior not in ("on", "off", "auto") or self.face_to_centre_m < 0:
            raise ConfigError("face_prior must be on, off or auto and face_to_centre_m >= 0")
        if self.azimuth_model not in ("pinhole", "poly"):
            raise ConfigError(f"azimuth_model must be pinhole or poly, got {self.azimuth_model!r}")
        if self.range_prior not in ("camera", "attention"):
            raise ConfigError(f"range_prior must be camera or attention, got {self.range_prior!r}")
        if self.range_source not in ("attention", "doppler", "auto"):
            raise ConfigError(f"range_source must be attention, doppler or auto, got {self.range_source!r}")
        if self.centre_azimuth not in ("camera", "radar", "mean"):
            raise ConfigError(f"centre_azimuth must be camera, radar or mean, got {self.centre_azimuth!r}")
        if not (self.class_length_m > 0 and self.class_width_m > 0 and self.min_heading_speed_mps >= 0):
            raise ConfigError("class_length_m and class_width_m must be > 0, min_heading_speed_mps >= 0")
        if self.face_model not in ("object", "constant"):
            raise ConfigError(f"face_model must be object or constant, got {self.face_model!r}")
        if self.final_azimuth not in ("radar", "map", "mean"):
            raise ConfigError(f"final_azimuth must be radar, map or mean, got {self.final_azimuth!r}")
        if self.doppler_scale not in ("on", "off", "auto") or not 0 < self.doppler_scale_span < 1:
            raise ConfigError("doppler_scale must be on, off or auto and 0 < doppler_scale_span < 1")
        if self.debias not in ("on", "off", "auto"):
            raise ConfigError(f"debias must be on, off or auto, got {self.debias!r}")
        if self.batch_size < 1 or self.export_attention < 0:
            raise ConfigError("batch_size must be >= 1 and export_attention >= 0")
        if not (self.range_window_m > 0 and self.azimuth_window_sigmas > 0 and self.min_azimuth_window_deg > 0
                and self.centroid_db > 0 and self.max_speed_mps > 0 and self.track_candidates >= 1
                and self.search_azimuth_deg > 0 and self.snap_rounds >= 1):
            raise ConfigError("windows, centroid_db and max_speed_mps must be > 0, track_candidates >= 1")


SELFLABEL_PRESETS: dict[str, dict[str, Any]] = {"default": {}, "track": {"track": True}}


def resolve_selflabel_config(preset: str = "default", overrides: list[str] | None = None,
                             yaml_path: str | None = None, extra: dict[str, Any] | None = None) -> SelfLabelConfig:
    """Preset <- YAML <- ``extra`` <- dotted ``--set`` overrides."""
    return resolve(SelfLabelConfig, SELFLABEL_PRESETS, preset, yaml_path, overrides, extra)
