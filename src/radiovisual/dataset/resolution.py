"""Old import path of ``radiovisual.dataset.store.resolution``:
the module moved in the dataset/ split, and this name is the same module object."""

import sys

from .store import resolution as _moved

sys.modules[__name__] = _moved
