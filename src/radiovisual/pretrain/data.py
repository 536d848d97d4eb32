"""Train-split pairs -> normalised tensors, in memory or lazily from zarr in spawned workers.

Normalisation (used identically by training, self-labelling and anything that loads the
backbones):
* radar dB heatmap x [R, A] -> (x - median(x)) / RADAR_SCALE_DB, i.e. dB above the
  per-sample noise floor in units of 10 dB (the median of a sparse heatmap is its floor).
* image uint8 -> (x / 255 - 0.5) / 0.25, channels first.
* mask gamma: bool -> float {0, 1}, dilated (pad_px > 0) or eroded (pad_px < 0) by |pad_px|
  pixels with a square (Chebyshev) structuring element; pixels outside the image count as
  unknown, so a mask touching the border is not eroded from that side.

zarr's async event loop does not survive ``fork``; the lazy path therefore opens the store
inside each worker on first use and its DataLoader uses the ``spawn`` context.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..detect.masks import PRED_BOX_PREFIX, check_pred_masks, pred_store, read_pred_boxes, read_pred_masks
from ..errors import DatasetError

RADAR_SCALE_DB = 10.0


def radar_to_tensor(radar: np.ndarray) -> torch.Tensor:
    """float32 [N, R, A] dB -> float32 [N, 1, R, A]: (x - per-sample median) / 10 dB."""
    x = torch.as_tensor(np.asarray(radar, dtype=np.float32))
    if x.ndim != 3:
        raise DatasetError(f"radar must be [N, R, A], got shape {tuple(x.shape)}")
    med = x.flatten(1).median(dim=1).values.view(-1, 1, 1)
    return ((x - med) / RADAR_SCALE_DB).unsqueeze(1).contiguous()


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float32 [N, 3, H, W] in about [-2, 2]."""
    x = torch.as_tensor(np.asarray(image))
    if x.ndim != 4 or x.shape[-1] != 3:
        raise DatasetError(f"image must be [N, H, W, 3], got shape {tuple(x.shape)}")
    return ((x.permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.25).contiguous()


def mask_to_tensor(mask: np.ndarray, pad_px: int = 0) -> torch.Tensor:
    """bool [N, H, W] -> float32 [N, 1, H, W] gamma; +pad_px dilates, -pad_px erodes [pixels]."""
    m = torch.as_tensor(np.asarray(mask, dtype=bool)).float()
    if m.ndim != 3:
        raise DatasetError(f"mask must be [N, H, W], got shape {tuple(m.shape)}")
    m = m.unsqueeze(1)
    p = abs(int(pad_px))
    if p == 0:
        return m.contiguous()
    if pad_px > 0:   # max-pool padding is -inf, so outside pixels never add foreground
        return F.max_pool2d(m, 2 * p + 1, stride=1, padding=p)
    return 1.0 - F.max_pool2d(1.0 - m, 2 * p + 1, stride=1, padding=p)


def bbox_to_mask(bbox: np.ndarray, H: int, W: int) -> np.ndarray:
    """float [N, 4] (x0, y0, x1, y1 inclusive px) -> bool [N, H, W] filled boxes (NaN/empty -> empty)."""
    bbox = np.asarray(bbox, dtype=np.float64)
    out = np.zeros((len(bbox), H, W), bool)
    for i, (x0, y0, x1, y1) in enumerate(bbox):
        if not np.all(np.isfinite([x0, y0, x1, y1])) or x1 < x0 or y1 < y0:
            continue
        out[i, max(0, int(np.floor(y0))):min(H, int(np.floor(y1)) + 1),
            max(0, int(np.floor(x0))):min(W, int(np.floor(x1)) + 1)] = True
    return out


def to_batch(radar: np.ndarray, image: np.ndarray, mask: np.ndarray | None, pad_px: int) -> dict[str, Any]:
    out: dict[str, Any] = {"radar": radar_to_tensor(radar), "image": image_to_tensor(image)}
    if mask is not None:
        out["gamma"] = mask_to_tensor(mask, pad_px)
    return out


def check_split(split: Any, masked: bool, mask_source: str) -> dict[str, Any]:
    """Validate shapes of a train SplitView; return {n, radar_shape, image_shape}."""
    pred = masked and pred_store(mask_source) is not None   # detector masks store (radiovisual.detect)
    need = {"instances": ("mask", "instance_mask")}.get(mask_source, (mask_source,))
    for name in ("radar", "image") + (need if masked and not pred else ()):
        if name not in split:
            raise DatasetError(f"split '{split.name}' has no '{name}' array, needed for this method")
    n = len(split)
    rs, ims = split.shape("radar"), split.shape("image")
    if len(rs) != 3 or len(ims) != 4 or ims[-1] != 3 or ims[0] != n:
        raise DatasetError(f"mismatched shapes: radar {rs} (want [N,R,A]), image {ims} (want [N,H,W,3])")
    if pred:
        check_pred_masks(pred_store(mask_source), split.name, (n,) + tuple(ims[1:3]))
    elif masked:
        ms = split.shape("mask" if mask_source == "instances" else mask_source)
        want = (n,) + tuple(ims[1:3]) if mask_source in ("mask", "instances") else (n, 4)
        if tuple(ms) != want:
            raise DatasetError(f"mismatched shapes: {mask_source} {ms} but image {ims} (want {want})")
    return {"n": n, "radar_shape": tuple(rs[1:]), "image_shape": tuple(ims[1:])}


def read_masks(split: Any, idx: Any, mask_source: str, hw: tuple[int, int]) -> np.ndarray:
    """The primary target's masks of ``idx`` (``instances``: the primary's, instance 1 = ``mask``; pretraining
    pairs every instance through ``instance_items``, the read-out of the primary target reads this)."""
    if mask_source in ("mask", "instances"):
        return split.read("mask", idx)
    path = pred_store(mask_source)   # "pred:PATH" / "pred-bbox:PATH": a `radiovisual detect predict` store
    if path is not None and mask_source.startswith(PRED_BOX_PREFIX):
        return bbox_to_mask(read_pred_boxes(path, split.name, idx), *hw)
    if path is not None:
        return read_pred_masks(path, split.name, idx)
    return bbox_to_mask(split.read("bbox", idx), *hw)


def usable_indices(split: Any, mask_source: str, pad_px: int, hw: tuple[int, int], block: int = 256) -> np.ndarray:
    """Indices whose (padded) target mask is non-empty: masked methods cannot use the others."""
    keep = []
    for s in range(0, len(split), block):
        sl = slice(s, min(len(split), s + block))
        g = mask_to_tensor(read_masks(split, sl, mask_source, hw), pad_px)
        keep.append(np.nonzero(g.flatten(1).amax(dim=1).numpy() > 0)[0] + s)
    return np.concatenate(keep) if keep else np.zeros(0, np.int64)


def instance_items(split: Any, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``mask_source=instances``: (frame [M], instance id [M]) of every object the camera sees, in frame order.

    Several positives per frame (issue 20): the radar map is paired with each visible object's mask in turn, so
    the per-bin MIL score learns every object class the camera sees; objects the camera does not see form no
    pair (they are in the radar map, and nothing asks the model to match or reject them)."""
    frames, ids = [], []
    for s in range(0, len(split), block):
        inst = split.read("instance_mask", slice(s, min(len(split), s + block)))
        for j in range(1, int(inst.max()) + 1 if inst.size else 1):
            f = np.nonzero((inst == j).any(axis=(1, 2)))[0]
            frames.append(f + s)
            ids.append(np.full(len(f), j))
    if not frames:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    f, i = np.concatenate(frames), np.concatenate(ids)
    order = np.lexsort((i, f))
    return f[order].astype(np.int64), i[order].astype(np.int64)


def schedule(n_items: int, batch: int, seed: int, epoch: int) -> np.ndarray:
    """[steps, batch] positions into the usable-index list for one epoch (drop last partial batch)."""
    perm = np.random.default_rng([seed, epoch]).permutation(n_items)
    steps = n_items // batch
    return perm[: steps * batch].reshape(steps, batch)


class LazyPairs(torch.utils.data.Dataset):
    """Reads one sample from zarr per item; the store is opened on first use in each worker."""

    def __init__(self, path: str, indices: np.ndarray, masked: bool, mask_source: str, hw: tuple[int, int],
                 instance_ids: np.ndarray | None = None):
        self.path, self.indices, self.masked, self.mask_source, self.hw = path, indices, masked, mask_source, hw
        self.instance_ids = instance_ids    # mask_source=instances: item k is object instance_ids[k] of its frame
        self._split = None

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_split"] = None  # never ship an open zarr handle to another process
        return d

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, pos: int):
        if self._split is None:
            from ..dataset.format import open_dataset

            self._split = open_dataset(self.path, labels=False).split("train")
        i = int(self.indices[pos])
        if self.instance_ids is not None:
            m = self._split.read("instance_mask", i) == self.instance_ids[pos]
        else:
            m = read_masks(self._split, slice(i, i + 1), self.mask_source, self.hw)[0] if self.masked else None
        return self._split.read("radar", i), self._split.read("image", i), m


class _Collate:
    def __init__(self, pad_px: int):
        self.pad_px = pad_px

    def __call__(self, items):
        radar = np.stack([a for a, _, _ in items])
        image = np.stack([b for _, b, _ in items])
        mask = None if items[0][2] is None else np.stack([c for _, _, c in items])
        return to_batch(radar, image, mask, self.pad_px)


class _Schedule(torch.utils.data.Sampler):
    def __init__(self, batches: list[np.ndarray]):
        self.batches = batches

    def __iter__(self):
        return (b.tolist() for b in self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class PairSource:
    """Yields this rank's slice of each global batch from ``start_step`` on, deterministically."""

    def __init__(self, ds: Any, path: str | Path, masked: bool, mask_source: str, pad_px: int,
                 in_memory: bool, num_workers: int):
        split = ds.split("train")
        info = check_split(split, masked, mask_source)
        self.hw = info["image_shape"][:2]
        self.path, self.masked, self.mask_source, self.pad_px = str(path), masked, mask_source, pad_px
        self.in_memory, self.num_workers = in_memory, num_workers
        self.instance_ids = None
        if masked and mask_source == "instances":
            self.indices, self.instance_ids = instance_items(split)
        else:
            self.indices = (usable_indices(split, mask_source, pad_px, self.hw) if masked
                            else np.arange(info["n"]))
        self.info = info
        if in_memory:
            self.radar = split.read("radar")
            self.image = split.read("image")
            self.mask = (split.read("instance_mask") if self.instance_ids is not None else
                         read_masks(split, slice(None), mask_source, self.hw) if masked else None)

    def __len__(self) -> int:
        return len(self.indices)

    def batches(self, global_batch: int, seed: int, start_step: int, total_steps: int,
                rank: int, world: int) -> Iterator[dict[str, Any]]:
        per_epoch = len(self.indices) // global_batch
        local = global_batch // world
        plan = []
        for step in range(start_step, total_steps):
            epoch, k = divmod(step, per_epoch)
            if not plan or plan[-1][0] != epoch:
                sched = schedule(len(self.indices), global_batch, seed, epoch)
            plan.append((epoch, sched[k, rank * local:(rank + 1) * local]))
        if self.in_memory:
            for _, pos in plan:
                idx = self.indices[pos]
                mask = None if self.mask is None else self.mask[idx]
                if self.instance_ids is not None:
                    mask = mask == self.instance_ids[pos][:, None, None]
                yield to_batch(self.radar[idx], self.image[idx], mask, self.pad_px)
            return
        dset = LazyPairs(self.path, self.indices, self.masked, self.mask_source, self.hw, self.instance_ids)
        kw: dict[str, Any] = {}
        if self.num_workers > 0:
            import multiprocessing as mp

            kw = {"num_workers": self.num_workers, "multiprocessing_context": mp.get_context("spawn"),
                  "persistent_workers": False, "prefetch_factor": 2}
        loader = torch.utils.data.DataLoader(dset, batch_sampler=_Schedule([p for _, p in plan]),
                                             collate_fn=_Collate(self.pad_px), **kw)
        yield from loader
