"""The self-label chain with a learned pinhole camera model (``azimuth_model=pinhole``, the default).

Stages (bins stored per stage, each with its label-free temporal jitter):

1. ``attention`` (given): the MIL attention's peak. On our data it finds the target's range to a couple of
   metres but not its azimuth (docs/selflabel-localise.md, "What the attention finds").
2. ``search``: the camera model of ``geometry.pixel_to_azimuth`` (focal scale s, principal column u0) is
   calibrated against the radar by a Hough vote: each sample's strongest returns within
   +- 2 ``range_window_m`` of the attention's range, read at the azimuth the candidate model gives its mask
   centroid. The attention's range is what makes this possible: over all ranges, clutter wins the vote.
3. ``snap`` rounds: the strongest return in a window around the prior, refined to its blob centroid; then
   the camera model is refitted to the snapped azimuths (``fit_pixel_azimuth``) and a ground-plane model of
   the mask's foot row to the snapped ranges (``fit_ground_range``), and both give the next prior and window
   (azimuth: 3 robust sigmas, at least ``min_azimuth_window_deg``; range: 3 relative sigmas x range, at least
   ``range_window_m``).
4. ``fused``: the last snap's range with the camera model's azimuth.
5. ``centre`` (stores that document a box-centre target point): one constant-turn-rate track per sequence
   explains the radar returns (the seen faces of a car of the class's shape, heading from the track),
   the camera azimuths and the radar's Doppler (``objtrack.fit_tracks``); the camera model is refitted to
   the fitted centres and the tracks fitted again.

Inputs: radar heatmaps and range-Doppler maps, masks, capture metadata. No labels, no stored calibration.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import geometry as geo
from .objgeom import los


def _hpbw_rad(ab: np.ndarray, resolution: Any) -> float:
    """Half-power beamwidth [rad] at boresight: 0.886 Rayleigh cells of the store's grid."""
    from ..dataset.resolution import boresight_sin_spacing

    return float(0.886 * resolution.azimuth_bins_per_cell * boresight_sin_spacing(ab))


def pinhole_selflabels(hr: np.ndarray, hc: np.ndarray, power_db: np.ndarray, u: np.ndarray, geom: dict[str, Any],
                       rb: np.ndarray, ab: np.ndarray, sequence: np.ndarray, frame: np.ndarray,
                       frame_dt_s: float | None, cfg: Any, doppler: dict[str, Any] | None,
                       info: dict[str, Any], init_fit: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Stages 2-5 of the module docstring -> {stage: [N, 2] fractional (row, col)}; fills ``info``.
    ``init_fit``: a camera model to start from (a later pass) instead of the Hough search."""
    R, A = len(rb), len(ab)
    dr = float(np.median(np.diff(rb)))
    da = float(np.median(np.diff(ab)))
    H, W = geom["image_hw"]
    k = (H - 1) / max(W - 1, 1)
    v, foot = geom["v_centroid"], geom["v_foot"]
    hpbw = _hpbw_rad(ab, geom["resolution"])
    wide = max(1, int(round(2 * cfg.range_window_m / dr)))
    if init_fit is None:
        fit = geo.search_pixel_azimuth(power_db, hr - wide, hr + wide, u, v, k, ab)
        info["camera_search"] = fit
    else:
        fit = init_fit
    bins: dict[str, np.ndarray] = {}
    ok_u = np.isfinite(u) & np.isfinite(v)
    prior_r, half_r = hr.copy(), np.full(len(hr), wide)
    half_c = np.full(len(hr), max(1, int(round(hpbw / da))))
    r_cam = np.full(len(hr), np.nan)
    for it in range(cfg.snap_rounds):
        prior_c = np.where(ok_u, geo.frac_index(geo.pixel_to_azimuth(np.nan_to_num(u), np.nan_to_num(v), fit), ab), hc)
        snapped = geo.snap_to_radar(power_db, prior_r, prior_c, half_r, half_c, cfg.centroid_db)
        bins[f"snap{it}" if it < cfg.snap_rounds - 1 else "snap"] = snapped
        az_s = np.interp(snapped[:, 1], np.arange(A), ab)
        r_s = np.interp(snapped[:, 0], np.arange(R), rb)
        # a later pass holds the centre stage's camera model: refits on the snapped returns drift (returns
        # pull towards boresight), so they only set the window (their residual spread)
        new = geo.fit_pixel_azimuth(u, v, az_s, k, seed=cfg.seed)
        if np.isfinite(new["s"]) and init_fit is None:
            fit = new
        elif init_fit is not None:
            fit = {**fit, "sigma_rad": _residual_sigma(u, v, az_s, fit)}
        info[f"azimuth_map_fit{it}"] = fit
        sig_az = fit["sigma_rad"] if np.isfinite(fit["sigma_rad"]) else hpbw
        half_c = np.full(len(hr), max(1, int(round(max(cfg.azimuth_window_sigmas * sig_az,
                                                       np.deg2rad(cfg.min_azimuth_window_deg)) / da))))
        g = geo.fit_ground_range(foot, r_s, fit["s"] * k)
        info[f"ground_range_fit{it}"] = g
        if np.isfinite(g["rel_sigma"]) and cfg.range_prior == "camera":
            r_cam = geo.ground_range(foot, g, fit["s"] * k)
            okr = np.isfinite(r_cam) & (r_cam >= rb[0]) & (r_cam <= rb[-1])
            win = np.maximum(cfg.range_window_m, 3.0 * g["rel_sigma"] * np.where(okr, r_cam, 0.0))
            prior_r = np.where(okr, geo.frac_index(np.where(okr, r_cam, 0.0), rb), hr + np.median(snapped[:, 0] - hr))
            r_cam = np.where(okr, r_cam, np.nan)
            half_r = np.where(okr, np.maximum(1, np.round(win / dr)), max(1, round(cfg.range_window_m / dr))).astype(int)
        else:
            prior_r = np.clip(hr + np.median(snapped[:, 0] - hr), 0, R - 1)
            half_r = np.full(len(hr), max(1, int(round(cfg.range_window_m / dr))))
    info["ground_range_fit"] = g
    az_map = geo.pixel_to_azimuth(np.nan_to_num(u), np.nan_to_num(v), fit)
    fused = bins["snap"].copy()
    if cfg.final_azimuth != "radar":
        cam = np.where(ok_u, geo.frac_index(az_map, ab), fused[:, 1])
        fused[:, 1] = cam if cfg.final_azimuth == "map" else 0.5 * (cam + fused[:, 1])
    bins["fused"] = fused
    info["_pinhole"] = {"fit": fit, "hpbw": hpbw}
    if frame_dt_s:   # the camera's own range rate: the centre stage's fallback where there is no Doppler
        info["_camera_rate"] = _camera_range_rate(r_cam, sequence, frame, frame_dt_s)
    return bins


def _residual_sigma(u: np.ndarray, v: np.ndarray, az: np.ndarray, fit: dict[str, Any]) -> float:
    """Robust spread [rad] (1.4826 MAD) of azimuths ``az`` about a held camera model's prediction."""
    ok = np.isfinite(u) & np.isfinite(v) & np.isfinite(az)
    if not ok.any():
        return float("nan")
    r = az[ok] - geo.pixel_to_azimuth(u[ok], v[ok], fit)
    return float(1.4826 * np.median(np.abs(r - np.median(r))))


def _camera_range_rate(r_cam: np.ndarray, sequence: np.ndarray, frame: np.ndarray, dt: float,
                       min_frames: int = 5) -> np.ndarray:
    """[N] range rate [m/s] of each sample's object as the camera sees it: the slope of a robust line through
    its sequence's foot-row ranges (NaN where too few frames have one)."""
    from .objgeom import robust_polyfit

    out = np.full(len(r_cam), np.nan)
    for sq in np.unique(sequence):
        m = np.flatnonzero(sequence == sq)
        ok = m[np.isfinite(r_cam[m])]
        if len(ok) >= min_frames:
            out[m] = robust_polyfit(frame[ok].astype(np.float64) * dt, r_cam[ok], 1)[0]
    return out


def centre_stage(returns: np.ndarray, fused: np.ndarray, power_db: np.ndarray, u: np.ndarray, geom: dict[str, Any],
                 rb: np.ndarray, ab: np.ndarray, sequence: np.ndarray, frame: np.ndarray, dt: float, cfg: Any,
                 doppler: dict[str, Any] | None, info: dict[str, Any], rounds: int = 3) -> np.ndarray:
    """Stage 5: from the radar returns [N, 2] bins (the seen faces) to each object's box centre.

    Per round: (1) velocity from the radar's range rate (Doppler at the return; else the camera's foot-row
    range track) along the line of sight and from the camera's azimuth track across it, smoothed per
    sequence (robust line); its direction is the heading; (2) centre = return + ``objgeom.centre_offset``
    (class shape ``class_length_m`` x ``class_width_m``; unknown heading: the heading-averaged offset along
    the line of sight); (3) centres smoothed per sequence (robust quadratic: a car's path is smooth over a
    sequence); (4) the camera model refitted to the centres' azimuths (radar returns pull towards boresight:
    a car's visible end is the one nearer to it); (5) from the second round on, the returns are snapped
    again around the faces the centres predict (a tight window), so frames that took another object return
    to this one. Label = smoothed centre range, azimuth = ``centre_azimuth`` (camera model, radar centre, or
    their mean: two independent measurements of the same angle).
    """
    from ..dataset.format import polar_to_bins
    from .doppler import radial_velocity
    from .objgeom import centre_offset, mean_offset_along_los

    p = info.pop("_pinhole")
    fit, hpbw = p["fit"], p["hpbw"]
    v = geom["v_centroid"]
    H, W = geom["image_hw"]
    k = (H - 1) / max(W - 1, 1)
    R, A = len(rb), len(ab)
    dr = float(np.median(np.diff(rb)))
    da = float(np.median(np.diff(ab)))
    shape = (cfg.class_length_m, cfg.class_width_m)
    ok_uv = np.isfinite(u) & np.isfinite(v)
    uz, vz = np.nan_to_num(u), np.nan_to_num(v)
    foot_rate = info.pop("_camera_rate", None)
    snapped = returns
    for it in range(rounds):
        r_s = np.interp(snapped[:, 0], np.arange(R), rb)
        az_s = np.interp(snapped[:, 1], np.arange(A), ab)
        az_cam = np.where(ok_uv, geo.pixel_to_azimuth(uz, vz, fit), az_s)
        v_r = (radial_velocity(doppler["rd_db"], snapped[:, 0], np.asarray(doppler["bins_mps"], np.float64))
               if doppler is not None else foot_rate)
        v_t = r_s * _per_sequence(az_cam, sequence, frame, dt, 2, floor=1e-3, derivative=True)
        e = los(az_cam)
        vel = (np.nan_to_num(v_r)[:, None] * e + v_t[:, None] * np.stack([e[:, 1], -e[:, 0]], 1))
        vel = np.stack([_per_sequence(vel[:, j], sequence, frame, dt, 1, floor=0.2) for j in range(2)], 1)
        speed = np.linalg.norm(vel, axis=1)
        known = np.isfinite(speed) & (speed >= cfg.min_heading_speed_mps)
        e_s = los(az_s)
        off = mean_offset_along_los(*shape) * e_s
        if known.any():
            off[known] = centre_offset(vel[known], e_s[known], *shape)
        c = r_s[:, None] * e_s + off
        cs = np.stack([_per_sequence(c[:, j], sequence, frame, dt, 2, floor=0.1) for j in range(2)], 1)
        cs = np.where(np.isfinite(cs), cs, c)
        new = geo.fit_pixel_azimuth(u, v, np.arctan2(cs[:, 0], cs[:, 1]), k, seed=cfg.seed)
        if np.isfinite(new["s"]):
            fit = new
        info[f"centre_map_fit{it}"] = fit
        if it < rounds - 1:   # re-associate: the faces these centres predict, in a tight window
            az_c = np.where(ok_uv, geo.pixel_to_azimuth(uz, vz, fit), np.arctan2(cs[:, 0], cs[:, 1]))
            q = np.hypot(cs[:, 0], cs[:, 1])[:, None] * los(az_c)
            face = q - np.where(known[:, None], centre_offset(np.where(known[:, None], vel, 1.0), los(az_c), *shape),
                                mean_offset_along_los(*shape) * los(az_c))
            fb = polar_to_bins(np.stack([np.hypot(face[:, 0], face[:, 1]), np.arctan2(face[:, 0], face[:, 1])], 1),
                               rb, ab)
            snapped = geo.snap_to_radar(power_db, fb[:, 0], fb[:, 1], max(1, int(round(cfg.range_window_m / 2 / dr))),
                                        max(1, int(round(hpbw / 2 / da))), cfg.centroid_db)
    az_cam = np.where(ok_uv, geo.pixel_to_azimuth(uz, vz, fit), np.arctan2(cs[:, 0], cs[:, 1]))
    az_rad = np.arctan2(cs[:, 0], cs[:, 1])
    az = {"camera": az_cam, "radar": az_rad, "mean": 0.5 * (az_cam + az_rad)}[cfg.centre_azimuth]
    info["centre"] = {"rounds": rounds, "heading_known_frac": float(known.mean()),
                      "speed_median_mps": float(np.nanmedian(speed)) if np.isfinite(speed).any() else float("nan"),
                      "class_shape_m": list(shape),
                      "range_offset_m_median": float(np.median((off * e_s).sum(1)))}
    out = polar_to_bins(np.stack([np.hypot(cs[:, 0], cs[:, 1]), az], 1), rb, ab)
    return np.where(np.isfinite(out), out, fused)


def _per_sequence(y: np.ndarray, sequence: np.ndarray, frame: np.ndarray, dt: float, degree: int, floor: float,
                  derivative: bool = False, min_frames: int = 5) -> np.ndarray:
    """Robust polynomial in time per sequence (``objgeom.robust_polyfit``), evaluated (or its derivative) at each
    frame; NaN for sequences with fewer than ``min_frames`` finite values."""
    from .objgeom import robust_polyfit

    out = np.full(len(y), np.nan)
    for sq in np.unique(sequence):
        m = np.flatnonzero(sequence == sq)
        ok = m[np.isfinite(y[m])]
        if len(ok) < min_frames:
            continue
        c = robust_polyfit(frame[ok].astype(np.float64) * dt, y[ok], degree, floor=floor)
        out[m] = np.polyval(np.polyder(c) if derivative else c, frame[m].astype(np.float64) * dt)
    return out
