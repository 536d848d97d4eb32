"""Unit checks of the per-object self-label geometry (selflabel/objects.py) on synthetic camera/radar pairs."""

import numpy as np

from radiovisual.selflabel import geometry as geo
from radiovisual.selflabel.objects import refit_pixel


def _scene(n: int, s: float, u0: float, k: float, rng: np.random.Generator):
    """Normalised image points across the whole field of view and the radar azimuths a pinhole (s, u0) gives."""
    u, v = rng.uniform(-0.9, 0.9, n), rng.uniform(-0.2, 0.6, n)
    az = geo.pixel_to_azimuth(u, v, {"s": s, "u0": u0, "v0": 0.0, "k": k})
    return u, v, az


def test_refit_pixel_recovers_the_focal_scale_a_narrow_primary_fit_got_wrong():
    rng = np.random.default_rng(0)
    k, s_true, u0_true = 0.75, 1.19, 0.02
    u, v, az = _scene(400, s_true, u0_true, k, rng)
    az_radar = az + rng.normal(0.0, np.deg2rad(0.8), len(az))         # blob centroids: unbiased, noisy
    az_radar[:40] += np.deg2rad(rng.choice([-12.0, 12.0], 40))          # 10 % on a neighbour's return
    gated = np.ones(len(u), bool)
    old = {"pixel": {"model": "pinhole", "s": 1.11, "u0": 0.0, "v0": 0.0, "k": k}, "a": 1.11 * k, "ground": {}}
    new = refit_pixel(old, u, v, az_radar, gated)
    assert abs(new["pixel"]["s"] / s_true - 1) < 0.01                   # the old one is 7 % off
    assert abs(new["pixel"]["u0"] - u0_true) < 0.01
    assert new["a"] == new["pixel"]["s"] * k                            # square pixels: a follows s
    err_old = np.abs(geo.pixel_to_azimuth(u, v, old["pixel"]) - az)
    err_new = np.abs(geo.pixel_to_azimuth(u, v, new["pixel"]) - az)
    assert np.rad2deg(err_new.max()) < 0.3 < np.rad2deg(err_old.max())


def test_refit_pixel_keeps_the_model_when_too_few_objects_are_gated():
    rng = np.random.default_rng(1)
    u, v, az = _scene(100, 1.19, 0.0, 0.75, rng)
    old = {"pixel": {"model": "pinhole", "s": 1.11, "u0": 0.0, "v0": 0.0, "k": 0.75}, "a": 0.8325, "ground": {}}
    gated = np.zeros(len(u), bool)
    gated[:29] = True                                                   # below min_n = 30
    assert refit_pixel(old, u, v, az, gated) is old
    assert refit_pixel(old, u, v, np.full(len(u), np.nan), np.ones(len(u), bool)) is old

