"""The radiovisual dataset format, version 1 (zarr v3). See ``docs/dataset-format.md``.

A store is a zarr group with one subgroup per split (``train``, ``val``, ``test``).
Arrays are chunked one sample per chunk along N and grouped into shards.
``complete`` is written last; readers refuse an incomplete store unless asked.

Honesty guard: ``open_dataset(..., labels=False)`` returns a view on which reading any
of ``GT_ARRAYS`` raises ``LabelAccessError``. Every label-free stage opens data that way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ...errors import DatasetError, LabelAccessError
from ...utils.io import jsonable
from ...utils.stage import stage_key

FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")

# name -> (dtype, trailing-shape description); N is the leading dimension.
REQUIRED_ARRAYS: dict[str, str] = {
    "radar": "float32",
    "image": "uint8",
    "mask": "bool",
    "bbox": "float32",
    "target_polar": "float32",
    "target_xy": "float32",
    "sequence": "int32",
    "frame": "int32",
}
OPTIONAL_ARRAYS: dict[str, str] = {
    "depth": "float32",
    "reflectors": "float32",
    "csi": "complex64",
    "range_doppler": "float32",
    "velocity": "float32",
    "car_model": "int32",
    "scenario_id": "int32",   # capture metadata: index into MIX_SCENARIOS + SCENARIOS_EXTRA (scene.layouts; -1: other)
    "radar_chirps": "complex64",   # [N, C, R, A] beamformed complex RA chirps (radio.cube_chirps)
    "radar_cube": "complex64",     # [N, D, K, antennas] raw CFR of every chirp (radio.cube_raw)
    "objects": "float32",          # [N, K, len(OBJECT_FIELDS)] road users (synthetic) / [N, K, 3] (CRUW)
    "instance_mask": "uint8",      # [N, H, W] camera instance ids: road user k -> k + 1, 0 = none
    "instance_class": "int8",      # [N, K] camera instance classes: class id of instance k + 1, -1 = not seen
    "weather": "float32",          # [N, 3] capture metadata: (kind id, rain [mm/h], fog LWC [g/m^3])
}
# Columns of a synthetic store's ``objects``: the first three are CRUW's (range, azimuth, class id), so
# every reader of imported real data reads them too. NaN-padded rows; visible = 1 when the camera sees
# at least one pixel of it; box = its instance mask's pixel bounds (u0, v0, u1, v1), NaN when not visible.
OBJECT_FIELDS = ("range_m", "azimuth_rad", "class_id", "instance", "x_m", "y_m", "vx_mps", "vy_mps",
                 "visible", "box_u0", "box_v0", "box_u1", "box_v1")
# Ground truth a real radar/camera rig would not have. Label-free methods never read these.
# "objects": all annotated objects of imported real data (CRUW), see docs/cruw.md.
# "car_model": index of the target car's model in the procedural family (scene.cars.car_model).
GT_ARRAYS = frozenset({"target_polar", "target_xy", "reflectors", "velocity", "depth", "objects", "car_model"})

SHARD_SAMPLES = 64


def _zarr():
    import zarr

    return zarr


def write_split(root: Any, split: str, arrays: Mapping[str, np.ndarray],
                shard_samples: int = SHARD_SAMPLES) -> None:
    """Write (overwrite) one split's arrays into an open zarr root group."""
    missing = [k for k in REQUIRED_ARRAYS if k not in arrays]
    if missing:
        raise DatasetError(f"split '{split}' lacks required arrays: {', '.join(missing)}")
    n = {len(a) for a in arrays.values()}
    if len(n) != 1:
        raise DatasetError(f"split '{split}': arrays disagree on N: { {k: len(v) for k, v in arrays.items()} }")
    g = root.require_group(split)
    for name, arr in arrays.items():
        want = REQUIRED_ARRAYS.get(name) or OPTIONAL_ARRAYS.get(name)
        arr = np.asarray(arr)
        if want is not None and arr.dtype != np.dtype(want):
            arr = arr.astype(want)
        N = arr.shape[0]
        chunks = (1,) + arr.shape[1:]
        shards = (max(1, min(shard_samples, N)),) + arr.shape[1:] if N > 0 else None
        a = g.create_array(name, shape=arr.shape, dtype=arr.dtype, chunks=chunks,
                           shards=shards, overwrite=True)
        if N:
            a[...] = arr


def create_root(path: str | Path, attrs: Mapping[str, Any]) -> Any:
    """Open (or create) the root group and set attributes; ``complete`` starts false."""
    zarr = _zarr()
    root = zarr.open_group(str(path), mode="a", zarr_format=3)
    a = dict(attrs)
    a.setdefault("format_version", FORMAT_VERSION)
    a["complete"] = False
    root.attrs.update(_jsonable(a))
    return root


def mark_complete(root: Any) -> None:
    root.attrs.update({"complete": True})


# The one JSON helper lives in utils.io; the old private name stays for existing importers.
_jsonable = jsonable


def _store_of(group: Any) -> str:
    store = getattr(group, "store", None)
    root = getattr(store, "root", None)
    return str(root) if root is not None else str(store)


def _sel_indices(sel: Any, n: int) -> list[int]:
    """Leading-axis sample indices touched by a ``read`` selection."""
    if isinstance(sel, tuple):
        sel = sel[0] if sel else slice(None)
    if isinstance(sel, slice):
        return list(range(n))[sel]
    return [int(i) % n if n else int(i) for i in np.atleast_1d(np.asarray(sel)).ravel()]


def damaged_indices(arr: Any, indices: Iterable[int] | None = None, first_only: bool = False,
                    block: int = SHARD_SAMPLES) -> list[int]:
    """Sample indices (leading axis) of ``arr`` whose chunk cannot be read back intact.

    Reads a block of samples at a time (one shard by default) and only probes sample by sample
    inside a block that fails, so a healthy store costs one pass over its bytes.
    """
    idx = list(range(arr.shape[0])) if indices is None else sorted(set(int(i) for i in indices))
    bad: list[int] = []
    for s in range(0, len(idx), block):
        part = idx[s:s + block]
        lo, hi = part[0], part[-1] + 1
        try:
            arr[lo:hi]
            continue
        except Exception:
            pass
        for i in part:
            try:
                arr[i]
            except Exception:
                bad.append(i)
                if first_only:
                    return bad
    return bad


@dataclass
class SplitView:
    """One split. ``read(name, sel)`` returns numpy; GT reads are refused when labels=False."""

    name: str
    group: Any
    labels: bool

    @property
    def arrays(self) -> list[str]:
        return sorted(k for k, _ in self.group.arrays())

    def __len__(self) -> int:
        return int(self.group["radar"].shape[0])

    def __contains__(self, name: str) -> bool:
        return name in self.arrays

    def array(self, name: str) -> Any:
        """The lazy zarr array (for chunked access); same label guard as ``read``."""
        if name in GT_ARRAYS and not self.labels:
            raise LabelAccessError(
                f"label-free code tried to read ground-truth array '{name}' of split '{self.name}'")
        if name not in self.arrays:
            raise DatasetError(f"split '{self.name}' has no array '{name}' (has: {', '.join(self.arrays)})")
        return self.group[name]

    def read(self, name: str, sel: Any = slice(None)) -> np.ndarray:
        """``name[sel]`` as numpy; a damaged chunk raises ``DatasetError`` naming store, array and index."""
        arr = self.array(name)
        try:
            return np.asarray(arr[sel])
        except (LabelAccessError, DatasetError, IndexError, TypeError, KeyboardInterrupt):
            raise
        except Exception as e:  # zarr/codec errors: checksum mismatch, truncated shard, bad zstd frame
            bad = damaged_indices(arr, _sel_indices(sel, arr.shape[0]), first_only=True)
            where = f"index {bad[0]}" if bad else f"selection {sel!r}"
            store = _store_of(self.group)
            raise DatasetError(f"{store}: array '{self.name}/{name}' is damaged at {where} "
                               f"({str(e).splitlines()[0][:60]}); `radiovisual info --verify {store}` "
                               "lists every damaged chunk") from None

    def shape(self, name: str) -> tuple[int, ...]:
        if name not in self.arrays:
            raise DatasetError(f"split '{self.name}' has no array '{name}'")
        return tuple(self.group[name].shape)


class Dataset:
    """A radiovisual store opened for reading. ``attrs`` is a plain dict."""

    def __init__(self, path: Path, root: Any, labels: bool):
        self.path = path
        self.root = root
        self.labels = labels
        self.attrs: dict[str, Any] = dict(root.attrs)

    @property
    def splits(self) -> list[str]:
        # Listing by path, not root.groups(): zarr warns about non-zarr files (DATASHEET.md) in the root.
        return [s for s in SPLITS if (self.path / s / "zarr.json").is_file()]

    def split(self, name: str) -> SplitView:
        if name not in self.splits:
            raise DatasetError(f"dataset {self.path} has no split '{name}' (has: {', '.join(self.splits) or 'none'})")
        return SplitView(name, self.root[name], self.labels)

    @property
    def range_bins_m(self) -> np.ndarray:
        return np.asarray(self.attrs["range_bins_m"], dtype=np.float64)

    @property
    def azimuth_bins_rad(self) -> np.ndarray:
        return np.asarray(self.attrs["azimuth_bins_rad"], dtype=np.float64)

    def fingerprint(self) -> dict[str, str]:
        """What a stage's key records about its dataset input: the resolved path and the
        synthesis config fingerprint (a hash of the root attributes when there is none)."""
        fp = self.attrs.get("config_fingerprint") or stage_key(self.attrs)
        return {"path": str(Path(self.path).resolve()), "fingerprint": str(fp)}

    def label_free(self) -> "Dataset":
        """The same store with the ground-truth guard on."""
        return Dataset(self.path, self.root, labels=False)


def open_dataset(path: str | Path, labels: bool = True, allow_incomplete: bool = False) -> Dataset:
    """Open a store read-only. Raises DatasetError with one clear line on any problem."""
    p = Path(path)
    if not (p / "zarr.json").is_file():
        raise DatasetError(f"{p} is not a radiovisual dataset (no zarr.json)")
    zarr = _zarr()
    try:
        root = zarr.open_group(str(p), mode="r", zarr_format=3)
    except Exception as e:
        raise DatasetError(f"cannot open {p}: {str(e).splitlines()[0]}") from None
    attrs = dict(root.attrs)
    ver = attrs.get("format_version")
    if ver != FORMAT_VERSION:
        raise DatasetError(f"{p}: format_version {ver!r} is not supported (this reader knows {FORMAT_VERSION})")
    if not attrs.get("complete", False) and not allow_incomplete:
        raise DatasetError(f"{p} is incomplete (synthesis did not finish); re-run the same synth command to resume it")
    ds = Dataset(p, root, labels)
    for s in ds.splits:
        g = root[s]
        have = {k for k, _ in g.arrays()}
        missing = [k for k in REQUIRED_ARRAYS if k not in have]
        if missing:
            raise DatasetError(f"{p}: split '{s}' lacks required arrays: {', '.join(missing)}")
    return ds


def polar_to_xy(polar: np.ndarray) -> np.ndarray:
    """[..., (range [m], azimuth [rad])] -> [..., (x right [m], y forward [m])]; x = r sin az, y = r cos az."""
    polar = np.asarray(polar, dtype=np.float64)
    r, az = polar[..., 0], polar[..., 1]
    return np.stack([r * np.sin(az), r * np.cos(az)], axis=-1)


def xy_to_polar(xy: np.ndarray) -> np.ndarray:
    xy = np.asarray(xy, dtype=np.float64)
    return np.stack([np.hypot(xy[..., 0], xy[..., 1]), np.arctan2(xy[..., 0], xy[..., 1])], axis=-1)


def polar_to_bins(polar: np.ndarray, range_bins_m: np.ndarray, azimuth_bins_rad: np.ndarray) -> np.ndarray:
    """Continuous (row, col) heatmap coordinates of polar points, by linear interpolation of bin centres."""
    polar = np.asarray(polar, dtype=np.float64)
    rows = np.interp(polar[..., 0], range_bins_m, np.arange(len(range_bins_m)))
    cols = np.interp(polar[..., 1], azimuth_bins_rad, np.arange(len(azimuth_bins_rad)))
    return np.stack([rows, cols], axis=-1)


def bins_to_polar(rc: np.ndarray, range_bins_m: np.ndarray, azimuth_bins_rad: np.ndarray) -> np.ndarray:
    """Inverse of ``polar_to_bins`` (fractional bins allowed)."""
    rc = np.asarray(rc, dtype=np.float64)
    r = np.interp(rc[..., 0], np.arange(len(range_bins_m)), range_bins_m)
    a = np.interp(rc[..., 1], np.arange(len(azimuth_bins_rad)), azimuth_bins_rad)
    return np.stack([r, a], axis=-1)


def iter_batches(n: int, batch: int) -> Iterable[slice]:
    for s in range(0, n, batch):
        yield slice(s, min(n, s + batch))
