"""Distributed helpers that fall back to one process.

torchrun is detected from its environment (``RANK``/``WORLD_SIZE``/``LOCAL_RANK``); without it
every helper is the identity (rank 0 of 1), so a plain ``python`` run never touches
``torch.distributed``. Backend: NCCL when CUDA is available, gloo otherwise.
"""

from __future__ import annotations

import os

import torch


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def is_initialized() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def rank() -> int:
    return torch.distributed.get_rank() if is_initialized() else 0


def world_size() -> int:
    return torch.distributed.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def setup() -> torch.device:
    """Initialise the process group under torchrun; return this process's device."""
    cuda = torch.cuda.is_available()
    if launched_by_torchrun() and not is_initialized():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if cuda:
            torch.cuda.set_device(local)
        torch.distributed.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def cleanup() -> None:
    if is_initialized():
        torch.distributed.destroy_process_group()


def barrier() -> None:
    if is_initialized():
        torch.distributed.barrier()


@torch.no_grad()
def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate equal-shaped ``x`` from all ranks along dim 0, in rank order (no gradient)."""
    if not is_initialized():
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    torch.distributed.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums every rank's gradient for the local slice."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        ctx.n = x.shape[0]
        parts = [torch.empty_like(x) for _ in range(world_size())]
        torch.distributed.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        grad = grad.contiguous().clone()
        torch.distributed.all_reduce(grad)
        return grad[rank() * ctx.n:(rank() + 1) * ctx.n]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Like ``gather`` but differentiable (in-batch negatives across ranks for CLIP/SCL)."""
    if not is_initialized():
        return x
    return _GatherWithGrad.apply(x)


def all_reduce_mean(x: torch.Tensor) -> torch.Tensor:
    if not is_initialized():
        return x
    y = x.detach().clone()
    torch.distributed.all_reduce(y)
    return y / world_size()


def broadcast_object(obj):
    if not is_initialized():
        return obj
    lst = [obj]
    torch.distributed.broadcast_object_list(lst, src=0)
    return lst[0]
