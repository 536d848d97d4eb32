"""Label-free baselines of the paper's Tab. 4 (§5.1).

* ``cfar_pipeline``: CFAR (``cfar``) -> DBSCAN (``cluster``) -> range-azimuth / range-Doppler
  matching -> power-weighted centroid; ``run_cfar(data, split, genie, cfg)``. ``genie=True``
  is the paper's genie-aided CFAR† (``cfar-genie``, reads GT to pick the cluster).
* ``rodnet``: RODNet-style teacher (camera ground-plane geometry fused with CFAR peaks, no GT)
  and the shared radio-only localiser as student; ``teacher_labels``, ``run_rodnet``.
* ``confmap``: optional RODNet confidence-map format (Gaussian maps, OLS, peak NMS).
Heavy dependencies (sklearn, scipy, torch) are imported inside the functions that use them.
"""
