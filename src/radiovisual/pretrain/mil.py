"""The per-bin multiple-instance family: MCL (``mcl``) and SCL (``scl``); the literal models are ``mcl-paper``
and ``scl-paper`` (``methods.py``).

Why not the literal Eq. 1 model: it collapses the radio map with a global mean before the projector
g_r, so every radio bin receives the same gradient and nothing ties bin n to the target's visual
feature; its Eq. 2 read-out then correlates raw backbone features, which were never trained.

Here (issue 8, item 1):
* g_r is the same 2-layer MLP applied to every bin (1x1 convs): z^r_n = g_r(f_r(r)_n), n in Omega.
* the pair score is a smooth maximum over bins, s(v, r) = tau_s log sum_n exp(<z^v, z^r_n> / tau_s)
  (multiple-instance contrast, as EZ-VSL / SLAVC / Windsor et al. 2021), used inside the
  bidirectional MoCo loss of Eq. 1 (``losses.mil_mcl_loss``) with EMA key encoders and queues;
* the Eq. 2 read-out is exactly the trained per-bin similarity a_n = <z^v, z^r_n> (``attention``):
  no sign choice and no dataset-mean subtraction is needed;
* mirror-consistent augmentation: with probability 1/2 the image and mask are flipped left-right and
  the radar azimuth axis is reversed *together* (azimuth is symmetric about boresight and heatmap
  columns read left->right like the image), and every sample's mirrored twin is an extra hard negative.
  The target's azimuth sidelobes draw a target-specific stripe across the whole azimuth span at its
  range, so without the twin "any bin of the stripe" solves the task; the mirrored twin has the same
  stripe at the same range, so only the azimuth of the main lobe can tell them apart. Because mirrored
  pairs are also positives, "is this input mirrored" is no shortcut.

SCL (issue 8, item 2; ``MILSCLMethod``) shares all of the above except the objective: Windsor et al.'s in-batch
symmetric InfoNCE whose pair score is the hard maximum over radio bins (``losses.mil_scl_loss``).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import StageChangedError
from . import dist
from .backbones import build_backbones
from .binmlp import bin_mlp_train, fusable, normalize_rows
from .ema import ema_update, fifo_enqueue
from .losses import masked_mean_pool, mil_mcl_loss, mil_scl_loss


class RunningGlobalBatchNorm1d(nn.Module):
    """BatchNorm over the global batch in training (gathered from all ranks), running statistics in eval.

    Running statistics make the read-out of one sample independent of the other samples in its batch.
    """

    def __init__(self, n: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n))
        self.register_buffer("running_mean", torch.zeros(n))
        self.register_buffer("running_var", torch.ones(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # x [M, n]
        x = x.float()
        if self.training:
            xs = dist.gather_with_grad(x)
            mean, var = xs.mean(0), xs.var(0, unbiased=False)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(var.detach(), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


def bin_projector(c: int, hidden: int, out: int, norm: bool = True) -> nn.Sequential:
    """2-layer MLP g: Linear-[BN]-ReLU-Linear, applied to vectors [M, C] (per bin: M = B*h*w)."""
    mid = [RunningGlobalBatchNorm1d(hidden)] if norm else []
    return nn.Sequential(nn.Linear(c, hidden), *mid, nn.ReLU(inplace=True), nn.Linear(hidden, out))


def project_bins(g: nn.Module, f: torch.Tensor) -> torch.Tensor:
    """The MLP as 1x1 convs: f [B, C, h, w] -> L2-normalised z [B, D, h*w], stored bins-major.

    In training the standard projector runs folded (``binmlp``: same values up to rounding, fewer passes)."""
    B, C, h, w = f.shape
    x = f.flatten(2).transpose(1, 2).reshape(B * h * w, C)            # [B*h*w, C]
    if fusable(g):
        return normalize_rows(bin_mlp_train(g, x)).reshape(B, h * w, -1).transpose(1, 2)
    return F.normalize(g(x).float(), dim=1).reshape(B, h * w, -1).transpose(1, 2)


def bins_major(z: torch.Tensor) -> torch.Tensor:
    """z [K, D, N] -> the same values stored bins-major (``z.transpose(1, 2)`` contiguous), the layout
    ``project_bins`` returns and ``scores.mil_scores`` reads without a copy (the MCL radio-key queue)."""
    return z.transpose(1, 2).contiguous().transpose(1, 2)


def mirror(batch: dict[str, torch.Tensor], which: torch.Tensor) -> dict[str, torch.Tensor]:
    """Flip image/mask columns and radar azimuth columns of the samples where ``which`` [B] is True."""
    out = {}
    idx = which.nonzero().squeeze(1)
    for k, v in batch.items():
        if v is None:
            out[k] = v
            continue
        out[k] = v.index_copy(0, idx, v.index_select(0, idx).flip(-1))   # only the selected samples are flipped
    return out


class PerBinMethod(nn.Module):
    """What the per-bin MIL family (``mcl``, ``scl``) shares: online backbones, the per-bin radio projector g_r
    (1x1 convs) and the vision projector g_v, masked vision, mirror-consistent augmentation, and the read-out.

    Subclasses add their objective (``forward``) and, for ``mcl``, the EMA key nets ``*_k`` and queues.
    """

    needs_mask = True

    def __init__(self, cfg: Any):
        super().__init__()
        L = cfg.loss
        C = cfg.backbone.channels
        self.tau = L.temperature
        self.mirror_aug, self.mirror_neg = L.mirror_augment, L.mirror_negatives
        self.radio, self.vision = build_backbones(cfg.backbone)
        self.proj_r = bin_projector(C, L.proj_hidden, L.proj_dim, L.proj_norm)
        self.proj_v = bin_projector(C, L.proj_hidden, L.proj_dim, L.proj_norm)
        self.register_buffer("aug_step", torch.zeros((), dtype=torch.long))
        self.seed = cfg.seed

    def embed_radio(self, radar: torch.Tensor, ema: bool = False) -> torch.Tensor:
        """radar [B,1,R,A] -> per-bin embeddings z^r [B, D, h*w] (L2-normalised per bin)."""
        f, g = (self.radio_k, self.proj_r_k) if ema else (self.radio, self.proj_r)
        return project_bins(g, f(radar))

    def embed_vision(self, image: torch.Tensor, gamma: torch.Tensor, ema: bool = False) -> torch.Tensor:
        """masked image -> z^v [B, D]: masked-average pooled features through g_v, L2-normalised."""
        f, g = (self.vision_k, self.proj_v_k) if ema else (self.vision, self.proj_v)
        return F.normalize(g(masked_mean_pool(f(image * gamma), gamma, f.stride)).float(), dim=1)

    def embed_with_twins(self, radar: torch.Tensor, image: torch.Tensor, gamma: torch.Tensor, ema: bool = False
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z^r, z^v, zbar^r, zbar^v): the embeddings of the batch and of its mirrored twins (azimuth reversed;
        image and mask flipped). Each backbone runs once over [batch; twins] (GroupNorm is per sample, so this
        equals two passes); the projectors see each half on its own, so their batch statistics do too (twins
        first, the order in which their BatchNorm running statistics were always updated)."""
        f_r, g_r = (self.radio_k, self.proj_r_k) if ema else (self.radio, self.proj_r)
        f_v, g_v = (self.vision_k, self.proj_v_k) if ema else (self.vision, self.proj_v)
        B = radar.shape[0]
        fr = f_r(torch.cat([radar, radar.flip(-1)]))
        masked = image * gamma
        gam = torch.cat([gamma, gamma.flip(-1)])
        pooled = masked_mean_pool(f_v(torch.cat([masked, masked.flip(-1)])), gam, f_v.stride)

        def vis(p):
            return F.normalize(g_v(p).float(), dim=1)
        twin_r, twin_v = project_bins(g_r, fr[B:]), vis(pooled[B:])
        return project_bins(g_r, fr[:B]), vis(pooled[:B]), twin_r, twin_v

    @torch.no_grad()
    def attention(self, radar: torch.Tensor, image: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """Eq. 2 read-out = the trained per-bin similarity: a_n = <z^v, z^r_n>, [B, h, w] in [-1, 1]."""
        f_r = self.radio(radar)
        h, w = f_r.shape[-2:]
        z_r = project_bins(self.proj_r, f_r)
        z_v = self.embed_vision(image, gamma)
        return torch.einsum("bd,bdn->bn", z_v, z_r).reshape(-1, h, w)

    def _flip_mask(self, B: int, device: torch.device) -> torch.Tensor:
        # seeded by (seed, step), so a resumed run draws the same flips
        # drawn for the GLOBAL batch and sliced, so DDP ranks together flip what one process would
        g = torch.Generator().manual_seed(int(self.seed) * 1_000_003 + int(self.aug_step))
        self.aug_step += 1
        flips = torch.rand(B * dist.world_size(), generator=g) < 0.5
        return flips[dist.rank() * B:(dist.rank() + 1) * B].to(device)

    def _inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(radar, image, gamma) of the batch, mirror-augmented (image+mask and azimuth together) if configured."""
        radar, image, gamma = batch["radar"], batch["image"], batch["gamma"]
        if self.mirror_aug:
            flip = self._flip_mask(radar.shape[0], radar.device)
            radar, image, gamma = (mirror({"r": radar, "i": image, "g": gamma}, flip)[k] for k in "rig")
        return radar, image, gamma


class MILMethod(PerBinMethod):
    """MCL (default): paper Eq. 1 with per-bin radio projection and smooth-max pair scores (see module doc)."""

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        L = cfg.loss
        self.tau_s, self.m = L.smooth_max_tau, L.momentum
        self.radio_k, self.vision_k = copy.deepcopy(self.radio), copy.deepcopy(self.vision)
        self.proj_r_k, self.proj_v_k = copy.deepcopy(self.proj_r), copy.deepcopy(self.proj_v)
        for on, ema in self._pairs():
            for p in ema.parameters():
                p.requires_grad_(False)
        K, D = L.queue_size, L.proj_dim
        self.register_buffer("queue_v", F.normalize(torch.randn(K, D), dim=1))
        self.register_buffer("queue_r", torch.zeros(K, D, 0))            # sized on first use (h*w unknown)
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def _pairs(self):
        return [(self.radio, self.radio_k), (self.vision, self.vision_k), (self.proj_r, self.proj_r_k),
                (self.proj_v, self.proj_v_k)]

    @torch.no_grad()
    def momentum_update(self) -> None:
        """theta_bar <- m theta_bar + (1 - m) theta (backbones and projectors); BN running stats copied."""
        ema_update(self._pairs(), self.m, copy_buffers=True)

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):
        q = state.get("queue_r")
        if q is not None and q.shape != self.queue_r.shape:
            self.queue_r = bins_major(torch.zeros(q.shape, dtype=q.dtype, device=self.queue_v.device))
        return super().load_state_dict(state, strict=strict, assign=assign)

    @torch.no_grad()
    def enqueue(self, k_r: torch.Tensor, k_v: torch.Tensor) -> None:
        """FIFO write of keys k_r [n, D, N_bins], k_v [n, D] at the pointer."""
        fifo_enqueue(self.queue_r, self.queue_v, self.queue_ptr, k_r, k_v)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        radar, image, gamma = self._inputs(batch)
        with torch.no_grad():
            self.momentum_update()
            hard_r = hard_v = None
            if self.mirror_neg:
                k_r, k_v, hard_r, hard_v = self.embed_with_twins(radar, image, gamma, ema=True)
            else:
                k_r, k_v = self.embed_radio(radar, ema=True), self.embed_vision(image, gamma, ema=True)
        q_r = self.embed_radio(radar)
        q_v = self.embed_vision(image, gamma)
        if self.queue_r.shape[-1] != q_r.shape[-1]:
            # first step: random unit vectors of the right map size (like queue_v), seeded
            g = torch.Generator().manual_seed(int(self.seed))
            K = self.queue_v.shape[0]
            self.queue_r = bins_major(F.normalize(torch.randn(K, *q_r.shape[1:], generator=g), dim=1).to(q_r.device))
        # queue_r is passed without a copy: ``scores.mil_scores`` keeps nothing of a no-grad radio map for the
        # backward, so the in-place enqueue below is safe (queue_v is kept: it is the no-grad *vision* side)
        loss, l_vr, l_rv = mil_mcl_loss(q_r, q_v, k_r, k_v, self.queue_r, self.queue_v.clone(),
                                        hard_r, hard_v, self.tau, self.tau_s)
        self.enqueue(dist.gather(k_r), dist.gather(k_v))
        return loss, {"loss_v2r": l_vr.detach(), "loss_r2v": l_rv.detach()}


class MILSCLMethod(PerBinMethod):
    """SCL (default ``scl``): Windsor et al. 2021 in the per-bin family. Same nets, masked vision and
    mirror-consistent augmentation as ``mcl``, but the objective is in-batch symmetric InfoNCE (no EMA key nets,
    no queue) whose pair score is the *hard* maximum over radio bins (``losses.mil_scl_loss``).

    Each sample's mirrored twin (image+mask flipped, azimuth reversed) is one extra hard negative, as in ``mcl``:
    without it the target's azimuth sidelobe stripe lets "any bin at the right range" win the max. Defaults
    (issue 8, chosen on label-free proxies, docs/pretraining.md): the twins are embedded *with* gradient
    (``loss.scl_twin_grad``), the twins of *all* in-batch pairs are negatives (``loss.scl_all_twins``: 2G columns,
    the in-batch stand-in for ``mcl``'s queue), and the first ``loss.scl_smooth_steps`` steps score pairs by the
    smooth max of ``mcl`` (tau_s = ``loss.smooth_max_tau``) before the hard max takes over; ``step`` is that
    warm-up clock.
    """

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        L = cfg.loss
        self.twin_grad, self.smooth_steps, self.tau_s = L.scl_twin_grad, L.scl_smooth_steps, L.smooth_max_tau
        self.all_twins = L.scl_all_twins and L.mirror_negatives
        self.register_buffer("step", torch.zeros((), dtype=torch.long))   # training steps seen (warm-up clock)

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):
        if strict and not any(k.startswith("proj_r.") for k in state):
            # runs made before issue 8 item 2 hold the raw-feature SCL under the same method name and config
            raise StageChangedError("this checkpoint holds the raw-feature SCL, now called 'scl-paper'; re-run "
                                    "pretraining for 'scl' (--force) or use --method scl-paper")
        if strict and "step" not in state:
            raise StageChangedError("this checkpoint holds the first per-bin SCL (hard max from step 0, twins without "
                                    "gradient); re-run pretraining for 'scl' (--force)")
        return super().load_state_dict(state, strict=strict, assign=assign)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        radar, image, gamma = self._inputs(batch)
        hard_r = hard_v = None
        if self.mirror_neg and self.twin_grad:
            z_r, z_v, hard_r, hard_v = self.embed_with_twins(radar, image, gamma)    # [B, D, N], [B, D], twins
        else:
            if self.mirror_neg:
                with torch.no_grad():
                    hard_r = self.embed_radio(radar.flip(-1))
                    hard_v = self.embed_vision(image.flip(-1), gamma.flip(-1))
            z_r = self.embed_radio(radar)                                 # [B, D, N]
            z_v = self.embed_vision(image, gamma)                         # [B, D]
        offset = dist.rank() * z_v.shape[0]
        tau_s = self.tau_s if int(self.step) < self.smooth_steps else None
        if self.training:
            self.step += 1
        if self.all_twins:
            hard_r, hard_v = dist.gather_with_grad(hard_r), dist.gather_with_grad(hard_v)
        loss, l_vr, l_rv = mil_scl_loss(z_v, dist.gather_with_grad(z_r), dist.gather_with_grad(z_v), z_r,
                                        hard_r, hard_v, self.tau, offset, tau_s, self.all_twins)
        return loss, {"loss_v2r": l_vr.detach(), "loss_r2v": l_rv.detach()}
