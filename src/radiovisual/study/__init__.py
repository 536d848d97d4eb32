"""The paper's §6.2 ablations as one-command studies (``radiovisual study NAME``; ``docs/studies.md``).

It composes ``pipeline`` (the benchmark's stages and config tree), so it sits beside it; nothing imports it.
``config.py``: ``StudyConfig`` (``study.*`` keys) and ``build_study_config``; ``points.py``: one point = the
benchmark's stages under a few overrides; ``studies.py``: the five studies; ``report.py``: study.json, figures,
study.html; ``run.py``: ``run_study``.
"""

from .config import STUDIES, STUDY_PRESETS, StudyConfig, build_study_config
from .run import run_study

__all__ = ["STUDIES", "STUDY_PRESETS", "StudyConfig", "build_study_config", "run_study"]
