"""``PairedDataset``: a ``torch.utils.data.Dataset`` over any split of a radiovisual store.

One item is a ``Pair(radar, image, mask)`` or, with ground truth (or targets you give, e.g. self-labels), a
``LabelledPair(radar, image, mask, target)`` of tensors; both are named tuples, so the default ``DataLoader``
collate batches them field by field. ``normalise=True`` (default) gives the tensors pretraining and self-labelling use
(``pretrain.data``): radar [1, R, A] in dB above the heatmap's median / 10 dB, image [3, H, W] about
[-2, 2], mask [1, H, W] in {0, 1}; ``normalise=False`` gives radar [1, R, A] in dB, image uint8 [H, W, 3]
and mask bool [H, W] as stored. ``target`` is float32 [2] = (range [m], azimuth [rad]).

The zarr store is opened lazily in each process that reads (a ``DataLoader`` worker re-opens it), never
shipped between processes; ``labels=False`` opens it with the ground-truth guard on, so every path to a
label raises ``LabelAccessError``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import torch

from ..dataset.format import Dataset, SplitView, open_dataset
from ..errors import DatasetError, LabelAccessError


class Pair(NamedTuple):
    """One label-free sample: what a radar + camera rig records."""

    radar: Any
    image: Any
    mask: Any


class LabelledPair(NamedTuple):
    """One sample with its ground-truth target (range [m], azimuth [rad]) of the target car's box centre."""

    radar: Any
    image: Any
    mask: Any
    target: Any


class PairedDataset(torch.utils.data.Dataset):
    """Samples of one split of a store as tensors; see the module docstring for shapes and units.

    Args:
        data: a store path or an opened ``Dataset``.
        split: ``train``, ``val`` or ``test``.
        labels: ``True`` adds the ground-truth ``target``; ``False`` is the label-free view (no target,
            ``target()``/``targets()`` raise ``LabelAccessError``).
        transform: called on each ``Pair``/``LabelledPair`` (e.g. augmentation); its result is returned.
        normalise: tensors as pretraining sees them (default), or the stored values (see the module doc).
        indices: a subset of the split's sample indices (default: all, in order).
        targets: [N_split, 2] polar targets to serve instead of ground truth, e.g. self-labels
            (``radiovisual.load_labels``); the view stays label-free unless ``labels=True``.
    """

    def __init__(self, data: str | Path | Dataset, split: str = "train", labels: bool = True,
                 transform: Callable[[Any], Any] | None = None, normalise: bool = True,
                 indices: Sequence[int] | None = None, targets: np.ndarray | None = None):
        self.path = Path(data.path if isinstance(data, Dataset) else data)
        ds = open_dataset(self.path, labels=labels)      # one clear line on a missing or incomplete store
        sv = ds.split(split)
        n = len(sv)
        self.split, self.labels, self.transform, self.normalise = split, bool(labels), transform, bool(normalise)
        self.indices = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64).ravel()
        if len(self.indices) and (self.indices.min() < -n or self.indices.max() >= n):
            raise DatasetError(f"indices must lie in [0, {n}) for split '{split}' of {self.path}")
        self._targets = None
        if targets is not None:
            self._targets = np.asarray(targets, dtype=np.float32)
            if self._targets.shape != (n, 2):
                raise DatasetError(f"targets must be [{n}, 2] (range m, azimuth rad) for split '{split}', "
                                   f"got {list(self._targets.shape)}")
        self.range_bins_m = ds.range_bins_m
        self.azimuth_bins_rad = ds.azimuth_bins_rad
        self._view: SplitView | None = None
        self._pid: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["_view"] = None      # never ship an open zarr handle to another process
        return d

    def _split(self) -> SplitView:
        # (re)open per process: a forked or spawned DataLoader worker must not use its parent's zarr handle
        if self._view is None or self._pid != os.getpid():
            self._view = open_dataset(self.path, labels=self.labels).split(self.split)
            self._pid = os.getpid()
        return self._view

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Pair | LabelledPair:
        from ..pretrain.data import image_to_tensor, mask_to_tensor, radar_to_tensor

        k = int(self.indices[i])
        sv = self._split()
        radar, image, mask = sv.read("radar", k), sv.read("image", k), sv.read("mask", k)
        if self.normalise:
            r, im, m = radar_to_tensor(radar[None])[0], image_to_tensor(image[None])[0], mask_to_tensor(mask[None])[0]
        else:
            r, im, m = torch.from_numpy(np.ascontiguousarray(radar))[None], torch.from_numpy(image), \
                torch.from_numpy(np.asarray(mask, bool))
        sample: Pair | LabelledPair = Pair(r, im, m)
        if self._targets is not None:
            sample = LabelledPair(r, im, m, torch.from_numpy(self._targets[k].copy()))
        elif self.labels:
            sample = LabelledPair(r, im, m, torch.from_numpy(sv.read("target_polar", k).astype(np.float32)))
        return self.transform(sample) if self.transform is not None else sample

    def target(self, i: int) -> np.ndarray:
        """Ground truth (range [m], azimuth [rad]) of item ``i``; ``LabelAccessError`` on a label-free view."""
        return self._split().read("target_polar", int(self.indices[i])).astype(np.float64)

    def targets(self) -> np.ndarray:
        """[len(self), 2] ground truth of every item; ``LabelAccessError`` on a label-free view."""
        if not self.labels:
            raise LabelAccessError(f"label-free PairedDataset of split '{self.split}' has no targets "
                                   "(open it with labels=True, for supervised training or scoring only)")
        return self._split().read("target_polar")[self.indices].astype(np.float64)

    def radar(self) -> np.ndarray:
        """[len(self), R, A] dB heatmaps of every item, as stored (for ``radiovisual.predict``)."""
        return self._split().read("radar")[self.indices]

    def __repr__(self) -> str:
        return (f"PairedDataset({str(self.path)!r}, split={self.split!r}, n={len(self)}, labels={self.labels}, "
                f"normalise={self.normalise})")
