"""Old import path of ``radiovisual.dataset.store.inspect``:
the module moved in the dataset/ split, and this name is the same module object."""

import sys

from .store import inspect as _moved

sys.modules[__name__] = _moved
