"""Weather physics (``sensors.weather``) against the recommendations' own published numbers.

References and tolerances:
* ITU-R validation examples (CG-3M3J-13-ValEx, rev 5.1), as extracted by ITU-Rpy
  (github.com/inigodelportillo/ITU-Rpy, test/test_data/838/ITURP838-3_rain_specific_attenuation.csv and
  test/test_data/840/ITURP840-8_cloud_attenuation.csv + ..._columnar_content_reduced_liquid.csv): printed to
  8 decimals, matched to 1e-6 relative.
* ITU-R P.838-3 Table 5 (k, alpha at 1-1000 GHz, 4 significant digits / 4 decimals): k to 1e-3 relative,
  alpha to 1e-4 absolute (the table's rounding; 1.5 GHz with 3 digits is left out).
* P.840 double-Debye K_l at other temperatures: an independent complex-permittivity evaluation, 1e-12.
"""

from __future__ import annotations

import numpy as np
import pytest

from radiovisual.sensors.weather import (
    Weather,
    fog_beta_per_m,
    fog_kl_db_per_km_per_g_m3,
    fog_specific_attenuation_db_per_km,
    koschmieder,
    path_amplitude_factor,
    path_power_factor,
    rain_beta_per_m,
    rain_coefficients,
    rain_specific_attenuation_db_per_km,
    visibility_to_beta,
)

GHZ = 1e9
RTOL_ITU = 1e-6

# P.838-3 validation: elevation [deg], f [GHz], R [mm/h], tau [deg], k, alpha, gamma_R [dB/km] (unique rows)
P838_VALIDATION = [
    (31.07699124, 14.25, 26.48052, 0, 0.03975488, 1.12418043, 1.58130839),
    (40.232036, 14.25, 33.936232, 0, 0.04007624, 1.11804138, 2.06173213),
    (46.35969261, 14.25, 27.13586832, 0, 0.04030344, 1.11376017, 1.5920842),
    (31.07699124, 29, 26.48052, 0, 0.22106804, 0.95320005, 5.02180189),
    (40.232036, 29, 33.936232, 0, 0.22031404, 0.9504446, 6.27846024),
    (46.35969261, 29, 27.13586832, 0, 0.21978097, 0.9484851, 5.03135479),
    (22.27833468, 14.25, 50.639304, 0, 0.03949319, 1.12925336, 3.32139638),
    (52.67898486, 14.25, 78.2994993, 0, 0.04053522, 1.10944215, 5.11503463),
    (22.27833468, 29, 50.639304, 0, 0.22168203, 0.95543001, 9.42430244),
    (52.67898486, 29, 78.2994993, 0, 0.21923716, 0.9464763, 13.59290086),
    (48.24117054, 14.25, 63.62668149, 90, 0.04226474, 1.07871664, 3.72901264),
    (85.80459566, 14.25, 99.13558978, 90, 0.04133039, 1.09499629, 6.34064598),
    (20.14335809, 14.25, 42.91007183, 90, 0.04319835, 1.0631531, 2.35032323),
    (48.24117054, 29, 63.62668149, 90, 0.21517927, 0.93116621, 10.28699163),
    (85.80459566, 29, 99.13558978, 90, 0.21737148, 0.93950825, 16.3183686),
    (20.14335809, 29, 42.91007183, 90, 0.21298877, 0.92265917, 6.83364556),
]

# P.838-3 Table 5: f [GHz], k_H, alpha_H, k_V, alpha_V
P838_TABLE5 = [
    (1, 0.0000259, 0.9691, 0.0000308, 0.8592), (4, 0.0001071, 1.6009, 0.0002461, 1.2476),
    (10, 0.01217, 1.2571, 0.01129, 1.2156), (24, 0.1425, 1.0101, 0.1404, 0.9561),
    (28, 0.2051, 0.9679, 0.1964, 0.9277), (30, 0.2403, 0.9485, 0.2291, 0.9129),
    (60, 0.8606, 0.7656, 0.8515, 0.7486), (77, 1.1320, 0.7177, 1.1276, 0.7073),
    (80, 1.1704, 0.7115, 1.1668, 0.7021), (100, 1.3671, 0.6815, 1.3680, 0.6765),
    (300, 1.6286, 0.6296, 1.6286, 0.6262), (1000, 1.3795, 0.6396, 1.3822, 0.6365),
]

# P.840-8 validation, p = 0.3 %: site elevation [deg], L_red [kg/m^2], A_c [dB] at 14.25 and 29 GHz.
# P.840-8 sect. 3.1: A_c = L_red K_l(f, 273.15 K) / sin(el), so each site gives K_l(f, 0 C) = A_c sin(el) / L_red.
P840_SITES = [
    (31.07699124, 1.641289077, 0.59136662, 2.3028307),    # 51.5 N, -0.14 E
    (40.232036, 1.254176128, 0.36114732, 1.40633765),     # 41.9 N, 12.49 E
    (46.35969261, 1.117630129, 0.2872291, 1.11849396),    # 33.94 N, 18.43 E
    (22.27833468, 2.152560931, 1.05602769, 4.11225948),   # 22.9 N, -43.23 E
    (52.67898486, 3.090031167, 0.72266893, 2.81413278),   # 25.78 N, -80.22 E
]


@pytest.mark.parametrize("el, f, rate, tau, k, alpha, gamma", P838_VALIDATION)
def test_rain_matches_itu_validation_examples(el, f, rate, tau, k, alpha, gamma):
    k_, alpha_ = rain_coefficients(f * GHZ, tau_deg=tau, elevation_deg=el)
    assert k_ == pytest.approx(k, rel=RTOL_ITU)
    assert alpha_ == pytest.approx(alpha, rel=RTOL_ITU)
    got = rain_specific_attenuation_db_per_km(f * GHZ, rate, tau_deg=tau, elevation_deg=el)
    assert got == pytest.approx(gamma, rel=RTOL_ITU)


@pytest.mark.parametrize("f, kh, ah, kv, av", P838_TABLE5)
def test_rain_coefficients_match_table5(f, kh, ah, kv, av):
    for tau, k, alpha in ((0.0, kh, ah), (90.0, kv, av)):
        k_, alpha_ = rain_coefficients(f * GHZ, tau_deg=tau)
        assert k_ == pytest.approx(k, rel=1e-3)
        assert alpha_ == pytest.approx(alpha, abs=1e-4)


def test_rain_50_mm_h_at_28_and_77_ghz():
    # Vertical polarisation, horizontal path: k_V R^alpha_V from the Table 5 rows
    expected = {28: 0.1964 * 50**0.9277, 77: 1.1276 * 50**0.7073}   # 7.401 and 17.94 dB/km
    for f, gamma in expected.items():
        assert rain_specific_attenuation_db_per_km(f * GHZ, 50.0) == pytest.approx(gamma, rel=1e-3)
    assert expected[28] == pytest.approx(7.401, abs=1e-3) and expected[77] == pytest.approx(17.94, abs=1e-2)


def test_rain_polarisation_and_vectorised_rate():
    k_h, _ = rain_coefficients(28 * GHZ, tau_deg=0.0)
    k_v, _ = rain_coefficients(28 * GHZ, tau_deg=90.0)
    k_c, a_c = rain_coefficients(28 * GHZ, tau_deg=45.0)
    assert k_v < k_h and k_c == pytest.approx((k_h + k_v) / 2, rel=1e-12)    # eq. (4) with cos(90 deg) = 0
    k_up, _ = rain_coefficients(28 * GHZ, tau_deg=0.0, elevation_deg=90.0)   # looking up: no H/V difference
    assert k_up == pytest.approx(k_c, rel=1e-12)
    rates = np.array([0.0, 1.0, 10.0, 50.0])
    gamma = rain_specific_attenuation_db_per_km(77 * GHZ, rates)
    assert gamma.shape == (4,) and gamma[0] == 0.0 and np.all(np.diff(gamma) > 0)
    k, alpha = rain_coefficients(77 * GHZ)
    np.testing.assert_allclose(gamma, k * rates**alpha, rtol=1e-12)


@pytest.mark.parametrize("col, f", [(2, 14.25), (3, 29.0)])
def test_fog_kl_matches_itu_validation_examples(col, f):
    derived = [site[col] * np.sin(np.deg2rad(site[0])) / site[1] for site in P840_SITES]
    assert np.ptp(derived) < 1e-7 * np.mean(derived)                          # the five sites agree
    assert fog_kl_db_per_km_per_g_m3(f * GHZ, temperature_c=0.0) == pytest.approx(np.mean(derived), rel=RTOL_ITU)


def _kl_complex_debye(f_ghz: np.ndarray, t_c: float) -> np.ndarray:
    """Independent K_l: complex double-Debye eps(f), Rayleigh absorption 0.819 f Im-part / |eps + 2|^2."""
    th = 300.0 / (t_c + 273.15) - 1.0
    e0 = 77.66 + 103.3 * th
    e1 = 0.0671 * e0
    fp = 20.20 - 146.0 * th + 316.0 * th**2
    eps = (e0 - e1) / (1 + 1j * f_ghz / fp) + (e1 - 3.52) / (1 + 1j * f_ghz / (39.8 * fp)) + 3.52
    return (0.819 / 3.0) * f_ghz * np.imag(3.0 / (eps + 2.0))        # -Im((eps - 1)/(eps + 2)) = Im(3/(eps + 2))


@pytest.mark.parametrize("t_c", [-5.0, 0.0, 15.0, 30.0])
def test_fog_kl_against_complex_permittivity(t_c):
    f = np.array([1.0, 10.0, 28.0, 77.0, 140.0, 300.0, 1000.0])
    np.testing.assert_allclose(fog_kl_db_per_km_per_g_m3(f * GHZ, t_c), _kl_complex_debye(f, t_c), rtol=1e-12)


def test_fog_sanity():
    f = np.linspace(1.0, 100.0, 200)
    kl = fog_kl_db_per_km_per_g_m3(f * GHZ, 15.0)
    assert np.all(np.diff(kl) > 0)                                            # Rayleigh: rises with frequency
    # 15 C: K_l(28 GHz) = 0.4595, K_l(30 GHz) = 0.5253 (dB/km)/(g/m^3); colder water relaxes slower, absorbs more
    assert fog_kl_db_per_km_per_g_m3(28 * GHZ, 15.0) == pytest.approx(0.4595, abs=1e-4)
    assert fog_kl_db_per_km_per_g_m3(29 * GHZ, 0.0) > fog_kl_db_per_km_per_g_m3(29 * GHZ, 15.0)
    gamma = fog_specific_attenuation_db_per_km(77 * GHZ, np.array([0.0, 0.05, 0.5]))
    np.testing.assert_allclose(gamma, fog_kl_db_per_km_per_g_m3(77 * GHZ) * np.array([0.0, 0.05, 0.5]), rtol=1e-12)


def test_path_power_factor_two_way_rain():
    gamma = rain_specific_attenuation_db_per_km(77 * GHZ, 50.0)
    loss_db = -10 * np.log10(path_power_factor(gamma, 2 * 40.0))              # monostatic: 40 m out and back
    assert loss_db == pytest.approx(1.1276 * 50**0.7073 * 0.08, abs=0.2)      # ~1.44 dB from Table 5
    assert loss_db == pytest.approx(gamma * 0.08, rel=1e-12)
    lengths = np.array([0.0, 80.0, 1000.0])
    np.testing.assert_allclose(path_amplitude_factor(gamma, lengths) ** 2, path_power_factor(gamma, lengths))
    assert path_power_factor(0.0, 1e4) == 1.0 and path_power_factor(gamma, 0.0) == 1.0


def test_koschmieder_contrast_sky_and_clear_air():
    rng = np.random.default_rng(0)
    img = rng.uniform(0.0, 1.0, (4, 5, 3))
    dist = rng.uniform(1.0, 200.0, (4, 5))
    dist[0, :] = np.inf                                                       # sky row
    air, beta = np.array([0.7, 0.75, 0.8]), visibility_to_beta(150.0)
    out = koschmieder(img, dist, beta, air)
    assert out.shape == img.shape and np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[0], np.broadcast_to(air, (5, 3)))       # sky -> airlight exactly
    # Two surfaces at the same distance: their difference (contrast) falls as exp(-beta d)
    d = dist[1:, :, None]
    other = koschmieder(img[1:] * 0.5, dist[1:], beta, air)
    np.testing.assert_allclose((out[1:] - other) / (img[1:] * 0.5), np.exp(-beta * d) * np.ones(3), atol=1e-6)
    np.testing.assert_array_equal(koschmieder(img, dist, 0.0, air), img)      # beta 0 -> unchanged, sky too


def test_visibility_and_visible_extinction():
    beta = visibility_to_beta(np.array([50.0, 300.0, 1e4]))
    np.testing.assert_allclose(np.exp(-beta * np.array([50.0, 300.0, 1e4])), 0.05, rtol=1e-12)   # 5 % MOR
    assert visibility_to_beta(np.inf) == 0.0
    # Kunkel vs P.840's fog examples: 0.05 g/m^3 ~ 300 m, 0.5 g/m^3 ~ 50 m visibility (within a factor 1.5)
    mor = visibility_to_beta(1.0) / fog_beta_per_m(np.array([0.05, 0.5]))
    assert 200.0 < mor[0] < 450.0 and 33.0 < mor[1] < 75.0
    assert fog_beta_per_m(0.05) == pytest.approx(144.7 * 0.05**0.88 / 1e3, rel=1e-12)
    # Rain: M-P closed form equals Stoelinga & Warner's 2.24 W^0.75 [1/km], W = pi rho_w N0 / Lambda^4 [g/m^3]
    rate = np.array([1.0, 10.0, 50.0])
    lam = 4100.0 * rate**-0.21
    water_g_m3 = np.pi * 1e6 * 8e6 / lam**4
    np.testing.assert_allclose(rain_beta_per_m(rate), 2.24e-3 * water_g_m3**0.75, rtol=1e-3)
    assert rain_beta_per_m(0.0) == 0.0 and np.all(np.diff(rain_beta_per_m(rate)) > 0)


def test_weather_sums_and_round_trips():
    w = Weather("rain", rain_mm_h=50.0)
    assert w.radio_db_per_km(77 * GHZ) == pytest.approx(rain_specific_attenuation_db_per_km(77 * GHZ, 50.0))
    both = Weather("fog", rain_mm_h=5.0, fog_lwc_g_m3=0.2, temperature_c=5.0)
    expect = (rain_specific_attenuation_db_per_km(77 * GHZ, 5.0)
              + fog_specific_attenuation_db_per_km(77 * GHZ, 0.2, 5.0))
    assert both.radio_db_per_km(77 * GHZ) == pytest.approx(expect, rel=1e-12)
    assert both.camera_beta_per_m() == pytest.approx(rain_beta_per_m(5.0) + fog_beta_per_m(0.2), rel=1e-12)
    assert Weather().radio_db_per_km(77 * GHZ) == 0.0 and Weather().camera_beta_per_m() == 0.0
    drawn = {"kind": "fog", "rain_mm_h": 0.0, "fog_lwc_g_m3": 0.3}           # scene.objects.draw_weather's keys
    assert Weather(**Weather(**drawn).as_dict()) == Weather(**drawn)
    assert Weather(**drawn).as_dict() == {**drawn, "temperature_c": 15.0}


@pytest.mark.parametrize("call, match", [
    (lambda: rain_coefficients(0.5 * GHZ), "1-1000 GHz"),
    (lambda: rain_coefficients(1.1e12), "1-1000 GHz"),
    (lambda: rain_coefficients(float("nan")), "1-1000 GHz"),
    (lambda: rain_coefficients(77 * GHZ, elevation_deg=120.0), "elevation_deg"),
    (lambda: rain_specific_attenuation_db_per_km(77 * GHZ, [1.0, -1.0]), "rain_mm_h"),
    (lambda: fog_kl_db_per_km_per_g_m3(2e12), "GHz"),
    (lambda: fog_kl_db_per_km_per_g_m3(0.0), "f_hz"),
    (lambda: fog_kl_db_per_km_per_g_m3(77 * GHZ, temperature_c=-50.0), "temperature_c"),
    (lambda: fog_specific_attenuation_db_per_km(77 * GHZ, -0.1), "lwc_g_m3"),
    (lambda: path_power_factor(-1.0, 10.0), "gamma_db_per_km"),
    (lambda: path_power_factor(1.0, np.inf), "path_length_m"),
    (lambda: koschmieder(np.zeros((2, 2, 4)), np.ones((2, 2)), 0.1, 0.5), r"\[\.\.\., 3\]"),
    (lambda: koschmieder(np.zeros((2, 2, 3)), -np.ones((2, 2)), 0.1, 0.5), "distance_m"),
    (lambda: koschmieder(np.zeros((2, 2, 3)), np.ones((2, 2)), -0.1, 0.5), "beta_per_m"),
    (lambda: visibility_to_beta(0.0), "visibility_m"),
    (lambda: rain_beta_per_m(-2.0), "rain_mm_h"),
    (lambda: Weather("snow"), "kind"),
    (lambda: Weather("rain", rain_mm_h=-1.0), "rain_mm_h"),
    (lambda: Weather("fog", fog_lwc_g_m3=float("nan")), "fog_lwc_g_m3"),
    (lambda: Weather("rain", rain_mm_h="heavy"), "rain_mm_h"),
    (lambda: Weather("clear", rain_mm_h=5.0), "clear"),
    (lambda: Weather(temperature_c=-60.0), "temperature_c"),
    (lambda: Weather().radio_db_per_km(-1.0), "f_hz"),
])
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()
