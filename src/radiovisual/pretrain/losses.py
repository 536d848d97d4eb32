"""Contrastive losses as small pure functions (no state, no communication).

Notation follows paper Sec. 4.1: q = query (online nets), k = key (momentum nets),
sim(x, y) = x.y / tau on L2-normalised vectors. B = local batch, G = global batch
(all ranks), K = queue length, D = embedding size, C = backbone channels, n = spatial bin.
Distributed callers pass their local queries with globally gathered keys and ``offset`` =
index of their first local sample in the global batch; with one process offset = 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .scores import mil_scores


def info_nce_queue(q: torch.Tensor, k_pos: torch.Tensor, k_neg: torch.Tensor, tau: float) -> torch.Tensor:
    """One-sided MoCo InfoNCE, paper Sec. 4.1 L_c(q, k+, k-).

    q [B, D], k_pos [B, D] (row i is q_i's true match), k_neg [K, D] (false matches);
    all L2-normalised. Returns the mean over B of
    -log( e^{q.k+/tau} / (e^{q.k+/tau} + sum_i e^{q.k_i-/tau}) ).
    """
    pos = (q * k_pos).sum(dim=1, keepdim=True)           # [B, 1]
    neg = q @ k_neg.t()                                  # [B, K]
    logits = torch.cat([pos, neg], dim=1) / tau          # [B, 1+K]
    target = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, target)


def mcl_loss(q_r: torch.Tensor, q_v: torch.Tensor, k_r: torch.Tensor, k_v: torch.Tensor,
             queue_r: torch.Tensor, queue_v: torch.Tensor, tau: float
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bidirectional masked contrastive loss, paper Eq. 1: L = (L^{v~->r} + L^{r->v~}) / 2.

    q_r, q_v, k_r, k_v [B, D]; queue_r, queue_v [K, D] (negatives, per modality).
    L^{v~->r} = L_c(q^r, k^{v~+}, k^{v~-}) scores each radar query against masked-vision keys;
    L^{r->v~} = L_c(q^{v~}, k^{r+}, k^{r-}) the reverse. With unmasked vision this is CL.
    Returns (loss, L^{v~->r}, L^{r->v~}).
    """
    l_vr = info_nce_queue(q_r, k_v, queue_v, tau)
    l_rv = info_nce_queue(q_v, k_r, queue_r, tau)
    return (l_vr + l_rv) / 2, l_vr, l_rv


def smooth_max_score(v: torch.Tensor, r: torch.Tensor, tau_s: float) -> torch.Tensor:
    """Multiple-instance pair score s[i, j] = tau_s * log sum_n exp(<v_i, r_{j,n}> / tau_s).

    v [Bv, D] (normalised), r [Br, D, N] (normalised per bin n) -> [Bv, Br]. A smooth maximum over
    the bins of radio map j (-> max_n as tau_s -> 0): the pair matches if *some* bin matches, and the
    gradient flows mostly to the best-matching bins (softmax weights), which trains spatial attention.
    Computed by ``scores.mil_scores`` (chunked, no [Bv, Br, N] tensor kept; same values as
    ``tau_s * logsumexp(einsum("id,jdn->ijn", v, r) / tau_s, dim=2)`` up to float rounding).
    """
    return mil_scores(v, r, tau_s)


def _paired_smooth_max(v: torch.Tensor, r: torch.Tensor, tau_s: float) -> torch.Tensor:
    """Diagonal of ``smooth_max_score``: v [B, D], r [B, D, N] -> [B] (s(v_b, r_b))."""
    return tau_s * torch.logsumexp(torch.einsum("bd,bdn->bn", v, r) / tau_s, dim=1)


def mil_mcl_loss(q_r: torch.Tensor, q_v: torch.Tensor, k_r: torch.Tensor, k_v: torch.Tensor,
                 queue_r: torch.Tensor, queue_v: torch.Tensor, hard_r: torch.Tensor | None,
                 hard_v: torch.Tensor | None, tau: float, tau_s: float
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 1 with per-bin radio embeddings and smooth-max pair scores s(.,.) (``smooth_max_score``).

    q_r, k_r [B, D, N] per-bin radio query/key maps; q_v, k_v [B, D] masked-vision query/key;
    queue_r [K, D, N], queue_v [K, D] negatives; hard_r [B, D, N], hard_v [B, D] (or None): each
    sample's own hard negative (its mirrored twin). With l_b = logits / tau,

        L^{v~->r} = -1/B sum_b log softmax([s(k^v_b, q^r_b), s(hard^v_b, q^r_b), s(queue^v_k, q^r_b)_k] / tau)_0
        L^{r->v~} = -1/B sum_b log softmax([s(q^v_b, k^r_b), s(q^v_b, hard^r_b), s(q^v_b, queue^r_k)_k] / tau)_0

    L = (L^{v~->r} + L^{r->v~}) / 2. Returns (L, L^{v~->r}, L^{r->v~}).
    """
    pos_vr = _paired_smooth_max(k_v, q_r, tau_s)                        # [B]
    neg_vr = smooth_max_score(queue_v, q_r, tau_s).t()                  # [B, K]
    pos_rv = _paired_smooth_max(q_v, k_r, tau_s)                        # [B]
    neg_rv = smooth_max_score(q_v, queue_r, tau_s)                      # [B, K]
    cols_vr, cols_rv = [pos_vr[:, None]], [pos_rv[:, None]]
    if hard_v is not None:
        cols_vr.append(_paired_smooth_max(hard_v, q_r, tau_s)[:, None])
    if hard_r is not None:
        cols_rv.append(_paired_smooth_max(q_v, hard_r, tau_s)[:, None])
    logits_vr = torch.cat(cols_vr + [neg_vr], dim=1) / tau            # [B, 1(+1)+K]
    logits_rv = torch.cat(cols_rv + [neg_rv], dim=1) / tau
    target = torch.zeros(q_v.shape[0], dtype=torch.long, device=q_v.device)
    l_vr = F.cross_entropy(logits_vr, target)
    l_rv = F.cross_entropy(logits_rv, target)
    return (l_vr + l_rv) / 2, l_vr, l_rv


def max_attention_similarity(v: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """s[i, j] = max_n <v_i, r_{j,n}>: vision embedding i against radio spatial map j.

    v [Bv, C] (normalised), r [Br, C, h, w] or [Br, C, N] (normalised along C per bin) -> [Bv, Br].
    Same values and gradients as ``einsum("ic,jcn->ijn", v, r).amax(2)`` (``scores.mil_scores``).
    """
    return mil_scores(v, r.flatten(2), None)


def symmetric_infonce(sim_vr: torch.Tensor, sim_rv: torch.Tensor, scale: torch.Tensor | float,
                      offset: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batched symmetric InfoNCE over in-batch pairs (CLIP / LIP-Loc): positives on the diagonal.

    sim_vr [B, G]: local vision i vs all radio j; sim_rv [B, G]: local radio j vs all vision i;
    the true match of local row b is global column offset + b. scale = 1/tau.
    Returns ((L_vr + L_rv) / 2, L_vr, L_rv).
    """
    target = offset + torch.arange(sim_vr.shape[0], device=sim_vr.device)
    l_vr = F.cross_entropy(sim_vr * scale, target)
    l_rv = F.cross_entropy(sim_rv * scale, target)
    return (l_vr + l_rv) / 2, l_vr, l_rv


def scl_loss(v_local: torch.Tensor, r_all: torch.Tensor, v_all: torch.Tensor, r_local: torch.Tensor,
             tau: float, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``scl-paper``: spatial contrastive learning on raw features, after Afouras et al. (ECCV 2020, CVPR 2022).

    With v~_i = normalised masked-average visual embedding of pair i and r_{j,n} the normalised
    radio feature of pair j at spatial bin n in Omega, the pair score is the maximum of the
    cross-modal attention map, s_ij = max_n <v~_i, r_{j,n}> (cf. paper Eqs. 2-3), and

        L_SCL = -1/(2B) sum_i [ log softmax_j(s_ij / tau)_i + log softmax_j(s_ji / tau)_i ],

    i.e. a symmetric InfoNCE whose negatives are the other in-batch pairs (radio maps that do
    not contain the target and vision crops whose target is elsewhere). Only the best-matching
    bin of each radio map receives gradient, which trains spatial attention directly.
    v_local [B, C], r_local [B, C, h, w]; v_all [G, C], r_all [G, C, h, w] (gathered).
    """
    sim_vr = max_attention_similarity(v_local, r_all)        # [B, G]
    sim_rv = max_attention_similarity(v_all, r_local).t()    # [B, G]
    return symmetric_infonce(sim_vr, sim_rv, 1.0 / tau, offset)


def _paired_max(v: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Diagonal of ``max_attention_similarity``: v [B, D], r [B, D, N] -> [B] (max_n <v_b, r_{b,n}>)."""
    return torch.einsum("bd,bdn->bn", v, r).amax(dim=1)


def mil_scl_loss(v_local: torch.Tensor, r_all: torch.Tensor, v_all: torch.Tensor, r_local: torch.Tensor,
                 hard_r: torch.Tensor | None, hard_v: torch.Tensor | None, tau: float, offset: int = 0,
                 tau_s: float | None = None, all_twins: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SCL of the per-bin family (Windsor et al. 2021): in-batch symmetric InfoNCE, hard max over radio bins.

    z^v_i [D]: projected masked-vision embedding of pair i; z^r_{j,n} [D]: per-bin projected radio embedding of
    pair j at bin n (both L2-normalised). The vision embedding is a 1x1 kernel, so correlating it with radio map
    j (conv2d) gives a_ijn = <z^v_i, z^r_{j,n}> at every offset n, and the maximum over offsets sits *inside*
    the loss:

        s_ij   = max_n <z^v_i, z^r_{j,n}>                  (vision i vs radio map j)
        sbar_i = max_n <z^v_i, zbar^r_{i,n}>               (vs its own mirrored radio twin; hard negative)
        shat_j = max_n <zbar^v_j, z^r_{j,n}>               (its own mirrored vision twin vs radio map j)
        L^{v->r} = -1/B sum_i log( e^{s_ii/tau} / (sum_j e^{s_ij/tau} + e^{sbar_i/tau}) )
        L^{r->v} = -1/B sum_j log( e^{s_jj/tau} / (sum_i e^{s_ij/tau} + e^{shat_j/tau}) )
        L = (L^{v->r} + L^{r->v}) / 2

    Only the arg-max bin of each pair receives gradient. Shapes: v_local [B, D], r_local [B, D, N] (this rank);
    v_all [G, D], r_all [G, D, N] (gathered over ranks, local rows at ``offset``); hard_r [B, D, N] and
    hard_v [B, D] the local samples' mirrored twins (None: no twin term). Returns (L, L^{v->r}, L^{r->v}).
    ``tau_s`` (warm-up only): every max_n above becomes the smooth max tau_s log sum_n exp(. / tau_s) of
    ``smooth_max_score``, which spreads the gradient over the near-best bins instead of one arg-max bin.
    ``all_twins``: hard_r [G, D, N] / hard_v [G, D] are the gathered twins of *all* pairs and every one is a
    negative column (logits [B, 2G]) instead of only the row's own twin (logits [B, G+1]).
    """
    if tau_s is None:
        full, paired = max_attention_similarity, _paired_max
    else:
        def full(v, r):
            return smooth_max_score(v, r, tau_s)

        def paired(v, r):
            return _paired_smooth_max(v, r, tau_s)
    sim_vr = full(v_local, r_all)                                # [B, G]: local vision i vs every radio map j
    sim_rv = full(v_all, r_local).t()                            # [B, G]: local radio j vs every vision i
    if all_twins:
        sim_vr = torch.cat([sim_vr, full(v_local, hard_r)], dim=1)             # [B, 2G]
        sim_rv = torch.cat([sim_rv, full(hard_v, r_local).t()], dim=1)         # [B, 2G]
    else:
        if hard_r is not None:
            sim_vr = torch.cat([sim_vr, paired(v_local, hard_r)[:, None]], dim=1)   # [B, G+1]
        if hard_v is not None:
            sim_rv = torch.cat([sim_rv, paired(hard_v, r_local)[:, None]], dim=1)   # [B, G+1]
    return symmetric_infonce(sim_vr, sim_rv, 1.0 / tau, offset)


def clip_loss(v_local: torch.Tensor, r_all: torch.Tensor, v_all: torch.Tensor, r_local: torch.Tensor,
              logit_scale: torch.Tensor, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """LIP-Loc/CLIP batched loss: v [*, D], r [*, D] normalised; logit_scale = log(1/tau) (learnable)."""
    scale = logit_scale.exp()
    return symmetric_infonce(v_local @ r_all.t(), r_local @ v_all.t(), scale, offset)


def masked_mean_pool(feat: torch.Tensor, gamma: torch.Tensor | None, stride: tuple[int, int]) -> torch.Tensor:
    """Masked-average pooling of spatial features over the target mask.

    feat [B, C, h, w]; gamma [B, 1, H, W] in [0, 1] (None: plain mean) -> [B, C].
    gamma is area-averaged onto the feature grid with windows centred on the bin centres
    (input px s*i, see ``backbones``), giving per-bin weights w_n; pooled = sum w_n f_n / sum w_n.
    """
    if gamma is None:
        return feat.mean(dim=(2, 3))
    w = mask_to_grid(gamma, feat.shape[-2:], stride).to(feat.dtype)   # [B, 1, h, w]
    return (feat * w).sum(dim=(2, 3)) / w.sum(dim=(2, 3)).clamp_min(1e-6)


def mask_to_grid(gamma: torch.Tensor, out_hw: tuple[int, int], stride: tuple[int, int]) -> torch.Tensor:
    """[B, 1, H, W] -> [B, 1, h, w]: fraction of each feature bin's window covered by gamma."""
    sy, sx = stride
    g = F.pad(gamma, (sx // 2, sx, sy // 2, sy))
    g = F.avg_pool2d(g, kernel_size=(sy, sx), stride=(sy, sx))
    return g[..., : out_hw[0], : out_hw[1]]
