"""Old import path of ``radiovisual.dataset.cruw.radar``:
the module moved in the dataset/ split, and this name is the same module object."""

import sys

from .cruw import radar as _moved

sys.modules[__name__] = _moved
