"""Self-labelling by cross-modal attention (paper §4.2): ``run_selflabel``, ``load_labels``."""

from .run import load_labels, open_labels, run_selflabel, selflabel_batch

__all__ = ["run_selflabel", "load_labels", "open_labels", "selflabel_batch"]
