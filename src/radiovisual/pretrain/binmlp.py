"""The per-bin projector g_r of ``mcl`` / ``scl`` in training, computed with fewer passes over its [B*h*w, hidden]
activations (issue 23: on 2 CPU cores this head was the second-largest cost of a quick MCL step after the
backbones, mostly elementwise BatchNorm and L2-normalisation passes).

g = Linear(C, H) -> BatchNorm over the global batch (biased variance) -> ReLU -> Linear(H, D), then z / ||z||.
BatchNorm after a Linear needs only the input's first two moments: with x [M, C] (all ranks), mean_x [C] and
Sigma_x [C, C],

    mean_h = W1 mean_x + b1,    var_h = diag(W1 Sigma_x W1^T),    s = gamma / sqrt(var_h + eps)
    pre    = x (s * W1)^T + (b1 - mean_h) s + beta                 (= BN(x W1^T + b1), one GEMM)

so the hidden activations are written once (``addmm``) and never normalised elementwise; autograd differentiates
the same expression through the moments. Values equal the module path (``nn.Sequential``) up to float rounding;
the running statistics get the same updates. Evaluation (running statistics) keeps the module path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import dist


class _Normalize(torch.autograd.Function):
    """u = z / max(||z||, eps) along dim 1 with its closed-form backward (fewer passes than autograd's)."""

    @staticmethod
    def forward(ctx, z, eps):  # type: ignore[override]
        raw = torch.linalg.vector_norm(z, dim=1, keepdim=True)
        n = raw.clamp_min(eps)
        u = z / n
        ctx.save_for_backward(u, n, raw >= eps)
        return u

    @staticmethod
    def backward(ctx, gu):  # type: ignore[override]
        u, n, on = ctx.saved_tensors
        dot = (u * gu).sum(dim=1, keepdim=True).mul_(on)        # the radial part, where the norm is not clamped
        return torch.addcmul(gu, u, dot, value=-1).div_(n), None


def normalize_rows(z: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``F.normalize(z, dim=1)`` for z [M, D] (same values; cheaper backward)."""
    return _Normalize.apply(z, eps)


def fusable(g: nn.Module) -> bool:
    """True for ``mil.bin_projector``'s Linear-BN-ReLU-Linear in training mode (the BN class is checked by name
    so that this module does not import ``mil``)."""
    return (isinstance(g, nn.Sequential) and len(g) == 4 and g.training and isinstance(g[0], nn.Linear)
            and type(g[1]).__name__ == "RunningGlobalBatchNorm1d" and isinstance(g[2], nn.ReLU)
            and isinstance(g[3], nn.Linear))


def bin_mlp_train(g: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """x [M, C] -> g(x) [M, D] in training mode via the folded BatchNorm (module docstring)."""
    lin1, bn, _, lin2 = g
    x = x.float()
    xs = dist.gather_with_grad(x)                                    # [G*M, C]: the global batch
    mean_x = xs.mean(0)                                              # [C]
    xc = xs - mean_x
    cov = xc.t() @ xc / xs.shape[0]                                  # [C, C], biased
    w1 = lin1.weight                                                 # [H, C]
    mean_h = torch.addmv(lin1.bias, w1, mean_x)                      # [H]
    var_h = ((w1 @ cov) * w1).sum(1)                                 # [H] = diag(W1 Sigma W1^T)
    s = bn.weight * torch.rsqrt(var_h + bn.eps)                      # [H]
    with torch.no_grad():
        bn.running_mean.lerp_(mean_h.detach(), bn.momentum)
        bn.running_var.lerp_(var_h.detach(), bn.momentum)
    pre = torch.addmm((lin1.bias - mean_h) * s + bn.bias, x, (w1 * s[:, None]).t())   # [M, H] = BN(x W1^T + b1)
    return F.linear(torch.relu_(pre), lin2.weight, lin2.bias)        # [M, D]
