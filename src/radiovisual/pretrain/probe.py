"""GENIE diagnostic (reads ground truth): does argmax cross-modal attention find the target?

For each sample, the masked-average visual feature v~ = pool_gamma f_v(gamma*v) is
correlated (cosine) with every radio feature bin f_r,n(r) (paper Eq. 2 with a 1x1 template);
the argmax bin (Eq. 3) is compared with the ground-truth target bin. Reporting only: never
used for training, tuning or selection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def attention_hit_rate(run: str | Path, data: str | Path, split: str = "val", tol_bins: int = 1,
                       batch: int = 64, mask_pad_px: int | None = None) -> dict[str, Any]:
    """Fraction of samples whose argmax radio feature bin is within ``tol_bins`` (Chebyshev) of the target."""
    import torch
    import torch.nn.functional as F

    from ..dataset.format import open_dataset, polar_to_bins
    from .data import image_to_tensor, mask_to_tensor, radar_to_tensor
    from .losses import masked_mean_pool
    from .train import load_backbones

    bb = load_backbones(run)
    radio, vision = bb.radio, bb.vision
    pad = bb.config.loss.mask_pad_px if mask_pad_px is None else mask_pad_px
    ds = open_dataset(data, labels=True)  # GT for the diagnostic only
    sv = ds.split(split)
    n = len(sv)
    (sy, sx), (oy, ox) = bb.stride, bb.offset
    hits, errs, used = 0, [], 0
    gh = gw = 0
    with torch.no_grad():
        for s in range(0, n, batch):
            sl = slice(s, min(n, s + batch))
            gamma = mask_to_tensor(sv.read("mask", sl), pad)
            ok = gamma.flatten(1).amax(1) > 0
            fr = F.normalize(radio(radar_to_tensor(sv.read("radar", sl))), dim=1)          # [B, C, h, w]
            fv = vision(image_to_tensor(sv.read("image", sl)) * gamma)
            v = F.normalize(masked_mean_pool(fv, gamma, vision.stride), dim=1)              # [B, C]
            att = torch.einsum("bc,bchw->bhw", v, fr)
            gh, gw = att.shape[1:]
            flat = att.flatten(1).argmax(1)
            pi, pj = (flat // gw).numpy(), (flat % gw).numpy()
            rc = polar_to_bins(sv.read("target_polar", sl), ds.range_bins_m, ds.azimuth_bins_rad)
            ti, tj = (rc[:, 0] - oy) / sy, (rc[:, 1] - ox) / sx
            d = np.maximum(np.abs(pi - ti), np.abs(pj - tj))
            m = ok.numpy()
            hits += int((d[m] <= tol_bins + 0.5).sum())
            errs.extend(d[m].tolist())
            used += int(m.sum())
    # chance: a uniformly random bin lands within tol of the target
    chance = min(1.0, (2 * tol_bins + 1) ** 2 / max(1, gh * gw))
    return {"split": split, "n": used, "hit_rate": hits / max(1, used), "tol_bins": tol_bins,
            "median_err_bins": float(np.median(errs)) if errs else float("nan"), "grid": [gh, gw],
            "chance_approx": chance}
