"""Label-free baselines of the paper's Tab. 4 (§5.1).

* ``cfar_pipeline``: CFAR (``cfar``) -> DBSCAN (``cluster``) -> range-azimuth / range-Doppler
  matching -> power-weighted centroid; ``run_cfar(data, split, genie, cfg)``. ``genie=True``
  is the paper's genie-aided CFAR† (``cfar-genie``, reads GT to pick the cluster).
  ``run_cfar_stage(cfg, data, out, ...)`` is the same on the stage contract (``docs/stages.md``);
  ``tune_cfar`` takes its (train-GT) scorer from the caller, so it is genie-aided by construction.
* ``rodnet``: RODNet-style teacher (camera ground-plane geometry fused with CFAR peaks, no GT)
  and the shared radio-only localiser as student; ``teacher_labels``, ``run_rodnet``;
  ``RodnetConfig`` = ``teacher`` (with ``teacher.cfar`` from ``CFAR_PRESETS``) + ``localise``.
* ``confmap``: optional RODNet confidence-map format (Gaussian maps, OLS, peak NMS).
sklearn and scipy are imported inside the functions that use them; ``rodnet`` imports the shared
localiser (and so torch) at the top.
"""
