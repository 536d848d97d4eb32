"""Per-bin multiple-instance MCL and SCL: the losses against loop references (values and gradients), mirroring,
the read-out, and short learning tests on a toy store."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from radiovisual.pretrain.config import resolve_pretrain_config
import pytest

from radiovisual.errors import StageChangedError
from radiovisual.pretrain.losses import mil_mcl_loss, mil_scl_loss, smooth_max_score
from radiovisual.pretrain.methods import SCLMethod, build_method
from radiovisual.pretrain.mil import MILMethod, MILSCLMethod, mirror


def _unit(*shape, dim, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=dim).requires_grad_(True)


def _ref_s(v, r, tau_s):
    """Loop: tau_s * log sum_n exp(<v, r_n> / tau_s) for v [D], r [D, N]."""
    terms = torch.stack([torch.dot(v, r[:, n]) / tau_s for n in range(r.shape[1])])
    return tau_s * torch.log(torch.exp(terms).sum())


def _ref_loss(q_r, q_v, k_r, k_v, queue_r, queue_v, hard_r, hard_v, tau, tau_s):
    B, K = q_v.shape[0], queue_v.shape[0]
    l_vr = l_rv = 0.0
    for b in range(B):
        num = torch.exp(_ref_s(k_v[b], q_r[b], tau_s) / tau)
        den = num + torch.exp(_ref_s(hard_v[b], q_r[b], tau_s) / tau)
        den = den + sum(torch.exp(_ref_s(queue_v[k], q_r[b], tau_s) / tau) for k in range(K))
        l_vr = l_vr - torch.log(num / den)
        num = torch.exp(_ref_s(q_v[b], k_r[b], tau_s) / tau)
        den = num + torch.exp(_ref_s(q_v[b], hard_r[b], tau_s) / tau)
        den = den + sum(torch.exp(_ref_s(q_v[b], queue_r[k], tau_s) / tau) for k in range(K))
        l_rv = l_rv - torch.log(num / den)
    return (l_vr / B + l_rv / B) / 2


def test_smooth_max_score_tends_to_max_and_matches_loop():
    v, r = _unit(3, 8, dim=1, seed=0), _unit(4, 8, 5, dim=1, seed=1)
    s = smooth_max_score(v, r, 0.2)
    for i in range(3):
        for j in range(4):
            assert torch.allclose(s[i, j], _ref_s(v[i], r[j], 0.2), atol=1e-12)
    hard_max = torch.einsum("id,jdn->ijn", v, r).amax(2)
    assert torch.allclose(smooth_max_score(v, r, 1e-3), hard_max, atol=5e-3)   # tau_s -> 0: max over bins
    assert torch.all(s >= hard_max)                                              # logsumexp >= max


def test_mil_mcl_loss_matches_loop_reference_values_and_grads():
    B, K, D, N, tau, tau_s = 3, 4, 6, 5, 0.1, 0.2
    args = [_unit(B, D, N, dim=1, seed=1), _unit(B, D, dim=1, seed=2), _unit(B, D, N, dim=1, seed=3),
            _unit(B, D, dim=1, seed=4), _unit(K, D, N, dim=1, seed=5), _unit(K, D, dim=1, seed=6),
            _unit(B, D, N, dim=1, seed=7), _unit(B, D, dim=1, seed=8)]
    loss, l_vr, l_rv = mil_mcl_loss(*args, tau, tau_s)
    ref = _ref_loss(*args, tau, tau_s)
    assert torch.allclose(loss, ref, rtol=1e-10) and torch.allclose(loss, (l_vr + l_rv) / 2)
    g = torch.autograd.grad(loss, [args[0], args[1]])
    g_ref = torch.autograd.grad(ref, [args[0], args[1]])
    for a, b in zip(g, g_ref):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-12)
    # without hard negatives: one logit fewer, so the loss can only drop
    loss2, _, _ = mil_mcl_loss(*args[:6], None, None, tau, tau_s)
    assert loss2 < loss


def _hard_max(a, m):     # a [D], m [D, N]: loop maximum over bins
    return max(torch.dot(a, m[:, n]) for n in range(m.shape[1]))


def _ref_scl(v, r, hard_r, hard_v, tau, s=_hard_max):
    """Loop reference of the per-bin SCL loss: s_ij = s(v_i, r_j) (default max_n <v_i, r_{j,n}>), own mirrored twin
    as extra negative."""

    B = v.shape[0]
    l_vr = l_rv = 0.0
    for i in range(B):
        den = sum(torch.exp(s(v[i], r[j]) / tau) for j in range(B)) + torch.exp(s(v[i], hard_r[i]) / tau)
        l_vr = l_vr - torch.log(torch.exp(s(v[i], r[i]) / tau) / den)
        den = sum(torch.exp(s(v[j], r[i]) / tau) for j in range(B)) + torch.exp(s(hard_v[i], r[i]) / tau)
        l_rv = l_rv - torch.log(torch.exp(s(v[i], r[i]) / tau) / den)
    return (l_vr / B + l_rv / B) / 2


def test_mil_scl_loss_matches_loop_reference_values_and_grads():
    B, D, N, tau = 4, 6, 20, 0.1
    v, r = _unit(B, D, dim=1, seed=11), _unit(B, D, N, dim=1, seed=12)
    hard_r, hard_v = _unit(B, D, N, dim=1, seed=13), _unit(B, D, dim=1, seed=14)
    loss, l_vr, l_rv = mil_scl_loss(v, r, v, r, hard_r, hard_v, tau)
    ref = _ref_scl(v, r, hard_r, hard_v, tau)
    assert torch.allclose(loss, ref, rtol=1e-10) and torch.allclose(loss, (l_vr + l_rv) / 2)
    ins = [v, r, hard_r, hard_v]
    grads = torch.autograd.grad(loss, ins)
    for a, b in zip(grads, torch.autograd.grad(ref, ins)):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-12)
    # hard max: a radio map's gradient reaches only its arg-max bins against the B vision rows and its twin
    g_r = grads[1]                                                         # [B, D, N]
    assert ((g_r.abs().sum(1) > 0).sum(1) <= B + 1).all()
    # DDP layout: local rows at an offset with gathered columns average to the global loss
    halves = [mil_scl_loss(v[k:k + 2], r, v, r[k:k + 2], hard_r[k:k + 2], hard_v[k:k + 2], tau, offset=k)[0]
              for k in (0, 2)]
    assert torch.allclose((halves[0] + halves[1]) / 2, loss, rtol=1e-10)
    # without the twins: one logit fewer per row, so the loss can only drop
    assert mil_scl_loss(v, r, v, r, None, None, tau)[0] < loss


def test_mil_scl_loss_smooth_warmup_matches_loop_and_tends_to_hard_max():
    B, D, N, tau, tau_s = 4, 6, 20, 0.1, 0.05
    v, r = _unit(B, D, dim=1, seed=21), _unit(B, D, N, dim=1, seed=22)
    hard_r, hard_v = _unit(B, D, N, dim=1, seed=23), _unit(B, D, dim=1, seed=24)

    def smax(a, m):     # a [D], m [D, N]: loop smooth max over bins
        return tau_s * torch.log(sum(torch.exp(torch.dot(a, m[:, n]) / tau_s) for n in range(m.shape[1])))

    loss = mil_scl_loss(v, r, v, r, hard_r, hard_v, tau, tau_s=tau_s)[0]
    ref = _ref_scl(v, r, hard_r, hard_v, tau, s=smax)
    assert torch.allclose(loss, ref, rtol=1e-10)
    ins = [v, r, hard_r, hard_v]
    grads = torch.autograd.grad(loss, ins)
    for a, b in zip(grads, torch.autograd.grad(ref, ins)):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-12)
    g_r = grads[1]
    assert ((g_r.abs().sum(1) > 0).sum(1) == N).all()       # the smooth max feeds every bin, unlike the hard max
    hard = mil_scl_loss(v, r, v, r, hard_r, hard_v, tau)[0]
    assert torch.allclose(mil_scl_loss(v, r, v, r, hard_r, hard_v, tau, tau_s=1e-4)[0], hard, atol=1e-2)


def test_mil_scl_loss_all_twins_matches_loop_reference():
    B, D, N, tau = 4, 6, 20, 0.1
    v, r = _unit(B, D, dim=1, seed=31), _unit(B, D, N, dim=1, seed=32)
    hard_r, hard_v = _unit(B, D, N, dim=1, seed=33), _unit(B, D, dim=1, seed=34)

    def s(a, m):
        return max(torch.dot(a, m[:, n]) for n in range(m.shape[1]))

    l_vr = l_rv = 0.0
    for i in range(B):       # every pair's twin is a negative of every row, not only its own
        den = sum(torch.exp(s(v[i], r[j]) / tau) + torch.exp(s(v[i], hard_r[j]) / tau) for j in range(B))
        l_vr = l_vr - torch.log(torch.exp(s(v[i], r[i]) / tau) / den)
        den = sum(torch.exp(s(v[j], r[i]) / tau) + torch.exp(s(hard_v[j], r[i]) / tau) for j in range(B))
        l_rv = l_rv - torch.log(torch.exp(s(v[i], r[i]) / tau) / den)
    ref = (l_vr / B + l_rv / B) / 2
    loss = mil_scl_loss(v, r, v, r, hard_r, hard_v, tau, all_twins=True)[0]
    assert torch.allclose(loss, ref, rtol=1e-10)
    assert loss > mil_scl_loss(v, r, v, r, hard_r, hard_v, tau)[0]      # a superset of the own-twin negatives


def _scl_batch():
    gamma = torch.zeros(4, 1, 48, 64)
    gamma[:, :, 10:20, 20:30] = 1
    g = torch.Generator().manual_seed(0)
    return {"radar": torch.randn(4, 1, 32, 32, generator=g), "image": torch.randn(4, 3, 48, 64, generator=g),
            "gamma": gamma}


def test_scl_warmup_clock_switches_to_hard_max_and_twin_gradient_option(monkeypatch):
    from radiovisual.pretrain import mil as mil_mod

    seen = []
    real = mil_mod.mil_scl_loss

    def spy(*a, **k):
        seen.append((a[8], a[4].requires_grad, a[5].requires_grad))      # tau_s, twins with grad?
        return real(*a, **k)

    monkeypatch.setattr(mil_mod, "mil_scl_loss", spy)
    for grad in (True, False):
        cfg = resolve_pretrain_config("scl", "smoke", [f"loss.scl_twin_grad={str(grad).lower()}",
                                                       "loss.scl_smooth_steps=2", "loss.smooth_max_tau=0.07"])
        m = build_method(cfg)
        seen.clear()
        for _ in range(3):
            m(_scl_batch())[0].backward()
        assert [s[0] for s in seen] == [0.07, 0.07, None] and int(m.step) == 3
        assert all(s[1] == s[2] == grad for s in seen)
        m.eval()
        m(_scl_batch())
        assert int(m.step) == 3                    # evaluation does not advance the warm-up clock
    state = {k: v for k, v in m.state_dict().items() if k != "step"}
    with pytest.raises(StageChangedError, match="per-bin SCL"):   # a checkpoint of the first per-bin SCL
        build_method(cfg).load_state_dict(state)


def test_mirror_flips_selected_samples_only_and_all_modalities_together():
    x = {"radar": torch.arange(2 * 3 * 4.).view(2, 1, 3, 4), "image": torch.arange(2 * 3 * 2 * 5.).view(2, 3, 2, 5)}
    y = mirror(x, torch.tensor([True, False]))
    assert torch.equal(y["radar"][0], x["radar"][0].flip(-1)) and torch.equal(y["radar"][1], x["radar"][1])
    assert torch.equal(y["image"][0], x["image"][0].flip(-1)) and torch.equal(y["image"][1], x["image"][1])


def test_registry_scl_is_the_per_bin_model_and_scl_paper_the_raw_feature_one():
    scl = build_method(resolve_pretrain_config("scl", "smoke"))
    paper = build_method(resolve_pretrain_config("scl-paper", "smoke"))
    assert isinstance(scl, MILSCLMethod) and isinstance(paper, SCLMethod)
    assert isinstance(build_method(resolve_pretrain_config("mcl", "smoke")), MILMethod)
    assert hasattr(scl, "attention") and not hasattr(paper, "attention")   # what selflabel dispatches on
    assert not any(k.endswith("_k") or k.startswith("queue") for k, _ in scl.named_children())   # no EMA, no queue
    assert not any(k.startswith("queue") for k, _ in scl.named_buffers())
    gamma = torch.zeros(4, 1, 48, 64)
    gamma[:, :, 10:20, 20:30] = 1
    batch = {"radar": torch.randn(4, 1, 32, 32), "image": torch.randn(4, 3, 48, 64), "gamma": gamma}
    with pytest.raises(StageChangedError, match="scl-paper"):      # an old raw-feature 'scl' checkpoint
        scl.load_state_dict(paper.state_dict())
    for m in (scl, paper):                       # both train: finite loss, gradient reaches both backbones
        loss, _ = m(batch)
        loss.backward()
        assert torch.isfinite(loss)
        assert all(any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
                   for net in (m.radio, m.vision))


@pytest.mark.parametrize("method", ["mcl", "scl"])
def test_mil_attention_is_the_trained_similarity_and_batch_independent(method):
    cfg = resolve_pretrain_config(method, "smoke")
    torch.manual_seed(0)
    m = build_method(cfg)
    radar, image = torch.randn(4, 1, 32, 32), torch.randn(4, 3, 48, 64)
    gamma = torch.zeros(4, 1, 48, 64)
    gamma[:, :, 10:20, 20:30] = 1
    m.train()
    loss, _ = m({"radar": radar, "image": image, "gamma": gamma})
    loss.backward()
    m.eval()
    att = m.attention(radar, image, gamma)
    assert att.shape == (4, 8, 8) and att.abs().max() <= 1 + 1e-6       # cosine similarities
    z_r = m.embed_radio(radar)
    z_v = m.embed_vision(image, gamma)
    assert torch.allclose(att.flatten(1), torch.einsum("bd,bdn->bn", z_v, z_r), atol=1e-6)
    assert torch.allclose(m.attention(radar[:1], image[:1], gamma[:1]), att[:1], atol=1e-6)


@pytest.mark.parametrize("method", ["mcl", "scl"])
def test_mil_selflabels_learn_the_toy_target(tmp_path, method):
    """Learning test: after short MIL pretraining, MCL's and SCL's self-labels sit within one heatmap bin of the
    target for >= 90 % of the train samples (toy store: a bright target at a known bin, marked by the mask, plus
    a distractor blob of comparable power that the mask does not mark)."""
    import numpy as np

    from radiovisual.dataset.format import open_dataset, polar_to_bins
    from radiovisual.dataset.toy import make_toy_dataset
    from radiovisual.pretrain import run_pretrain
    from radiovisual.selflabel import open_labels, run_selflabel

    data = make_toy_dataset(tmp_path / "toy.zarr", n_train=192, n_val=8, n_test=4, seed=1, n_clutter=1)
    run = run_pretrain(data, method, tmp_path / "run", preset="smoke", progress=False,
                       overrides=["train.epochs=40", "train.batch_size=32", "loss.queue_size=64", "train.lr=1e-2"])
    g = open_labels(run_selflabel(run, data, split="train", out=tmp_path / "sl.zarr", progress=False))
    ds = open_dataset(data)    # ground truth, to score the test only
    true_bins = polar_to_bins(ds.split("train").read("target_polar"), ds.range_bins_m, ds.azimuth_bins_rad)
    err = np.abs(g["bins"][...] - true_bins).max(axis=1)
    assert np.mean(err <= 1.0) >= 0.9, np.mean(err <= 1.0)
    # mirror convention (issue 18): the attention alone puts a target right of boresight right of it. The toy
    # radar has no sidelobe stripe, so here the attention must find the target by itself; a sign error in the
    # mirror augmentation (image and azimuth flipped apart) would put it on the other side
    centre = (len(ds.azimuth_bins_rad) - 1) / 2
    att_col = g["bins_attention"][...][:, 1]
    off = np.abs(true_bins[:, 1] - centre) > 2
    side = np.sign(att_col[off] - centre) == np.sign(true_bins[off, 1] - centre)
    assert side.mean() >= 0.95, side.mean()
    attrs = dict(g.attrs)
    assert attrs["label_free"] is True and attrs["method"] == method
    assert attrs["readout"] == "mil per-bin similarity"         # selflabel reads the trained similarity
