"""Self-label a split with a pretrained radio/vision backbone pair (paper §4.2).

Label-free by construction: the dataset is opened with ``labels=False`` (reading any GT array
raises ``LabelAccessError``). Output: a zarr v3 group written to a temp directory and renamed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import to_dict
from ..dataset.format import _jsonable, bins_to_polar, iter_batches, open_dataset, polar_to_xy
from ..errors import RadiovisualError
from ..pretrain import Backbones, load_backbones
from ..pretrain.data import image_to_tensor, mask_to_tensor, radar_to_tensor, read_masks
from ..utils.stage import StageDir
from . import calibrate as cal
from .attention import REFINE_METHODS
from .calibrate import apply_range_shift
from .config import SelfLabelConfig, resolve_selflabel_config

LABELS_VERSION = 2


@dataclass(frozen=True)
class _Readout:
    """What the label-free read-out needs of a pretraining run (typed, from ``pretrain.Backbones``)."""
    radio: Any
    vision: Any
    mil: Any                              # the per-bin MIL method module (mcl), else None
    method: str
    mask_pad_px: int
    mask_source: str
    stride: tuple[float, float] | None    # radar input bins per feature bin; None: unknown (cell centres)
    offset: tuple[float, float]
    pretrain_config: dict[str, Any]       # recorded in the label store's attributes
    identity: dict[str, Any]              # the stage-key input naming the run


def _to_tensors(radar: np.ndarray, image: np.ndarray, mask: np.ndarray, pad_px: int) -> tuple[Any, Any, Any]:
    """The pretrain stage's converters, so self-labelling sees exactly what pretraining saw."""
    return radar_to_tensor(radar), image_to_tensor(image), mask_to_tensor(mask, pad_px)


def selflabel_batch(radio_bb: Any, vision_bb: Any, radar_t: Any, image_t: Any, mask_t: Any,
                    normalize: bool = False, vision_stride: tuple[int, int] | None = None) -> dict[str, Any]:
    """Attention maps and their peak scores for one batch (Eq. 2; no rescaling, no refinement).

    radar_t [B,1,R,A], image_t [B,3,H,W], mask_t [B,1,H,W]. Returns numpy arrays
    {"att" [B,h,w], "score" [B]} and "feat_hw" (h, w).
    """
    import torch

    from .attention import argmax_2d, cross_modal_attention, mask_to_feature_grid

    with torch.inference_mode():
        f_r = radio_bb(radar_t)
        f_v = vision_bb(image_t * mask_t)  # f^v~(gamma * v)
        mw = mask_to_feature_grid(mask_t, tuple(f_v.shape[-2:]), vision_stride)
        att = cross_modal_attention(f_r, f_v, mw, normalize=normalize)
        _, _, score = argmax_2d(att)
    return {"att": att.float().numpy(), "score": score.float().numpy(), "feat_hw": tuple(f_r.shape[-2:])}


def _run_id(run: Path) -> dict[str, str]:
    """A pretraining run directory's identity: its path and a hash of its done marker (its stage key)."""
    for name in ("done.json", "config.json"):
        if (run / name).is_file():
            return {"path": str(run.resolve()), name: hashlib.sha256((run / name).read_bytes()).hexdigest()[:16]}
    return {"path": str(run.resolve())}


def _weights_id(*modules: Any) -> str:
    """Hash of in-memory backbones' weights: the identity of a run that has no directory."""
    h = hashlib.sha256()
    for m in modules:
        for k, v in m.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def face_shift_m(cfg: Any, ds_attrs: dict[str, Any]) -> float:
    """Range shift [m] of the face -> box-centre prior: ``face_to_centre_m`` when it applies, else 0.

    ``auto`` applies it when the dataset documents its target point as the centre of a (3-D) bounding box
    (metadata, not labels); toy stores and datasets labelling the reflecting point get none.
    """
    if cfg.face_prior == "off":
        return 0.0
    doc = str(ds_attrs.get("target_point", "")).lower()
    on = cfg.face_prior == "on" or ("centre" in doc or "center" in doc) and "bounding box" in doc
    return float(cfg.face_to_centre_m) if on else 0.0


def _load_run(run: Any) -> _Readout:
    """The read-out of a pretrain run directory, a ``Backbones``, or a ``(radio, vision, cfg dict)`` tuple
    (the paper's read-out of hand-built backbones; ``cfg`` may give ``stride``, ``offset`` and ``loss``)."""
    if isinstance(run, tuple):
        radio, vision, d = run
        d = dict(d or {})
        loss = d.get("loss", {})
        stride = tuple(float(v) for v in d["stride"]) if d.get("stride") else None
        return _Readout(radio.eval(), vision.eval(), None, str(d.get("method", "unknown")),
                        int(loss.get("mask_pad_px", 0)), str(loss.get("mask_source", "mask")), stride,
                        tuple(float(v) for v in d.get("offset", (0.0, 0.0))), to_dict(d),
                        {"in_memory_weights": _weights_id(radio, vision)})
    bb = run if isinstance(run, Backbones) else None
    if bb is None:
        if not Path(run).is_dir():
            raise RadiovisualError(f"pretrain run not found: {run}")
        bb = load_backbones(run)
    ident = _run_id(Path(run)) if bb is not run else {"in_memory_weights": _weights_id(bb.radio, bb.vision)}
    pcfg = {**to_dict(bb.config), "method": bb.method, "data": bb.data, "stride": list(bb.stride),
            "offset": list(bb.offset)}
    mil = bb.model if hasattr(bb.model, "attention") else None
    return _Readout(bb.radio.eval(), bb.vision.eval(), mil, bb.method, int(bb.config.loss.mask_pad_px),
                    str(bb.config.loss.mask_source), bb.stride, bb.offset, pcfg, ident)


def run_selflabel(run: Any, data: str | Path, split: str = "train", out: str | Path | None = None,
                  cfg: SelfLabelConfig | None = None, progress: bool = True, overrides: list[str] | None = None,
                  force: bool = False, **options: Any) -> Path:
    """Self-label ``split`` of ``data`` with pretrain ``run``; returns the zarr path of the label store.

    ``run`` is a pretrain run directory, a ``pretrain.Backbones`` or a ``(radio, vision, cfg)`` tuple.
    ``cfg`` is a ``SelfLabelConfig``; without it, ``options`` (field=value) and ``overrides`` (dotted
    ``key=value``) resolve one. A run of a per-bin MIL model (``mcl``, ``scl``) uses its trained similarity
    as attention (``mil_readout``); other methods use the paper's conv2d read-out of raw backbone features
    (``mcl-paper``, ``scl-paper``, ``cl``, ``clip``). The store is a ``StageDir`` keyed by the config, the run
    and the dataset: reused when finished, refused in one line when made otherwise, unless ``force``.
    """
    if cfg is None:
        cfg = resolve_selflabel_config(overrides=overrides, extra=options)
    ro = _load_run(run)
    ds = open_dataset(data, labels=False)
    sv = ds.split(split)
    if len(sv) == 0:
        raise RadiovisualError(f"split '{split}' of {data} is empty")
    out = Path(out) if out is not None else (Path(run) / f"selflabels-{split}.zarr" if isinstance(run, (str, Path))
                                            else Path(data).parent / f"selflabels-{split}.zarr")
    config = {**to_dict(cfg), "split": split, "labels_version": LABELS_VERSION,
              "mask_pad_px": ro.mask_pad_px, "mask_source": ro.mask_source}
    sd = StageDir(out, "selflabel", config, {"run": ro.identity, "data": ds.fingerprint(), "n": len(sv)},
                  force=force, version=LABELS_VERSION)
    if sd.done:
        return sd.path
    sd.begin()
    arrays, attrs = _compute(ro, ds, sv, cfg, config, progress)
    _write_labels(out, arrays, {"labels_version": LABELS_VERSION, "key": sd.key, "config": config,
                                "run": ro.identity, "data": ds.fingerprint(), "pretrain_config": ro.pretrain_config,
                                "label_free": True, "uses_ground_truth": False,
                                "coordinates": "polar: range [m], azimuth [rad] (positive right); "
                                               "bins: fractional (row, col) of the radar heatmap", **attrs})
    sd.finish({"n": len(sv), "method": attrs["method"]})
    return out


def _compute(ro: _Readout, ds: Any, sv: Any, cfg: SelfLabelConfig, config: dict[str, Any],
             progress: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The read-out (MIL or paper's) plus the documented face -> centre prior: (arrays, attributes)."""
    if ro.mil is not None:
        arrays, attrs = _mil_store(ro.mil, ds, sv, cfg, config, progress)
        attrs["method"] = ro.method + ("+track" if cfg.track else "")
    else:
        arrays, attrs = _paper_store(ro, ds, sv, cfg, config, progress)
        attrs["method"] = ro.method
    shift = face_shift_m(cfg, ds.attrs)
    if ro.mil is not None and cfg.face_model == "object":
        shift = 0.0   # the per-object face -> centre geometry is part of the MIL read-out (stage "centre")
    if shift:   # a documented prior, the same for every sample (see SelfLabelConfig.face_prior)
        arrays["polar_face"] = arrays["polar"]
        arrays["polar"] = apply_range_shift(arrays["polar"], shift, ds.range_bins_m).astype(np.float32)
    attrs["face_prior_shift_m"] = shift
    return arrays, attrs


def _read_all(sv: Any, cfg: Any, config: dict[str, Any], progress: bool, fn: Any) -> None:
    """Call fn(sl, radar_np, r_t, i_t, m_t, mask_np) for each batch of the split."""
    img_hw = tuple(sv.shape("image")[1:3])
    batches = list(iter_batches(len(sv), cfg.batch_size))
    if progress:
        from ..utils.progress import tqdm

        batches = tqdm(batches, desc=f"selflabel {sv.name}", leave=False)
    for sl in batches:
        radar_np = sv.read("radar", sl)
        mask_np = read_masks(sv, sl, config["mask_source"], img_hw)
        r_t, i_t, m_t = _to_tensors(radar_np, sv.read("image", sl), mask_np, config["mask_pad_px"])
        fn(sl, radar_np, r_t, i_t, m_t, mask_np)


def _export_idx(n: int, k: int) -> np.ndarray:
    k = min(int(k), n)
    return np.linspace(0, n - 1, k).round().astype(np.int64) if k else np.zeros(0, np.int64)


def _mil_store(model: Any, ds: Any, sv: Any, cfg: Any, config: dict[str, Any],
               progress: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    import torch

    from ..dataset.resolution import grid_resolution
    from .geometry import mask_bottom_rows, mask_centroid_cols, mask_centroid_rows, mask_extent_cols
    from .mil_readout import mil_selflabels

    atts, powers, us, spans, feet, vs = [], [], [], [], [], []

    def step(sl, radar_np, r_t, i_t, m_t, mask_np):
        with torch.inference_mode():
            atts.append(model.attention(r_t, i_t, m_t).double().numpy())
        powers.append(np.asarray(radar_np, np.float64))
        us.append(mask_centroid_cols(mask_np))
        spans.append(mask_extent_cols(mask_np))
        feet.append(mask_bottom_rows(mask_np))
        vs.append(mask_centroid_rows(mask_np))

    _read_all(sv, cfg, config, progress, step)
    att, power, u = np.concatenate(atts), np.concatenate(powers), np.concatenate(us)
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    dt = (ds.attrs.get("config") or {}).get("scene", {}).get("frame_dt_s")   # synthetic stores state it
    dop_bins = ds.attrs.get("doppler_bins_mps")
    doppler = ({"rd_db": sv.read("range_doppler"), "bins_mps": dop_bins, "range_shift_m": face_shift_m(cfg, ds.attrs)}
               if "range_doppler" in sv and dop_bins is not None and dt else None)
    geom = {"u_span": np.concatenate(spans), "v_foot": np.concatenate(feet), "v_centroid": np.concatenate(vs),
            "resolution": grid_resolution(ds.attrs, rb, ab),
            "image_hw": tuple(sv.shape("image")[1:3]),
            "object_centre": cfg.face_model == "object" and bool(face_shift_m(cfg, ds.attrs))}
    def chain(c: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        r = mil_selflabels(att, power, u, rb, ab, sv.read("sequence"), sv.read("frame"), float(dt) if dt else None,
                           tuple(float(s) for s in model.radio.stride), c, doppler, geom)
        return r, _health(r, u, geom, ds.attrs, rb, ab)

    res, health = chain(cfg)
    if not health["ok"] and cfg.range_source == "auto" and doppler is not None and cfg.azimuth_model == "pinhole":
        # the attention's range led the camera search astray: start it again from the moving return, and keep
        # that run where it passes the check (label-free either way; both verdicts are stored)
        res2, health2 = chain(replace(cfg, range_source="doppler"))
        first = {"health": health, "range_source": res["info"].get("range_source")}
        if health2["ok"]:
            res, health = res2, health2
        res["info"]["range_source_fallback"] = {"attention_run": first, "kept": "doppler" if health2["ok"]
                                                else "attention", "doppler_health": health2}
    bins = res["bins"][res["final"]]
    polar = bins_to_polar(bins, rb, ab)
    if cfg.range_shift_m:
        polar = apply_range_shift(polar, cfg.range_shift_m, rb)
    exp_idx = _export_idx(len(att), cfg.export_attention)
    score = att.reshape(len(att), -1).max(1).astype(np.float32)
    arrays = {"polar": polar.astype(np.float32), "bins": bins.astype(np.float32), "score": score,
              "attention": att[exp_idx].astype(np.float32), "attention_index": exp_idx}
    for k, b in res["bins"].items():
        arrays[f"bins_{k}"] = b.astype(np.float32)
    attrs = {"readout": "mil per-bin similarity", "stage_final": res["final"], "stages": list(res["bins"]),
             "refine_chosen": cfg.refine, "refine_jitter_m": {res["final"]: res["info"]["jitter_m"][res["final"]]},
             "calibration": {"method": "stated backbone geometry stride*i", "uses_ground_truth": False,
                             **{k: v for k, v in res["info"].items() if k != "jitter_m"}},
             "stage_jitter_m": res["info"]["jitter_m"], "feature_hw": list(att.shape[1:]), "health": health,
             "heatmap_hw": [len(rb), len(ab)]}
    return arrays, attrs


def _health(res: dict[str, Any], u: np.ndarray, geom: dict[str, Any], attrs: Any, rb: np.ndarray,
            ab: np.ndarray) -> dict[str, Any]:
    """``selflabel.health`` verdict on the radar returns a MIL chain's labels rest on."""
    from .health import half_power_beamwidth_rad, health_signals, label_health

    returns = res["bins"].get("track", res["bins"].get("snap"))
    signals = (health_signals(u, geom["v_foot"], bins_to_polar(returns, rb, ab), res["info"]) if returns is not None
               else {})
    return {"signals": signals, **label_health(signals, half_power_beamwidth_rad(attrs, rb, ab))}


def _vision_stride(vision: Any, radio_stride: Any) -> tuple[int, int] | None:
    """The vision backbone's own stride for its mask grid (the radio stride differs on grids with a wider
    radio stem, issue 13); None for hand-built backbones that state no geometry."""
    if radio_stride is None:
        return None
    s = getattr(vision, "stride", radio_stride)
    return (int(s[0]), int(s[1]))


def _paper_store(ro: _Readout, ds: Any, sv: Any, cfg: Any,
                 config: dict[str, Any], progress: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The paper's read-out (Eq. 2 conv2d of raw masked-vision features over raw radio features)."""
    import torch

    from .attention import argmax_2d, feature_to_heatmap, refine_peak

    stride, offset = ro.stride, ro.offset  # pretrain backbones state their geometry: centre = stride*i + offset
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    R, A = len(rb), len(ab)
    n = len(sv)
    att_all: list[np.ndarray] = []
    pooled_power: list[np.ndarray] = []
    feat_hw: list[Any] = [None]

    def step(sl, radar_np, r_t, i_t, m_t, mask_np):
        res = selflabel_batch(ro.radio, ro.vision, r_t, i_t, m_t, normalize=cfg.normalize,
                              vision_stride=_vision_stride(ro.vision, stride))
        feat_hw[0] = res["feat_hw"]
        att_all.append(res["att"])
        # radar power (dB above the sample median) pooled onto the feature grid: input data, not labels
        pooled_power.append(torch.nn.functional.adaptive_avg_pool2d(r_t, res["feat_hw"])[:, 0].numpy())

    _read_all(sv, cfg, config, progress, step)
    fh, fw = feat_hw[0]
    calib: dict[str, Any] = {"range_shift_m": float(cfg.range_shift_m), "stride": stride, "offset": offset,
                             "uses_ground_truth": False}
    if cfg.calibrate:
        row_c = cal.nominal_centres(fh, R, None if stride is None else stride[0], offset[0])
        col_c = cal.nominal_centres(fw, A, None if stride is None else stride[1], offset[1])
        calib["method"] = ("stated backbone geometry stride*i+offset" if stride else
                           "cell centres (i+0.5)*R/h-0.5")
    else:  # plain rescaling i * R/h, no receptive-field offset
        row_c, col_c = np.arange(fh) * (R / fh), np.arange(fw) * (A / fw)
        calib["method"] = "uncalibrated rescaling i*R/h"
    calib.update({"row_centres": np.asarray(row_c).tolist(), "col_centres": np.asarray(col_c).tolist()})
    raw = np.concatenate(att_all).astype(np.float64)
    power = np.concatenate(pooled_power).astype(np.float64)
    seq, frm = sv.read("sequence"), sv.read("frame")

    def labels_of(att: np.ndarray) -> dict[str, np.ndarray]:
        att_t = torch.from_numpy(att)
        out = {}
        for m in REFINE_METHODS:
            fr, fc = (t.double().numpy() for t in refine_peak(att_t, m))
            hr, hc = feature_to_heatmap(fr, fc, (fh, fw), (R, A), row_c, col_c)
            out[m] = np.stack([hr, hc], axis=1)
        return out

    variants = {"off": raw}
    if cfg.debias in ("on", "auto"):
        variants["on"], _, calib["debias"] = cal.debias_attention(raw, power)
    bins_v = {k: labels_of(a) for k, a in variants.items()}
    polar_v = {k: {m: cal.apply_range_shift(bins_to_polar(b[m], rb, ab), cfg.range_shift_m, rb) for m in b}
               for k, b in bins_v.items()}
    jitter_v = {k: {m: cal.temporal_jitter(polar_to_xy(p[m]), seq, frm) for m in p} for k, p in polar_v.items()}
    # label-free choice of debiasing ("auto"): the variant with the lower temporal jitter (parabolic)
    deb = cfg.debias if cfg.debias != "auto" else min(
        jitter_v, key=lambda k: np.nan_to_num(jitter_v[k]["parabolic"]["rms_m"], nan=np.inf))
    calib["debias_chosen"] = deb
    calib["debias_jitter_m"] = {k: j["parabolic"]["rms_m"] for k, j in jitter_v.items()}
    jitter = jitter_v[deb]
    chosen = cfg.refine
    if chosen == "auto":
        finite = {m: j["rms_m"] for m, j in jitter.items() if np.isfinite(j["rms_m"])}
        chosen = min(finite, key=finite.get) if finite else "parabolic"
    att = variants[deb]
    _, _, sc = argmax_2d(torch.from_numpy(att))
    exp_idx = _export_idx(n, cfg.export_attention)
    arrays = {"polar": polar_v[deb][chosen].astype(np.float32), "bins": bins_v[deb][chosen].astype(np.float32),
              "score": sc.float().numpy(), "attention": att[exp_idx].astype(np.float32),
              "attention_index": exp_idx}
    attrs = {"readout": "paper conv2d (Eq. 2)", "calibration": calib, "refine_chosen": chosen,
             "refine_jitter_m": jitter, "feature_hw": [fh, fw], "heatmap_hw": [R, A]}
    return arrays, attrs


def _write_labels(out: Path, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    """Write a zarr v3 group to a temp dir beside ``out``, then rename it into place."""
    import zarr

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        g = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        for name, arr in arrays.items():
            a = g.create_array(name, shape=arr.shape, dtype=arr.dtype,
                               chunks=tuple(max(1, s) for s in arr.shape), overwrite=True)
            if arr.size:
                a[...] = arr
        g.attrs.update(_jsonable(attrs))
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, trash / "old")
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def open_labels(path: str | Path) -> Any:
    import zarr

    p = Path(path)
    if not (p / "zarr.json").is_file():
        raise RadiovisualError(f"{p} is not a self-label store (no zarr.json)")
    # checked on disk, not by listing members: the store's root also holds the StageDir markers (*.json)
    if not (p / "polar" / "zarr.json").is_file():
        raise RadiovisualError(f"{p} has no 'polar' array; not a self-label store")
    return zarr.open_group(str(p), mode="r")


def load_labels(path: str | Path) -> np.ndarray:
    """Self-labels [N,2] polar (range [m], azimuth [rad])."""
    return np.asarray(open_labels(path)["polar"][...], dtype=np.float64)
