"""Per-bin multiple-instance MCL: the loss against a loop reference (values and gradients), mirroring."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from radiovisual.pretrain.config import resolve_pretrain_config
from radiovisual.pretrain.losses import mil_mcl_loss, smooth_max_score
from radiovisual.pretrain.mil import MILMethod, mirror


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


def test_mirror_flips_selected_samples_only_and_all_modalities_together():
    x = {"radar": torch.arange(2 * 3 * 4.).view(2, 1, 3, 4), "image": torch.arange(2 * 3 * 2 * 5.).view(2, 3, 2, 5)}
    y = mirror(x, torch.tensor([True, False]))
    assert torch.equal(y["radar"][0], x["radar"][0].flip(-1)) and torch.equal(y["radar"][1], x["radar"][1])
    assert torch.equal(y["image"][0], x["image"][0].flip(-1)) and torch.equal(y["image"][1], x["image"][1])


def test_mil_attention_is_the_trained_similarity_and_batch_independent():
    cfg = resolve_pretrain_config("mcl", "smoke")
    torch.manual_seed(0)
    m = MILMethod(cfg)
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


def test_mcl_selflabels_learn_the_toy_target(tmp_path):
    """Learning test: after short MIL pretraining, MCL self-labels sit within one heatmap bin of the target
    for >= 90 % of the train samples (toy store: a bright target at a known bin, marked by the mask, plus a
    distractor blob of comparable power that the mask does not mark)."""
    import numpy as np

    from radiovisual.dataset.format import open_dataset, polar_to_bins
    from radiovisual.dataset.toy import make_toy_dataset
    from radiovisual.pretrain import run_pretrain
    from radiovisual.selflabel import open_labels, run_selflabel

    data = make_toy_dataset(tmp_path / "toy.zarr", n_train=192, n_val=8, n_test=4, seed=1, n_clutter=1)
    run = run_pretrain(data, "mcl", tmp_path / "run", preset="smoke", progress=False,
                       overrides=["train.epochs=40", "train.batch_size=32", "loss.queue_size=64", "train.lr=1e-2"])
    g = open_labels(run_selflabel(run, data, split="train", out=tmp_path / "sl.zarr", progress=False))
    ds = open_dataset(data)    # ground truth, to score the test only
    true_bins = polar_to_bins(ds.split("train").read("target_polar"), ds.range_bins_m, ds.azimuth_bins_rad)
    err = np.abs(g["bins"][...] - true_bins).max(axis=1)
    assert np.mean(err <= 1.0) >= 0.9, np.mean(err <= 1.0)
    assert dict(g.attrs)["label_free"] is True and dict(g.attrs)["method"] == "mcl"
