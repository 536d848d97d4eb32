"""Radio-visual self-supervised pretraining: MCL (per-bin MIL, default), MCL-paper (literal Eq. 1), SCL, CL, CLIP.

Public API: ``run_pretrain(data, method, out, ...)`` and ``load_backbones(run)``;
tensors conventions in ``pretrain.data``, feature geometry in ``pretrain.backbones``.
torch is imported lazily (inside the functions), so importing this package is cheap.
"""

from .config import METHODS, PRETRAIN_PRESETS, PretrainConfig, resolve_pretrain_config
from .train import Backbones, load_backbones, load_method, run_pretrain

__all__ = ["Backbones", "METHODS", "PRETRAIN_PRESETS", "PretrainConfig", "resolve_pretrain_config", "load_backbones", "load_method",
           "run_pretrain"]
