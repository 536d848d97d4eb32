"""Radar DSP physics (pure numpy): axes, closed-form range profile, angle sign, noise, Doppler."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from radiovisual.dataset.config import RadioConfig, resolve_synth_config
from radiovisual.sensors import radar as rp


@pytest.fixture(scope="module")
def radio() -> RadioConfig:
    return resolve_synth_config("quick").radio


def _point(radio, rng_m: float, az_rad: float, height: float = 0.0):
    """Arrival unit vector (world) and monostatic delay of a point at slant range/azimuth."""
    x_right = rng_m * np.sin(az_rad)
    horiz = np.sqrt(max(rng_m**2 - x_right**2 - height**2, 0.0))
    u = np.array([horiz, -x_right, -height]) / rng_m  # world: +y is left
    return u, 2.0 * rng_m / rp.C0


def test_axes(radio):
    rb = rp.range_bins_m(radio)
    assert np.allclose(np.diff(rb), rp.C0 / (2 * radio.bandwidth_hz))
    assert rb[0] >= radio.range_min_m - 1e-9 and rb[-1] <= radio.range_max_m + 1e-9
    assert rb[0] - radio.range_min_m < radio.range_resolution_m
    az = rp.azimuth_bins_rad(radio)
    assert len(az) == radio.n_azimuth_bins and np.all(np.diff(az) > 0)
    assert np.isclose(az[-1], np.deg2rad(radio.azimuth_fov_deg / 2)) and np.isclose(az[0], -az[-1])
    v = rp.doppler_bins_mps(radio)
    assert len(v) == radio.doppler_symbols and np.all(np.diff(v) > 0)
    assert np.isclose(v[1] - v[0], radio.wavelength_m / (2 * radio.doppler_symbols * radio.pri_s))


def test_closed_form_matches_bruteforce_ifft(radio):
    g = np.random.default_rng(0)
    K = radio.n_subcarriers
    unamb = K * radio.range_resolution_m
    # ordinary delays, exact integer bins, near-bin, and beyond the unambiguous range (aliases)
    ranges = np.concatenate([g.uniform(0.5, 40.0, 40), [10 * radio.range_resolution_m,
                             (33 + 1e-9) * radio.range_resolution_m, unamb + 3.3]])
    tau = 2 * ranges / rp.C0
    gains = g.normal(size=len(tau)) + 1j * g.normal(size=len(tau))
    rows = np.arange(K)
    fast = rp.range_profile(tau, gains, radio, rows).sum(axis=1)
    ref = rp.range_profile_bruteforce(tau, gains, radio, rows)
    assert np.max(np.abs(fast - ref)) <= 1e-5 * np.max(np.abs(ref))
    # the banded sparse version used by the simulator: truncation error far below the floor
    M = rp.range_antenna_banded(tau, gains, None, radio, rp.range_rows(radio))
    band = np.asarray(M.sum(axis=1)).ravel()
    exact = fast[rp.range_rows(radio)]
    assert np.max(np.abs(band - exact)) <= 1e-4 * np.max(np.abs(exact))


def test_point_reflector_lands_in_its_bin(radio):
    rb, ab = rp.range_bins_m(radio), rp.azimuth_bins_rad(radio)
    V = rp.beamformer(radio)
    for r0, az0 in [(7.3, np.deg2rad(-31.0)), (15.0, 0.0), (21.9, np.deg2rad(24.0))]:
        u, tau = _point(radio, r0, az0, height=2.0)
        X = rp.range_profile(np.array([tau]), np.array([1e-4]), radio, rp.range_rows(radio))  # [R, 1]
        Y = (X @ rp.steering(rp.sin_azimuth(u[None]), radio)) @ V
        i, j = np.unravel_index(np.argmax(np.abs(Y)), Y.shape)
        assert abs(i - np.argmin(np.abs(rb - r0))) <= 1
        assert abs(j - np.argmin(np.abs(ab - az0))) <= 1


def test_integer_bin_amplitude_is_hann_coherent_gain(radio):
    rr = radio.range_resolution_m
    X = rp.range_profile(np.array([2 * 40 * rr / rp.C0]), np.array([2.0 + 0j]), radio, np.array([39, 40, 41]))
    assert np.isclose(abs(X[1, 0]), 0.5 * 2.0, rtol=1e-9)          # sum(w)/K = 1/2
    assert np.isclose(abs(X[0, 0]), 0.25 * 2.0, rtol=1e-9)         # Hann: neighbours at -6 dB


def test_azimuth_sign_right_is_positive(radio):
    A = radio.n_azimuth_bins
    V = rp.beamformer(radio)
    # a reflector to the RIGHT of boresight sits at world y < 0
    u = np.array([10.0, -4.0, -3.0])
    u /= np.linalg.norm(u)
    assert rp.sin_azimuth(u) > 0
    resp = np.abs(rp.steering(rp.sin_azimuth(u[None]), radio) @ V)[0]
    assert np.argmax(resp) > A / 2
    resp_left = np.abs(rp.steering(rp.sin_azimuth((u * [1, -1, 1])[None]), radio) @ V)[0]
    assert np.argmax(resp_left) < A / 2 - 1


def test_noise_power_matches_ktbf(radio):
    rng = np.random.default_rng(1)
    sigma2 = rp.noise_power_w(radio) * 1e3                         # [mW]
    kt = 1.380649e-23 * 290.0 * 10 ** (radio.noise_figure_db / 10) * radio.bandwidth_hz * 1e3
    assert np.isclose(sigma2, kt)
    z = rp.cfr_noise(rng, (200, radio.n_subcarriers), radio)
    assert np.mean(np.abs(z) ** 2) == pytest.approx(sigma2, rel=0.03)
    rows = rp.range_rows(radio)
    n = np.concatenate([rp.noise_range_antenna(rng, radio, rows, 16) for _ in range(10)])
    # windowed IFFT: variance sigma^2 * sum(w^2) / K^2 = 3 sigma^2 / (8K)
    assert np.mean(np.abs(n) ** 2) == pytest.approx(3 * sigma2 / (8 * radio.n_subcarriers), rel=0.05)
    rd = rp.noise_range_doppler(rng, radio, rows)
    D = radio.doppler_symbols
    assert np.mean(np.abs(rd) ** 2) == pytest.approx(3 * sigma2 / (8 * radio.n_subcarriers) * 3 / (8 * D), rel=0.1)


def test_doppler_bin_of_a_mover(radio):
    vb = rp.doppler_bins_mps(radio)
    for vr in (-7.3, -1.2, 0.0, 2.5, 9.9):          # positive = approaching
        fd = 2 * vr / radio.wavelength_m
        k = np.abs(rp.doppler_kernel(np.array([fd]), radio))[0]
        assert abs(np.argmax(k) - np.argmin(np.abs(vb - vr))) <= 1
    # slow-time kernel equals the brute-force windowed DFT
    D, T = radio.doppler_symbols, radio.pri_s
    fd = 1234.5
    m = np.arange(D)
    ref = np.fft.fftshift(np.fft.fft(rp.hann(D) * np.exp(2j * np.pi * fd * m * T))) / D
    assert np.allclose(rp.doppler_kernel(np.array([fd]), radio)[0], ref, atol=1e-9)


def test_planar_rows_sum_is_unity_at_broadside(radio):
    r2 = replace(radio, array_rows=4)
    axis = np.array([0.0, 0.0, 1.0])
    g = rp.elevation_gain(np.array([[1.0, 0.0, 0.0], [0.8, 0.0, -0.6]]), axis, r2)
    assert np.isclose(abs(g[0]), 1.0) and abs(g[1]) < 1.0
    assert np.allclose(rp.elevation_gain(np.array([[0.8, 0.0, -0.6]]), axis, radio), 1.0)
