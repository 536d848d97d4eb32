"""End-to-end benchmark: synthesise -> pretrain -> self-label -> localise -> baselines -> evaluate -> report.

Every stage writes atomically and records a ``done.json``; re-running the benchmark reuses
finished stages whose configuration matches. Ground truth is read only (a) to train the
Supervised upper bound, (b) by the genie-aided CFAR baseline, and (c) to score predictions
on the validation split. See ``run.py``.
"""

from .config import BASELINES, LABEL_FREE, BenchmarkConfig

__all__ = ["BenchmarkConfig", "LABEL_FREE", "BASELINES"]
