"""Old import path of ``radiovisual.dataset.synthesis.synth``:
the module moved in the dataset/ split, and this name is the same module object."""

import sys

from .synthesis import synth as _moved

sys.modules[__name__] = _moved
