"""Fused multiple-instance pair scores: the per-bin MIL head of ``mcl`` / ``scl`` without its big temporaries.

``losses.smooth_max_score`` and ``losses.max_attention_similarity`` score every vision vector i against every
radio map j through the cross-modal attention a_ijn = <v_i, r_{j,n}> over bins n. Written with einsum +
logsumexp, autograd keeps several [I, J, N] tensors per op (MCL's queue terms: 64 x 256 x 512 fp32 = 32 MiB
each) and walks them about a dozen times, with permuted copies of the radio maps: that head was about a third of
a quick MCL step on 2 CPU cores (issue 23). Here the same numbers (equal up to float rounding) take one GEMM and
five elementwise passes forward, one pass and one GEMM backward:

* forward: a = (v / tau_s) @ r^T, one GEMM per chunk of radio maps (one chunk unless [I, j, N] would exceed
  ``CHUNK_BYTES``); s_ij = tau_s (m_ij + log sum_n exp(a_ijn - m_ij)), m_ij = max_n a_ijn
  (the hard max, ``tau_s = None``: s_ij = max_n <v_i, r_{j,n}>);
* backward: ds_ij / d<v_i, r_{j,n}> = softmax_n (hard max: 1/#ties on the arg-max bins, as ``amax``), so
  grad_v = W @ r and grad_r = W^T @ v with W = g_ij * softmax. When ``r`` needs no gradient (MCL's radio-key
  queue) the forward also forms J_ij = sum_n softmax_ijn r_{j,n} [J, I, D], the backward is a contraction of g
  with it, and ``r`` is not kept (the queue may be overwritten in place after the forward). Otherwise the
  softmax is kept (one chunk) or recomputed chunk by chunk in the backward (several).

Shapes: v [I, D]; r [J, D, N] (any strides; bins-major storage, i.e. ``r.transpose(1, 2)`` contiguous, as
``mil.project_bins`` and the MCL queue hold it, avoids a copy) -> s [I, J].
"""

from __future__ import annotations

import torch

# attention chunk [I, j, N] in bytes. One chunk when it fits: on a shared 2-core CPU many small chunks cost more
# in OpenMP barriers than they save in cache misses (issue 23: 1 MiB chunks were 5x slower under load).
CHUNK_BYTES = {"cpu": 1 << 26, "cuda": 1 << 28}


def _chunk_rows(I: int, N: int, x: torch.Tensor) -> int:
    budget = CHUNK_BYTES.get(x.device.type, 1 << 28)
    return max(1, budget // max(1, I * N * x.element_size()))


def _chunk_weights(v: torch.Tensor, rc: torch.Tensor, tau_s: float | None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """v [I, D], rc [j, N, D] -> (s [I, j], e [I, j, N], z [I, j, 1]) with ds/da = e / z: the softmax over n
    (hard max: the arg-max indicator over its tie count), left unnormalised to save a pass."""
    I, D = v.shape
    j, N, _ = rc.shape
    if tau_s is None:
        a = torch.mm(v, rc.reshape(j * N, D).t()).view(I, j, N)         # [I, j, N] cross-modal attention
        m = a.amax(dim=2, keepdim=True)
        e = (a == m).to(a.dtype)
        return m.squeeze(2), e, e.sum(dim=2, keepdim=True)
    a = torch.mm(v / tau_s, rc.reshape(j * N, D).t()).view(I, j, N)      # a / tau_s
    m = a.amax(dim=2, keepdim=True)
    e = a.sub_(m).exp_()                                                  # in place: a is not needed any more
    z = e.sum(dim=2, keepdim=True)
    return tau_s * (m + z.log()).squeeze(2), e, z


class _MILScore(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, r, tau_s):  # type: ignore[override]
        rb = r.transpose(1, 2).contiguous()                               # [J, N, D] bins-major (free if stored so)
        I, J, N = v.shape[0], rb.shape[0], rb.shape[1]
        step = _chunk_rows(I, N, v)
        ctx.tau_s, ctx.step, ctx.jac = tau_s, step, not ctx.needs_input_grad[1]
        s = v.new_empty(I, J)
        jac = v.new_empty(J, I, v.shape[1]) if ctx.jac and ctx.needs_input_grad[0] else None
        e = z = None
        for j0 in range(0, J, step):
            rc = rb[j0:j0 + step]
            s[:, j0:j0 + step], e, z = _chunk_weights(v, rc, tau_s)
            if jac is not None:                                           # J_ij = sum_n e_ijn r_jn / z_ij: [j, I, D]
                jac[j0:j0 + step] = torch.bmm(e.transpose(0, 1), rc).div_(z.transpose(0, 1))
        if ctx.jac:
            ctx.save_for_backward(jac)
        elif step >= J:                        # one chunk: keep its weights; several: recompute in the backward
            ctx.save_for_backward(v, rb, e, z)
        else:
            ctx.save_for_backward(v, rb, None, None)
        return s

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        if ctx.jac:
            (jac,) = ctx.saved_tensors
            gv = torch.einsum("ij,jid->id", g, jac) if jac is not None else None
            return gv, None, None
        v, rb, e_all, z_all = ctx.saved_tensors
        I, D = v.shape
        J, N = rb.shape[0], rb.shape[1]
        gv = torch.zeros_like(v) if ctx.needs_input_grad[0] else None
        grb = torch.empty_like(rb)
        for j0 in range(0, J, ctx.step):
            rc = rb[j0:j0 + ctx.step]
            j = rc.shape[0]
            e, z = (e_all, z_all) if e_all is not None else _chunk_weights(v, rc, ctx.tau_s)[1:]
            w = (e * (g[:, j0:j0 + j, None] / z)).view(I, j * N)          # W = g_ij ds_ij/da_ijn
            if gv is not None:
                gv.addmm_(w, rc.reshape(j * N, D))
            grb[j0:j0 + j] = torch.mm(w.t(), v).view(j, N, D)
        return gv, grb.transpose(1, 2), None


def mil_scores(v: torch.Tensor, r: torch.Tensor, tau_s: float | None) -> torch.Tensor:
    """s[i, j] = tau_s log sum_n exp(<v_i, r_{j,n}> / tau_s) (``tau_s = None``: max_n <v_i, r_{j,n}>).

    v [I, D], r [J, D, N] -> [I, J]; differentiable in both (module docstring).
    """
    if v.dtype != r.dtype:
        v, r = v.float(), r.float()
    return _MILScore.apply(v, r, tau_s)
