"""Matplotlib on a headless machine: one lazy import and one atomic PNG writer for every stage's figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .io import atomic_path


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: str | Path, dpi: int = 130) -> Path:
    """Write ``fig`` to ``path`` atomically (a half-written PNG never appears) and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return path


def save_figure(fig: Any, path: str | Path, dpi: int = 100, quality: int = 82) -> Path:
    """Like ``save_png``, the format from the suffix: ``.jpg`` for image-like figures (a fraction of the PNG
    size for heatmaps and photos), ``.png`` for line plots."""
    path = Path(path)
    fmt = "jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "png"
    kw = {"pil_kwargs": {"quality": quality, "optimize": True}} if fmt == "jpeg" else {}
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", **kw)
    pyplot().close(fig)
    return path
