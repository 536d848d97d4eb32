"""Radio-only localiser (paper §4.3): ``train_localiser``, ``predict``, ``load_localiser``; and the multi-object
radar detector (issue 20, docs/detection.md): ``train_detector``, ``predict_detections``, ``load_detector``.

Label-free: scoring against ground truth is ``radiovisual.evaluate.score.score_localiser``.
"""

from .config import LOCALISE_PRESETS, LocaliserConfig, resolve_localise_config
from .detect_train import load_detector, predict_detections, train_detector
from .detector import RadarDetector
from .detector_config import DETECTOR_PRESETS, DetectorConfig, resolve_detector_config
from .train import load_eager, load_frozen, load_localiser, predict, train_localiser

__all__ = ["LocaliserConfig", "LOCALISE_PRESETS", "resolve_localise_config", "train_localiser", "predict",
           "load_localiser", "load_frozen", "load_eager", "DetectorConfig", "DETECTOR_PRESETS",
           "resolve_detector_config", "RadarDetector", "train_detector", "predict_detections", "load_detector"]
