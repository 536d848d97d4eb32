"""Dataset stage, one sub-package per job:

* ``store``: the on-disk format v1 (``docs/dataset-format.md``), what every reader needs;
* ``synthesis``: synthesis orchestration (plan, stage, resume, pack, Dask fan-out, datasheet);
* ``cruw``: import of the real CRUW ROD2021 release and export in its layout (``docs/cruw.md``).

The flat module names of before the split (``dataset.format``, ``dataset.synth``, ``dataset.cruw_import``, ...)
are one-line aliases of the moved modules, so old import paths keep working.
"""

from .store.format import (FORMAT_VERSION, GT_ARRAYS, SPLITS, Dataset, SplitView, bins_to_polar, open_dataset,
                           polar_to_bins, polar_to_xy, xy_to_polar)

__all__ = ["FORMAT_VERSION", "GT_ARRAYS", "SPLITS", "Dataset", "SplitView", "open_dataset", "polar_to_xy",
           "xy_to_polar", "polar_to_bins", "bins_to_polar"]
