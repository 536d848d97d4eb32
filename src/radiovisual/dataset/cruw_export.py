"""Old import path of ``radiovisual.dataset.cruw.exporter``:
the module moved in the dataset/ split, and this name is the same module object."""

import sys

from .cruw import exporter as _moved

sys.modules[__name__] = _moved
