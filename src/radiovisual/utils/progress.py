"""Progress bars that suit where they are written: tqdm on a terminal, log lines elsewhere.

In a log file or a pipe a redrawing bar leaves thousands of carriage-return updates per stage. ``tqdm`` here
is a drop-in ``tqdm.tqdm`` that, when its stream is not a terminal, writes one plain line each time the count
crosses another ``LOG_STEP_PCT`` % (every ``LOG_EVERY_S`` seconds without a total) and a last line when it
closes. ``RADIOVISUAL_PROGRESS=bar`` or ``=log`` forces either form.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from tqdm import tqdm as _tqdm

LOG_STEP_PCT = 10
LOG_EVERY_S = 30.0


def _is_terminal(fp: Any) -> bool:
    mode = os.environ.get("RADIOVISUAL_PROGRESS", "").lower()
    if mode in ("bar", "log"):
        return mode == "bar"
    try:
        return bool(fp.isatty())
    except (AttributeError, ValueError):
        return False


class tqdm(_tqdm):  # noqa: N801 - the name of the class it replaces
    """``tqdm.tqdm`` with a line-per-step form off a terminal (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any):
        fp = kwargs.get("file") or sys.stderr
        self._log = not _is_terminal(fp)
        self._logged_step, self._logged_n, self._logged_t = -1, None, 0.0
        if self._log:
            kwargs["mininterval"] = 0          # every update reaches display(), which decides whether to print
            kwargs.pop("dynamic_ncols", None)    # no terminal width to follow
            kwargs.setdefault("ascii", True)     # plain characters in a log file
        super().__init__(*args, **kwargs)

    def _emit(self) -> None:
        self.fp.write(self.__str__().strip() + "\n")
        self.fp.flush()
        self._logged_n, self._logged_t = self.n, time.monotonic()

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if not self._log:
            return super().display(msg, pos)
        if msg == "":                            # a request to clear the bar: nothing to clear in a log
            return False
        if self.total:
            step = int(100 * self.n / self.total) // LOG_STEP_PCT
            if step > self._logged_step:
                self._logged_step = step
                self._emit()
        elif self._logged_n is None or time.monotonic() - self._logged_t >= LOG_EVERY_S:
            self._emit()
        return True

    def close(self) -> None:
        if self._log and not getattr(self, "disable", True):
            if self._logged_n != self.n and hasattr(self, "sp"):
                self._emit()                     # the final count, once
            self.sp = None                       # makes the base close skip its redraw and newline
        super().close()
