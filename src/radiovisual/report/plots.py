"""Report figures: error CDFs (paper Fig. 5), attention maps, example radio-visual pairs.

Heatmap axes are physical: azimuth [deg] horizontally (left to right as the camera sees it)
and range [m] vertically (nearest at the bottom). Every function returns the PNG path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..utils.plotting import pyplot, save_figure, save_png

# 12 distinct colours: a full benchmark has 11 rows, and two rows sharing a colour read as one curve
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf",
          "#bcbd22", "#000000", "#aec7e8"]


_plt = pyplot


def _save(fig: Any, path: str | Path) -> Path:
    return save_png(fig, path, dpi=130)


def error_cdf(errors_by_method: dict[str, np.ndarray], path: str | Path, log_x: bool = True,
              title: str = "Localisation error CDF (validation)") -> Path:
    """Empirical CDF of location errors [m] per method; p50 (circle) and p90 (square) marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9.0, 4.6))
    for k, (name, e) in enumerate(errors_by_method.items()):
        e = np.sort(np.asarray(e, np.float64)[np.isfinite(e)])
        if e.size == 0:
            continue
        c = COLORS[k % len(COLORS)]
        y = np.arange(1, e.size + 1) / e.size
        p50, p90 = np.percentile(e, 50), np.percentile(e, 90)
        ax.step(np.maximum(e, 1e-3) if log_x else e, y, where="post", color=c, lw=1.8,
                label=f"{name}  (p50 {p50:.2f} m, p90 {p90:.2f} m)")
        ax.plot([p50], [0.5], "o", color=c, ms=6, mec="k", mew=0.6)
        ax.plot([p90], [0.9], "s", color=c, ms=6, mec="k", mew=0.6)
    for q in (0.5, 0.9):
        ax.axhline(q, color="0.6", lw=0.8, ls=":")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("location error [m]" + (" (log scale)" if log_x else ""))
    ax.set_ylabel("fraction of validation samples (CDF)")
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="both", alpha=0.25)
    ax.set_title(title)
    # outside the axes: inside, the legend hides the curves of the worst methods
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), framealpha=0.9)
    return _save(fig, path)


def _extent(range_bins: np.ndarray, az_bins: np.ndarray) -> list[float]:
    az = np.rad2deg(np.asarray(az_bins, np.float64))
    rb = np.asarray(range_bins, np.float64)
    da = (az[-1] - az[0]) / max(1, len(az) - 1) / 2
    dr = (rb[-1] - rb[0]) / max(1, len(rb) - 1) / 2
    return [az[0] - da, az[-1] + da, rb[0] - dr, rb[-1] + dr]


def _image_with_mask(ax: Any, image: np.ndarray, mask: np.ndarray | None) -> None:
    ax.imshow(image)
    if mask is not None and mask.any():
        ax.contour(mask.astype(float), levels=[0.5], colors=["#00ff66"], linewidths=1.2)
    ax.set_xticks([])
    ax.set_yticks([])


def _heatmap(ax: Any, radar: np.ndarray, range_bins: np.ndarray, az_bins: np.ndarray) -> Any:
    im = ax.imshow(radar, origin="lower", aspect="auto", cmap="viridis", extent=_extent(range_bins, az_bins),
                   interpolation="nearest")
    ax.set_xlabel("azimuth [deg]")
    ax.set_ylabel("range [m]")
    return im


def _mark(ax: Any, polar: np.ndarray | None, style: dict[str, Any], label: str) -> None:
    if polar is None:
        return
    ax.plot([np.rad2deg(polar[1])], [polar[0]], linestyle="none", label=label, **style)


# Nested shapes of different sizes, drawn largest first, so coinciding markers stay visible: the self-label
# ring outside, the localiser's square inside it, the ground-truth x (outlined) on top.
SL_STYLE = {"marker": "o", "mfc": "none", "mec": "#ff3030", "ms": 15, "mew": 1.8, "zorder": 3}
PRED_STYLE = {"marker": "s", "mfc": "none", "mec": "#ffd000", "ms": 9, "mew": 1.8, "zorder": 4}
GT_STYLE = {"marker": "x", "color": "white", "ms": 6, "mew": 1.8, "zorder": 5}


def _outlined(style: dict[str, Any]) -> dict[str, Any]:
    import matplotlib.patheffects as pe

    return {**style, "path_effects": [pe.withStroke(linewidth=3.2, foreground="black")]}


def _err_m(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Euclidean distance [m] of two polar points (range m, azimuth rad), as the scorer measures it."""
    if a is None or b is None:
        return None
    xa = a[0] * np.array([np.sin(a[1]), np.cos(a[1])])
    xb = b[0] * np.array([np.sin(b[1]), np.cos(b[1])])
    return float(np.hypot(*(xa - xb)))


def example_pairs(images: np.ndarray, masks: np.ndarray, radars: np.ndarray, range_bins: np.ndarray,
                  az_bins: np.ndarray, gt: np.ndarray | None, selflabel: np.ndarray | None,
                  pred: np.ndarray | None, path: str | Path, max_rows: int = 6,
                  indices: np.ndarray | None = None, split: str = "val") -> Path:
    """Rows of (RGB with target mask | heatmap with GT x, self-label o, prediction square), each titled with the
    sample's real index in ``split`` and the per-sample errors [m]. A ``.jpg`` path writes JPEG."""
    plt = _plt()
    n = min(len(images), max_rows)
    idx = np.arange(n) if indices is None else np.asarray(indices)
    per_row = 2 if n > 2 else 1      # two pairs side by side: half the height on a wide page
    rows = -(-n // per_row)
    fig, axes = plt.subplots(rows, 2 * per_row, figsize=(6.2 * per_row, 2.3 * rows), squeeze=False,
                             gridspec_kw={"width_ratios": [1.25, 1.0] * per_row})
    for ax in axes[:, :].ravel()[2 * n:]:
        ax.axis("off")
    for i in range(n):
        a_img, ax = axes[i // per_row, 2 * (i % per_row)], axes[i // per_row, 2 * (i % per_row) + 1]
        _image_with_mask(a_img, images[i], masks[i] if masks is not None else None)
        a_img.set_title(f"{split} #{int(idx[i])}: camera + target mask", fontsize=8)
        im = _heatmap(ax, radars[i], range_bins, az_bins)
        g = None if gt is None else gt[i]
        sl = None if selflabel is None else selflabel[i]
        pr = None if pred is None else pred[i]
        _mark(ax, sl, SL_STYLE, "self-label")
        _mark(ax, pr, PRED_STYLE, "localiser")
        _mark(ax, g, _outlined(GT_STYLE), "ground truth")
        errs = [f"{lab} {e:.2f} m" for lab, e in (("localiser", _err_m(pr, g)), ("self-label", _err_m(sl, g)))
                if e is not None]
        ax.set_title("error: " + ", ".join(errs) if errs else "radar heatmap", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.label.set_size(7)
        ax.yaxis.label.set_size(7)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).set_label("power [dB]", fontsize=7)
        if i == 0:
            ax.legend(fontsize=6.5, loc="upper right", framealpha=0.8, facecolor="0.2", labelcolor="white")
    fig.tight_layout()
    return save_figure(fig, path, dpi=90)


def attention_grid(labels: str | Path, data: str | Path, path: str | Path, max_rows: int = 2,
                   title: str | None = None) -> Path:
    """Exported cross-modal attention maps of a self-label store next to their image and heatmap.

    Panels are titled with the store's read-out (``readout`` attribute): the per-bin models' trained
    similarity, or the paper's Eq. 2 correlation. Label-free: reads the dataset with ``labels=False``.
    """
    from ..dataset.format import open_dataset
    from ..selflabel.run import open_labels

    g = open_labels(labels)
    att = np.asarray(g["attention"][...])
    idx = np.asarray(g["attention_index"][...]).astype(int)
    polar = np.asarray(g["polar"][...])
    attrs = dict(g.attrs)
    split = attrs.get("config", {}).get("split", "train")
    readout = str(attrs.get("readout", "attention"))
    panel = "attention h_n (Eq. 2)" if "eq. 2" in readout.lower() else f"attention ({readout})"
    ds = open_dataset(data, labels=False)
    sv = ds.split(split)
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    pick = np.linspace(0, len(idx) - 1, min(len(idx), max_rows)).round().astype(int) if len(idx) else idx
    n = len(pick)
    plt = _plt()
    if n == 0:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.text(0.5, 0.5, "no attention maps exported", ha="center", va="center")
        ax.axis("off")
        return save_figure(fig, path)
    fig, axes = plt.subplots(n, 3, figsize=(8.5, 2.1 * n), squeeze=False,
                             gridspec_kw={"width_ratios": [1.25, 1.0, 1.0]})
    for r, j in enumerate(pick):
        k = int(idx[j])
        _image_with_mask(axes[r, 0], sv.read("image", k), sv.read("mask", k))
        axes[r, 0].set_title(f"{split} #{k}: camera + mask", fontsize=8)
        ax = axes[r, 1]
        im = ax.imshow(att[j], origin="lower", aspect="auto", cmap="magma", extent=_extent(rb, ab),
                       interpolation="nearest")
        ax.set_xlabel("azimuth [deg]", fontsize=7)
        ax.set_ylabel("range [m]", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.set_title(panel, fontsize=8)
        _mark(ax, polar[k], {**SL_STYLE, "mec": "#30ff30"}, "self-label")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        ax = axes[r, 2]
        im = _heatmap(ax, sv.read("radar", k), rb, ab)
        ax.tick_params(labelsize=7)
        _mark(ax, polar[k], SL_STYLE, "self-label")
        ax.set_title("radar heatmap + self-label", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).set_label("power [dB]", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=90)
