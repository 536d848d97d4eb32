"""The pinhole chain's later pass (selflabel.pinhole_chain, ``chain_passes``): it holds the camera model it is
given instead of refitting it on snapped returns, which a strong return near boresight drags towards zero."""
from types import SimpleNamespace

import numpy as np

from radiovisual.selflabel import geometry as geo
from radiovisual.selflabel.config import SelfLabelConfig
from radiovisual.selflabel.pinhole_chain import _residual_sigma, pinhole_selflabels

TRUE = {"model": "pinhole", "s": 1.1, "u0": 0.02, "v0": 0.0, "k": 0.75}


def _columns(az: np.ndarray, v: np.ndarray, fit: dict) -> np.ndarray:
    """Inverse of ``geometry.pixel_to_azimuth`` at row v: sin az = x / sqrt(1 + x^2 + y^2) solved for x."""
    y = fit["s"] * fit["k"] * (v - fit["v0"])
    x = np.sin(az) * np.sqrt(1 + y ** 2) / np.cos(az)
    return x / fit["s"] + fit["u0"]


def _scene(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    rb, ab = np.linspace(2.0, 30.0, 64), np.linspace(-1.0, 1.0, 65)
    az, r = rng.uniform(-0.6, 0.6, n), rng.uniform(6.0, 25.0, n)
    v = np.full(n, 0.1)
    u = _columns(az, v, TRUE)
    R, A = np.meshgrid(np.arange(len(rb)), np.arange(len(ab)), indexing="ij")
    P = rng.normal(0.0, 1.0, (n, len(rb), len(ab)))
    ri, ci = geo.frac_index(r, rb), geo.frac_index(az, ab)
    for i in range(n):   # the target (30 dB) and a stronger return at boresight near the same range (35 dB)
        P[i] += 30 * np.exp(-((R - ri[i]) ** 2 + (A - ci[i]) ** 2) / 2)
        P[i] += 35 * np.exp(-((R - ri[i] - 1) ** 2 + (A - 32) ** 2) / 2)
    hr = np.round(ri) + rng.integers(-2, 3, n)          # attention: right range, no azimuth
    hc = np.full(n, 32.0)
    return P, u, v, hr, hc, rb, ab, r, az


def test_residual_sigma_recovers_a_known_spread():
    rng = np.random.default_rng(1)
    v = np.zeros(4000)
    az = rng.uniform(-0.5, 0.5, 4000)
    u = _columns(az, v, TRUE)
    noisy = az + rng.normal(0.0, 0.02, az.shape)       # 0.02 rad of scatter about the model
    assert abs(_residual_sigma(u, v, noisy, TRUE) - 0.02) < 0.002


def test_a_later_pass_holds_its_camera_model_and_finds_the_targets():
    P, u, v, hr, hc, rb, ab, r, az = _scene()
    cfg = SelfLabelConfig(range_prior="attention")
    geom = {"image_hw": (96, 128), "v_centroid": v, "v_foot": v + 0.1,
            "resolution": SimpleNamespace(azimuth_bins_per_cell=1.0)}
    seq, frame = np.arange(len(r)), np.zeros(len(r), int)
    info: dict = {}
    bins = pinhole_selflabels(hr, hc, P, u, geom, rb, ab, seq, frame, None, cfg, None, info, init_fit=TRUE)
    for it in range(cfg.snap_rounds):   # held: the boresight return does not pull the scale down
        assert info[f"azimuth_map_fit{it}"]["s"] == TRUE["s"]
    assert "camera_search" not in info
    got = np.interp(bins["fused"][:, 1], np.arange(len(ab)), ab)
    assert np.median(np.abs(got - az)) < 0.01, np.median(np.abs(got - az))
    snapped = np.interp(bins["snap"][:, 1], np.arange(len(ab)), ab)
    assert np.mean(np.abs(snapped - az) < 0.05) > 0.9      # the snaps are on the targets, not at boresight
