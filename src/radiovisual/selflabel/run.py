"""Self-label a split with a pretrained radio/vision backbone pair (paper §4.2).

Label-free by construction: the dataset is opened with ``labels=False`` (reading any GT array
raises ``LabelAccessError``). Output: a zarr v3 group written to a temp directory and renamed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RadiovisualError
from .attention import REFINE_METHODS

LABELS_VERSION = 2


def _cfg_dict(cfg: Any) -> dict[str, Any]:
    from ..config import to_dict

    d = to_dict(cfg) if cfg is not None else {}
    return d if isinstance(d, dict) else {"value": d}


def _find_key(d: Any, key: str) -> Any:
    """First value of ``key`` anywhere in a nested dict (the pretrain config layout is not ours)."""
    if isinstance(d, dict):
        if key in d:
            return d[key]
        for v in d.values():
            r = _find_key(v, key)
            if r is not None:
                return r
    return None


def _to_tensors(radar: np.ndarray, image: np.ndarray, mask: np.ndarray, pad_px: int) -> tuple[Any, Any, Any]:
    """The pretrain stage's converters, so self-labelling sees exactly what pretraining saw."""
    from ..pretrain.data import image_to_tensor, mask_to_tensor, radar_to_tensor

    return radar_to_tensor(radar), image_to_tensor(image), mask_to_tensor(mask, pad_px)


def _read_masks(sv: Any, sl: Any, source: str, hw: tuple[int, int]) -> np.ndarray:
    from ..pretrain.data import read_masks

    return read_masks(sv, sl, source, hw)


def selflabel_batch(radio_bb: Any, vision_bb: Any, radar_t: Any, image_t: Any, mask_t: Any,
                    normalize: bool = False, vision_stride: tuple[int, int] | None = None) -> dict[str, Any]:
    """Attention maps and fractional feature-grid peaks for one batch (no rescaling).

    radar_t [B,1,R,A], image_t [B,3,H,W], mask_t [B,1,H,W]. Returns numpy arrays
    {"att" [B,h,w], "rows", "cols", "score" [B], "refined": {method: (rows, cols)}}.
    """
    import torch

    from .attention import argmax_2d, cross_modal_attention, mask_to_feature_grid, refine_peak

    with torch.inference_mode():
        f_r = radio_bb(radar_t)
        f_v = vision_bb(image_t * mask_t)  # f^v~(gamma * v)
        mw = mask_to_feature_grid(mask_t, tuple(f_v.shape[-2:]), vision_stride)
        att = cross_modal_attention(f_r, f_v, mw, normalize=normalize)
        _, _, score = argmax_2d(att)
        refined = {m: tuple(t.double().numpy() for t in refine_peak(att, m)) for m in REFINE_METHODS}
    return {"att": att.float().numpy(), "score": score.float().numpy(), "refined": refined,
            "feat_hw": tuple(f_r.shape[-2:])}


def _fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _run_id(run: Any) -> str:
    p = Path(run)
    for name in ("done.json", "config.json"):
        if (p / name).is_file():
            return f"{p.resolve()}:{hashlib.sha256((p / name).read_bytes()).hexdigest()[:16]}"
    return str(p.resolve())


def run_selflabel(run: Any, data: str | Path, split: str = "train", out: str | Path | None = None,
                  refine: str = "parabolic", calibrate: bool = True, export_attention: int = 16,
                  batch_size: int = 64, range_shift_m: float = 0.0, normalize: bool = False,
                  progress: bool = True, debias: bool = True) -> Path:
    """Self-label ``split`` of ``data`` with the backbones of pretrain ``run``; returns the zarr path.

    ``run`` is a pretrain run directory, or a ``(radio_backbone, vision_backbone, cfg)`` tuple.
    ``refine`` in parabolic | softargmax | none | auto (auto: the method with the lowest label-free
    temporal jitter on this split, see ``calibrate.temporal_jitter``). All three refinements are
    computed and their jitter is stored in the attrs either way.

    ``debias`` (default on) is the paper's "one-off calibration for systematic offsets on the entire
    dataset", done without ground truth (``calibrate.debias_attention``): the split-mean attention map
    (a position bias that every sample shares, e.g. from coordinate channels and padding) is subtracted,
    and the sign of the raw dot product (arbitrary: the contrastive loss aligns *projected* vectors) is
    chosen so that attention peaks sit on stronger radar returns — a physical prior read from the input
    heatmaps only.
    """
    import torch

    from ..dataset.format import bins_to_polar, iter_batches, open_dataset, polar_to_xy
    from . import calibrate as cal
    from .attention import feature_to_heatmap

    if refine not in REFINE_METHODS + ("auto",):
        raise RadiovisualError(f"unknown refine method '{refine}' (choose from {', '.join(REFINE_METHODS + ('auto',))})")
    if isinstance(run, tuple):
        radio_bb, vision_bb, pcfg = run
        run_id = "in-memory backbones"
    else:
        if not Path(run).is_dir():
            raise RadiovisualError(f"pretrain run not found: {run}")
        try:
            from ..pretrain import load_backbones
        except ImportError as e:
            raise RadiovisualError(f"the pretrain stage is unavailable: {e}") from None
        radio_bb, vision_bb, pcfg = load_backbones(run)
        run_id = _run_id(run)
    radio_bb.eval()
    vision_bb.eval()
    pcfg_d = _cfg_dict(pcfg)
    pad_px = int(_find_key(pcfg_d, "mask_pad_px") or 0)
    mask_source = str(_find_key(pcfg_d, "mask_source") or "mask")
    stride = _find_key(pcfg_d, "stride")  # pretrain backbones state their geometry: centre = stride*i + offset
    offset = _find_key(pcfg_d, "offset") or [0.0, 0.0]
    stride = tuple(float(v) for v in stride) if stride else None
    offset = tuple(float(v) for v in offset)

    ds = open_dataset(data, labels=False)
    sv = ds.split(split)
    n = len(sv)
    if n == 0:
        raise RadiovisualError(f"split '{split}' of {data} is empty")
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    R, A = len(rb), len(ab)
    config = {"split": split, "refine": refine, "calibrate": bool(calibrate), "export_attention": int(export_attention),
              "range_shift_m": float(range_shift_m), "normalize": bool(normalize), "mask_pad_px": pad_px,
              "mask_source": mask_source, "debias": bool(debias),
              "labels_version": LABELS_VERSION}
    data_fp = {"path": str(Path(data).resolve()), "config": _fingerprint(ds.attrs.get("config", {})), "n": n}
    key = _fingerprint({"config": config, "run": run_id, "data": data_fp})
    out = Path(out) if out is not None else (Path(run) / f"selflabels-{split}.zarr" if not isinstance(run, tuple)
                                            else Path(data).parent / f"selflabels-{split}.zarr")
    if (out / "zarr.json").is_file():
        try:
            import zarr

            if dict(zarr.open_group(str(out), mode="r").attrs).get("key") == key:
                return out
        except Exception:
            pass

    # --- calibration (label-free): where each feature bin sits in the heatmap ---
    img_hw = tuple(sv.shape("image")[1:3])
    r0, _, _ = _to_tensors(sv.read("radar", slice(0, min(n, 8))), sv.read("image", slice(0, 1)),
                           np.zeros((1,) + img_hw, bool), pad_px)
    with torch.inference_mode():
        fh, fw = radio_bb(r0[:1]).shape[-2:]
    calib: dict[str, Any] = {"range_shift_m": float(range_shift_m), "stride": stride, "offset": offset,
                             "uses_ground_truth": False}
    if calibrate:
        # receptive-field centres from the backbone's stated conv geometry (stride*i + offset),
        # or the cell centre (i+0.5)*R/h-0.5 when the backbone states none
        row_c = cal.nominal_centres(fh, R, None if stride is None else stride[0], offset[0])
        col_c = cal.nominal_centres(fw, A, None if stride is None else stride[1], offset[1])
        calib["method"] = ("stated backbone geometry stride*i+offset" if stride else
                           "cell centres (i+0.5)*R/h-0.5")
        # diagnostic only (not applied): gradient-measured effective receptive-field centres
        rf = cal.receptive_field_centres(radio_bb, r0, stride=stride, offset=offset)
        calib.update({"measured_row_centres": rf["rows"].tolist(), "measured_col_centres": rf["cols"].tolist(),
                      "measured_max_abs_shift_bins": rf["max_abs_shift_bins"]})
    else:  # plain rescaling i * R/h, no receptive-field offset
        row_c, col_c = np.arange(fh) * (R / fh), np.arange(fw) * (A / fw)
        calib["method"] = "uncalibrated rescaling i*R/h"
    calib.update({"row_centres": np.asarray(row_c).tolist(), "col_centres": np.asarray(col_c).tolist()})

    n_exp = min(int(export_attention), n)
    exp_idx = np.linspace(0, n - 1, n_exp).round().astype(np.int64) if n_exp else np.zeros(0, np.int64)
    bins = {m: np.zeros((n, 2)) for m in REFINE_METHODS}
    score = np.zeros(n, np.float32)
    att_exp: list[np.ndarray] = []
    feat_hw = None
    batches = list(iter_batches(n, batch_size))
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc=f"selflabel {split}", leave=False)
    att_all: list[np.ndarray] = []
    pooled_power: list[np.ndarray] = []
    for sl in batches:
        radar_np = sv.read("radar", sl)
        r_t, i_t, m_t = _to_tensors(radar_np, sv.read("image", sl),
                                    _read_masks(sv, sl, mask_source, img_hw), pad_px)
        res = selflabel_batch(radio_bb, vision_bb, r_t, i_t, m_t, normalize=normalize,
                              vision_stride=None if stride is None else (int(stride[0]), int(stride[1])))
        feat_hw = res["feat_hw"]
        att_all.append(res["att"])
        # radar power (dB above the sample median) pooled onto the feature grid: input data, not labels
        pooled_power.append(torch.nn.functional.adaptive_avg_pool2d(r_t, feat_hw)[:, 0].numpy())
    att = np.concatenate(att_all).astype(np.float64)
    power = np.concatenate(pooled_power).astype(np.float64)
    sign = 1.0
    if debias:
        att, sign, debias_info = cal.debias_attention(att, power)
        calib["debias"] = debias_info
    att_t = torch.from_numpy(sign * att if not debias else att)
    from .attention import argmax_2d, refine_peak

    _, _, sc = argmax_2d(att_t)
    score[:] = sc.float().numpy()
    for m in REFINE_METHODS:
        fr, fc = (t.double().numpy() for t in refine_peak(att_t, m))
        hr, hc = feature_to_heatmap(fr, fc, feat_hw, (R, A), row_c, col_c)
        bins[m][:] = np.stack([hr, hc], axis=1)
    att_exp.extend(att[i].astype(np.float32) for i in exp_idx)

    # --- label-free comparison of refinements: temporal jitter along sequences ---
    seq, frm = sv.read("sequence"), sv.read("frame")
    polar_all = {m: cal.apply_range_shift(bins_to_polar(bins[m], rb, ab), range_shift_m, rb) for m in REFINE_METHODS}
    jitter = {m: cal.temporal_jitter(polar_to_xy(polar_all[m]), seq, frm) for m in REFINE_METHODS}
    chosen = refine
    if refine == "auto":
        finite = {m: j["rms_m"] for m, j in jitter.items() if np.isfinite(j["rms_m"])}
        chosen = min(finite, key=finite.get) if finite else "parabolic"
    attrs = {"labels_version": LABELS_VERSION, "key": key, "config": config, "run": run_id, "data": data_fp,
             "pretrain_config": pcfg_d, "calibration": calib, "refine_chosen": chosen,
             "refine_jitter_m": jitter, "feature_hw": list(feat_hw), "heatmap_hw": [R, A],
             "label_free": True, "coordinates": "polar: range [m], azimuth [rad] (positive right); "
             "bins: fractional (row, col) of the radar heatmap"}
    h, w = feat_hw
    att_arr = np.stack(att_exp).astype(np.float32) if att_exp else np.zeros((0, h, w), np.float32)
    _write_labels(out, {"polar": polar_all[chosen].astype(np.float32), "bins": bins[chosen].astype(np.float32),
                        "score": score, "attention": att_arr, "attention_index": exp_idx}, attrs)
    return out


def _write_labels(out: Path, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    """Write a zarr v3 group to a temp dir beside ``out``, then rename it into place."""
    import zarr

    from ..dataset.format import _jsonable

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
    g = zarr.open_group(str(p), mode="r")
    if "polar" not in {k for k, _ in g.arrays()}:
        raise RadiovisualError(f"{p} has no 'polar' array; not a self-label store")
    return g


def load_labels(path: str | Path) -> np.ndarray:
    """Self-labels [N,2] polar (range [m], azimuth [rad])."""
    return np.asarray(open_labels(path)["polar"][...], dtype=np.float64)
