"""Radio-only localiser (paper §4.3): ``train_localiser``, ``predict``, ``load_localiser``.

Label-free: scoring against ground truth is ``radiovisual.evaluate.score.score_localiser``.
"""

from .config import LOCALISE_PRESETS, LocaliserConfig, resolve_localise_config
from .train import load_eager, load_frozen, load_localiser, predict, train_localiser

__all__ = ["LocaliserConfig", "LOCALISE_PRESETS", "resolve_localise_config", "train_localiser", "predict",
           "load_localiser", "load_frozen", "load_eager"]
