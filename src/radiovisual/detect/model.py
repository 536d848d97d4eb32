"""A small U-Net that segments the target car, and its loss.

Why coordinates as input: the target (the moving car) and the parked cars look alike; what
tells them apart in a fixed base-station camera is mostly *where* they are (the driving lane,
nearer the camera, lower in the image). Two CoordConv channels (x, y in [-1, 1]) let the
network use absolute position, which plain convolutions are blind to.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import DatasetError


def image_to_input(image: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float32 [N, 3, H, W], (x / 255 - 0.5) / 0.25 (as pretraining normalises)."""
    x = torch.as_tensor(np.asarray(image))
    if x.ndim != 4 or x.shape[-1] != 3:
        raise DatasetError(f"image must be [N, H, W, 3], got shape {tuple(x.shape)}")
    return ((x.permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.25).contiguous()


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.GroupNorm(1, cout), nn.SiLU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.GroupNorm(1, cout), nn.SiLU())


class TinyUNet(nn.Module):
    """[N, 3, H, W] normalised image -> [N, 1, H, W] target-car logits (any H, W)."""

    def __init__(self, width: int = 12, depth: int = 3):
        super().__init__()
        chans = [width * 2 ** k for k in range(depth + 1)]
        self.depth = depth
        self.down = nn.ModuleList([_block(3 + 2, chans[0])] +
                                  [_block(chans[k - 1], chans[k]) for k in range(1, depth + 1)])
        self.up = nn.ModuleList([_block(chans[k + 1] + chans[k], chans[k]) for k in range(depth)])
        self.head = nn.Conv2d(chans[0], 1, 1)
        nn.init.constant_(self.head.bias, -3.0)  # start near the ~2 % foreground prior

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        ys = torch.linspace(-1, 1, h, device=x.device).view(1, 1, h, 1).expand(n, 1, h, w)
        xs = torch.linspace(-1, 1, w, device=x.device).view(1, 1, 1, w).expand(n, 1, h, w)
        z = torch.cat([x, xs, ys], dim=1)
        skips = []
        for k, blk in enumerate(self.down):
            z = blk(z if k == 0 else F.max_pool2d(z, 2, ceil_mode=True))
            skips.append(z)
        for k in reversed(range(self.depth)):
            s = skips[k]
            z = F.interpolate(z, size=s.shape[-2:], mode="bilinear", align_corners=False)
            z = self.up[k](torch.cat([z, s], dim=1))
        return self.head(z)


def mask_loss(logits: torch.Tensor, target: torch.Tensor, pos_weight: float = 4.0,
              dice_weight: float = 1.0) -> torch.Tensor:
    """Weighted BCE + soft Dice. logits, target: [N, 1, H, W] (target in {0, 1}) -> scalar.

    Dice is computed per image and averaged; an image without a target contributes
    1 - 1/(1 + sum p) -> 0 when the network predicts nothing there (smoothing eps = 1).
    """
    bce = F.binary_cross_entropy_with_logits(
        logits, target, pos_weight=torch.tensor(float(pos_weight), device=logits.device))
    p = torch.sigmoid(logits).flatten(1)                       # [N, HW]
    t = target.flatten(1)                                       # [N, HW]
    dice = 1.0 - (2 * (p * t).sum(1) + 1.0) / (p.sum(1) + t.sum(1) + 1.0)   # [N]
    return bce + dice_weight * dice.mean()
