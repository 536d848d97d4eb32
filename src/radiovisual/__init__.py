"""radiovisual: self-supervised radio-visual learning for ISAC radar.

Stages follow the data flow: ``scene``/``sensors`` -> ``dataset`` -> ``pretrain`` ->
``selflabel`` -> ``localise`` -> ``baselines`` -> ``evaluate`` -> ``report``; ``cli`` is thin.
Heavy dependencies (torch, sionna, mitsuba, zarr) are imported lazily inside functions.
"""

__version__ = "0.1.0"
