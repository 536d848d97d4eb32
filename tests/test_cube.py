"""Complex radar cube (``sensors.cube``) against NumPy references: brute-force CFR sums, explicit FFTs, the
Doppler phase of a moving echo; the complex resampler onto CRUW's grid; the config rules of the option.
The same checks on a real Sionna RT store are in ``test_rodnet_roundtrip.py``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from radiovisual.dataset import cruw
from radiovisual.dataset.config import resolve_synth_config
from radiovisual.errors import ConfigError
from radiovisual.sensors import radar as rp
from radiovisual.sensors.cube import CubeDSP, chirp_indices, maps_from_raw

TOL_DB = 0.02  # closed forms vs brute force within 40 dB of the peak: the range kernel is cut at +-24 bins (-85 dB)


def _radio(**kw):
    return replace(resolve_synth_config("smoke").radio, cube_chirps=4, cube_raw=True, **kw)


def _paths(rng, radio, P=40, moving=20):
    """Random echoes inside the range window and +-50 deg; ``moving`` of them with |f_D| up to 2 kHz."""
    R = rng.uniform(radio.range_min_m + 1, radio.range_max_m - 1, P)
    az = np.deg2rad(rng.uniform(-50, 50, P))
    u = np.stack([np.cos(az), -np.sin(az), np.zeros(P)], -1)          # world: x_right = -y
    g = (rng.standard_normal(P) + 1j * rng.standard_normal(P)) * 1e-4
    fd = np.zeros(P)
    fd[:moving] = rng.uniform(-2e3, 2e3, moving)
    return g, 2 * R / rp.C0, u, fd


def _bruteforce_cfr(g, tau, u, fd, radio, Z):
    """H[m, k, n] = sum_p g_p s_n exp(-j2pi(fc+fk)tau_p) exp(j2pi fd_p m T) + Z, by rp.cfr per chirp and antenna."""
    S = rp.steering(rp.sin_azimuth(u), radio)
    D, K, N = radio.doppler_symbols, radio.n_subcarriers, radio.array_cols
    H = np.zeros((D, K, N), complex)
    for m in range(D):
        ph = np.exp(2j * np.pi * fd * m * radio.pri_s)
        for n in range(N):
            H[m, :, n] = rp.cfr(tau, g * S[:, n] * ph, radio)
    return H + np.transpose(Z, (0, 2, 1))


def test_cube_matches_bruteforce_cfr_and_fft_chain():
    radio = _radio()
    rng = np.random.default_rng(3)
    g, tau, u, fd = _paths(rng, radio)
    dsp = CubeDSP(radio, rp.range_rows(radio), rp.beamformer(radio))
    res = dsp.frame(g, tau, u, fd, np.random.default_rng(7))
    Z = dsp.noise(np.random.default_rng(7))[2]              # the same draw, every entry (the raw cube's)
    assert np.all(Z != 0)
    H = _bruteforce_cfr(g, tau, u, fd, radio, Z)
    assert res["radar_cube"].shape == H.shape and res["radar_cube"].dtype == np.complex64
    assert np.abs(res["radar_cube"] - H).max() <= 1e-6 * np.abs(H).max()
    Y, ra, rd = maps_from_raw(H, radio)                      # plain np.fft chain (C2)-(C4)
    for got, ref in ((res["radar"], ra), (res["range_doppler"], rd)):
        m = ref >= ref.max() - 40
        assert np.abs(got - ref)[m].max() < TOL_DB
    np.testing.assert_array_equal(chirp_indices(radio.doppler_symbols, 4), [0, 4, 8, 12])
    ch = Y[dsp.chirps]
    assert np.abs(res["radar_chirps"] - ch).max() <= 1e-4 * np.abs(ch).max()    # -80 dB: the same kernel cut
    # the raw cube only adds an array: maps and chirps are the same numbers without it
    lean = CubeDSP(replace(radio, cube_raw=False), rp.range_rows(radio), rp.beamformer(radio))
    res2 = lean.frame(g, tau, u, fd, np.random.default_rng(7))
    assert "radar_cube" not in res2
    for k in ("radar", "range_doppler", "radar_chirps"):
        np.testing.assert_array_equal(res2[k], res[k])


def test_chirp_phase_follows_the_doppler_of_a_moving_echo():
    radio = _radio(noise_temperature_k=1e-9)                     # noise far below the echo
    v = 4.0                                                      # approaching [m/s]
    fd = np.array([2 * v / radio.wavelength_m])
    u = np.array([[np.cos(0.2), -np.sin(0.2), 0.0]])
    dsp = CubeDSP(radio, rp.range_rows(radio), rp.beamformer(radio))
    res = dsp.frame(np.array([1e-3 + 0j]), np.array([2 * 10.0 / rp.C0]), u, fd, np.random.default_rng(0))
    Y = res["radar_chirps"].astype(complex)
    i, j = np.unravel_index(np.argmax(np.abs(Y[0])), Y[0].shape)
    want = np.angle(np.exp(2j * np.pi * fd[0] * dsp.chirps * radio.pri_s))
    np.testing.assert_allclose(np.angle(Y[:, i, j] / Y[0, i, j]), want, atol=1e-4)
    vb = rp.doppler_bins_mps(radio)                              # ... and the RD map peaks at +v (approaching)
    assert abs(vb[np.argmax(res["range_doppler"][i])] - v) <= (vb[1] - vb[0]) / 2 + 1e-9


def test_complex_resampling_onto_cruws_grid_follows_the_closed_form():
    """Point echoes on the smoke grid (uniform azimuth, 0.187 m bins), resampled onto CRUW's bins, against the
    echoes evaluated there in closed form (range profile at fractional bins x the beam pattern)."""
    from radiovisual.dataset.cruw_radar import resample_complex

    radio = resolve_synth_config("smoke").radio
    grid = replace(radio, n_azimuth_bins=128, azimuth_fov_deg=180.0, azimuth_grid="sine")
    rng = np.random.default_rng(1)
    R, az = rng.uniform(6, 18, 3), np.deg2rad(rng.uniform(-40, 40, 3))
    g = np.exp(2j * np.pi * rng.uniform(size=3)) * [1.0, 0.5, 0.3]
    tau = 2 * R / rp.C0

    def echoes(rows, rad):
        prof = rp.range_profile(tau, g, radio, rows=rows)                          # [R, P]
        beam = rp.steering(np.sin(az), radio) @ rp.beamformer(rad)                 # [P, A]
        return prof @ beam

    ours = echoes(rp.range_rows(radio), radio)
    ref = echoes(cruw.range_grid_m() / radio.range_resolution_m, grid)
    got = resample_complex(ours, rp.range_bins_m(radio), rp.azimuth_bins_rad(radio), radio.range_resolution_m,
                           radio.n_subcarriers)
    inside = (cruw.range_grid_m() >= rp.range_bins_m(radio)[0])[:, None] & (cruw.range_grid_m() <= 22.0)[:, None] \
        & (np.abs(cruw.azimuth_grid_rad()) <= np.deg2rad(60))[None]
    strong = inside & (np.abs(ref) >= 0.1 * np.abs(ref).max())                     # within 20 dB of the peak
    err = np.abs(got - ref)[strong] / np.abs(ref).max()
    assert err.max() < 0.03, err.max()          # measured 1.8 % of the peak (linear interpolation: 9.7 %)
    assert (got[~inside] == 0).all()


@pytest.mark.parametrize("over, words", [
    (["radio.cube_chirps=17"], "radio.cube_chirps must be in [0, radio.doppler_symbols=16]"),
    (["radio.cube_raw=true"], "radio.cube_raw needs radio.cube_chirps >= 1"),
    (["radio.cube_chirps=4", "radio.save_csi=true"], "radio.save_csi cannot be combined"),
    (["scene.frame_dt_s=0"], "scene.frame_dt_s must be > 0"),
    (["scene.frame_dt_s=0.001"], "the slow-time burst"),
    (["radio.azimuth_grid=log"], "radio.azimuth_grid must be"),
])
def test_bad_cube_and_frame_options_are_one_line(over, words):
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        resolve_synth_config("smoke", overrides=over)


def test_existing_presets_keep_their_fingerprints_and_cruw_preset_is_on_cruws_grid():
    from radiovisual.config import _fingerprint_dict, fingerprint

    # the cube options stay out of the fingerprint at their defaults (stores made before them keep theirs) ...
    d = _fingerprint_dict(resolve_synth_config("smoke"))
    assert not {"cube_chirps", "cube_raw", "azimuth_grid"} & set(d["radio"])
    # ... while the target-motion key is in it: stores of the v0.2 one-lane target (fingerprint 31dbddf9...)
    # are not reused by code whose targets drive in every direction
    assert "target_motions" in d["scene"] and fingerprint(resolve_synth_config("smoke")) != "31dbddf9f90d05da"
    c = resolve_synth_config("cruw")
    assert fingerprint(c) != fingerprint(resolve_synth_config("quick"))
    assert c.scene.frame_dt_s == pytest.approx(1 / 30) and c.scene.n_frames >= 16 and c.radio.cube_chirps == 4
    np.testing.assert_allclose(rp.range_bins_m(c.radio), cruw.range_grid_m(), atol=1e-9)
    np.testing.assert_allclose(rp.azimuth_bins_rad(c.radio), cruw.azimuth_grid_rad(), atol=1e-12)
