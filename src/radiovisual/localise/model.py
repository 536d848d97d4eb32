"""Radio-only localiser (paper §4.3): heatmap [B,1,R,A] -> target (row, col) in heatmap bins.

A small fully-convolutional net ending in a soft-argmax-with-offsets head: a stride-4 score
map is softmaxed over all cells, and the prediction is the probability-weighted mean of
(cell centre + learned per-cell offset). This keeps the regression translation-equivariant
(a target anywhere in the heatmap is handled by the same filters), reaches sub-bin precision
and the heatmap borders, and stays cheap enough for >2k heatmaps/s on a CPU. Trained with MSE
on the coordinates (paper: "regress y^ from r using a mean squared error loss").
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
import torch.nn.functional as F


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _stem(cout: int, stem: tuple[int, int]) -> nn.Sequential:
    """First conv: kernel 2s+1, stride 2s, padding s per axis, so output cell j is centred on input bin
    2 s j and the kernel spans the same number of resolution cells on every grid; (1, 1) = 3x3/2.
    (A variant with stride 2 and the same wide kernel, which keeps the bin resolution of the output cells,
    measured worse on the CRUW-grid copy of the quick store: val p50 1.27 +- 0.32 m against 1.10 +- 0.14 m
    for this stem and 0.71 +- 0.20 m for the plain 3x3 stem, 3 seeds; see docs/cruw.md.)"""
    k = tuple(2 * s + 1 for s in stem)
    st = tuple(2 * s for s in stem)
    return nn.Sequential(nn.Conv2d(1, cout, k, stride=st, padding=tuple(stem), bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Localiser(nn.Module):
    """``forward(radar_db [B,1,R,A]) -> (row, col) [B,2]`` in fractional heatmap bins."""

    def __init__(self, width: int = 16, stem: tuple[int, int] = (1, 1)):
        super().__init__()
        w = width
        self.stem = (int(stem[0]), int(stem[1]))              # bins per stride-2 step (range, azimuth)
        self.s2 = _stem(w, self.stem)                         # R/(2 sr) x A/(2 sa)
        self.s4 = nn.Sequential(_block(w, 2 * w, stride=2), _block(2 * w, 2 * w))    # R/4
        self.s8 = nn.Sequential(_block(2 * w, 4 * w, stride=2), _block(4 * w, 4 * w, dilation=2))  # R/8
        self.lateral = nn.Conv2d(2 * w, 2 * w, 1)
        self.top = nn.Conv2d(4 * w, 2 * w, 1)
        self.head = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(2 * w, 3, 1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    @staticmethod
    def normalise(x: torch.Tensor) -> torch.Tensor:
        # Per-heatmap standardisation of the dB map: removes the absolute power level (tx power,
        # path loss) so only the spatial pattern matters. Uses the input only, never labels.
        return F.layer_norm(x, x.shape[-2:], eps=1e-3)  # one fused pass: (x - mean) / std

    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        """[B,1,R,A] -> [B,3,h,w] (logit, row offset, col offset) on the stride-4 grid."""
        x = self.normalise(x)
        a = self.s4(self.s2(x))
        b = self.top(self.s8(a))
        a = self.lateral(a)
        B, C, h, w = a.shape
        if (h, w) == (2 * b.shape[-2], 2 * b.shape[-1]):
            # nearest-neighbour 2x upsampling of b fused into the add by broadcasting (no copy of b)
            up = a.view(B, C, h // 2, 2, w // 2, 2) + b[:, :, :, None, :, None]
            return self.head(up.view(B, C, h, w))
        b = F.interpolate(b, scale_factor=2.0, mode="nearest")[..., :h, :w]
        return self.head(a + b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.score_map(x)
        B, _, h, w = out.shape
        p = torch.softmax(out[:, 0].reshape(B, -1), dim=1).reshape(B, h, w)
        # centre of stride-4 cell i after the stem (stride 2s, pad s) and a 3x3/stride-2/pad-1 conv is
        # input bin 4 s i; offsets are in the same cell units
        sr, sa = 4.0 * self.stem[0], 4.0 * self.stem[1]
        ri = torch.arange(h, device=x.device, dtype=out.dtype).view(1, h, 1) * sr
        ci = torch.arange(w, device=x.device, dtype=out.dtype).view(1, 1, w) * sa
        row = (p * (ri + sr * out[:, 1])).sum(dim=(1, 2))
        col = (p * (ci + sa * out[:, 2])).sum(dim=(1, 2))
        return torch.stack([row, col], dim=1)


def build_model(cfg: Any) -> Localiser:
    """``cfg`` resolved for the grid (``LocaliserConfig.for_grid``): integer stems."""
    return Localiser(width=int(cfg.width), stem=(int(cfg.stem_range), int(cfg.stem_azimuth)))
