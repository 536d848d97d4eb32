"""A generated datasheet for a synthesised store, after Gebru et al., "Datasheets for Datasets" (2021).

Built only from the store's root attributes, so it always describes what is on disk.
Stored as the root attribute ``datasheet`` and as ``OUT/DATASHEET.md``.
"""

from __future__ import annotations

import json
from typing import Any

LABELS = {
    "radar": "float32 [N,R,A] range-azimuth power [dB]; row 0 = nearest range bin, columns ascend in azimuth "
             "(left to right as the camera sees it)",
    "image": "uint8 [N,H,W,3] RGB from the camera co-located with the radar",
    "mask": "bool [N,H,W] pixels of the target car (exact, from an albedo AOV pass)",
    "bbox": "float32 [N,4] target box in pixels (x0, y0, x1, y1)",
    "target_polar": "float32 [N,2] target slant range [m] and azimuth [rad], positive to the right (GROUND TRUTH)",
    "target_xy": "float32 [N,2] the same point: x = r sin(az) to the right, y = r cos(az) forward [m] (GROUND TRUTH)",
    "reflectors": "float32 [N,K,2] other cars' box centres in the target_xy convention, NaN-padded (GROUND TRUTH)",
    "velocity": "float32 [N,2] target velocity (x right, y forward) [m/s] (GROUND TRUTH)",
    "depth": "float32 [N,H,W] camera depth [m] (GROUND TRUTH)",
    "range_doppler": "float32 [N,R,D] range-Doppler power [dB] over the slow-time burst",
    "csi": "complex64 [N,antennas,subcarriers] channel frequency response",
    "radar_chirps": "complex64 [N,C,R,A] beamformed range-azimuth of C chirps of the slow-time burst, phase kept "
                    "[sqrt(mW)] (radio.cube_chirps)",
    "radar_cube": "complex64 [N,D,K,antennas] raw CFR of every chirp of the burst [sqrt(mW)] (radio.cube_raw)",
    "sequence": "int32 [N] sequence id within the split",
    "scenario_id": "int32 [N] the sample's scenario: index into (parking_lot, suburban, street_canyon, "
                   "intersection) (capture metadata: where the base station stands; a `mix` store cycles them per "
                   "sequence)",
    "frame": "int32 [N] frame index within its sequence",
    "objects": "float32 [N,K,13] every road user (scene.objects), NaN-padded: range [m], azimuth [rad], class id "
               "(pedestrian 0, cyclist 1, car 2), instance id, x, y [m], vx, vy [m/s] (radar frame), visible in the "
               "camera (0/1), instance box u0, v0, u1, v1 [px] (GROUND TRUTH)",
    "instance_mask": "uint8 [N,H,W] camera instance ids: road user k of `objects` -> k + 1, 0 = none (like `mask`, "
                     "the stand-in for a camera instance segmenter)",
    "instance_class": "int8 [N,K] the class id of camera instance k + 1 (pedestrian 0, cyclist 1, car 2), -1 where "
                      "the camera does not see it (what an instance segmenter outputs with its masks)",
    "weather": "float32 [N,3] capture metadata: weather kind (clear 0, rain 1, fog 2), rain rate [mm/h], fog liquid "
               "water [g/m^3]",
}


def target_distribution(polar: Any, velocity: Any) -> dict[str, Any]:
    """What the labels of one split cover: range [m] / azimuth [deg] / speed [m/s] quantiles (0, 10, 50, 90,
    100 %) and the target's aspect, i.e. the angle between its velocity and the radar's line of sight:
    radial (within 30 deg of it, approaching or receding), crossing (within 30 deg of perpendicular),
    diagonal (in between), stationary (< 0.3 m/s)."""
    import numpy as np

    p, v = np.asarray(polar, np.float64), np.asarray(velocity, np.float64)
    q = [0, 10, 50, 90, 100]
    los = np.stack([np.sin(p[:, 1]), np.cos(p[:, 1])], 1)
    speed = np.linalg.norm(v, axis=1)
    cosa = np.abs((v * los).sum(1)) / np.maximum(speed, 1e-9)
    moving = speed >= 0.3
    out = {"n": int(len(p)), "quantiles_pct": q,
           "range_m": [round(float(x), 2) for x in np.percentile(p[:, 0], q)],
           "azimuth_deg": [round(float(x), 1) for x in np.percentile(np.rad2deg(p[:, 1]), q)],
           "speed_mps": [round(float(x), 2) for x in np.percentile(speed, q)],
           "aspect_fraction": {
               "radial": float(np.mean(moving & (cosa >= np.cos(np.deg2rad(30))))),
               "diagonal": float(np.mean(moving & (cosa < np.cos(np.deg2rad(30))) & (cosa > np.cos(np.deg2rad(60))))),
               "crossing": float(np.mean(moving & (cosa <= np.cos(np.deg2rad(60))))),
               "stationary": float(np.mean(~moving))}}
    return out


def _distribution_lines(dist: dict[str, Any]) -> list[str]:
    if not dist:
        return []
    lines = ["", "## Target distribution (from the labels)",
             "| split | n | range [m] (0/10/50/90/100 %) | azimuth [deg] | speed [m/s] | radial / diagonal / "
             "crossing / stationary |", "|---|---|---|---|---|---|"]
    for split, d in dist.items():
        a = d["aspect_fraction"]
        lines.append(f"| {split} | {d['n']} | {' / '.join(map(str, d['range_m']))} | "
                     f"{' / '.join(map(str, d['azimuth_deg']))} | {' / '.join(map(str, d['speed_mps']))} | "
                     f"{a['radial']:.0%} / {a['diagonal']:.0%} / {a['crossing']:.0%} / {a['stationary']:.0%} |")
    lines.append("- Aspect = angle between the target's velocity and the radar's line of sight: radial within 30 deg "
                 "of it, crossing within 30 deg of perpendicular. Tracks: `scene.motion` (crossing, approaching, "
                 "receding, diagonal, turning; each scenario's mix in `scene.layouts.SCENARIO_MOTIONS`).")
    return lines


def object_distribution(objects: Any, weather: Any | None) -> dict[str, Any]:
    """Road users per class (count, visible share) and weather kinds, from the ``objects`` / ``weather`` labels."""
    import numpy as np

    o = np.asarray(objects, np.float64)
    ok = np.isfinite(o[..., 0])
    out: dict[str, Any] = {"per_frame": [int(x) for x in np.percentile(ok.sum(1), [0, 50, 100])], "classes": {}}
    for cid, name in enumerate(("pedestrian", "cyclist", "car")):
        sel = ok & (o[..., 2] == cid)
        if sel.any():
            out["classes"][name] = {"n": int(sel.sum()), "visible": float(o[..., 8][sel].mean())}
    if weather is not None:
        kinds = np.asarray(weather)[:, 0].astype(int)
        out["weather"] = {k: float(np.mean(kinds == i)) for i, k in enumerate(("clear", "rain", "fog"))}
    return out


def _object_lines(dist: dict[str, Any]) -> list[str]:
    rows = {s: d["objects"] for s, d in dist.items() if isinstance(d, dict) and d.get("objects")}
    if not rows:
        return []
    lines = ["", "## Road users and weather (from the labels)",
             "| split | road users per frame (min/median/max) | per class: n (visible in camera) | weather |",
             "|---|---|---|---|"]
    for s, d in rows.items():
        cls = ", ".join(f"{k} {v['n']} ({v['visible']:.0%})" for k, v in d["classes"].items())
        w = ", ".join(f"{k} {v:.0%}" for k, v in (d.get("weather") or {}).items() if v)
        lines.append(f"| {s} | {' / '.join(map(str, d['per_frame']))} | {cls} | {w or 'clear'} |")
    return lines


def _fmt(x: Any) -> str:
    return json.dumps(x, sort_keys=True) if isinstance(x, (dict, list)) else str(x)


def make_datasheet(attrs: dict[str, Any]) -> str:
    cfg = attrs.get("config", {})
    radio = cfg.get("radio", {})
    cam = cfg.get("camera", {})
    scene = cfg.get("scene", {})
    splits = attrs.get("splits", {})
    seqs = attrs.get("sequences", {})
    T = attrs.get("frames_per_sequence", scene.get("n_frames"))
    sw = attrs.get("software", {})
    sim = attrs.get("radio", {}) or {}  # the simulator's own description (vs the config's radio)
    solver = sim.get("solver", {}) if isinstance(sim.get("solver"), dict) else {}
    R = len(attrs.get("range_bins_m", []) or [])
    A = len(attrs.get("azimuth_bins_rad", []) or [])
    D = len(attrs.get("doppler_bins_mps", []) or [])
    optional = {"depth": cfg.get("store_depth"), "csi": radio.get("save_csi"), "radar_chirps": radio.get("cube_chirps"),
                "radar_cube": radio.get("cube_raw"),
                "objects": scene.get("objects") or scene.get("scene_file"),
                "instance_mask": scene.get("objects") or scene.get("scene_file"),
                "instance_class": scene.get("objects") or scene.get("scene_file"), "weather": scene.get("weather")}
    arrays = [k for k in LABELS if k not in optional or optional[k]]
    lines = [
        f"# Datasheet: radiovisual synthetic ISAC dataset ({attrs.get('scenario', '?')})",
        "",
        "## Motivation",
        "- Purpose: paired monostatic-radar / RGB-camera samples for self-supervised radio-visual learning and "
        "label-free radar localisation, reproducing the MaxRay-style setup of \"Look, Radiate, and Learn\" "
        "(CVPR 2023) on open simulators.",
        "- Created by the radiovisual toolkit's `radiovisual synth` command; the config below fully determines it.",
        "",
        "## Composition",
        (f"- Scene: the user's own, `{scene.get('scene_file')}` (static world), road users on the tracks of "
         f"`{scene.get('tracks_file')}` (the first is the primary target); every sequence replays them "
         "(docs/scenes.md)." if scene.get("scene_file") else
         f"- Scenario: `{attrs.get('scenario')}`; "
         + (f"moving road users per sequence `{', '.join(scene.get('objects'))}` (the first is the primary "
            "target)" if scene.get("objects") else "one moving target car per sequence")
         + " among parked cars and static scenery (ground, buildings/props)."),
        f"- Weather: `{', '.join(scene.get('weather') or ['clear'])}` per sequence (rain {scene.get('rain_mm_h')} mm/h, "
        f"fog {scene.get('fog_lwc_g_m3')} g/m^3 when drawn): ITU-R P.838-3 / P.840 specific attenuation along every "
        "radar path, Koschmieder extinction in the camera. Not modelled: rain / fog backscatter clutter, snow, dust.",
        f"- Samples per split: {', '.join(f'{k} {v}' for k, v in splits.items())} "
        f"({', '.join(f'{k} {v}' for k, v in seqs.items())} sequences of {T} frames, "
        f"{scene.get('frame_dt_s')} s apart, {1.0 / float(scene.get('frame_dt_s') or 1.0):.4g} frames/s). "
        "Split sizes are rounded UP to whole sequences.",
        "- Splits are independent draws (disjoint seeds); sequences are the unit of randomness.",
        f"- Radar heatmap: {R} range x {A} azimuth bins"
        + (f", range-Doppler {R} x {D}" if D else "") + ".",
        f"- Camera: {cam.get('width')}x{cam.get('height')} px, horizontal FOV {cam.get('hfov_deg')} deg, "
        f"{cam.get('spp')} samples per pixel.",
        f"- Target point: {attrs.get('target_point')}.",
        "- Arrays:",
    ]
    lines += [f"  - `{k}`: {LABELS[k]}" for k in arrays]
    lines += [
        "- Ground-truth arrays are for evaluation and genie/supervised baselines only; label-free methods open the "
        "store with `open_dataset(path, labels=False)`.",
        "- No personal or sensitive data: every scene is procedural.",
        "",
        *_distribution_lines(attrs.get("target_distribution") or {}),
        *_object_lines(attrs.get("target_distribution") or {}),
        "",
        "## Collection process",
        f"- Radar: monostatic OFDM at {radio.get('carrier_hz', 0) / 1e9:g} GHz, {radio.get('bandwidth_hz', 0) / 1e6:g} "
        f"MHz, {radio.get('n_subcarriers')} subcarriers, {radio.get('array_rows')}x{radio.get('array_cols')} array "
        f"at {radio.get('spacing_wavelengths')} wavelengths; ray traced with "
        f"{sim.get('simulator', 'Sionna RT')} (clutter: {solver.get('clutter', 'PathSolver')}, depth "
        f"{radio.get('clutter_max_depth')}; cars: {solver.get('targets', 'sensing targets')}).",
        "- Camera: Mitsuba 3 path tracing of the same scene description; mask, depth and box from an AOV pass.",
        f"- Software: {', '.join(f'{k} {v}' for k, v in sw.items() if v)}.",
        f"- Seed: {cfg.get('seed')}; config fingerprint `{attrs.get('config_fingerprint')}`. Each sequence is "
        "seeded by (seed, scenario, split, sequence id), so output is independent of order, resume and sharding.",
        "",
        "## Preprocessing",
        "- Heatmaps are in dB with a floor (never -inf); no normalisation is applied on disk.",
        "- Images are 8-bit sRGB; no augmentation.",
        "",
        "## Uses",
        "- Intended: pretraining and evaluating radio-visual representations, self-labelling, radar-only target "
        "localisation, CFAR/RODNet-style baselines.",
        "- Not intended: claims about real-world radar performance without validation on measured data; the "
        "simulators omit hardware impairments and weather clutter (rain / fog only attenuate).",
        "- The `val` split is for reporting only; carve model selection data out of `train`.",
        "",
        "## Distribution",
        "- A zarr v3 store (format v1, `docs/dataset-format.md`), regenerable bit-for-bit from the config below.",
        "",
        "## Maintenance",
        "- Maintained with the radiovisual toolkit; format changes bump `format_version`.",
        "",
        "## Resolved config",
        "```json",
        json.dumps(cfg, indent=1, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(lines)
