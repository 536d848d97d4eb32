"""Report figures: error CDFs (paper Fig. 5), attention maps, example radio-visual pairs.

Heatmap axes are physical: azimuth [deg] horizontally (left to right as the camera sees it)
and range [m] vertically (nearest at the bottom). Every function returns the PNG path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..utils.plotting import pyplot, save_png

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


GT_STYLE = {"marker": "x", "color": "white", "ms": 9, "mew": 2.2}
SL_STYLE = {"marker": "o", "mfc": "none", "mec": "#ff3030", "ms": 10, "mew": 1.8}
PRED_STYLE = {"marker": "+", "color": "#ffd000", "ms": 12, "mew": 2.2}


def example_pairs(images: np.ndarray, masks: np.ndarray, radars: np.ndarray, range_bins: np.ndarray,
                  az_bins: np.ndarray, gt: np.ndarray | None, selflabel: np.ndarray | None,
                  pred: np.ndarray | None, path: str | Path, max_rows: int = 6) -> Path:
    """Rows of (RGB with target mask | heatmap with GT x, self-label o, prediction +)."""
    plt = _plt()
    n = min(len(images), max_rows)
    fig, axes = plt.subplots(n, 2, figsize=(8.0, 2.7 * n), squeeze=False,
                             gridspec_kw={"width_ratios": [1.25, 1.0]})
    for i in range(n):
        _image_with_mask(axes[i, 0], images[i], masks[i] if masks is not None else None)
        axes[i, 0].set_title(f"camera + target mask (#{i})", fontsize=9)
        ax = axes[i, 1]
        im = _heatmap(ax, radars[i], range_bins, az_bins)
        _mark(ax, None if gt is None else gt[i], GT_STYLE, "ground truth")
        _mark(ax, None if selflabel is None else selflabel[i], SL_STYLE, "self-label")
        _mark(ax, None if pred is None else pred[i], PRED_STYLE, "localiser")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).set_label("power [dB]", fontsize=8)
        if i == 0:
            ax.legend(fontsize=7, loc="upper right", framealpha=0.8, facecolor="0.2", labelcolor="white")
    fig.tight_layout()
    return _save(fig, path)


def attention_grid(labels: str | Path, data: str | Path, path: str | Path, max_rows: int = 6) -> Path:
    """Exported cross-modal attention maps of a self-label store next to their image and heatmap.

    Label-free: reads the dataset with ``labels=False`` (images, masks, radar only).
    """
    from ..dataset.format import open_dataset
    from ..selflabel.run import open_labels

    g = open_labels(labels)
    att = np.asarray(g["attention"][...])
    idx = np.asarray(g["attention_index"][...]).astype(int)
    polar = np.asarray(g["polar"][...])
    split = dict(g.attrs).get("config", {}).get("split", "train")
    ds = open_dataset(data, labels=False)
    sv = ds.split(split)
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    n = min(len(idx), max_rows)
    plt = _plt()
    if n == 0:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.text(0.5, 0.5, "no attention maps exported", ha="center", va="center")
        ax.axis("off")
        return _save(fig, path)
    fig, axes = plt.subplots(n, 3, figsize=(11, 2.6 * n), squeeze=False,
                             gridspec_kw={"width_ratios": [1.25, 1.0, 1.0]})
    for r in range(n):
        k = int(idx[r])
        _image_with_mask(axes[r, 0], sv.read("image", k), sv.read("mask", k))
        axes[r, 0].set_title(f"{split} #{k}: camera + mask", fontsize=9)
        ax = axes[r, 1]
        im = ax.imshow(att[r], origin="lower", aspect="auto", cmap="magma", extent=_extent(rb, ab),
                       interpolation="nearest")
        ax.set_xlabel("azimuth [deg]")
        ax.set_ylabel("range [m]")
        ax.set_title("attention h_n (Eq. 2)", fontsize=9)
        _mark(ax, polar[k], {**SL_STYLE, "mec": "#30ff30"}, "self-label")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        ax = axes[r, 2]
        im = _heatmap(ax, sv.read("radar", k), rb, ab)
        _mark(ax, polar[k], SL_STYLE, "self-label")
        ax.set_title("radar heatmap + self-label", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).set_label("power [dB]", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
