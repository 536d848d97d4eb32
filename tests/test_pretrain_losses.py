"""Losses against hand-written references; queue, EMA, masking and feature geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from radiovisual.pretrain.config import resolve_pretrain_config
from radiovisual.pretrain.data import bbox_to_mask, mask_to_tensor, radar_to_tensor
from radiovisual.pretrain.losses import (clip_loss, info_nce_queue, masked_mean_pool, mcl_loss, scl_loss,
                                         symmetric_infonce)


def _unit(*shape, dim=-1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=dim).requires_grad_(True)


def ref_info_nce(q, kp, kn, tau):
    """Loop-based -log(e^{q.k+/t} / (e^{q.k+/t} + sum_i e^{q.k_i/t}))."""
    total = 0.0
    for b in range(q.shape[0]):
        pos = torch.exp(torch.dot(q[b], kp[b]) / tau)
        neg = sum(torch.exp(torch.dot(q[b], kn[i]) / tau) for i in range(kn.shape[0]))
        total = total - torch.log(pos / (pos + neg))
    return total / q.shape[0]


def ref_sym(sim_fn, B, tau):
    """Loop-based symmetric InfoNCE over a score function s(i, j) (vision i, radio j)."""
    l_vr = l_rv = 0.0
    for i in range(B):
        row = torch.stack([sim_fn(i, j) for j in range(B)]) / tau
        col = torch.stack([sim_fn(j, i) for j in range(B)]) / tau
        l_vr = l_vr - (row[i] - torch.logsumexp(row, 0))
        l_rv = l_rv - (col[i] - torch.logsumexp(col, 0))
    return (l_vr / B + l_rv / B) / 2, l_vr / B, l_rv / B


def test_info_nce_matches_reference_values_and_grads():
    q, kp, kn = _unit(5, 8, seed=1), _unit(5, 8, seed=2), _unit(7, 8, seed=3)
    got = info_nce_queue(q, kp, kn, 0.2)
    ref = ref_info_nce(q, kp, kn, 0.2)
    assert torch.allclose(got, ref, atol=1e-10)
    g_got = torch.autograd.grad(got, (q, kp, kn))
    g_ref = torch.autograd.grad(ref, (q, kp, kn))
    for a, b in zip(g_got, g_ref):
        assert torch.allclose(a, b, atol=1e-10)


def test_mcl_loss_is_mean_of_symmetric_halves():
    qr, qv, kr, kv = (_unit(4, 6, seed=s) for s in range(4))
    Qr, Qv = _unit(9, 6, seed=7), _unit(9, 6, seed=8)
    loss, l_vr, l_rv = mcl_loss(qr, qv, kr, kv, Qr, Qv, 0.1)
    assert torch.allclose(l_vr, ref_info_nce(qr, kv, Qv, 0.1), atol=1e-10)   # radio query vs vision keys
    assert torch.allclose(l_rv, ref_info_nce(qv, kr, Qr, 0.1), atol=1e-10)
    assert torch.allclose(loss, (l_vr + l_rv) / 2)
    # swapping the modalities swaps the halves
    loss2, a, b = mcl_loss(qv, qr, kv, kr, Qv, Qr, 0.1)
    assert torch.allclose(a, l_rv) and torch.allclose(b, l_vr) and torch.allclose(loss2, loss)


def test_scl_matches_reference_values_and_grads():
    B, C = 4, 5
    v = _unit(B, C, seed=1)
    r = _unit(B, C, 3, 2, dim=1, seed=2)
    loss, l_vr, l_rv = scl_loss(v, r, v, r, 0.1)
    ref, ref_vr, ref_rv = ref_sym(lambda i, j: max(torch.dot(v[i], r[j, :, y, x]) for y in range(3) for x in range(2)),
                                  B, 0.1)
    assert torch.allclose(loss, ref, atol=1e-10)
    assert torch.allclose(l_vr, ref_vr, atol=1e-10) and torch.allclose(l_rv, ref_rv, atol=1e-10)
    ga, gb = torch.autograd.grad(loss, (v, r)), torch.autograd.grad(ref, (v, r))
    for a, b in zip(ga, gb):
        assert torch.allclose(a, b, atol=1e-10)


def test_clip_matches_reference_and_temperature_gets_gradient():
    B, D = 6, 4
    v, r = _unit(B, D, seed=3), _unit(B, D, seed=4)
    ls = torch.tensor(math.log(1 / 0.07), dtype=torch.float64, requires_grad=True)
    loss, _, _ = clip_loss(v, r, v, r, ls)
    ref, _, _ = ref_sym(lambda i, j: torch.dot(v[i], r[j]), B, 0.07)
    assert torch.allclose(loss, ref, atol=1e-9)
    gl, gv = torch.autograd.grad(loss, (ls, v))
    rv, = torch.autograd.grad(ref, (v,))
    assert torch.allclose(gv, rv, atol=1e-9) and gl.abs() > 0


def test_local_rows_with_offset_average_to_global_loss():
    """What each DDP rank computes (its rows vs all columns) averages to the single-process loss."""
    sim = torch.randn(6, 6, dtype=torch.float64)
    full, _, _ = symmetric_infonce(sim, sim.t(), 3.0)
    parts = [symmetric_infonce(sim[k * 3:(k + 1) * 3], sim.t()[k * 3:(k + 1) * 3], 3.0, offset=k * 3)[0]
             for k in range(2)]
    assert torch.allclose(full, (parts[0] + parts[1]) / 2)


def _mcl(**over):
    from radiovisual.pretrain.methods import build_method

    sets = [f"{k}={v}" for k, v in over.items()]
    return build_method(resolve_pretrain_config("mcl-paper", "smoke", sets))


def test_queue_enqueue_wraps_around():
    m = _mcl(**{"loss.queue_size": 5, "loss.proj_dim": 3})
    keys = [torch.full((2, 3), float(i)) for i in range(4)]
    for k in keys[:2]:
        m.enqueue(k, -k)
    assert int(m.queue_ptr) == 4
    m.enqueue(keys[2], -keys[2])   # writes slots 4 and 0
    assert int(m.queue_ptr) == 1
    assert torch.equal(m.queue_r[4], keys[2][0]) and torch.equal(m.queue_r[0], keys[2][1])
    assert torch.equal(m.queue_r[1], keys[0][1]) and torch.equal(m.queue_v[0], -keys[2][1])
    m.enqueue(keys[3], -keys[3])   # slots 1, 2
    assert int(m.queue_ptr) == 3 and torch.equal(m.queue_r[2], keys[3][1]) and torch.equal(m.queue_r[3], keys[1][1])


def test_ema_update_follows_momentum():
    m = _mcl(**{"loss.momentum": 0.75})
    on, ema = dict(m.radio.named_parameters()), dict(m.radio_k.named_parameters())
    name = next(iter(on))
    before = ema[name].detach().clone()
    with torch.no_grad():
        on[name].add_(1.0)
    m.momentum_update()
    assert torch.allclose(ema[name], 0.75 * before + 0.25 * on[name])
    assert not any(p.requires_grad for p in m.radio_k.parameters())
    assert all(p.requires_grad for p in m.radio.parameters())


def test_mask_padding_grows_and_shrinks():
    mask = np.zeros((1, 20, 20), bool)
    mask[0, 8:13, 6:11] = True                       # 5 x 5 square
    assert mask_to_tensor(mask, 0).sum() == 25
    grown = mask_to_tensor(mask, 2)[0, 0]
    assert grown.sum() == 81 and grown[6:15, 4:13].all()   # 9 x 9
    shrunk = mask_to_tensor(mask, -1)[0, 0]
    assert shrunk.sum() == 9 and shrunk[9:12, 7:10].all()  # 3 x 3
    assert mask_to_tensor(mask, -3).sum() == 0              # eroded away
    # a mask touching the border is not eroded from the outside
    edge = np.zeros((1, 10, 10), bool)
    edge[0, :, :4] = True
    e = mask_to_tensor(edge, -1)[0, 0]
    assert e[:, :3].all() and not e[:, 3].any() and e.sum() == 30
    box = bbox_to_mask(np.array([[2, 3, 4, 5]], np.float32), 8, 8)[0]
    assert box.sum() == 9 and box[3:6, 2:5].all()


def test_masked_pool_selects_the_masked_bin_and_radar_is_median_normalised():
    feat = torch.randn(1, 4, 4, 4)
    gamma = torch.zeros(1, 1, 16, 16)
    gamma[..., 6:10, 2:6] = 1.0      # exactly the window centred on bin (2, 1) (centre at input (8, 4))
    pooled = masked_mean_pool(feat, gamma, (4, 4))
    assert torch.allclose(pooled[0], feat[0, :, 2, 1], atol=1e-6)
    x = np.full((2, 4, 4), -80.0, np.float32)
    x[1] += 5.0
    x[:, 1, 2] += 30.0
    t = radar_to_tensor(x)
    assert t.shape == (2, 1, 4, 4) and torch.allclose(t[:, 0, 1, 2], torch.tensor([3.0, 3.0]))
    assert float(t[0, 0, 0, 0]) == 0.0


@pytest.mark.parametrize("hw", [(32, 32), (30, 17)])
def test_backbones_same_channels_and_geometry(hw):
    from radiovisual.pretrain.backbones import build_backbones, feature_geometry, feature_stride

    cfg = resolve_pretrain_config("mcl", "smoke")
    radio, vision = build_backbones(cfg.backbone)
    fr = radio(torch.zeros(2, 1, *hw))
    fv = vision(torch.zeros(2, 3, 24, 40))
    geo = feature_geometry(radio, hw)
    assert fr.shape[1] == fv.shape[1] == cfg.backbone.channels
    assert tuple(fr.shape[2:]) == geo["out_hw"] and feature_stride(radio, hw) == (4, 4)
    assert tuple(fv.shape[2:]) == feature_geometry(vision, (24, 40))["out_hw"] == (6, 10)


def test_radio_stem_follows_the_grid_native_key_unchanged():
    """Issue 13: the radio backbone's first conv spans the same resolution cells on every grid. On ours it is
    the plain 3x3 stride-2 conv (same weights from the same seed, same stage key); on CRUW's (15.9 azimuth bins
    per beam) it is kernel (3, 9), stride (2, 8) and the feature stride follows."""
    from dataclasses import replace

    from radiovisual.dataset import cruw
    from radiovisual.dataset.resolution import grid_resolution
    from radiovisual.errors import ConfigError
    from radiovisual.pretrain.backbones import build_backbones, feature_geometry
    from radiovisual.pretrain.config import BackboneConfig
    from radiovisual.pretrain.train import stage_config

    ours = {"range_resolution_m": 0.1874, "array": {"cols": 16, "spacing_wavelengths": 0.5}}
    quick = grid_resolution({"radio": ours},
                            2.0 + 0.1874 * np.arange(128), np.deg2rad(np.linspace(-60, 60, 64)))
    crw = grid_resolution({"radio": {"range_resolution_m": cruw.RANGE_RESOLUTION_M,
                                     "array": {"cols": 8, "spacing_wavelengths": 0.5}}},
                          cruw.range_grid_m(), cruw.azimuth_grid_rad())
    cfg = resolve_pretrain_config("mcl", "smoke")
    assert cfg.backbone.for_grid(quick).radio_stem() == (1, 1)
    assert cfg.backbone.for_grid(crw).radio_stem() == (1, 4)
    assert replace(cfg.backbone, radio_stem_azimuth=2).for_grid(crw).radio_stem() == (1, 2)   # explicit kept
    with pytest.raises(ConfigError):
        BackboneConfig(radio_stem_range=0).validate()
    # native: the stage key is the one stored runs were made with (no radio_stem_* keys), weights identical
    native = replace(cfg, backbone=cfg.backbone.for_grid(quick))
    assert not any(k.startswith("radio_stem") for k in stage_config(native)["backbone"])
    wide = replace(cfg, backbone=cfg.backbone.for_grid(crw))
    assert stage_config(wide)["backbone"]["radio_stem_azimuth"] == 4
    torch.manual_seed(0)
    a, _ = build_backbones(native.backbone)
    torch.manual_seed(0)
    b, _ = build_backbones(cfg.backbone)            # unresolved "auto" (old checkpoints) = native
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert a.net[0][0].kernel_size == (3, 3) and a.net[0][0].stride == (2, 2)
    # CRUW: first conv kernel (3, 9), stride (2, 8), pad (1, 4): output column j centred on input bin 8 j
    radio, vision = build_backbones(wide.backbone)
    conv = radio.net[0][0]
    assert conv.kernel_size == (3, 9) and conv.stride == (2, 8) and conv.padding == (1, 4)
    x = torch.randn(1, conv.in_channels, 128, 128)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, 0, 1, 4] = 1.0
        torch.testing.assert_close(conv(x)[0, 0], x[0, 0, ::2, ::8])
    geo = feature_geometry(radio, (128, 128))
    assert geo["stride"] == (4, 16) and geo["offset"] == (0.0, 0.0) and vision.stride == (4, 4)
    assert tuple(radio(torch.zeros(2, 1, 128, 128)).shape[2:]) == geo["out_hw"] == (32, 8)
