"""The first range prior of the pinhole chain (``SelfLabelConfig.range_source``): the strongest moving return of
the range-Doppler map (``doppler.moving_range_rows``) where the attention's range is no use."""
from types import SimpleNamespace

import numpy as np
import pytest

from radiovisual.errors import ConfigError
from radiovisual.selflabel import geometry as geo
from radiovisual.selflabel.config import SelfLabelConfig
from radiovisual.selflabel.doppler import moving_range_rows
from radiovisual.selflabel.mil_readout import _first_range_prior
from radiovisual.selflabel.pinhole_chain import pinhole_selflabels

DOPPLER = np.linspace(-13.0, 13.0, 64)          # bin centres [m/s], 0.41 m/s apart, no bin at exactly 0


def _rd(rows: np.ndarray, speed_mps: np.ndarray, R: int = 64, seed: int = 0) -> np.ndarray:
    """[N, R, D] dB maps: noise, a 40 dB static wall (row 10, zero Doppler, leaking into its neighbours) and a
    20 dB target at fractional row ``rows`` moving at ``speed_mps``."""
    rng = np.random.default_rng(seed)
    r_i, d_i = np.meshgrid(np.arange(R), np.arange(len(DOPPLER)), indexing="ij")
    out = rng.normal(0.0, 0.5, (len(rows), R, len(DOPPLER)))
    for i, (r, v) in enumerate(zip(rows, speed_mps)):
        dv = geo.frac_index(np.array([v]), DOPPLER)[0]
        out[i] += 40 * np.exp(-((r_i - 10) ** 2 / 0.5 + (d_i - 31.5) ** 2 / 2.0))
        out[i] += 20 * np.exp(-((r_i - r) ** 2 / 2.0 + (d_i - dv) ** 2 / 2.0))
    return out


def test_moving_range_rows_finds_the_moving_target_behind_a_stronger_static_wall():
    rows = np.array([25.3, 40.0, 17.6, 50.5])
    got = moving_range_rows(_rd(rows, np.array([3.0, -2.0, 5.0, -6.0])), DOPPLER)
    assert np.all(np.abs(got - rows) < 0.3), got       # sub-bin: the parabola through the range neighbours


def test_moving_range_rows_is_nan_without_bins_outside_the_static_band():
    assert np.isnan(moving_range_rows(np.zeros((2, 8, 3)), np.array([-0.1, 0.0, 0.1]))).all()


def _track(n_seq: int = 20, frames: int = 15, seed: int = 1):
    """Sequences of a car driving radially (range falls 0.1 m per frame); range bins 0.25 m apart from 2 m."""
    rng = np.random.default_rng(seed)
    rb = 2.0 + 0.25 * np.arange(64)
    seq, frame = np.repeat(np.arange(n_seq), frames), np.tile(np.arange(frames), n_seq)
    r0 = rng.uniform(9.0, 13.0, n_seq)
    r = r0[seq] - 0.1 * frame                                # metres
    return rb, seq, frame, r, rng


def test_range_source_doppler_follows_the_track_and_auto_keeps_the_attention():
    rb, seq, frame, r, rng = _track()
    rows = geo.frac_index(r, rb)
    doppler = {"rd_db": _rd(rows, np.full(len(r), -2.0)), "bins_mps": DOPPLER}
    hr = rng.uniform(0, len(rb) - 1, len(r))                # an attention that does not localise
    info: dict = {}
    got = _first_range_prior(hr, rb, seq, frame, SelfLabelConfig(range_source="doppler"), doppler, info)
    assert np.median(np.abs(got - rows)) < 0.3 and info["range_source"]["chosen"] == "doppler"
    jit = info["range_source"]["jitter_rms_m"]
    assert jit["doppler_raw"] < 0.2 * jit["attention"]        # the label-free signal the store records
    auto: dict = {}
    assert np.array_equal(_first_range_prior(hr, rb, seq, frame, SelfLabelConfig(), doppler, auto), hr)
    assert auto["range_source"]["chosen"] == "attention"      # selflabel.run falls back only on a failed check
    with pytest.raises(ConfigError, match="range-Doppler"):
        _first_range_prior(hr, rb, seq, frame, SelfLabelConfig(range_source="doppler"), None, {})
    with pytest.raises(ConfigError, match="range_source"):
        SelfLabelConfig(range_source="camera").validate()


def test_a_doppler_range_prior_lets_the_camera_search_find_the_model_an_attention_miss_does_not():
    """Targets across the view with a strong clutter return at one azimuth 6 m nearer: from random attention
    ranges the Hough search votes for the clutter; from the moving returns' ranges it finds the camera."""
    true = {"model": "pinhole", "s": 1.1, "u0": 0.02, "v0": 0.0, "k": 0.75}
    rng = np.random.default_rng(3)
    n = 300
    rb, ab = np.linspace(2.0, 30.0, 64), np.linspace(-1.0, 1.0, 65)
    az, r, v = rng.uniform(-0.6, 0.6, n), rng.uniform(10.0, 25.0, n), np.full(n, 0.1)
    y = true["s"] * true["k"] * v
    u = np.sin(az) * np.sqrt(1 + y ** 2) / np.cos(az) / true["s"] + true["u0"]
    R, A = np.meshgrid(np.arange(len(rb)), np.arange(len(ab)), indexing="ij")
    P = rng.normal(0.0, 1.0, (n, len(rb), len(ab)))
    ri, ci = geo.frac_index(r, rb), geo.frac_index(az, ab)
    for i in range(n):
        P[i] += 30 * np.exp(-((R - ri[i]) ** 2 + (A - ci[i]) ** 2) / 2)
        P[i] += 40 * np.exp(-((R - geo.frac_index(np.array([r[i] - 6.0]), rb)[0]) ** 2 + (A - 45) ** 2) / 2)
    geom = {"image_hw": (96, 128), "v_centroid": v, "v_foot": v + 0.1,
            "resolution": SimpleNamespace(azimuth_bins_per_cell=1.0)}
    cfg = SelfLabelConfig(range_prior="attention")
    seq, frame = np.arange(n), np.zeros(n, int)
    found = {}
    for name, hr in (("doppler", ri + rng.normal(0.0, 0.3, n)), ("attention", ri - 6.0 / np.diff(rb)[0])):
        info: dict = {}
        bins = pinhole_selflabels(hr, np.full(n, 32.0), P, u, geom, rb, ab, seq, frame, None, cfg, None, info)
        got = np.interp(bins["fused"][:, 1], np.arange(len(ab)), ab)
        found[name] = float(np.median(np.abs(got - az)))
    assert found["doppler"] < 0.02 < found["attention"], found
