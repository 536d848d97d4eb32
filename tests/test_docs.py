"""docs/python.md runs: every ```python block, in order, in one namespace, on the shared smoke benchmark."""

from __future__ import annotations

import os
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "python.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_python_quickstart_runs(smoke_bench, tmp_path, capsys):
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) >= 6, "the quickstart lost its code blocks"
    # the page's paths: runs/smoke is the benchmark of its bash block, runs/mine what the snippets write
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "smoke").symlink_to(smoke_bench.out, target_is_directory=True)
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        ns: dict = {"__name__": "__docs__"}
        for i, code in enumerate(blocks):
            exec(compile(code, f"{DOC.name}[block {i}]", "exec"), ns)
        rv = ns["rv"]
        # what the page claims holds: the resolved run is a kept seed run, predictions are polar, the tuned run
        # is a run that predict reads (the page's paths are relative to its working directory)
        assert re.fullmatch(r"seed0(-retry\d+)?", ns["run"].path.name)
        assert ns["pred"].shape == (len(ns["radar"]), 2)
        assert ns["labels"].shape == (len(ns["train"]), 2)
        assert rv.predict(ns["tuned"], ns["radar"]).shape == ns["pred"].shape
    finally:
        os.chdir(here)
    out = capsys.readouterr().out
    assert "refused:" in out and "loss after 5 steps" in out and "health check passed" in out
