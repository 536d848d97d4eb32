"""The two state updates every MoCo-style method shares: EMA key encoders and FIFO key queues."""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


@torch.no_grad()
def ema_update(pairs: Iterable[tuple[nn.Module, nn.Module]], m: float, copy_buffers: bool = False) -> None:
    """theta_bar <- m theta_bar + (1 - m) theta for each (online, ema) pair; optionally copy buffers
    (BatchNorm running statistics) so the key encoder normalises like the online one at read-out."""
    for on, ema in pairs:
        for p, pk in zip(on.parameters(), ema.parameters()):
            pk.mul_(m).add_(p.detach(), alpha=1 - m)
        if copy_buffers:
            for b, bk in zip(on.buffers(), ema.buffers()):
                bk.copy_(b)


@torch.no_grad()
def fifo_enqueue(queue_r: torch.Tensor, queue_v: torch.Tensor, ptr: torch.Tensor,
                 k_r: torch.Tensor, k_v: torch.Tensor) -> None:
    """Write n keys (k_r [n, ...], k_v [n, D]) at ``ptr`` into length-K queues, wrapping around (in place)."""
    K, n = queue_v.shape[0], k_v.shape[0]
    idx = (ptr + torch.arange(n, device=k_v.device)) % K
    queue_r[idx] = k_r.to(queue_r.dtype)
    queue_v[idx] = k_v.to(queue_v.dtype)
    ptr.copy_((ptr + n) % K)
