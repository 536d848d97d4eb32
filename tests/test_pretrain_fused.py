"""Issue 23's faster per-bin MIL pieces equal the plain PyTorch expressions they replace (values and gradients):
the fused MIL scores (every mode: chunked, Jacobian, hard max with ties), the folded per-bin projector and its
running statistics, the row normalisation, the backbone's broadcast coordinate channels, the bins-major queue
and its checkpoints, and the mirror."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from radiovisual.pretrain import scores
from radiovisual.pretrain.binmlp import bin_mlp_train, fusable, normalize_rows
from radiovisual.pretrain.config import resolve_pretrain_config
from radiovisual.pretrain.methods import build_method
from radiovisual.pretrain.mil import bin_projector, bins_major, mirror, project_bins
from radiovisual.pretrain.scores import mil_scores


def _ref_scores(v, r, tau_s):
    att = torch.einsum("id,jdn->ijn", v, r)
    return att.amax(2) if tau_s is None else tau_s * torch.logsumexp(att / tau_s, dim=2)


def _unit(*shape, dim, seed, grad=True):
    g = torch.Generator().manual_seed(seed)
    x = F.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=dim)
    return x.requires_grad_(grad)


@pytest.mark.parametrize("tau_s", [0.05, 0.3, None])
@pytest.mark.parametrize("grads", ["both", "v", "r"])
@pytest.mark.parametrize("chunk_bytes", [None, 3 * 5 * 8 * 2])      # one chunk / two radio maps per chunk
def test_mil_scores_match_einsum_reference(tau_s, grads, chunk_bytes, monkeypatch):
    if chunk_bytes is not None:
        monkeypatch.setitem(scores.CHUNK_BYTES, "cpu", chunk_bytes)
    v = _unit(3, 6, dim=1, seed=1, grad=grads in ("both", "v"))
    r = _unit(5, 6, 8, dim=1, seed=2, grad=grads in ("both", "r"))
    r_bins_major = bins_major(r.detach()).requires_grad_(r.requires_grad)   # the layout the queue is stored in
    w = torch.randn(3, 5, dtype=torch.float64)
    for rr in (r, r_bins_major):
        s, ref = mil_scores(v, rr, tau_s), _ref_scores(v, rr, tau_s)
        assert torch.allclose(s, ref, rtol=1e-12, atol=1e-12)
        ins = [t for t in (v, rr) if t.requires_grad]
        for a, b in zip(torch.autograd.grad((s * w).sum(), ins), torch.autograd.grad((ref * w).sum(), ins)):
            assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_mil_scores_hard_max_splits_ties_like_amax():
    v = torch.tensor([[1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    r = torch.tensor([[[0.5, 0.5, 0.1], [0.0, 0.0, 0.0]]], dtype=torch.float64, requires_grad=True)   # two tied bins
    ga = torch.autograd.grad(mil_scores(v, r, None).sum(), [v, r])
    gb = torch.autograd.grad(_ref_scores(v, r, None).sum(), [v, r])
    assert all(torch.equal(a, b) for a, b in zip(ga, gb))
    assert torch.equal(ga[1][0, 0], torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64))


def test_no_grad_radio_maps_may_change_in_place_after_the_forward():
    """MCL passes its radio-key queue uncopied and enqueues before the backward: legal only because the
    Jacobian mode keeps nothing of r."""
    v = _unit(4, 6, dim=1, seed=3)
    queue = _unit(7, 6, 9, dim=1, seed=4, grad=False).clone()
    s = mil_scores(v, queue, 0.05)
    g_ref = torch.autograd.grad(_ref_scores(v, queue, 0.05).sum(), [v])[0]
    queue.mul_(-1)                                                     # the in-place enqueue
    assert torch.allclose(torch.autograd.grad(s.sum(), [v])[0], g_ref, rtol=1e-10)


def _close(a, b, tol=1e-5):    # float32 (the projector computes in float32 like its module path)
    a, b = a.detach(), b.detach()
    return (a - b).abs().max() <= tol * max(1.0, float(a.abs().max()))


def test_folded_projector_equals_the_module_path():
    torch.manual_seed(0)
    g1 = bin_projector(8, 16, 6).train()
    g1[1].running_mean.normal_()                                       # start from non-trivial running stats
    g2 = copy.deepcopy(g1)
    assert fusable(g2) and not fusable(copy.deepcopy(g2).eval()) and not fusable(bin_projector(8, 16, 6, norm=False))
    x = (torch.randn(200, 8) * 3 + 1).requires_grad_()
    a, b = g1(x), bin_mlp_train(g2, x)
    assert _close(a, b)
    w = torch.randn_like(a)
    ga = torch.autograd.grad((a * w).sum(), [x, *g1.parameters()])
    gb = torch.autograd.grad((b * w).sum(), [x, *g2.parameters()])
    for name, p, q in zip(["x"] + [n for n, _ in g1.named_parameters()], ga, gb):
        if name == "0.bias":     # cancelled by the BatchNorm: zero in both up to rounding
            assert p.abs().max() < 1e-4 and q.abs().max() < 1e-4
        else:
            assert _close(p, q, 1e-4), name
    for k in ("running_mean", "running_var"):
        assert _close(getattr(g1[1], k), getattr(g2[1], k))


def test_project_bins_and_normalize_rows_match_plain_pytorch():
    torch.manual_seed(1)
    g = bin_projector(4, 8, 5).train()
    f = torch.randn(3, 4, 2, 5, requires_grad=True)
    z = project_bins(copy.deepcopy(g), f)
    ref = F.normalize(g(f.flatten(2).transpose(1, 2).reshape(-1, 4)), dim=1).reshape(3, 10, 5).transpose(1, 2)
    assert z.shape == (3, 5, 10) and z.transpose(1, 2).is_contiguous()        # [B, D, N], stored bins-major
    assert _close(z, ref)
    y = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 4, dtype=torch.float64)
    ga = torch.autograd.grad((normalize_rows(y) * w).sum(), y)[0]
    gb = torch.autograd.grad((F.normalize(y, dim=1) * w).sum(), y)[0]
    assert torch.allclose(ga, gb, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("coord_freqs", [0, 2])
def test_backbone_broadcast_coordinates_equal_concatenated_input(coord_freqs):
    from radiovisual.pretrain.backbones import SpatialBackbone

    torch.manual_seed(0)
    bb = SpatialBackbone(3, channels=8, widths=(8, 8), blocks=1, groups=4, coord_freqs=coord_freqs).double()
    x = torch.randn(2, 3, 12, 10, dtype=torch.float64)
    ref = bb.net(torch.cat([x, bb.coordinates(12, 10, x.device, x.dtype).expand(2, -1, -1, -1)], dim=1))
    assert torch.allclose(bb(x), ref, rtol=1e-10, atol=1e-12)


def test_mcl_queue_is_bins_major_and_old_checkpoints_load():
    cfg = resolve_pretrain_config("mcl", "smoke")
    torch.manual_seed(0)
    m = build_method(cfg)
    gamma = torch.zeros(8, 1, 48, 64)
    gamma[:, :, 10:20, 20:30] = 1
    batch = {"radar": torch.randn(8, 1, 32, 32), "image": torch.randn(8, 3, 48, 64), "gamma": gamma}
    m(batch)[0].backward()                                   # queue sized, written in place before the backward
    assert m.queue_r.transpose(1, 2).is_contiguous()
    old = {k: (v.contiguous() if k == "queue_r" else v) for k, v in m.state_dict().items()}   # pre-issue-23 layout
    fresh = build_method(cfg)
    fresh.load_state_dict(old)
    assert torch.equal(fresh.queue_r, m.queue_r) and fresh.queue_r.transpose(1, 2).is_contiguous()


def test_mirror_flips_only_the_selected_samples():
    x = torch.arange(3 * 2 * 4.0).view(3, 1, 2, 4)
    y = mirror({"x": x, "none": None}, torch.tensor([False, True, True]))
    assert y["none"] is None and torch.equal(y["x"][0], x[0])
    assert torch.equal(y["x"][1:], x[1:].flip(-1)) and torch.equal(x, torch.arange(24.0).view(3, 1, 2, 4))
