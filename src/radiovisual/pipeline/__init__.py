"""The pipeline behind ``radiovisual benchmark``: synthesise -> pretrain -> self-label -> localise -> baselines ->
evaluate -> report, as a composition of stages (the speed scripts are ``benchmarks/``, a different thing).

``config.py``: ``BenchmarkConfig``, one tree that nests every stage's config, and ``build_benchmark_config``;
``run.py``: ``run_benchmark``. Every stage is a ``StageDir`` (``utils/stage.py``): re-running reuses finished
stages with the same key and refuses changed ones. Ground truth is read only (a) to train the Supervised upper
bound, (b) by the genie-aided CFAR baseline, and (c) to score predictions on the validation split.
"""

from .config import BASELINES, LABEL_FREE, BenchmarkConfig, build_benchmark_config

__all__ = ["BenchmarkConfig", "LABEL_FREE", "BASELINES", "build_benchmark_config"]
