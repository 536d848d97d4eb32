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
