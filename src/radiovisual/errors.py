"""User-facing errors: the CLI prints ``radiovisual: error: <message>`` and exits non-zero."""


class RadiovisualError(Exception):
    """A problem with the user's input or environment, reported as one line."""

    exit_code = 2


class ConfigError(RadiovisualError):
    """Unknown key, bad value or impossible combination in a config."""


class DatasetError(RadiovisualError):
    """A dataset store is missing, incomplete, incompatible or malformed."""


class LabelAccessError(RadiovisualError):
    """A label-free code path tried to read ground truth (see ``dataset.format.GT_ARRAYS``)."""


class StageChangedError(RadiovisualError):
    """A stage's run directory holds work made with another config or other inputs (``--force`` replaces it)."""


class EvaluationError(RadiovisualError):
    """Input an evaluator refuses (e.g. confidence scores outside [0, 1], as cruw-devkit does)."""
