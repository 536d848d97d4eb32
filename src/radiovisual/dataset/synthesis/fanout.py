"""Fan synthesis out over a Dask distributed cluster (``synth --workers N`` / ``--scheduler ADDR``).

One Dask task = one sequence (the unit of staging and of resume). A task stages its sequence
atomically exactly like the serial path (``staging.save_staged``), and skips a sequence that is
already validly staged, so

* the bytes of the packed store do not depend on workers, order or failures (each sequence's
  RNG depends only on (seed, scenario, split, seq_id); packing is in canonical order);
* a worker killed mid-task loses at most its current sequence: Dask reschedules the task on
  another worker, which regenerates it (an atomic rename means there is never a torn or a
  duplicated file);
* a task that raises stops the run with one line naming the sequence; everything staged so far
  stays, and the same command resumes.

The simulators are built once per worker process (``_generator``), as in the serial path.
Connecting happens before anything is written: an unreachable scheduler leaves no trace.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from ...config import fingerprint, from_dict, to_dict
from ...errors import RadiovisualError
from .config import SynthConfig

CONNECT_TIMEOUT_S = float(os.environ.get("RADIOVISUAL_DASK_TIMEOUT_S", "10"))
_GENERATORS: dict[tuple, Any] = {}  # per worker process: (fingerprint, out, class) -> SequenceGenerator


def connect(workers: int | None, scheduler: str | None):
    """(client, cluster or None): a LocalCluster of ``workers`` processes, or the running cluster
    at ``scheduler``. One-line RadiovisualError if the scheduler cannot be reached."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise RadiovisualError(f"--workers/--scheduler need dask.distributed ({e}); run `make setup`") from None
    # a failing task is reported once, as one line, by stage_distributed; not as worker tracebacks
    for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if scheduler:
        try:
            return Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s"), None
        except (OSError, TimeoutError, ValueError) as e:
            raise RadiovisualError(f"cannot reach the Dask scheduler at {scheduler} "
                                   f"({type(e).__name__} after {CONNECT_TIMEOUT_S:g} s); is `dask scheduler` "
                                   "running and the address right?") from None
    n = int(workers or 1)
    if n < 1:
        raise RadiovisualError(f"--workers must be >= 1, got {n}")
    # One thread per worker process: Dr.Jit parallelises inside a process, Python does not.
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.CRITICAL)
    return Client(cluster), cluster


def _generator(cfg_dict: dict, out: str, threads: int | None):
    from .. import generate

    cfg = from_dict(SynthConfig, cfg_dict)
    key = (fingerprint(cfg), out, generate.SequenceGenerator)
    gen = _GENERATORS.get(key)
    if gen is None:
        if threads:
            from ...utils.env import ensure_llvm

            ensure_llvm()
            import drjit as dr

            dr.set_thread_count(int(threads))
        cache = Path(out) / ".staging" / "cache" / f"{socket.gethostname()}-{os.getpid()}"
        gen = generate.SequenceGenerator(cfg, cache)
        _GENERATORS.clear()
        _GENERATORS[key] = gen
    return gen


def run_sequence(cfg_dict: dict, out: str, split: str, seq_id: int, threads: int | None = None) -> int:
    """Dask task: stage one sequence (no-op if already validly staged). Returns its sample count."""
    from .staging import load_staged, save_staged, staged_path

    cfg = from_dict(SynthConfig, cfg_dict)
    fp = fingerprint(cfg)
    p = staged_path(Path(out), split, seq_id)
    if p.is_file() and (got := load_staged(p, full=False)) is not None and got[1].get("fingerprint") == fp:
        return cfg.scene.n_frames
    gen = _generator(cfg_dict, out, threads)
    arrays = gen.generate(split, seq_id)
    save_staged(p, arrays, {"split": split, "seq_id": seq_id, "fingerprint": fp, "attrs": gen.attrs()})
    return cfg.scene.n_frames


def stage_distributed(cfg: SynthConfig, out: Path, todo: list[tuple[str, int]], done_samples: int,
                      total_samples: int, client, local: bool, progress: bool) -> None:
    """Stage ``todo`` [(split, seq_id)] on a Dask cluster with one progress bar (rate, ETA)."""
    from distributed import as_completed
    from ...utils.progress import tqdm

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    # a LocalCluster shares this machine's cores between its workers
    threads = max(1, (os.cpu_count() or 1) // n_workers) if local else None
    cfg_dict = to_dict(cfg)
    fp = fingerprint(cfg)
    futures = {}
    for s, i in todo:
        f = client.submit(run_sequence, cfg_dict, str(out), s, i, threads, pure=False,
                          key=f"rv-synth-{fp}-{s}-{i:06d}")
        futures[f] = (s, i)
    bar = tqdm(total=total_samples, initial=done_samples, unit="sample", file=sys.stderr,
               disable=not progress, dynamic_ncols=True, smoothing=0.1,
               desc=f"synth {cfg.scenario} ({n_workers} Dask workers)")
    try:
        for f in as_completed(list(futures)):
            s, i = futures[f]
            if f.status != "finished":
                try:
                    f.result()
                    err = "cancelled"
                except Exception as e:  # the worker's exception, re-raised here
                    err = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                for g in futures:
                    g.cancel()
                raise RadiovisualError(f"{s} sequence {i} failed on a Dask worker ({err}); finished "
                                       "sequences are staged, re-run the same command to resume")
            bar.update(f.result())
    finally:
        bar.close()
