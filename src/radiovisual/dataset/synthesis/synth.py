"""Crash-safe, shardable synthesis of a paired radar/camera dataset. See ``docs/synthesis.md``.

Flow: ``synthesise`` checks/creates the root (``complete=false`` + resolved config +
fingerprint), then stages each finished sequence atomically as
``OUT/.staging/<split>/seq_<id:06d>.npz``. Any number of processes may stage into the same
OUT (``--shard K/N`` takes sequences with ``global_index % N == K``). Whoever finds every
sequence staged runs ``finalize``: pack in (split, seq_id) order into the zarr store, set
the attributes, verify, set ``complete=true``, delete the staging area. Every step is
idempotent, so a killed run is resumed by running the same command again, and the array
bytes never depend on interruption, order or sharding.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ...config import fingerprint, from_dict, to_dict
from ...errors import DatasetError, RadiovisualError
from ...utils.io import check_writable_dir, write_text
from .config import SynthConfig
from ..store.format import OPTIONAL_ARRAYS, REQUIRED_ARRAYS, SHARD_SAMPLES, SPLITS, create_root, mark_complete
from .generate import TARGET_POINT, check_sequence
# the staged-sequence files are shared with the Dask fan-out (``fanout.py``), so they live one level down
from .staging import STAGING, load_staged, save_staged, staged_path  # noqa: F401  (re-exported)

LOCK = ".finalize.lock"
SOFTWARE = ("radiovisual", "sionna-rt", "mitsuba", "drjit", "torch", "zarr", "numpy")


# ----------------------------------------------------------------------------- planning
@dataclass(frozen=True)
class Plan:
    """Sequences per split = ceil(split_size / n_frames); samples = sequences * n_frames."""

    n_frames: int
    sequences: dict[str, int]

    def items(self) -> Iterator[tuple[int, str, int]]:
        """(global_index, split, seq_id) in canonical (split, seq_id) order."""
        g = 0
        for s in SPLITS:
            for i in range(self.sequences.get(s, 0)):
                yield g, s, i
                g += 1

    @property
    def total_sequences(self) -> int:
        return sum(self.sequences.values())

    def samples(self, split: str) -> int:
        return self.sequences.get(split, 0) * self.n_frames


def make_plan(cfg: SynthConfig) -> Plan:
    T = cfg.scene.n_frames
    return Plan(T, {s: math.ceil(getattr(cfg.splits, s) / T) for s in SPLITS})


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N) with 0 <= K < N."""
    try:
        k, n = (int(p) for p in str(text).split("/"))
    except ValueError:
        raise RadiovisualError(f"--shard must look like K/N (e.g. 0/4), got '{text}'") from None
    if n < 1 or not 0 <= k < n:
        raise RadiovisualError(f"--shard K/N needs 0 <= K < N, got '{text}'")
    return k, n


def staged_progress(out: str | Path, plan: Plan) -> dict[str, tuple[int, int]]:
    """split -> (sequences staged, sequences planned)."""
    res = {}
    for s in SPLITS:
        n = plan.sequences.get(s, 0)
        res[s] = (sum(staged_path(Path(out), s, i).is_file() for i in range(n)), n)
    return res


# ----------------------------------------------------------------------------- store root
@contextmanager
def quiet_zarr() -> Iterator[None]:
    """Silence zarr's warning about non-zarr files in the root (``.staging``, ``DATASHEET.md``)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Object at .* is not recognized as a component")
        yield


def read_root_attrs(out: Path) -> dict[str, Any] | None:
    """Root attributes from ``zarr.json`` (None if absent); retried across concurrent rewrites."""
    p = Path(out) / "zarr.json"
    for attempt in range(20):
        if not p.is_file():
            return None
        try:
            meta = json.loads(p.read_text())
            return dict(meta.get("attributes", {}))
        except (json.JSONDecodeError, OSError):
            time.sleep(0.05 * (attempt + 1))
    raise DatasetError(f"{p} is not readable JSON")


def software_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in SOFTWARE:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def prepare_store(cfg: SynthConfig, out: str | Path) -> str:
    """Check or create the store root. Returns "new", "resume" or "complete"."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RadiovisualError(f"--out {out} exists and is not a directory")
    fp = fingerprint(cfg)
    attrs = read_root_attrs(out) if out.is_dir() else None
    if attrs is not None:
        if "config_fingerprint" not in attrs:
            raise DatasetError(f"{out} holds a zarr store that radiovisual synth did not make; use a new --out")
        if attrs["config_fingerprint"] != fp:
            raise DatasetError(f"existing store {out} (config {attrs['config_fingerprint']}, now {fp}) was made "
                               "with a different config; use a new --out or delete it")
        if attrs.get("complete"):
            return "complete"
        check_writable_dir(out)
        return "resume"
    if out.is_dir() and any(p.name != STAGING for p in out.iterdir()):
        raise DatasetError(f"--out {out} is a non-empty directory that is not a radiovisual store; "
                           "use a new --out or empty it")
    check_writable_dir(out)
    plan = make_plan(cfg)
    create_root(out, {
        "scenario": cfg.scenario, "config": to_dict(cfg), "config_fingerprint": fp,
        "target_point": TARGET_POINT, "software": software_versions(),
        "planned_sequences": plan.sequences, "frames_per_sequence": plan.n_frames,
        # the frame period, first-class next to T (also in config.scene): consumers need not dig for it
        "frame_dt_s": cfg.scene.frame_dt_s, "frame_rate_hz": 1.0 / cfg.scene.frame_dt_s,
    })
    return "new"


def synthesise(cfg: SynthConfig, out: str | Path, shard: tuple[int, int] = (0, 1), progress: bool = True,
               finalize_when_done: bool = True,
               make_generator: Callable[[SynthConfig, Path], Any] | None = None,
               workers: int | None = None, scheduler: str | None = None) -> Path:
    """Stage this shard's sequences (skipping valid staged ones), then finalize if all are staged.

    ``workers`` > 1 runs the sequences on a local Dask cluster of that many processes;
    ``scheduler`` ("tcp://host:8786") on a running Dask cluster (``dataset.fanout``). Either way
    the store's bytes are those of a serial run."""
    out = Path(out)
    k, n = shard
    if n < 1 or not 0 <= k < n:
        raise RadiovisualError(f"shard must satisfy 0 <= k < n, got {k}/{n}")
    if workers is not None and workers < 1:
        raise RadiovisualError(f"--workers must be >= 1, got {workers}")
    client = cluster = None
    if scheduler or (workers or 1) > 1:
        if make_generator is not None:
            raise RadiovisualError("make_generator cannot be used with Dask workers")
        from .fanout import connect

        client, cluster = connect(workers, scheduler)  # before anything is written
    try:
        state = prepare_store(cfg, out)
        if state == "complete":
            _cleanup(out)
            _log(progress, f"{out} is already complete; nothing to do")
            return out
        plan = make_plan(cfg)
        fp = fingerprint(cfg)
        mine = [(s, i) for g, s, i in plan.items() if g % n == k]
        todo = []
        for s, i in mine:
            p = staged_path(out, s, i)
            ok = p.is_file() and (got := load_staged(p, full=False)) is not None and got[1].get("fingerprint") == fp
            if not ok:
                todo.append((s, i))
        T = plan.n_frames
        if todo and client is not None:
            from .fanout import stage_distributed

            stage_distributed(cfg, out, todo, (len(mine) - len(todo)) * T, len(mine) * T, client,
                              local=cluster is not None, progress=progress)
        elif todo:
            _stage_serial(cfg, out, todo, mine, T, fp, (k, n), progress, make_generator)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    prog = staged_progress(out, plan)
    staged = sum(a for a, _ in prog.values())
    if staged < plan.total_sequences:
        _log(progress, f"shard {k}/{n} done; {staged}/{plan.total_sequences} sequences staged in {out}. "
                       f"Run the other shards, then `radiovisual merge {out}`.")
        return out
    if not finalize_when_done:
        _log(progress, f"all {staged} sequences staged; run `radiovisual merge {out}` to pack the store")
        return out
    try:
        return finalize(out, progress=progress)
    except _Busy:
        _log(progress, f"another process is finalizing {out}")
        return out


def _stage_serial(cfg, out: Path, todo, mine, T: int, fp: str, shard: tuple[int, int], progress: bool,
                  make_generator) -> None:
    from ...utils.progress import tqdm

    k, n = shard
    cache = out / STAGING / "cache" / f"{socket.gethostname()}-{os.getpid()}"
    if make_generator is None:
        from .generate import SequenceGenerator

        gen = SequenceGenerator(cfg, cache)
    else:
        gen = make_generator(cfg, cache)
    bar = tqdm(total=len(mine) * T, initial=(len(mine) - len(todo)) * T, unit="sample", file=sys.stderr,
               disable=not progress, dynamic_ncols=True, smoothing=0.1,
               desc=f"synth {cfg.scenario} shard {k}/{n}")
    try:
        for s, i in todo:
            arrays = gen.generate(s, i)
            save_staged(staged_path(out, s, i), arrays,
                        {"split": s, "seq_id": i, "fingerprint": fp, "attrs": gen.attrs()})
            bar.update(T)
    finally:
        bar.close()
        shutil.rmtree(cache, ignore_errors=True)


# ----------------------------------------------------------------------------- finalize
class _Busy(DatasetError):
    pass


def _log(enabled: bool, msg: str) -> None:
    if enabled:
        print(msg, file=sys.stderr)


def _cleanup(out: Path) -> None:
    shutil.rmtree(out / STAGING, ignore_errors=True)
    try:
        (out / LOCK).unlink()
    except OSError:
        pass


def finalize(out: str | Path, progress: bool = False) -> Path:
    """Pack every staged sequence into the zarr store, verify, mark complete, drop staging.

    Idempotent: safe to re-run after being killed at any point. One process at a time
    (an advisory lock; a second one raises)."""
    import fcntl

    out = Path(out)
    attrs = read_root_attrs(out)
    if attrs is None or "config_fingerprint" not in attrs:
        raise DatasetError(f"{out} is not a radiovisual synthesis store (no zarr.json with a config)")
    if attrs.get("complete"):
        _cleanup(out)
        return out
    fd = os.open(out / LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _Busy(f"another process is already finalizing {out}") from None
        attrs = read_root_attrs(out) or {}
        if attrs.get("complete"):
            _cleanup(out)
            return out
        _finalize_locked(out, attrs, progress)
    finally:
        os.close(fd)
    _cleanup(out)
    return out


def _finalize_locked(out: Path, attrs: dict[str, Any], progress: bool) -> None:
    import zarr

    from .datasheet import make_datasheet
    from ..store.format import _jsonable, open_dataset

    cfg = from_dict(SynthConfig, attrs["config"])
    if fingerprint(cfg) != attrs["config_fingerprint"]:
        raise DatasetError(f"{out}: stored config does not match its fingerprint (this radiovisual version "
                           "resolves it differently); re-synthesise into a new --out")
    plan = make_plan(cfg)
    missing = [staged_path(out, s, i) for _, s, i in plan.items() if not staged_path(out, s, i).is_file()]
    if missing:
        raise DatasetError(f"{out}: {len(missing)} of {plan.total_sequences} sequences are not staged yet "
                           f"(first: {missing[0].relative_to(out)}); run the missing synth shards first")
    root = zarr.open_group(str(out), mode="a", zarr_format=3)
    sensor_attrs: dict[str, Any] | None = None
    for s in SPLITS:
        if plan.sequences[s] == 0:
            continue
        files = [staged_path(out, s, i) for i in range(plan.sequences[s])]
        a = _pack_split(root, s, files, plan.n_frames, progress)
        sensor_attrs = sensor_attrs or a
    counts = {s: plan.samples(s) for s in SPLITS if plan.sequences[s]}
    final = dict(sensor_attrs or {})
    final.update({
        "splits": counts, "sequences": {s: plan.sequences[s] for s in counts},
        "frames_per_sequence": plan.n_frames, "software": software_versions(),
        "provenance": {"finalized_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    })
    final["target_distribution"] = _distribution(root, counts)
    sheet = make_datasheet({**attrs, **final})
    final["datasheet"] = sheet
    root.attrs.update(_jsonable(final))
    _verify(out, plan, open_dataset)
    write_text(out / "DATASHEET.md", sheet)
    mark_complete(root)


def _distribution(root: Any, counts: dict[str, int]) -> dict[str, Any]:
    """Per split: what the target's labels cover (``datasheet.target_distribution``), for the datasheet."""
    from .datasheet import object_distribution, target_distribution

    out = {}
    for s in counts:
        g = root[s]
        if "target_polar" in g and "velocity" in g:
            out[s] = target_distribution(g["target_polar"][...], g["velocity"][...])
            if "objects" in g:
                out[s]["objects"] = object_distribution(g["objects"][...], g["weather"][...] if "weather" in g else None)
    return out


def _pack_split(root: Any, split: str, files: list[Path], T: int, progress: bool) -> dict[str, Any]:
    """Stream staged sequences into the split's arrays, one whole shard of samples at a time.

    Layout identical to ``format.write_split`` (chunk = one sample, shard = SHARD_SAMPLES
    samples), but memory stays bounded by one shard instead of the whole split."""
    from ...utils.progress import tqdm

    N = len(files) * T
    first = _load_full(files[0])
    arrays0, meta0 = first
    g = root.require_group(split)
    specs: dict[str, tuple[np.dtype, tuple[int, ...]]] = {}
    dst = {}
    for name, arr in arrays0.items():
        want = REQUIRED_ARRAYS.get(name) or OPTIONAL_ARRAYS.get(name)
        dt = np.dtype(want) if want else arr.dtype
        specs[name] = (dt, arr.shape[1:])
        dst[name] = g.create_array(name, shape=(N,) + arr.shape[1:], dtype=dt, chunks=(1,) + arr.shape[1:],
                                   shards=(max(1, min(SHARD_SAMPLES, N)),) + arr.shape[1:], overwrite=True)
    buf: dict[str, list[np.ndarray]] = {k: [] for k in specs}
    held = 0
    written = 0

    def flush(m: int) -> None:
        nonlocal held, written
        for name, parts in buf.items():
            block = np.concatenate(parts) if len(parts) > 1 else parts[0]
            dst[name][written:written + m] = block[:m]
            buf[name] = [block[m:]] if len(block) > m else []
        held -= m
        written += m

    bar = tqdm(total=N, unit="sample", file=sys.stderr, disable=not progress, desc=f"pack {split}")
    for i, f in enumerate(files):
        arrays, _ = first if i == 0 else _load_full(f)
        if set(arrays) != set(specs):
            raise DatasetError(f"{f}: arrays {sorted(arrays)} differ from the first sequence's {sorted(specs)}")
        for name, arr in arrays.items():
            dt, tail = specs[name]
            if arr.shape != (T,) + tail:
                raise DatasetError(f"{f}: array '{name}' has shape {arr.shape}, expected {(T,) + tail}")
            buf[name].append(arr.astype(dt, copy=False))
        if not (arrays["sequence"] == i).all() or not (arrays["frame"] == np.arange(T)).all():
            raise DatasetError(f"{f}: sequence/frame ids do not match its file name")
        held += T
        while held >= SHARD_SAMPLES:
            flush(SHARD_SAMPLES)
        bar.update(T)
    if held:
        flush(held)
    bar.close()
    return meta0.get("attrs", {})


def _load_full(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    got = load_staged(path, full=True)
    if got is None:
        path.unlink(missing_ok=True)
        raise DatasetError(f"staged sequence {path} was corrupt and has been deleted; "
                           "re-run the synth command to regenerate it, then merge again")
    check_sequence(got[0], len(got[0]["frame"]), where=str(path))
    return got


def _verify(out: Path, plan: Plan, open_dataset: Callable) -> None:
    """Counts, shapes, ids and finite radar, read back from the store itself."""
    with quiet_zarr():
        ds = open_dataset(out, allow_incomplete=True)
        splits = {s: ds.split(s) for s in ds.splits}
    T = plan.n_frames
    for s in SPLITS:
        if plan.sequences[s] == 0:
            continue
        if s not in splits:
            raise DatasetError(f"verify: split '{s}' is missing")
        sv = splits[s]
        N = plan.samples(s)
        for name in sv.arrays:
            if sv.shape(name)[0] != N:
                raise DatasetError(f"verify {s}/{name}: {sv.shape(name)[0]} samples, expected {N}")
        if not (sv.read("sequence") == np.repeat(np.arange(plan.sequences[s]), T)).all() or \
                not (sv.read("frame") == np.tile(np.arange(T), plan.sequences[s])).all():
            raise DatasetError(f"verify {s}: sequence/frame ids are not in order")
        radar = sv.array("radar")
        for a in range(0, N, SHARD_SAMPLES):
            if not np.isfinite(radar[a:a + SHARD_SAMPLES]).all():
                raise DatasetError(f"verify {s}: non-finite radar values in samples {a}..{a + SHARD_SAMPLES - 1}")
