"""Inspecting a store: ``info`` (a summary dict / text) and ``show`` (one sample as a PNG).

Both read ground truth on purpose (they are human inspection tools, not learning stages).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DatasetError
from .format import SPLITS


def info(path: str | Path) -> dict[str, Any]:
    """Sizes, shapes/dtypes, scenario, key radio/camera settings, completeness, staged progress."""
    from ...config import from_dict
    from ..synthesis.config import SynthConfig
    from .format import open_dataset
    from ..synthesis.synth import make_plan, quiet_zarr, read_root_attrs, staged_progress

    p = Path(path)
    if not p.is_dir() or read_root_attrs(p) is None:
        raise DatasetError(f"{p} is not a radiovisual dataset (no zarr.json)")
    with quiet_zarr():
        ds = open_dataset(p, labels=True, allow_incomplete=True)
        splits = {s: ds.split(s) for s in ds.splits}
    a = ds.attrs
    cfg = a.get("config", {}) or {}
    radio, cam = cfg.get("radio", {}) or {}, cfg.get("camera", {}) or {}
    res: dict[str, Any] = {
        "path": str(p),
        "format_version": a.get("format_version"),
        "complete": bool(a.get("complete")),
        "scenario": a.get("scenario"),
        "seed": cfg.get("seed"),
        "config_fingerprint": a.get("config_fingerprint"),
        "target_point": a.get("target_point"),
        "splits": {},
    }
    for s, sv in splits.items():
        res["splits"][s] = {"samples": len(sv) if "radar" in sv else 0,
                            "arrays": {k: {"shape": list(sv.group[k].shape), "dtype": str(sv.group[k].dtype)}
                                       for k in sv.arrays}}
    if radio:
        res["radio"] = {k: radio.get(k) for k in ("carrier_hz", "bandwidth_hz", "n_subcarriers", "array_rows",
                                                  "array_cols", "n_azimuth_bins", "range_min_m", "range_max_m")}
    if "range_bins_m" in a and a["range_bins_m"]:
        rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
        res["heatmap"] = {"range_bins": len(rb), "range_m": [float(rb[0]), float(rb[-1])],
                          "azimuth_bins": len(ab), "azimuth_deg": [float(np.rad2deg(ab[0])), float(np.rad2deg(ab[-1]))]}
    if cam:
        res["camera"] = {k: cam.get(k) for k in ("width", "height", "hfov_deg", "spp")}
    dt = a.get("frame_dt_s") or (cfg.get("scene") or {}).get("frame_dt_s")
    res["sequences"] = {"frames": a.get("frames_per_sequence"), "frame_dt_s": dt}
    if not res["complete"] and "config" in a and "config_fingerprint" in a:
        try:
            plan = make_plan(from_dict(SynthConfig, cfg))
            res["staged"] = {s: {"sequences": got, "of": tot} for s, (got, tot) in staged_progress(p, plan).items()}
        except Exception as e:  # a store from a different version: report, do not fail
            res["staged"] = f"unknown ({str(e).splitlines()[0]})"
    return res


def format_info(d: dict[str, Any]) -> str:
    lines = [f"{d['path']}: radiovisual dataset v{d['format_version']} "
             f"({'complete' if d['complete'] else 'INCOMPLETE'})",
             f"  scenario {d['scenario']}, seed {d['seed']}, config fingerprint {d['config_fingerprint']}"]
    if d.get("target_point"):
        lines.append(f"  target point: {d['target_point']}")
    if "radio" in d:
        r = d["radio"]
        lines.append(f"  radio: {r['carrier_hz'] / 1e9:g} GHz, {r['bandwidth_hz'] / 1e6:g} MHz, {r['n_subcarriers']} "
                     f"subcarriers, {r['array_rows']}x{r['array_cols']} array")
    if "heatmap" in d:
        h = d["heatmap"]
        lines.append(f"  heatmap: {h['range_bins']} range bins {h['range_m'][0]:.2f}..{h['range_m'][1]:.2f} m x "
                     f"{h['azimuth_bins']} azimuth bins {h['azimuth_deg'][0]:.1f}..{h['azimuth_deg'][1]:.1f} deg")
    if "camera" in d:
        c = d["camera"]
        lines.append(f"  camera: {c['width']}x{c['height']} px, hfov {c['hfov_deg']} deg, {c['spp']} spp")
    sq = d.get("sequences") or {}
    if sq.get("frame_dt_s"):
        lines.append(f"  sequences: {sq.get('frames') or 'variable'} frames, {sq['frame_dt_s']:.4g} s apart "
                     f"({1.0 / sq['frame_dt_s']:.3g} frames/s)")
    for s, v in d["splits"].items():
        lines.append(f"  {s}: {v['samples']} samples")
        for k, a in v["arrays"].items():
            lines.append(f"    {k:14s} {a['dtype']:10s} {tuple(a['shape'])}")
    if "staged" in d:
        st = d["staged"]
        if isinstance(st, dict):
            lines.append("  staged: " + ", ".join(f"{s} {v['sequences']}/{v['of']} sequences" for s, v in st.items()))
        else:
            lines.append(f"  staged: {st}")
    return "\n".join(lines)


def verify(path: str | Path) -> dict[str, list[int]]:
    """Read every chunk of every array of every split: {"split/array": [damaged sample indices]}.

    Only arrays with damage are listed (an empty dict means the store reads back intact).
    Chunk checksums (the shard index carries a CRC32C) and codec errors both count as damage.
    """
    from .format import damaged_indices, open_dataset
    from ..synthesis.synth import quiet_zarr

    with quiet_zarr():
        ds = open_dataset(path, labels=True, allow_incomplete=True)
        out: dict[str, list[int]] = {}
        for s in ds.splits:
            sv = ds.split(s)
            for name in sv.arrays:
                arr = sv.group[name]
                if arr.ndim == 0 or arr.shape[0] == 0:
                    continue
                bad = damaged_indices(arr)
                if bad:
                    out[f"{s}/{name}"] = bad
    return out


def format_ranges(idx: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    parts, i = [], 0
    while i < len(idx):
        j = i
        while j + 1 < len(idx) and idx[j + 1] == idx[j] + 1:
            j += 1
        parts.append(str(idx[i]) if i == j else f"{idx[i]}-{idx[j]}")
        i = j + 1
    return ", ".join(parts)


# road-user classes in CRUW order (pedestrian, cyclist, car): marker colours on the heatmap and the image
CLASS_RGB = ((0.1, 0.9, 0.9), (1.0, 0.6, 0.0), (0.9, 0.2, 0.9))
CLASS_NAMES = ("pedestrian", "cyclist", "car")


def _mark_objects(ax, objs: np.ndarray) -> None:
    """Every road user of ``objects`` on the range-azimuth axes: class colour, hollow when the camera
    does not see it; the primary target keeps its red x."""
    seen = set()
    for o in objs:
        if not np.isfinite(o[0]) or int(o[3]) == 1:
            continue
        c, vis = int(o[2]), bool(o[8])
        label = CLASS_NAMES[c] if c not in seen else None
        seen.add(c)
        ax.plot(np.rad2deg(o[1]), o[0], "o", ms=9, mew=2, color=CLASS_RGB[c],
                mfc=CLASS_RGB[c] if vis else "none", label=label)


def show(path: str | Path, split: str, index: int, out: str | Path) -> Path:
    """Plot one sample: radar heatmap [dB] with GT x, RGB with mask + box, depth, range-Doppler."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from ...utils.io import atomic_path
    from .format import open_dataset
    from ..synthesis.synth import quiet_zarr

    if split not in SPLITS:
        raise DatasetError(f"unknown split '{split}' (choose from {', '.join(SPLITS)})")
    with quiet_zarr():
        ds = open_dataset(path, labels=True)
        sv = ds.split(split)
    n = len(sv)
    if not -n <= index < n:
        raise DatasetError(f"--index {index} is out of range for split '{split}' with {n} samples")
    index %= n
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    radar = sv.read("radar", index)
    img = sv.read("image", index)
    mask = sv.read("mask", index)
    x0, y0, x1, y1 = sv.read("bbox", index)
    r, az = sv.read("target_polar", index)
    seq, frame = int(sv.read("sequence", index)), int(sv.read("frame", index))
    has_depth, has_rd = "depth" in sv, "range_doppler" in sv and "doppler_bins_mps" in ds.attrs
    panels = 2 + has_depth + has_rd
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4.2), constrained_layout=True)
    ax = axes[0]
    m = ax.pcolormesh(np.rad2deg(ab), rb, radar, shading="nearest", cmap="viridis")
    ax.plot(np.rad2deg(az), r, "x", color="red", ms=10, mew=2, label="GT target")
    objs = sv.read("objects", index) if "objects" in sv else None
    inst = sv.read("instance_mask", index) if "instance_mask" in sv else None
    if objs is not None:
        _mark_objects(ax, objs)
    ax.set_xlabel("azimuth [deg] (positive = right)")
    ax.set_ylabel("range [m]")
    ax.set_title("radar range-azimuth")
    ax.legend(loc="upper right", fontsize=8)
    fig.colorbar(m, ax=ax, label="power [dB]")
    ax = axes[1]
    over = img.astype(np.float32) / 255.0
    over[mask] = 0.55 * over[mask] + 0.45 * np.array([1.0, 0.1, 0.1])
    if inst is not None:      # the other road users' instance masks, in their class colours
        for o in objs if objs is not None else []:
            if np.isfinite(o[0]) and int(o[3]) > 1:
                sel = inst == int(o[3])
                over[sel] = 0.55 * over[sel] + 0.45 * np.asarray(CLASS_RGB[int(o[2])])
    ax.imshow(over)
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="yellow", lw=1.5))
    ax.set_xlabel("x [px]")
    ax.set_ylabel("y [px]")
    ax.set_title("RGB, target mask and box")
    k = 2
    if has_depth:
        ax = axes[k]
        d = sv.read("depth", index)
        dm = ax.imshow(np.where(np.isfinite(d), d, np.nan), cmap="magma_r")
        fig.colorbar(dm, ax=ax, label="depth [m]")
        ax.set_xlabel("x [px]")
        ax.set_ylabel("y [px]")
        ax.set_title("camera depth")
        k += 1
    if has_rd:
        ax = axes[k]
        db = np.asarray(ds.attrs["doppler_bins_mps"], np.float64)
        rd = sv.read("range_doppler", index)
        m = ax.pcolormesh(db, rb[:rd.shape[0]], rd, shading="nearest", cmap="viridis")
        fig.colorbar(m, ax=ax, label="power [dB]")
        ax.set_xlabel("radial velocity [m/s]")
        ax.set_ylabel("range [m]")
        ax.set_title("range-Doppler")
    weather = ""
    if "weather" in sv:
        kind, rain, fog = sv.read("weather", index)
        weather = ["; clear", f"; rain {rain:.1f} mm/h", f"; fog {fog:.2f} g/m^3"][int(kind)]
    fig.suptitle(f"{Path(path).name} {split}[{index}]: sequence {seq}, frame {frame}; "
                 f"target r = {r:.2f} m, az = {np.rad2deg(az):+.1f} deg{weather}")
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out
