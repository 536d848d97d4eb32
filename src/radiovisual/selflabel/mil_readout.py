"""Self-labels from the per-bin MIL model (``mcl``): attention -> learned column->azimuth map -> radar snap
(-> ``mcl+track``). Label-free: inputs are radar heatmaps, target masks and capture metadata only.

Stages (each stored with its label-free temporal jitter in the label store's attrs):
1. ``attention``: argmax of the trained per-bin similarity a_n = <z^v, z^r_n> (Eq. 2-3), refined.
2. ``map``: the attention finds range well but azimuth only roughly, and vision knows azimuth through the
   mask's image column u. A monotone map tan(az) = slope u + icpt is fitted across the whole split by
   robust agreement between the attention azimuths and u (``geometry.fit_column_azimuth``): the paper's
   "one-off calibration for systematic offsets on the entire dataset", without stored calibration.
   Prior = (attention range, mapped azimuth).
3. ``snap``: the strongest radar return inside a window around the prior (range +- range_window_m,
   azimuth +- k sigma of the map's residuals), refined to its power-weighted blob centroid. The map is
   then refitted on the snapped azimuths (sharper than the attention's) and the snap repeated.
   The map's scale is then calibrated against the radar's own Doppler (``doppler.doppler_map_scale``).
4. ``track`` (optional): Viterbi along each sequence over radar local maxima near the prior.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import geometry as geo
from .attention import feature_to_heatmap, refine_peak
from .calibrate import temporal_jitter
from .doppler import doppler_map_scale, moving_range_rows, radial_velocity
from .track import viterbi_tracks


def peak_to_sidelobe(att: np.ndarray) -> np.ndarray:
    """[N, h, w] -> [N] (peak - mean) / std of the map outside the 3x3 around the peak (label-free)."""
    N, h, w = att.shape
    flat = att.reshape(N, -1)
    k = flat.argmax(1)
    r, c = k // w, k % w
    rr, cc = np.mgrid[:h, :w]
    out = np.empty(N)
    for i in range(N):
        side = att[i][(np.abs(rr - r[i]) > 1) | (np.abs(cc - c[i]) > 1)]
        out[i] = (flat[i, k[i]] - side.mean()) / max(side.std(), 1e-12)
    return out


def _to_polar(bins: np.ndarray, rb: np.ndarray, ab: np.ndarray) -> np.ndarray:
    from ..dataset.format import bins_to_polar

    return bins_to_polar(bins, rb, ab)


def mil_selflabels(att: np.ndarray, power_db: np.ndarray, u: np.ndarray, rb: np.ndarray, ab: np.ndarray,
                   sequence: np.ndarray, frame: np.ndarray, frame_dt_s: float | None, stride: tuple[float, float],
                   cfg: Any, doppler: dict[str, Any] | None = None,
                   geom: dict[str, Any] | None = None) -> dict[str, Any]:
    """att [N,h,w] MIL attention; power_db [N,R,A] radar input; u [N] mask-centroid column in [-1, 1].

    ``doppler`` (optional): {"rd_db" [N,R,D], "bins_mps" [D], "range_shift_m"} for the map's Doppler scale.
    ``geom`` (optional): {"u_span" [N, 2] mask left/right edge columns in [-1, 1], "v_foot" [N] mask foot rows
    in [-1, 1], "image_hw", "object_centre" bool}: the camera's ground-plane range check (``info``'s
    ``ground_range_fit``, for ``selflabel.health``) and, with ``object_centre``, each label moved from the
    radar's return (the seen faces) to the object's box centre with its own geometry (stage ``centre``,
    ``selflabel.objgeom``); ``frame_dt_s`` None means no capture times (no heading from tracks).

    Returns {"bins": {stage: [N, 2] fractional (row, col)}, "final": stage name, "info": {...}}.
    """
    from ..dataset.format import polar_to_xy

    N, h, w = att.shape
    R, A = len(rb), len(ab)
    import torch

    fr, fc = (t.double().numpy() for t in refine_peak(torch.from_numpy(att), cfg.refine
                                                       if cfg.refine != "auto" else "parabolic"))
    row_c, col_c = np.arange(h) * stride[0], np.arange(w) * stride[1]
    hr, hc = feature_to_heatmap(fr, fc, (h, w), (R, A), row_c, col_c)
    bins = {"attention": np.stack([hr, hc], 1)}
    info: dict[str, Any] = {"psr_median": float(np.median(peak_to_sidelobe(att)))}
    dr = float(np.median(np.diff(rb)))
    da = float(np.median(np.diff(ab)))
    half_r = max(1, int(round(cfg.range_window_m / dr)))
    prior_r, prior_c = hr, hc
    half_c: Any = max(1, int(round(np.deg2rad(cfg.search_azimuth_deg) / da)))
    u_ok = np.where(np.isfinite(u), u, 0.0)
    if cfg.snap and cfg.azimuth_map and cfg.azimuth_model == "pinhole" and geom is not None:
        return _pinhole(bins, hr, hc, power_db, u, geom, rb, ab, sequence, frame, frame_dt_s, cfg, doppler, info)
    if not cfg.snap:
        if cfg.azimuth_map:   # map fitted to the attention azimuths directly
            fit = geo.fit_column_azimuth(u, np.interp(hc, np.arange(A), ab), seed=cfg.seed)
            info["azimuth_map_fit"] = fit
            if np.isfinite(fit["slope"]):
                prior_c = np.where(np.isfinite(u), geo.frac_index(geo.column_to_azimuth(u_ok, fit), ab), hc)
            bins["map"] = np.stack([prior_r, prior_c], 1)
    else:
        # Alternate (a few rounds): snap to the strongest return in a window around the prior, then re-fit the
        # dataset-level maps on the snapped positions. The attention's peak may sit a fixed number of bins
        # beside the target (a bin need only *see* the target in its receptive field to match), so the
        # first window is wide; the fits then remove that systematic offset (median range offset, and the
        # column->azimuth map) and the window shrinks to the map's robust residual spread.
        foot = geom.get("v_foot") if geom is not None and cfg.range_prior == "camera" else None
        for it in range(cfg.snap_rounds):
            snapped = geo.snap_to_radar(power_db, prior_r, prior_c, half_r, half_c, cfg.centroid_db)
            bins[f"snap{it}" if it < cfg.snap_rounds - 1 else "snap"] = snapped
            off_r = float(np.median(snapped[:, 0] - hr))
            info[f"range_offset_bins_{it}"] = off_r
            prior_r = np.clip(hr + off_r, 0, R - 1)
            if cfg.azimuth_map:
                fit = geo.fit_column_azimuth(u, np.interp(snapped[:, 1], np.arange(A), ab), seed=cfg.seed)
                info[f"azimuth_map_fit{it}"] = fit
                if np.isfinite(fit["slope"]):
                    prior_c = np.where(np.isfinite(u), geo.frac_index(geo.column_to_azimuth(u_ok, fit), ab), hc)
                    half_c = _az_half(fit, cfg, da)
                    if foot is not None:
                        prior_r, half_r = _camera_range_prior(foot, snapped, fit, geom["image_hw"], rb, prior_r,
                                                              half_r, cfg, info, it)
            else:
                off_c = float(np.median(snapped[:, 1] - hc))
                info[f"azimuth_offset_bins_{it}"] = off_c
                prior_c = np.clip(hc + off_c, 0, A - 1)
                half_c = max(1, int(round(np.deg2rad(cfg.min_azimuth_window_deg) / da)))
    if cfg.snap and cfg.azimuth_map and np.isfinite(fit["slope"]):
        prior_c = _doppler_scale(prior_c, bins["snap"], u, fit, rb, ab, sequence, frame, frame_dt_s, cfg,
                                 doppler, info)
    final = list(bins)[-1]
    if cfg.snap and cfg.azimuth_map and cfg.final_azimuth != "radar":
        # the mask column through the learned map can be sharper in azimuth than the radar's main lobe
        # (~6 deg wide for a 16-element array); range stays the radar's
        fused = bins["snap"].copy()
        fused[:, 1] = prior_c if cfg.final_azimuth == "map" else 0.5 * (prior_c + fused[:, 1])
        bins["fused"] = fused
        final = "fused"
    if cfg.track:
        bins["track"] = _track(power_db, prior_r, prior_c, half_r, half_c, bins[final], rb, ab, sequence, frame,
                               cfg.max_speed_mps * (frame_dt_s or 1.0), cfg)
        final = "track"
    if geom is not None and cfg.snap and cfg.azimuth_map and np.isfinite(fit["slope"]):
        info["ground_range_fit"] = geo.fit_ground_range(geom["v_foot"], np.interp(bins["snap"][:, 0],
                                                                                   np.arange(R), rb),
                                                        _vertical_scale(fit, geom["image_hw"]))
        if geom.get("object_centre"):
            bins["centre"] = _object_centre(bins[final], bins["snap"], u, geom["u_span"], fit, rb, ab, sequence,
                                            frame, frame_dt_s, cfg, info)
            final = "centre"
    info["jitter_m"] = {k: temporal_jitter(polar_to_xy(_to_polar(b, rb, ab)), sequence, frame)
                        for k, b in bins.items()}
    info["half_window_bins"] = {"rows": half_r, "cols": int(np.max(half_c))}
    return {"bins": bins, "final": final, "info": info}


def _doppler_scale(prior_c: np.ndarray, snapped: np.ndarray, u: np.ndarray, fit: dict[str, Any], rb: np.ndarray,
                   ab: np.ndarray, sequence: np.ndarray, frame: np.ndarray, frame_dt_s: float, cfg: Any,
                   doppler: dict[str, Any] | None, info: dict[str, Any]) -> np.ndarray:
    """Scale the column->azimuth map so the self-label tracks agree with the radar's Doppler (``doppler``)."""
    if cfg.doppler_scale == "on" and doppler is None:
        from ..errors import ConfigError

        raise ConfigError("doppler_scale=on needs a store with range_doppler, doppler_bins_mps and a frame period")
    if cfg.doppler_scale == "off" or doppler is None:
        info["doppler_scale"] = {"used": False, "why": "off" if cfg.doppler_scale == "off" else
                                 "no range-Doppler map or frame period in the store"}
        return prior_c
    rng = np.interp(snapped[:, 0], np.arange(len(rb)), rb) + float(doppler.get("range_shift_m", 0.0))
    v_r = radial_velocity(doppler["rd_db"], snapped[:, 0], np.asarray(doppler["bins_mps"], np.float64))
    res = doppler_map_scale(rng, u, fit, v_r, sequence, frame, frame_dt_s, span=cfg.doppler_scale_span)
    info["doppler_scale"] = {"used": res["used"], "scale": res["scale"], "curve": res["curve"],
                             "azimuth_map_fit": res["fit"]}
    if not res["used"]:
        return prior_c
    u_ok = np.where(np.isfinite(u), u, 0.0)
    return np.where(np.isfinite(u), geo.frac_index(geo.column_to_azimuth(u_ok, res["fit"]), ab), prior_c)


def _track_stage(bins: dict[str, np.ndarray], power_db: np.ndarray, rb: np.ndarray, ab: np.ndarray,
                 sequence: np.ndarray, frame: np.ndarray, frame_dt_s: float | None, cfg: Any) -> tuple[str, np.ndarray]:
    """mcl+track: Viterbi over radar returns around the fused labels -> (final stage name, returns [N, 2])."""
    if not cfg.track:
        return "fused", bins["snap"]
    dr = float(np.median(np.diff(rb)))
    da = float(np.median(np.diff(ab)))
    half_r = max(1, int(round(cfg.range_window_m / dr)))
    half_c = max(1, int(round(np.deg2rad(cfg.min_azimuth_window_deg) / da)))
    f = bins["fused"]
    bins["track"] = _track(power_db, f[:, 0], f[:, 1], half_r, half_c, f, rb, ab, sequence, frame,
                           cfg.max_speed_mps * (frame_dt_s or 1.0), cfg)
    return "track", bins["track"]


def _pinhole(bins: dict[str, np.ndarray], hr: np.ndarray, hc: np.ndarray, power_db: np.ndarray, u: np.ndarray,
             geom: dict[str, Any], rb: np.ndarray, ab: np.ndarray, sequence: np.ndarray, frame: np.ndarray,
             frame_dt_s: float | None, cfg: Any, doppler: dict[str, Any] | None,
             info: dict[str, Any]) -> dict[str, Any]:
    """The pinhole-camera chain (``pinhole_chain``), then ``track`` (Viterbi over radar returns around the fused
    labels) and the per-object ``centre`` tracks where the store documents a box-centre target point."""
    from ..dataset.format import polar_to_xy
    from .pinhole_chain import centre_stage, pinhole_selflabels

    hr = _first_range_prior(hr, rb, sequence, frame, cfg, doppler, info)
    init, passes = None, []
    for _ in range(max(1, int(cfg.chain_passes))):
        # a later pass starts from the camera model the centre stage refitted: the snap rounds' own refits
        # can drift towards boresight (returns pull there), the centres' do not
        pinfo: dict[str, Any] = {}
        passes.append(pinfo)
        bins.update(pinhole_selflabels(hr, hc, power_db, u, geom, rb, ab, sequence, frame, frame_dt_s, cfg,
                                       doppler, pinfo, init_fit=init))
        final, returns = _track_stage(bins, power_db, rb, ab, sequence, frame, frame_dt_s, cfg)
        if not (geom.get("object_centre") and frame_dt_s):
            break
        bins["centre"] = centre_stage(returns, bins["fused"], power_db, u, geom, rb, ab, sequence, frame,
                                      frame_dt_s, cfg, doppler, pinfo)
        final = "centre"
        fits = [v for k, v in pinfo.items() if k.startswith("centre_map_fit") and np.isfinite(v.get("s", np.nan))]
        if not fits:
            break
        init = fits[-1]
    # the last pass's figures at the top level (the health check reads them), earlier passes under "passN"
    for j, d in enumerate(passes):
        d = {k: v for k, v in d.items() if not k.startswith("_")}
        if j < len(passes) - 1:
            info[f"pass{j + 1}"] = d
        else:
            info.update(d)
    info["chain_passes_run"] = len(passes)
    info["jitter_m"] = {k: temporal_jitter(polar_to_xy(_to_polar(b, rb, ab)), sequence, frame) for k, b in bins.items()}
    info["half_window_bins"] = {}
    return {"bins": bins, "final": final, "info": info}


def _first_range_prior(hr: np.ndarray, rb: np.ndarray, sequence: np.ndarray, frame: np.ndarray, cfg: Any,
                       doppler: dict[str, Any] | None, info: dict[str, Any]) -> np.ndarray:
    """[N] fractional range rows for the camera search and the first snap round (``cfg.range_source``).

    ``attention``: the attention's peak row. ``doppler``: the strongest moving return of each range-Doppler
    map (``doppler.moving_range_rows``: the target is what moves), smoothed per sequence by a robust
    quadratic in time. ``auto`` reads as ``attention`` here; ``selflabel.run`` re-runs the chain from
    ``doppler`` where the attention's labels fail the health check. Both candidates' temporal jitter (RMS
    second difference of range along the sequences [m], label-free) go to ``info["range_source"]``.
    """
    cand = {"attention": hr}
    if doppler is not None and np.shape(doppler["rd_db"])[1] == len(rb):
        from .pinhole_chain import _per_sequence

        # a car crossing at boresight has no radial speed for a few frames, and its row is then whatever else
        # moves: a robust quadratic per sequence (least median of squares first) carries the track over them
        raw = moving_range_rows(doppler["rd_db"], doppler["bins_mps"])
        smooth = _per_sequence(raw, sequence, frame, 1.0, 2, floor=1.0)
        cand["doppler"] = np.where(np.isfinite(smooth), np.clip(smooth, 0, len(rb) - 1), raw)
        cand["doppler_raw"] = raw
    idx = np.arange(len(rb), dtype=np.float64)
    jit = {k: temporal_jitter(np.stack([np.interp(r, idx, rb), np.zeros(len(r))], 1), sequence, frame)["rms_m"]
           for k, r in cand.items() if k != "doppler" and np.isfinite(r).all()}
    choice = "attention" if cfg.range_source == "auto" else cfg.range_source
    if choice not in cand:
        from ..errors import ConfigError

        raise ConfigError("range_source=doppler needs a store with a range-Doppler map on the heatmap's range "
                          "grid, its Doppler bins and a frame period")
    info["range_source"] = {"chosen": choice, "jitter_rms_m": jit}
    return cand[choice]


def _object_centre(final: np.ndarray, snapped: np.ndarray, u: np.ndarray, u_span: np.ndarray, fit: dict[str, Any],
                   rb: np.ndarray, ab: np.ndarray, sequence: np.ndarray, frame: np.ndarray, frame_dt_s: float | None,
                   cfg: Any, info: dict[str, Any], rounds: int = 2) -> np.ndarray:
    """Stage ``centre``: from the radar's return to each object's box centre (``objgeom.object_geometry``).

    The return's range plus the object's own face -> centre offset gives the range. The column -> azimuth
    map is refitted to the radar returns moved to their centres (the map fitted to the returns inherits their
    pull towards the seen faces), and the object geometry is re-estimated with the new map (``rounds``).
    Returns [N, 2] fractional (row, col).
    """
    from .objgeom import object_geometry

    ok_u = np.isfinite(u)
    u0 = np.where(ok_u, u, 0.0)
    r_ret = np.interp(final[:, 0], np.arange(len(rb)), rb)
    az_radar = np.interp(snapped[:, 1], np.arange(len(ab)), ab)
    r_snap = np.interp(snapped[:, 0], np.arange(len(rb)), rb)
    for it in range(rounds):
        az = np.where(ok_u, geo.column_to_azimuth(u0, fit), np.interp(final[:, 1], np.arange(len(ab)), ab))
        lo = geo.column_to_azimuth(np.nan_to_num(u_span[:, 0]), fit)
        hi = geo.column_to_azimuth(np.nan_to_num(u_span[:, 1]), fit)
        span = np.where(np.isfinite(u_span).all(1), np.abs(hi - lo), np.nan)
        g = object_geometry(r_ret, az, az_radar, span, sequence, frame, frame_dt_s)
        if it == rounds - 1:
            break
        # the radar's returns moved to their objects' centres -> the map's targets
        p = r_snap[:, None] * g["e_radar"] + g["offset"]
        fit = geo.fit_column_azimuth(u, np.arctan2(p[:, 0], p[:, 1]), seed=cfg.seed)
        info[f"centre_map_fit{it}"] = fit
    info["centre"] = {"range_offset_m_median": float(np.median(g["range_offset"])),
                      "range_offset_m_p10_p90": [float(np.percentile(g["range_offset"], q)) for q in (10, 90)],
                      "size_scale_median": float(np.median(g["scale"])),
                      "heading_known_frac": float(np.mean(np.isfinite(g["heading"]).all(1)))}
    out = final.copy()
    out[:, 0] = geo.frac_index(r_ret + g["range_offset"], rb)
    if cfg.final_azimuth == "map":
        out[:, 1] = np.where(ok_u, geo.frac_index(az, ab), final[:, 1])
    return out


def _vertical_scale(fit: dict[str, Any], image_hw: tuple[int, int]) -> float:
    """The camera's vertical angular scale a = (H - 1) / (2 f) in normalised rows, from the column map's
    slope (W - 1) / (2 f) (square pixels): no stored calibration."""
    H, W = image_hw
    return float(fit["slope"]) * (H - 1) / max(W - 1, 1)


def _camera_range_prior(foot: np.ndarray, snapped: np.ndarray, fit: dict[str, Any], image_hw: tuple[int, int],
                        rb: np.ndarray, prior_r: np.ndarray, half_r: Any, cfg: Any, info: dict[str, Any],
                        it: int) -> tuple[np.ndarray, Any]:
    """Range prior of the next snap from the camera: the mask's foot row through a ground-plane model fitted
    across the split to the current snapped ranges (``geometry.fit_ground_range``, robust, so most snaps
    must be right, not all). The window is +- max(range_window_m, 3 robust relative sigmas x range).
    Samples without a usable foot row (mask cut by the image border) keep the attention's prior."""
    R = len(rb)
    a = _vertical_scale(fit, image_hw)
    g = geo.fit_ground_range(foot, np.interp(snapped[:, 0], np.arange(R), rb), a)
    info[f"ground_range_fit{it}"] = g
    if not np.isfinite(g["rel_sigma"]):
        return prior_r, half_r
    r_cam = geo.ground_range(foot, g, a)
    ok = np.isfinite(r_cam) & (r_cam >= rb[0]) & (r_cam <= rb[-1])
    dr = float(np.median(np.diff(rb)))
    win = np.maximum(cfg.range_window_m, 3.0 * g["rel_sigma"] * np.where(ok, r_cam, 0.0))
    half = np.where(ok, np.maximum(1, np.round(win / dr)), np.broadcast_to(half_r, (len(foot),))).astype(int)
    return np.where(ok, geo.frac_index(np.where(ok, r_cam, 0.0), rb), prior_r), half


def _az_half(fit: dict[str, Any], cfg: Any, da: float) -> int:
    """Azimuth half window [bins]: k robust sigmas of the map's residuals, at least the configured minimum."""
    half = max(cfg.azimuth_window_sigmas * fit["sigma_rad"], np.deg2rad(cfg.min_azimuth_window_deg))
    return max(1, int(round(half / da)))


def _track(power_db: np.ndarray, prior_r: np.ndarray, prior_c: np.ndarray, half_r: int, half_c: Any,
           plain: np.ndarray, rb: np.ndarray, ab: np.ndarray, sequence: np.ndarray, frame: np.ndarray,
           step_m: float, cfg: Any) -> np.ndarray:
    """Viterbi over candidates: the plain label plus radar local maxima in a doubled window around the prior.

    Unary cost of a candidate: (window max - its power) / 3 dB + its squared distance to the prior in
    window half-widths / 2. Returns [N, 2] fractional (row, col).
    """
    from ..dataset.format import polar_to_xy

    P = np.asarray(power_db, np.float64)
    N = len(P)
    hcs = np.broadcast_to(np.asarray(half_c), (N,))
    cands, unary = [], []
    for i in range(N):
        r, c = int(round(prior_r[i])), int(round(prior_c[i]))
        H, W = 2 * half_r, 2 * int(hcs[i])
        peaks = geo.local_maxima(P[i], cfg.track_candidates, (r - H, r + H + 1), (c - W, c + W + 1))
        pos = [tuple(plain[i])] + [geo.blob_centroid(P[i], pr, pc, (4, 2), cfg.centroid_db) for pr, pc in peaks]
        pw = [P[i][int(round(plain[i][0])), int(round(plain[i][1]))]] + [P[i][pr, pc] for pr, pc in peaks]
        pos_a, pw_a = np.asarray(pos, np.float64), np.asarray(pw)
        cost = (pw_a.max() - pw_a) / 3.0 + 0.5 * (((pos_a[:, 0] - prior_r[i]) / half_r) ** 2
                                                  + ((pos_a[:, 1] - prior_c[i]) / max(hcs[i], 1)) ** 2)
        cands.append(pos_a)
        unary.append(cost)
    xy = [polar_to_xy(_to_polar(c, rb, ab)) for c in cands]
    pick = viterbi_tracks(xy, unary, sequence, frame, step_m)
    return np.stack([cands[i][pick[i]] for i in range(N)])
