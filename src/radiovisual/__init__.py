"""radiovisual: self-supervised radio-visual learning for ISAC radar.

The public API (``docs/python.md``), all reachable from ``import radiovisual``:

* data: ``open_dataset`` (a store, with the ground-truth guard when ``labels=False``), ``PairedDataset``
  (a ``torch.utils.data.Dataset`` of (radar, image, mask[, target]) over any split);
* runs: ``load_run`` (a benchmark ``METHOD`` directory -> its kept seed run), ``load_backbones``,
  ``load_localiser`` (a trainable ``nn.Module`` with polar outputs), ``new_localiser``, ``predict``;
* labels and scores: ``make_selflabels`` (``selflabel`` is the subpackage's name), ``load_labels``,
  ``label_health``, ``score``;
* errors: ``RadiovisualError`` (every one-line error), ``DatasetError``, ``LabelAccessError``.

Stages follow the data flow: ``scene``/``sensors`` -> ``dataset`` -> ``pretrain`` -> ``selflabel`` ->
``localise`` -> ``baselines`` -> ``evaluate`` -> ``report``, composed by ``pipeline``; ``api`` and ``cli`` sit
on top. Heavy dependencies (torch, sionna, mitsuba, zarr) are imported on first use, so ``import radiovisual``
stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import DatasetError, LabelAccessError, RadiovisualError

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "open_dataset": "radiovisual.dataset.format",
    "Dataset": "radiovisual.dataset.format",
    "PairedDataset": "radiovisual.api.data",
    "Pair": "radiovisual.api.data",
    "LabelledPair": "radiovisual.api.data",
    "Run": "radiovisual.api.runs",
    "load_run": "radiovisual.api.runs",
    "load_backbones": "radiovisual.api.runs",
    "load_localiser": "radiovisual.api.runs",
    "new_localiser": "radiovisual.api.runs",
    "predict": "radiovisual.api.runs",
    "make_selflabels": "radiovisual.api.runs",
    "load_labels": "radiovisual.api.runs",
    "label_health": "radiovisual.api.runs",
    "score": "radiovisual.api.runs",
}

__all__ = sorted([*_LAZY, "RadiovisualError", "DatasetError", "LabelAccessError", "__version__"])

if TYPE_CHECKING:  # pragma: no cover - static names for type checkers and IDEs
    from .api.data import LabelledPair, Pair, PairedDataset
    from .api.runs import (Run, label_health, load_backbones, load_labels, load_localiser, load_run, new_localiser,
                           make_selflabels, predict, score)
    from .dataset.format import Dataset, open_dataset


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'radiovisual' has no attribute '{name}'")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value      # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
