"""The stage contract: one run directory, one key, one resume policy (see ``docs/stages.md``).

A stage (``localise``, ``cfar``, ``rodnet``, ...) is ``run_<stage>(cfg, inputs, out) -> Path``
and keeps its state in a ``StageDir``:

* the **key** hashes the stage name, its resolved config and its input fingerprints (the data
  path and the dataset's config fingerprint included), so pointing an existing run directory
  at another dataset is a change, not a silent reuse;
* ``stage.json`` is written when work starts (it names the key and what it was made of);
  ``done.json`` is written atomically and LAST, so a crash between the outputs and the finish
  never leaves a directory that claims to be done;
* **one policy** when the config or the inputs differ from what the directory holds (done or
  half-done): ``StageChangedError``, one line naming what changed, unless ``force=True``
  (``--force`` on the CLI), which discards the old marker files and starts over.

Usage::

    sd = StageDir(out, "localise", cfg, {"data": ds.fingerprint(), "labels": lab_fp, "seed": 0}, force)
    if sd.done:
        return sd.path
    sd.begin()
    ...  # write outputs (atomically); resume files may use ``sd.key`` to check they belong here
    sd.finish({"epochs_run": 12})
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

from ..config import to_dict
from ..errors import RadiovisualError, StageChangedError
from .io import check_writable_dir, jsonable, write_json

__all__ = ["StageDir", "StageChangedError", "stage_key", "describe_change", "is_done"]

DONE = "done.json"
STARTED = "stage.json"


def stage_key(spec: Mapping[str, Any]) -> str:
    """Stable 16-hex-digit hash of a JSON-able spec (key order does not matter)."""
    blob = json.dumps(jsonable(spec), sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, Mapping):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out or {prefix[:-1]: {}}
    return {prefix[:-1]: d}


def _short(v: Any, n: int = 40) -> str:
    s = json.dumps(v, default=str) if not isinstance(v, str) else v
    return s if len(s) <= n else s[: n - 3] + "..."


def describe_change(old: Mapping[str, Any], new: Mapping[str, Any], limit: int = 3) -> str:
    """'config.epochs 20 -> 3, inputs.data.path /a -> /b' (the first ``limit`` differences)."""
    a, b = _flatten(jsonable(old)), _flatten(jsonable(new))
    diffs = [k for k in sorted(set(a) | set(b)) if a.get(k, "<unset>") != b.get(k, "<unset>")]
    parts = [f"{k} {_short(a.get(k, '<unset>'))} -> {_short(b.get(k, '<unset>'))}" for k in diffs[:limit]]
    if len(diffs) > limit:
        parts.append(f"and {len(diffs) - limit} more")
    return ", ".join(parts) or "the stage key (an older radiovisual version?)"


class StageDir:
    """A stage's run directory with a key, a done-check and an atomic finish."""

    def __init__(self, path: str | Path, stage: str, config: Any, inputs: Mapping[str, Any],
                 force: bool = False, version: int = 1):
        self.path = Path(path)
        self.stage = stage
        self.spec = {"stage": stage, "version": int(version), "config": jsonable(to_dict(config)),
                     "inputs": jsonable(dict(inputs))}
        self.key = stage_key(self.spec)
        self.force = force
        self._checked = False
        self._done = False

    # -------------------------------------------------------------------- state
    def _read(self, name: str) -> dict[str, Any] | None:
        p = self.path / name
        if not p.is_file():
            return None
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError):
            return {}  # unreadable marker: treat as "made by something else"
        return d if isinstance(d, dict) else {}

    def check(self) -> bool:
        """True when this directory is finished with the same key. Raises ``StageChangedError``
        if it holds (finished or partial) work of another key, unless ``force``."""
        self._checked = True
        for name in (DONE, STARTED):
            old = self._read(name)
            if old is None:
                continue
            if old.get("key") == self.key:
                if name == DONE:
                    self._done = True
                    return True
                continue  # our own unfinished work: resume it
            if not self.force:
                what = "finished" if name == DONE else "unfinished"
                change = (describe_change(old["spec"], self.spec) if isinstance(old.get("spec"), dict)
                          else "it has no stage spec: made by an older radiovisual or by hand")
                raise StageChangedError(f"{self.path} holds a {what} {old.get('stage', self.stage)} run made with a "
                                        f"different config or inputs ({change}); use --force to replace it "
                                        "or choose another --out")
            self._discard()
            return False
        return False

    @property
    def done(self) -> bool:
        return self._done if self._checked else self.check()

    def _discard(self) -> None:
        # Only the markers go: the stage's own resume files are keyed and ignored when stale.
        for name in (DONE, STARTED):
            (self.path / name).unlink(missing_ok=True)

    # -------------------------------------------------------------------- writing
    def begin(self) -> Path:
        """Create the directory and record what it is being made of (before any output)."""
        if not self._checked:
            self.check()
        check_writable_dir(self.path)
        (self.path / DONE).unlink(missing_ok=True)
        write_json(self.path / STARTED, {"stage": self.stage, "key": self.key, "spec": self.spec})
        return self.path

    def finish(self, summary: Mapping[str, Any] | None = None) -> Path:
        """Mark the stage done: ``done.json`` is written atomically, after every output."""
        write_json(self.path / DONE, {"stage": self.stage, "key": self.key, "spec": self.spec,
                                      **jsonable(dict(summary or {}), nan_to_none=False)})
        self._done = True
        return self.path

    def summary(self) -> dict[str, Any]:
        """The finished stage's ``done.json``."""
        d = self._read(DONE)
        if d is None or d.get("key") != self.key:
            raise RadiovisualError(f"{self.path} is not a finished {self.stage} run")
        return d


def is_done(path: str | Path) -> bool:
    """Whether ``path`` holds a finished stage of any key (for readers such as ``predict``)."""
    return (Path(path) / DONE).is_file()
