"""localise.label_weights: per-sequence weights from the labels' own temporal jitter (label-free)."""

from __future__ import annotations

import numpy as np
import pytest

from radiovisual.localise.weights import label_weights, sequence_jitter_m


def _labels(rng, noise_per_seq, T=15):
    """Straight tracks in polar form, one per sequence, with the given label noise [m] each."""
    polar, seq = [], []
    for s, sd in enumerate(noise_per_seq):
        t = np.arange(T) * 0.2
        x = -4 + 2.0 * t + rng.normal(0, sd, T)
        y = 10 + 0.5 * t + rng.normal(0, sd, T)
        polar.append(np.stack([np.hypot(x, y), np.arcsin(x / np.hypot(x, y))], 1))
        seq.append(np.full(T, s))
    return np.concatenate(polar), np.concatenate(seq)


def test_jitter_measures_label_noise_and_weights_favour_smooth_sequences():
    rng = np.random.default_rng(0)
    polar, seq = _labels(rng, [0.0, 0.05, 0.05, 0.3, 1.0])
    jit = sequence_jitter_m(polar, seq)
    assert jit[0] < 1e-9 and 0.02 < jit[1] < 0.08 and jit[4] > 0.5          # a straight track is a quadratic
    w = label_weights(polar, seq, "jitter")
    assert w.mean() == pytest.approx(1.0)
    per = [w[seq == s][0] for s in range(5)]
    assert per[0] > per[1] > per[3] > per[4] and per[4] < 0.2 * per[0]
    assert np.allclose(label_weights(polar, seq, "none"), 1.0)


def test_short_sequences_and_bad_kind():
    rng = np.random.default_rng(1)
    polar, seq = _labels(rng, [0.1, 0.5], T=3)      # too short for a residual: equal weights
    assert np.allclose(label_weights(polar, seq, "jitter"), 1.0)
    with pytest.raises(ValueError):
        label_weights(polar, seq, "oracle")


def test_weighted_loss_ignores_a_zero_weight_sample():
    import torch

    from radiovisual.localise.train import _loss

    scale = torch.tensor([10.0, 10.0])
    pred = torch.tensor([[1.0, 1.0], [5.0, 5.0]])
    y = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    assert float(_loss(pred, y, scale, "distance", torch.tensor([1.0, 0.0]))) == pytest.approx(0.1, abs=1e-4)
    assert float(_loss(pred, y, scale)) == pytest.approx((0.1 + np.hypot(0.5, 0.5)) / 2, abs=1e-4)


def test_config_key_and_fingerprint():
    from radiovisual.config import fingerprint
    from radiovisual.errors import ConfigError
    from radiovisual.localise.config import LocaliserConfig, resolve_localise_config

    assert resolve_localise_config("quick", ["label_weights=jitter"]).label_weights == "jitter"
    with pytest.raises(ConfigError):
        resolve_localise_config("quick", ["label_weights=gt"])
    # the default leaves existing runs' fingerprints (and their resume) untouched
    base = fingerprint(LocaliserConfig())
    assert fingerprint(resolve_localise_config("quick")) == base != fingerprint(LocaliserConfig(label_weights="jitter"))
