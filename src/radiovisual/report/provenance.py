"""What a benchmark's numbers rest on: config hash, commit, date, machine (CPU model included: single-run
figures vary across processors), dataset, seeds. Stamped into ``metrics.json`` as ``provenance``."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from pathlib import Path
from typing import Any, Mapping


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def git_commit(where: Path | None = None) -> str:
    """Short commit of the radiovisual source tree, '+dirty' when tracked files differ; 'unknown' outside git."""
    src = where or Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(src), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        sha = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return sha + ("+dirty" if dirty else "")


def provenance(result: Mapping[str, Any]) -> dict[str, Any]:
    from .. import __version__
    from ..config import fingerprint

    return {"config_hash": fingerprint(dict(result.get("config", {}))), "commit": git_commit(),
            "radiovisual": __version__, "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu_model": cpu_model()}


def machine_line(result: Mapping[str, Any]) -> str:
    """'Intel(R) Xeon(R) ..., 2 cores, cpu, torch 2.13.0+cpu' (the machine the numbers come from)."""
    m, p = result.get("machine", {}), result.get("provenance", {})
    dev = m.get("device", "cpu")
    return (f"{p.get('cpu_model', 'unknown CPU')}, {m.get('cpu_count', '?')} cores"
            + (f", GPU {dev}" if dev and dev != "cpu" else ", no GPU") + f", torch {m.get('torch', '?')}")


def provenance_rows(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    p, m, d = result.get("provenance", {}), result.get("machine", {}), result.get("dataset", {})
    cfg = result.get("config", {})
    rows = [("Config hash", str(p.get("config_hash", "?"))), ("Commit", str(p.get("commit", "?"))),
            ("Date", str(p.get("date_utc", "?"))), ("Machine", machine_line(result)),
            ("Platform", f"{m.get('platform', '?')}, Python {m.get('python', '?')}"),
            ("Dataset", f"{d.get('path', '?')} (config {d.get('config_fingerprint', '?')})"),
            ("Seeds", f"{cfg.get('seeds', 1)} (master seed {cfg.get('seed', 0)})")]
    total = result.get("timings_s", {}).get("total")
    if total is not None:
        rows.append(("Wall time", f"{float(total):.0f} s in all"))
    return rows


def run_scenario(result: Mapping[str, Any], default: str = "?") -> str:
    """Scenario of the store a benchmark run used: metrics.json's ``dataset.scenario`` (a ``--data`` store's
    own), else read from the store when it is still there, else ``default`` (the config's)."""
    ds = result.get("dataset", {})
    if ds.get("scenario"):
        return str(ds["scenario"])
    try:
        import zarr

        return str(zarr.open_group(str(ds["path"]), mode="r").attrs.get("scenario") or default)
    except Exception:  # noqa: BLE001 - the store moved or is gone
        return default
