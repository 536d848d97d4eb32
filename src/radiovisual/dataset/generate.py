"""Old import path of ``radiovisual.dataset.synthesis.generate``:
the module moved in the dataset/ split, and this name is the same module object."""

import sys

from .synthesis import generate as _moved

sys.modules[__name__] = _moved
