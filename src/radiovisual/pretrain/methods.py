"""Pretraining methods: one compact nn.Module each, selected by name from ``METHOD_REGISTRY``.

``mcl`` and ``scl`` are the per-bin multiple-instance models of ``mil.py``; ``mcl-paper`` (and ``cl``) the literal
Eq. 1 model and ``scl-paper`` the raw-feature SCL below, kept so that the paper's reproduction and the improvement
can be compared.

Every method owns the online radio/vision backbones (``radio``, ``vision``: what
``load_backbones`` returns) and maps a batch {radar [B,1,R,A], image [B,3,H,W],
gamma [B,1,H,W] | None} to (loss, stats). Queues are registered buffers, EMA copies are
submodules without gradients, so ``state_dict()`` holds the complete method state.

Projector input (the "collapse" of C x h x w to a vector before the 2-layer MLP g):
vision uses masked-average pooling over the target mask downsampled to the feature grid
(plain mean when unmasked); radio uses a global mean (or max, ``loss.radio_pool``) over
all bins, because radio must be encoded without knowing where the target is.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import dist
from .backbones import build_backbones
from .ema import ema_update, fifo_enqueue
from .losses import clip_loss, masked_mean_pool, mcl_loss, scl_loss
from .mil import MILMethod, MILSCLMethod


class GlobalBatchNorm1d(nn.Module):
    """BatchNorm over the *global* batch (statistics gathered from all ranks, always batch statistics).

    Centring/whitening the projector's hidden layer (as in MoCo v3/SimCLR heads) keeps the embeddings of
    a freshly initialised net from sitting in one narrow cone, which otherwise stalls cross-modal MoCo
    whose keys come from slow EMA nets. Gathering keeps DDP identical to one process.
    """

    def __init__(self, n: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # x [B, n]
        x = x.float()                                      # statistics in fp32 under autocast
        xs = dist.gather_with_grad(x)                      # [G, n]
        mean, var = xs.mean(0), xs.var(0, unbiased=False)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


def projector(c: int, hidden: int, out: int, norm: bool = True) -> nn.Sequential:
    """2-layer MLP projector head g_theta: Linear-[global BN]-ReLU-Linear (MoCo v2/v3 style)."""
    mid = [GlobalBatchNorm1d(hidden)] if norm else []
    return nn.Sequential(nn.Linear(c, hidden), *mid, nn.ReLU(inplace=True), nn.Linear(hidden, out))


def _pool_radio(f: torch.Tensor, how: str) -> torch.Tensor:
    return f.amax(dim=(2, 3)) if how == "max" else f.mean(dim=(2, 3))


class MoCoMethod(nn.Module):
    """MCL (paper Eq. 1) when ``masked``; CL (same, unmasked vision) otherwise.

    q^r = g_r(f_r(r)), q^v~ = g_v(f_v(gamma*v)) from the online nets; k^r, k^v~ from EMA copies
    of backbones *and* projectors (MoCo v2; the paper's notation leaves the key projector
    implicit). Negatives: K keys per modality from FIFO queues filled with all ranks' keys.
    """

    needs_mask = True

    def __init__(self, cfg: Any, masked: bool = True):
        super().__init__()
        self.masked = masked
        self.needs_mask = masked
        self.tau = cfg.loss.temperature
        self.m = cfg.loss.momentum
        self.radio_pool = cfg.loss.radio_pool
        C, L = cfg.backbone.channels, cfg.loss
        self.radio, self.vision = build_backbones(cfg.backbone)
        self.proj_r = projector(C, L.proj_hidden, L.proj_dim, L.proj_norm)
        self.proj_v = self.proj_r if L.shared_projector else projector(C, L.proj_hidden, L.proj_dim, L.proj_norm)
        self.radio_k, self.vision_k = copy.deepcopy(self.radio), copy.deepcopy(self.vision)
        self.proj_r_k = copy.deepcopy(self.proj_r)
        self.proj_v_k = self.proj_r_k if L.shared_projector else copy.deepcopy(self.proj_v)
        for p in self._ema_modules_params(online=False):
            p.requires_grad_(False)
        K = L.queue_size
        self.register_buffer("queue_r", F.normalize(torch.randn(K, L.proj_dim), dim=1))
        self.register_buffer("queue_v", F.normalize(torch.randn(K, L.proj_dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def _pairs(self):
        pairs = [(self.radio, self.radio_k), (self.vision, self.vision_k), (self.proj_r, self.proj_r_k)]
        if self.proj_v is not self.proj_r:
            pairs.append((self.proj_v, self.proj_v_k))
        return pairs

    def _ema_modules_params(self, online: bool):
        for on, ema in self._pairs():
            yield from (on if online else ema).parameters()

    @torch.no_grad()
    def momentum_update(self) -> None:
        """theta_bar <- m * theta_bar + (1 - m) * theta, for backbones and projectors."""
        ema_update(self._pairs(), self.m)

    @torch.no_grad()
    def enqueue(self, k_r: torch.Tensor, k_v: torch.Tensor) -> None:
        """Write keys [n, D] at the pointer, wrapping around the end of the length-K queue (FIFO)."""
        fifo_enqueue(self.queue_r, self.queue_v, self.queue_ptr, k_r, k_v)

    def embed(self, radar, image, gamma, ema: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        fr, fv = (self.radio_k, self.vision_k) if ema else (self.radio, self.vision)
        gr, gv = (self.proj_r_k, self.proj_v_k) if ema else (self.proj_r, self.proj_v)
        if self.masked:
            image = image * gamma
        z_r = gr(_pool_radio(fr(radar), self.radio_pool))
        z_v = gv(masked_mean_pool(fv(image), gamma if self.masked else None, fv.stride))
        return F.normalize(z_r.float(), dim=1), F.normalize(z_v.float(), dim=1)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        radar, image, gamma = batch["radar"], batch["image"], batch.get("gamma")
        with torch.no_grad():
            self.momentum_update()
            k_r, k_v = self.embed(radar, image, gamma, ema=True)
        q_r, q_v = self.embed(radar, image, gamma)
        loss, l_vr, l_rv = mcl_loss(q_r, q_v, k_r, k_v, self.queue_r.clone(), self.queue_v.clone(), self.tau)
        self.enqueue(dist.gather(k_r), dist.gather(k_v))
        return loss, {"loss_v2r": l_vr.detach(), "loss_r2v": l_rv.detach()}


class SCLMethod(nn.Module):
    """``scl-paper``: spatial contrastive learning on raw backbone features (``losses.scl_loss``): no projector,
    no queue, no EMA; self-labels use the paper's conv2d read-out."""

    needs_mask = True

    def __init__(self, cfg: Any):
        super().__init__()
        self.tau = cfg.loss.temperature
        self.radio, self.vision = build_backbones(cfg.backbone)

    def forward(self, batch):
        radar, image, gamma = batch["radar"], batch["image"], batch["gamma"]
        v = F.normalize(masked_mean_pool(self.vision(image * gamma), gamma, self.vision.stride).float(), dim=1)
        r = F.normalize(self.radio(radar).float(), dim=1)
        offset = dist.rank() * v.shape[0]
        loss, l_vr, l_rv = scl_loss(v, dist.gather_with_grad(r), dist.gather_with_grad(v), r, self.tau, offset)
        return loss, {"loss_v2r": l_vr.detach(), "loss_r2v": l_rv.detach()}


class CLIPMethod(nn.Module):
    """LIP-Loc/CLIP: symmetric in-batch InfoNCE with a learnable temperature, unmasked, no queue."""

    needs_mask = False

    def __init__(self, cfg: Any):
        super().__init__()
        C, L = cfg.backbone.channels, cfg.loss
        self.radio_pool = L.radio_pool
        self.radio, self.vision = build_backbones(cfg.backbone)
        self.proj_r = projector(C, L.proj_hidden, L.proj_dim, L.proj_norm)
        self.proj_v = projector(C, L.proj_hidden, L.proj_dim, L.proj_norm)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / L.temperature)),
                                        requires_grad=L.learn_temperature)

    def forward(self, batch):
        radar, image = batch["radar"], batch["image"]
        r = F.normalize(self.proj_r(_pool_radio(self.radio(radar), self.radio_pool)).float(), dim=1)
        v = F.normalize(self.proj_v(self.vision(image).mean(dim=(2, 3))).float(), dim=1)
        scale = self.logit_scale.clamp(max=math.log(100.0))  # CLIP's cap on 1/tau
        offset = dist.rank() * v.shape[0]
        loss, l_vr, l_rv = clip_loss(v, dist.gather_with_grad(r), dist.gather_with_grad(v), r, scale, offset)
        return loss, {"loss_v2r": l_vr.detach(), "loss_r2v": l_rv.detach(), "temperature": (-scale).exp().detach()}


METHOD_REGISTRY: dict[str, Callable[[Any], nn.Module]] = {
    "mcl": MILMethod,  # per-bin multiple-instance MCL (see mil.py)
    "mcl-paper": lambda cfg: MoCoMethod(cfg, masked=True),  # the literal Eq. 1 model (global-mean radio)
    "cl": lambda cfg: MoCoMethod(cfg, masked=False),
    "scl": MILSCLMethod,  # per-bin SCL: hard max over bins inside in-batch InfoNCE (see mil.py)
    "scl-paper": SCLMethod,  # the raw-feature SCL (no projector, paper read-out)
    "clip": CLIPMethod,
}


def build_method(cfg: Any) -> nn.Module:
    from ..errors import ConfigError

    if cfg.method not in METHOD_REGISTRY:
        raise ConfigError(f"unknown method '{cfg.method}' (choose from {', '.join(METHOD_REGISTRY)})")
    return METHOD_REGISTRY[cfg.method](cfg)
