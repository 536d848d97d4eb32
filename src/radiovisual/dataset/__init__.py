"""Dataset stage: synthesis orchestration, the on-disk format, inspection."""

from .format import (FORMAT_VERSION, GT_ARRAYS, SPLITS, Dataset, SplitView, bins_to_polar, open_dataset,
                     polar_to_bins, polar_to_xy, xy_to_polar)

__all__ = ["FORMAT_VERSION", "GT_ARRAYS", "SPLITS", "Dataset", "SplitView", "open_dataset", "polar_to_xy",
           "xy_to_polar", "polar_to_bins", "bins_to_polar"]
