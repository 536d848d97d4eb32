"""Old import path of ``radiovisual.dataset.store.format``:
the module moved in the dataset/ split, and this name is the same module object."""

import sys

from .store import format as _moved

sys.modules[__name__] = _moved
