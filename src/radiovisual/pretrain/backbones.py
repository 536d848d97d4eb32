"""Spatial backbones f_theta: input [B, c_in, H, W] -> features [B, C, h, w] (no global pooling).

Radio (c_in=1, a dB heatmap [range x azimuth]) and vision (c_in=3, RGB) share one plain
conv design so both emit the same C per spatial bin, as the cross-modal attention of
paper Eqs. 2-3 correlates them bin by bin.

Design choices (why):
* GroupNorm, not BatchNorm: per-sample statistics, so a DDP run equals a single process
  on the same global batch, and MoCo needs no shuffle-BN.
* Optional coordinate channels (normalised row/col in [-1, 1]) appended to the input:
  the contrastive pairing signal is *where* the target is (range/azimuth in radio,
  pixel position in vision); coordinates let pooled features keep that information.
* The last layer is a linear 1x1 conv: features are signed, suited to dot-product attention.

Geometry: every stride-2 layer is a 3x3 conv with padding 1, whose output bin i is
centred on input index 2*i. Hence with ``s = 2**len(widths)``, feature bin (i, j) is
centred on input pixel/bin (s*i, s*j) (centre offset 0), and h = ceil(H/s), w = ceil(W/s).
The radio backbone's first conv may take ``stem`` = (sy, sx) bins per step instead (kernel 2s+1,
stride 2s, padding s; ``BackboneConfig.radio_stem``): a grid that samples the beam finer (CRUW) gets
the same feature bins per resolution cell. The stride is then (s*sy, s*sx), the offset still 0.
Map a feature bin back with ``input = stride * bin + offset`` (see ``feature_geometry``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def _block(cin: int, cout: int, stride: int, groups: int, steps: tuple[int, int] = (1, 1)) -> nn.Sequential:
    """conv -> GroupNorm -> ReLU. ``steps`` (sy, sx) widens a stride-2 conv to kernel 2s+1, stride 2s,
    padding s per axis: output bin i is still centred on input 2*s*i (the geometry below holds)."""
    k = tuple(2 * s + 1 for s in steps)
    st = tuple(stride * s for s in steps)
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=st, padding=tuple(steps), bias=False),
                         nn.GroupNorm(min(groups, cout), cout), nn.ReLU(inplace=True))


class SpatialBackbone(nn.Module):
    """[B, in_channels, H, W] -> [B, channels, ceil(H/sy), ceil(W/sx)], s = 2**len(widths) * stem."""

    def __init__(self, in_channels: int, channels: int = 32, widths: tuple[int, ...] = (16, 32),
                 blocks: int = 1, coord_channels: bool = True, groups: int = 8, coord_freqs: int = 0,
                 stem: tuple[int, int] = (1, 1)):
        super().__init__()
        self.stem = (int(stem[0]), int(stem[1]))   # bins per stride-2 step of the first conv (grid rule)
        self.coord_freqs = coord_freqs if coord_channels else 0
        self.in_channels = in_channels
        self.channels = channels
        self.coord_channels = coord_channels
        self.n_down = len(widths)
        layers: list[nn.Module] = []
        c = in_channels + ((2 + 4 * self.coord_freqs) if coord_channels else 0)
        for i, w in enumerate(widths):
            layers.append(_block(c, w, 2, groups, self.stem if i == 0 else (1, 1)))
            c = w
        for _ in range(blocks):
            layers.append(_block(c, c, 1, groups))
        layers.append(nn.Conv2d(c, channels, 1))
        self.net = nn.Sequential(*layers)

    @property
    def stride(self) -> tuple[int, int]:
        s = 2 ** self.n_down
        return (s * self.stem[0], s * self.stem[1])

    def coordinates(self, H: int, W: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """The appended input channels [1, 2 + 4 * coord_freqs, H, W]: normalised row, col in [-1, 1] (+ Fourier)."""
        yy = torch.linspace(-1, 1, H, device=device, dtype=dtype).view(1, 1, H, 1).expand(1, 1, H, W)
        xx = torch.linspace(-1, 1, W, device=device, dtype=dtype).view(1, 1, 1, W).expand(1, 1, H, W)
        extra = [yy, xx]
        for k in range(self.coord_freqs):   # Fourier features: sharp position codes are then easy to build
            f = math.pi * 2 ** k
            extra += [torch.sin(f * yy), torch.cos(f * yy), torch.sin(f * xx), torch.cos(f * xx)]
        return torch.cat(extra, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected [B, {self.in_channels}, H, W], got {tuple(x.shape)}")
        if not self.coord_channels:
            return self.net(x)
        # The first conv sees cat([x, coordinates]); being linear (no bias), it is conv(x) + conv(coordinates), and
        # the coordinate term is the same for every sample: computed once, broadcast over the batch (issue 23).
        conv, c = self.net[0][0], self.in_channels
        coords = self.coordinates(x.shape[2], x.shape[3], x.device, x.dtype)
        h = F.conv2d(x, conv.weight[:, :c], None, conv.stride, conv.padding)
        h = h + F.conv2d(coords, conv.weight[:, c:], None, conv.stride, conv.padding)
        return self.net[1:](self.net[0][1:](h))


def build_backbones(bcfg: Any) -> tuple[SpatialBackbone, SpatialBackbone]:
    """(radio f_theta_r: 1 channel, vision f_theta_v: 3 channels) from a ``BackboneConfig``; only the radio
    one gets the grid's stem (``BackboneConfig.radio_stem``)."""
    kw = dict(channels=bcfg.channels, widths=tuple(bcfg.widths), blocks=bcfg.blocks,
              coord_channels=bcfg.coord_channels, groups=bcfg.groups, coord_freqs=bcfg.coord_freqs)
    return SpatialBackbone(1, stem=bcfg.radio_stem(), **kw), SpatialBackbone(3, **kw)


def feature_geometry(backbone: SpatialBackbone, input_hw: tuple[int, int]) -> dict[str, tuple]:
    """Feature grid of ``backbone`` on an input of ``input_hw``.

    Returns ``stride`` (sy, sx) [input px per feature bin], ``offset`` (oy, ox) [input px]
    and ``out_hw`` (h, w); feature bin (i, j) is centred on input (sy*i + oy, sx*j + ox).
    """
    sy, sx = backbone.stride
    H, W = input_hw
    return {"stride": (sy, sx), "offset": (0.0, 0.0), "out_hw": (-(-H // sy), -(-W // sx))}


def feature_stride(backbone: SpatialBackbone, input_hw: tuple[int, int]) -> tuple[int, int]:
    """(sy, sx): input pixels/bins per feature bin; bin centres at ``s * index`` (offset 0)."""
    return feature_geometry(backbone, input_hw)["stride"]
