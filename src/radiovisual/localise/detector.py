"""Radar-only multi-object detector, CenterNet / RODNet style (issue 20, item 2): model, targets, loss, decoding.

* ``RadarDetector``: heatmap [B,1,R,A] (dB) -> per-class peak logits [B,C,R,A] and sub-bin (row, col)
  offsets [B,2,R,A], both at the heatmap's full resolution. A small U-Net: a full-resolution 3x3 stage
  on the normalised map plus two CoordConv channels (range changes how an object looks), encoder stages at
  strides 2, 4 and 8, a decoder back to stride 2, and one 3x3 head on (upsampled decoder + full-res
  features). Most work runs at stride >= 2 so an epoch of ~1200 maps takes seconds on two CPU cores.
* ``confmap_targets``: per class the max over its objects of a Gaussian whose value at a cell is the cell
  centre's OLS to the object (RODNet confidence maps, cruw-devkit's OLS: exp(-d_xy^2 / (2 s^2 kappa)),
  s = object range, kappa = class size / 100), widened to at least ``min_sigma_bins`` bins (the max of the
  OLS Gaussian and a bin-space Gaussian) so far-range pedestrians still cover a few cells; the object's
  nearest cell is exactly 1 (the CenterNet positive).
* ``focal_loss`` (CenterNet's penalty-reduced focal loss) and ``offset_loss`` (L1 at object cells).
* ``decode``: 3x3 local maxima per class, sub-bin offsets, bins -> polar, OLS NMS within the class.

Detections and labels follow ``dataset.detections``: [D, 4] = (range m, azimuth rad, class id, score).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from ..dataset.format import bins_to_polar, polar_to_bins

# cruw-devkit's class reference sizes [m] (pedestrian, cyclist, car); equal to evaluate.ols.CLASS_SIZES_M,
# repeated here because localise may not import evaluate (the layout rule).
CLASS_SIZES_M = (0.5, 1.0, 3.0)
HEAT_PRIOR_BIAS = -2.19           # sigmoid(-2.19) = 0.1: CenterNet's prior for the heat head
WEIGHT_SUPPORT = float(np.exp(-4.5))  # a label's weight covers the cells where its Gaussian exceeds this (3 sigma)


def ols(ref_polar: np.ndarray, other_polar: np.ndarray, size_m: float) -> np.ndarray:
    """Object location similarity in [0, 1] between [..., (range m, az rad)] points (broadcasting); the
    reference distance s is ``ref``'s range (cruw-devkit: the ground truth's; in NMS: the kept peak's)."""
    g, d = np.asarray(ref_polar, np.float64), np.asarray(other_polar, np.float64)
    dx = g[..., 0] * np.sin(g[..., 1]) - d[..., 0] * np.sin(d[..., 1])
    dy = g[..., 0] * np.cos(g[..., 1]) - d[..., 0] * np.cos(d[..., 1])
    s2 = np.maximum(g[..., 0] ** 2, 1e-12)
    return np.exp(-(dx ** 2 + dy ** 2) / (2.0 * s2 * (size_m / 100.0)))


# ----------------------------------------------------------------------------------------------- model
def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class RadarDetector(nn.Module):
    """``forward(radar_db [B,1,R,A]) -> {"heat": [B,C,R,A] logits, "offset": [B,2,R,A] (row, col) bins}``."""

    def __init__(self, width: int = 16, n_classes: int = 3):
        super().__init__()
        w, f = int(width), max(4, int(width) // 2)
        self.n_classes = int(n_classes)
        # full resolution: no BatchNorm (the input is already standardised per map; BN on the largest
        # activation costs ~6% of a training step on CPU)
        self.full = nn.Sequential(nn.Conv2d(3, f, 3, padding=1), nn.ReLU(inplace=True))   # R x A
        self.e2 = nn.Sequential(_block(f, w, stride=2), _block(w, w))              # R/2
        self.e4 = nn.Sequential(_block(w, 2 * w, stride=2), _block(2 * w, 2 * w), _block(2 * w, 2 * w, dilation=2))
        self.e8 = nn.Sequential(_block(2 * w, 4 * w, stride=2), _block(4 * w, 4 * w, dilation=2))   # R/8
        self.t8 = nn.Conv2d(4 * w, 2 * w, 1)
        self.d4 = _block(2 * w, 2 * w)
        self.t4 = nn.Conv2d(2 * w, w, 1)
        self.d2 = _block(w, w)
        self.t2 = nn.Conv2d(w, f, 1)
        self.head = nn.Conv2d(f, self.n_classes + 2, 3, padding=1)   # heat logits, then (row, col) offsets
        nn.init.normal_(self.head.weight, std=0.01)
        with torch.no_grad():
            self.head.bias.zero_()
            self.head.bias[:self.n_classes] = HEAT_PRIOR_BIAS

    @staticmethod
    def normalise(x: torch.Tensor) -> torch.Tensor:
        """Per-heatmap standardisation of the dB map (as ``Localiser.normalise``): input only, never labels."""
        return F.layer_norm(x, x.shape[-2:], eps=1e-3)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        B, _, R, A = x.shape
        rr = torch.linspace(-1.0, 1.0, R, device=x.device, dtype=x.dtype).view(1, 1, R, 1).expand(B, 1, R, A)
        aa = torch.linspace(-1.0, 1.0, A, device=x.device, dtype=x.dtype).view(1, 1, 1, A).expand(B, 1, R, A)
        # channels-last: oneDNN's convolutions with few channels run ~1.5x faster on CPU in this layout
        x = torch.cat([self.normalise(x), rr, aa], 1).contiguous(memory_format=torch.channels_last)
        f1 = self.full(x)                                        # [B,f,R,A]
        f2 = self.e2(f1)                                         # [B,w,R/2,A/2]
        f4 = self.e4(f2)                                         # [B,2w,R/4,A/4]
        f8 = self.e8(f4)                                         # [B,4w,R/8,A/8]
        u = self.d4(F.interpolate(self.t8(f8), size=f4.shape[-2:], mode="nearest") + f4)
        u = self.d2(F.interpolate(self.t4(u), size=f2.shape[-2:], mode="nearest") + f2)
        u = F.relu(F.interpolate(self.t2(u), size=f1.shape[-2:], mode="nearest") + f1)
        out = self.head(u).contiguous()                          # [B,C+2,R,A]
        return {"heat": out[:, :self.n_classes], "offset": out[:, self.n_classes:]}


# ----------------------------------------------------------------------------------------------- targets
class TargetMaker:
    """Targets of a batch of packed labels on one grid (``confmap_targets`` for one frame)."""

    def __init__(self, range_bins_m: np.ndarray, azimuth_bins_rad: np.ndarray, n_classes: int = 3,
                 min_sigma_bins: float = 0.7, sizes_m: Sequence[float] = CLASS_SIZES_M):
        self.rb = np.asarray(range_bins_m, np.float64)
        self.ab = np.asarray(azimuth_bins_rad, np.float64)
        self.C, self.min_sigma = int(n_classes), float(min_sigma_bins)
        self.sizes = np.asarray(sizes_m, np.float64)[:self.C]
        rr, aa = np.meshgrid(self.rb, self.ab, indexing="ij")
        self.X = torch.from_numpy(rr * np.sin(aa)).float()    # [R,A] cell centres, x right [m]
        self.Y = torch.from_numpy(rr * np.cos(aa)).float()    # [R,A] y forward [m]
        hr = 0.5 * (self.rb[-1] - self.rb[0]) / max(1, len(self.rb) - 1)
        ha = 0.5 * (self.ab[-1] - self.ab[0]) / max(1, len(self.ab) - 1)
        self.lo, self.hi = (self.rb[0] - hr, self.ab[0] - ha), (self.rb[-1] + hr, self.ab[-1] + ha)

    def _prep(self, labels: np.ndarray) -> dict[str, Any] | None:
        """Valid objects (on the grid, known class) of [B,D,3|4] labels, per frame valid first and by ascending
        score (on a cell shared by two objects the stronger label's offset wins): arrays [B,Dv(,2)]."""
        lab = np.asarray(labels, np.float64)
        if lab.shape[-1] == 3:
            lab = np.concatenate([lab, np.ones(lab.shape[:-1] + (1,))], -1)
        ok = (np.isfinite(lab[..., :3]).all(-1) & (lab[..., 0] >= self.lo[0]) & (lab[..., 0] <= self.hi[0])
              & (lab[..., 1] >= self.lo[1]) & (lab[..., 1] <= self.hi[1]))
        ok &= np.isin(np.where(ok, lab[..., 2], -1), np.arange(self.C))
        Dv = int(ok.sum(1).max()) if lab.shape[0] and lab.shape[1] else 0
        if Dv == 0:
            return None
        order = np.lexsort((np.where(ok, np.nan_to_num(lab[..., 3], nan=1.0), -np.inf), ~ok), axis=1)[:, :Dv]
        lab, ok = np.take_along_axis(lab, order[..., None], 1), np.take_along_axis(ok, order, 1)   # [B,Dv,4]
        lab = np.where(ok[..., None], lab, 0.0)
        rc = polar_to_bins(lab[..., :2], self.rb, self.ab)                     # [B,Dv,2] fractional bins
        near = np.clip(np.rint(rc), 0, [len(self.rb) - 1, len(self.ab) - 1]).astype(np.int64)   # nearest cell
        return {"lab": lab, "ok": ok, "cls": lab[..., 2].astype(np.int64), "rc": rc, "near": near,
                "score": np.clip(np.nan_to_num(lab[..., 3], nan=1.0), 0.0, 1.0)}

    def maps(self, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """labels [B,D,3|4] -> (heat [B,C,R,A], weight [B,C,R,A]) float32."""
        B, R, A, C = len(labels), len(self.rb), len(self.ab), self.C
        heat, weight = torch.zeros(B, C, R * A), torch.ones(B, C, R * A)
        p = self._prep(labels)
        if p is None:
            return heat.view(B, C, R, A), weight.view(B, C, R, A)
        lab, ok, cls, rc, near = p["lab"], p["ok"], p["cls"], p["rc"], p["near"]
        Dv = lab.shape[1]
        r0 = np.maximum(lab[..., 0], 1e-3)
        k2 = torch.from_numpy(2.0 * r0 ** 2 * self.sizes[cls] / 100.0).float()[..., None, None]
        x0 = torch.from_numpy(r0 * np.sin(lab[..., 1])).float()[..., None, None]
        y0 = torch.from_numpy(r0 * np.cos(lab[..., 1])).float()[..., None, None]
        g = torch.exp(-((self.X - x0) ** 2 + (self.Y - y0) ** 2) / k2)          # [B,Dv,R,A] OLS to each object
        if self.min_sigma > 0:
            s2 = 2.0 * self.min_sigma ** 2
            t = torch.from_numpy(rc).float()
            gr = torch.exp(-(torch.arange(R).float() - t[..., :1]) ** 2 / s2)  # [B,Dv,R]
            ga = torch.exp(-(torch.arange(A).float() - t[..., 1:]) ** 2 / s2)  # [B,Dv,A]
            g = torch.maximum(g, gr[..., :, None] * ga[..., None, :])
        bi, di = np.nonzero(ok)
        ix = [torch.from_numpy(a) for a in (bi, di, near[bi, di, 0], near[bi, di, 1])]
        g[ix[0], ix[1], ix[2], ix[3]] = 1.0                                    # the positive: exactly 1
        g = (g * torch.from_numpy(ok).float()[..., None, None]).view(B, Dv, R * A)
        ci = torch.from_numpy(cls).view(B, Dv, 1).expand(B, Dv, R * A)
        heat = heat.scatter_reduce_(1, ci, g, "amax")                          # per class, max over its objects
        # a cell's weight: the score of the object whose Gaussian is largest there (ties: the larger score)
        w = torch.from_numpy(p["score"]).float().view(B, Dv, 1).expand(B, Dv, R * A)
        w = torch.where(g >= torch.gather(heat, 1, ci), w, -1.0)
        weight = weight.scatter_reduce_(1, ci, w, "amax", include_self=False)
        weight = torch.where(heat > WEIGHT_SUPPORT, weight, 1.0)
        return heat.view(B, C, R, A), weight.view(B, C, R, A)

    def points(self, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """labels [B,D,3|4] -> (offset [B,2,R,A]: fractional minus nearest bin there, mask [B,R,A]: 1 at the
        objects' nearest cells) float32."""
        B, R, A = len(labels), len(self.rb), len(self.ab)
        offset, mask = np.zeros((B, 2, R, A), np.float32), np.zeros((B, R, A), np.float32)
        p = self._prep(labels)
        if p is not None:
            rc, near = p["rc"], p["near"]
            for b, d in zip(*np.nonzero(p["ok"])):                              # ascending score: strongest last
                offset[b, :, near[b, d, 0], near[b, d, 1]] = rc[b, d] - near[b, d]
                mask[b, near[b, d, 0], near[b, d, 1]] = 1.0
        return torch.from_numpy(offset), torch.from_numpy(mask)

    def __call__(self, labels: np.ndarray) -> dict[str, torch.Tensor]:
        """labels [B,D,3|4] (NaN rows pad; the score column, default 1, is the label weight) ->
        {"heat", "weight": [B,C,R,A], "offset": [B,2,R,A], "mask": [B,R,A]} float32 tensors."""
        heat, weight = self.maps(labels)
        offset, mask = self.points(labels)
        return {"heat": heat, "weight": weight, "offset": offset, "mask": mask}


def confmap_targets(labels: np.ndarray, range_bins_m: np.ndarray, azimuth_bins_rad: np.ndarray,
                    n_classes: int = 3, min_sigma_bins: float = 0.7) -> dict[str, np.ndarray]:
    """One frame's labels [D,3|4] (range m, az rad, class, score = weight, default 1) ->
    {"heat": [C,R,A] in [0,1], "offset": [2,R,A] bins, "mask": [R,A] 1 at object cells, "weight": [C,R,A]}.

    ``heat[c]`` is the max over class-c objects of max(OLS(cell centre, object), exp(-d_bins^2 / (2
    min_sigma_bins^2))), exactly 1 at each object's nearest cell; ``offset`` there is the object's fractional
    bin minus that cell; ``weight[c]`` is the score of the object whose Gaussian is largest at a cell (where it
    exceeds exp(-4.5)), 1 elsewhere. Objects outside the grid (by more than half a bin) are dropped.
    """
    lab = np.asarray(labels, np.float64)
    lab = lab.reshape(1, -1, lab.shape[-1] if lab.size else 4)
    t = TargetMaker(range_bins_m, azimuth_bins_rad, n_classes, min_sigma_bins)(lab)
    return {k: v[0].numpy() for k, v in t.items()}


def flip_targets(t: dict[str, torch.Tensor], flip: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mirror the azimuth axis of the frames where ``flip`` [B] is true (targets of az -> -az on a symmetric
    grid): maps flipped along A, the column offset negated; a ``weight`` of None stays None."""
    f4 = flip.view(-1, 1, 1, 1)
    off = t["offset"].flip(-1) * torch.tensor([1.0, -1.0]).view(1, 2, 1, 1)
    w = t.get("weight")
    return {"heat": torch.where(f4, t["heat"].flip(-1), t["heat"]),
            "weight": None if w is None else torch.where(f4, w.flip(-1), w),
            "offset": torch.where(f4, off, t["offset"]),
            "mask": torch.where(flip.view(-1, 1, 1), t["mask"].flip(-1), t["mask"])}


# ----------------------------------------------------------------------------------------------- losses
def focal_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
               alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss over [B,C,R,A], summed and divided by the number of positive
    cells (target == 1; at least 1): -(1-p)^a log p at positives, -(1-y)^b p^a log(1-p) elsewhere."""
    logp, log1mp = F.logsigmoid(logits), F.logsigmoid(-logits)
    p = torch.exp(logp)
    pos = target >= 1.0
    loss = torch.where(pos, -((1.0 - p) ** alpha) * logp, -((1.0 - target) ** beta) * (p ** alpha) * log1mp)
    if weight is not None:
        loss = loss * weight
    return loss.sum() / pos.sum().clamp(min=1)


def offset_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 of the (row, col) offsets [B,2,R,A] at the object cells (mask [B,R,A]), per object cell."""
    return ((pred - target).abs().sum(1) * mask).sum() / mask.sum().clamp(min=1)


def detection_loss(out: dict[str, torch.Tensor], t: dict[str, torch.Tensor], cfg: Any) -> torch.Tensor:
    """focal + offset_weight * offset loss of a model output against ``TargetMaker`` targets."""
    return (focal_loss(out["heat"], t["heat"], t.get("weight"), cfg.focal_alpha, cfg.focal_beta)
            + cfg.offset_weight * offset_loss(out["offset"], t["offset"], t["mask"]))


# ----------------------------------------------------------------------------------------------- decoding
def local_maxima(heat: np.ndarray) -> np.ndarray:
    """[..., R, A] -> bool: cells equal to the max of their 3x3 neighbourhood (a plateau keeps every cell)."""
    h = np.asarray(heat)
    pad = [(0, 0)] * (h.ndim - 2) + [(1, 1), (1, 1)]
    p = np.pad(h, pad, constant_values=-np.inf)
    R, A = h.shape[-2:]
    mx = np.max([p[..., i:i + R, j:j + A] for i in range(3) for j in range(3)], axis=0)
    return h >= mx


def decode(heat_prob: np.ndarray, offset: np.ndarray, range_bins_m: np.ndarray, azimuth_bins_rad: np.ndarray,
           threshold: float = 0.1, nms_ols: float = 0.3, max_detections: int = 20,
           sizes_m: Sequence[float] = CLASS_SIZES_M) -> np.ndarray:
    """Class probabilities [C,R,A] and offsets [2,R,A] -> detections [D,4] (range m, az rad, class, score),
    strongest first, D <= max_detections. Per class: 3x3 local maxima >= threshold, offset added to the
    cell, fractional bins -> polar (linear interpolation of bin centres, clamped to the grid), then a peak
    whose OLS to a kept stronger peak of the class exceeds ``nms_ols`` is dropped (cruw-devkit style)."""
    h = np.asarray(heat_prob, np.float64)
    off = np.asarray(offset, np.float64)
    R, A = h.shape[-2:]
    keep_all = []
    peaks = local_maxima(h) & (h >= threshold)
    for c in range(h.shape[0]):
        rows, cols = np.nonzero(peaks[c])
        sc = h[c, rows, cols]
        order = np.argsort(-sc, kind="stable")
        rows, cols, sc = rows[order], cols[order], sc[order]
        rc = np.stack([np.clip(rows + off[0, rows, cols], 0, R - 1), np.clip(cols + off[1, rows, cols], 0, A - 1)], -1)
        polar = bins_to_polar(rc, range_bins_m, azimuth_bins_rad).reshape(-1, 2)
        kept: list[int] = []
        for i in range(len(sc)):
            if kept and (ols(polar[kept], polar[i], sizes_m[c]) > nms_ols).any():
                continue
            kept.append(i)
            if len(kept) >= max_detections:
                break
        keep_all += [(polar[i, 0], polar[i, 1], float(c), float(np.clip(sc[i], 0.0, 1.0))) for i in kept]
    out = np.asarray(keep_all, np.float64).reshape(-1, 4)
    out = out[np.argsort(-out[:, 3], kind="stable")][:max_detections]
    return out
