"""Monostatic OFDM radar signal processing from propagation paths (numpy only).

Signal model (per path p, delay tau_p [s], complex gain a_p [1], Doppler f_D,p [Hz],
arrival unit vector u_p in world coordinates):

  CFR   H[n, k] = sqrt(P_tx) * a_p * s_n(u_p) * exp(-j 2 pi (f_c + f_k) tau_p),
        f_k = (k - K/2) B / K,  k = 0..K-1                                     (1)
  range x[n, r] = IFFT_k{ w_k H[n, k] }[r] = (1/K) sum_k w_k H[n, k] e^{+j 2 pi k r / K}
        bin r sits at range r * c / (2B) [m] (round trip: tau = 2R/c)          (2)
  angle Y[r, b] = sum_n v_n(b) x[n, r],  v_n(b) = t_n e^{-j k0 d_n sin(az_b)} / sum(t)     (3)

with w the periodic Hann window over subcarriers, d_n [m] the
column positions along x_right (= -y_world, the dataset's "right"), k0 = 2 pi / lambda, t a
Taylor taper,
and the far-field steering phase s_n = exp(+j k0 d_n sin(az_p)) where sin(az_p) =
x_right . u_p (the cone angle a horizontal ULA measures). Powers are in mW
(sqrt(P_tx) with P_tx in mW), so heatmaps are in dBm (dB re 1 mW) at the processor
output.

(2) is evaluated in closed form: inserting (1),
  x[r] = (sqrt(P) a / K) e^{-j 2 pi f_c tau} e^{+j pi B tau} D_w(r - B tau),
  D_w(u) = sum_k w_k e^{j 2 pi k u / K} = 0.5 G(u) - 0.25 G(u - 1) - 0.25 G(u + 1),
  G(u)   = sum_k e^{j 2 pi k u / K} = e^{j pi (K-1) u / K} sin(pi u) / sin(pi u / K),
which is K-periodic in u (range aliasing of a sampled spectrum, as in real OFDM radar).

Thermal noise: each subcarrier of each antenna gets complex white Gaussian noise of
variance sigma^2 = k_B T F B [W] (Boltzmann k_B, temperature T, noise factor F, full
bandwidth B, the per-subcarrier SNR convention P_tx |a|^2 / (k_B T F B)). It is drawn in
the CFR domain and pushed through exactly the same window + IFFT + beamformer, so the
windowed noise keeps its (slightly coloured) correlation across range bins; after (2)
its variance per bin is sigma^2 sum(w^2) / K^2 = 3 sigma^2 / (8 K).
"""

from __future__ import annotations

import numpy as np

C0 = 299_792_458.0       # [m/s]
K_BOLTZMANN = 1.380649e-23  # [J/K]


# ----------------------------------------------------------------------------- axes
def range_rows(radio) -> np.ndarray:
    """Integer IFFT bins r kept in the heatmap: those with r c/(2B) in [range_min, range_max]."""
    dr = C0 / (2.0 * radio.bandwidth_hz)
    r0 = int(np.ceil(radio.range_min_m / dr - 1e-9))
    r1 = int(np.floor(radio.range_max_m / dr + 1e-9))
    return np.arange(r0, min(r1, radio.n_subcarriers - 1) + 1)


def range_bins_m(radio) -> np.ndarray:
    """[R] bin centres [m]: r c / (2B) for the kept rows (row 0 = nearest)."""
    return range_rows(radio) * (C0 / (2.0 * radio.bandwidth_hz))


def azimuth_bins_rad(radio) -> np.ndarray:
    """[A] bin centres [rad] over [-fov/2, +fov/2], ascending (negative = left): uniform in angle, or with
    ``radio.azimuth_grid == "sine"`` uniform in sin(az) (an angle FFT's grid; CRUW's at fov = 180 deg)."""
    half = np.deg2rad(radio.azimuth_fov_deg) / 2.0
    if getattr(radio, "azimuth_grid", "uniform") == "sine":
        s = np.sin(half)
        return np.arcsin(np.clip(np.linspace(-s, s, radio.n_azimuth_bins), -1.0, 1.0))
    return np.linspace(-half, half, radio.n_azimuth_bins)


def doppler_bins_mps(radio) -> np.ndarray:
    """[D] radial-velocity bin centres [m/s], fftshifted, ascending.

    Positive = APPROACHING (range decreasing). Monostatic: f_D = 2 v_r / lambda with v_r the
    closing speed, and Sionna's path Doppler is positive for approaching scatterers.
    """
    D = radio.doppler_symbols
    f = np.fft.fftshift(np.fft.fftfreq(D, d=radio.pri_s))  # [Hz]
    return f * radio.wavelength_m / 2.0


def element_positions_m(radio) -> np.ndarray:
    """[N] column positions [m] along x_right, centred on the phase centre."""
    n = np.arange(radio.array_cols) - (radio.array_cols - 1) / 2.0
    return n * radio.spacing_wavelengths * radio.wavelength_m


def noise_power_w(radio) -> float:
    """k_B T F B [W]: thermal noise power per subcarrier sample in the convention of (1)."""
    return K_BOLTZMANN * radio.noise_temperature_k * 10 ** (radio.noise_figure_db / 10) * radio.bandwidth_hz


def tx_amplitude(radio) -> float:
    """sqrt(P_tx) with P_tx in mW."""
    return float(np.sqrt(10 ** (radio.tx_power_dbm / 10)))


# ----------------------------------------------------------------------------- range
def hann(K: int) -> np.ndarray:
    """Periodic Hann window w_k = 0.5 - 0.5 cos(2 pi k / K)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(K) / K)


def _dirichlet(u: np.ndarray, K: int) -> np.ndarray:
    """G(u) = sum_{k<K} exp(j 2 pi k u / K), exact and K-periodic."""
    u = np.asarray(u, dtype=np.float64)
    w = u - K * np.floor(u / K + 0.5)          # wrap to [-K/2, K/2)
    s = np.sin(np.pi * w / K)
    small = np.abs(w) < 1e-7
    ratio = np.where(small, K * np.cos(np.pi * w) / np.cos(np.pi * w / K),  # limit at w -> 0
                     np.sin(np.pi * w) / np.where(small, 1.0, s))
    return np.exp(1j * np.pi * (K - 1) * w / K) * ratio


def hann_kernel(u: np.ndarray, K: int) -> np.ndarray:
    """D_w(u) = sum_k w_k e^{j 2 pi k u / K} for the periodic Hann window (closed form)."""
    return 0.5 * _dirichlet(u, K) - 0.25 * _dirichlet(u - 1.0, K) - 0.25 * _dirichlet(u + 1.0, K)


def range_profile(tau_s: np.ndarray, gains: np.ndarray, radio, rows: np.ndarray | None = None) -> np.ndarray:
    """x[rows, P...] = Hann-windowed IFFT over subcarriers of the CFR of each path, eq. (2).

    ``tau_s`` [P...] delays [s]; ``gains`` [P...] complex amplitudes (incl. sqrt(P_tx) and
    steering if wanted). Exact closed form (no CFR materialised); per-path columns, so
    the caller sums (or beamforms) over paths.
    """
    K, B, fc = radio.n_subcarriers, radio.bandwidth_hz, radio.carrier_hz
    rows = range_rows(radio) if rows is None else np.asarray(rows)
    tau = np.asarray(tau_s, dtype=np.float64)
    phase = np.exp(-2j * np.pi * fc * tau + 1j * np.pi * B * tau)
    u = rows.reshape((-1,) + (1,) * tau.ndim) - B * tau[None]
    return (np.asarray(gains) * phase / K)[None] * hann_kernel(u, K)


def cfr(tau_s: np.ndarray, gains: np.ndarray, radio) -> np.ndarray:
    """Brute-force CFR H[k] = sum_p g_p exp(-j 2 pi (f_c + f_k) tau_p), eq. (1). Reference only."""
    K, B, fc = radio.n_subcarriers, radio.bandwidth_hz, radio.carrier_hz
    fk = (np.arange(K) - K / 2) * B / K
    tau = np.asarray(tau_s, dtype=np.float64).ravel()
    return np.exp(-2j * np.pi * (fc + fk[:, None]) * tau[None]) @ np.asarray(gains).ravel()


def range_profile_bruteforce(tau_s, gains, radio, rows=None) -> np.ndarray:
    """Reference for the path sum of range_profile: Hann window + np.fft.ifft of cfr()."""
    rows = range_rows(radio) if rows is None else np.asarray(rows)
    x = np.fft.ifft(hann(radio.n_subcarriers) * cfr(tau_s, gains, radio))
    return x[rows]


def range_antenna_banded(tau_s: np.ndarray, gains: np.ndarray, steer: np.ndarray, radio,
                         rows: np.ndarray, half_band: int = 24):
    """Sparse [R, P] range-profile matrix M (eq. 2, kernel kept within +-half_band bins).

    Returns a scipy CSR matrix so that ``M @ steer`` ([P, N]) gives the [R, N] range-antenna
    cube of the path sum. The periodic Hann kernel falls off as |u|^-3; beyond 24 bins it is
    below -85 dB of its peak, i.e. far under the thermal floor of any heatmap here, while the
    cost drops from R*P to (2*half_band+1)*P kernel evaluations. ``rows`` must be contiguous.
    ``steer`` is unused here and only documents the intended product.
    """
    from scipy.sparse import csr_matrix

    del steer
    K, B, fc = radio.n_subcarriers, radio.bandwidth_hz, radio.carrier_hz
    tau = np.asarray(tau_s, dtype=np.float64).ravel()
    P = len(tau)
    c = B * tau                                                  # fractional bin of each path
    off = np.arange(-half_band, half_band + 1)
    r = np.floor(c)[:, None].astype(np.int64) + off[None]        # [P, 2W+1] absolute bins
    rw = np.mod(r, K)                                            # periodic in K (range aliasing)
    inside = (rw >= rows[0]) & (rw <= rows[-1])
    pi, ki = np.nonzero(inside)
    u = r[pi, ki] - c[pi]
    coef = np.asarray(gains).ravel() * np.exp(-2j * np.pi * fc * tau + 1j * np.pi * B * tau) / K
    vals = coef[pi] * hann_kernel(u, K)
    return csr_matrix((vals, (rw[pi, ki] - rows[0], pi)), shape=(len(rows), P))


# ----------------------------------------------------------------------------- angle
def sin_azimuth(u_world: np.ndarray) -> np.ndarray:
    """sin of the cone angle [..] seen by the horizontal array: x_right . u = -u_y (world)."""
    return -np.asarray(u_world)[..., 1]


def steering(sin_az: np.ndarray, radio) -> np.ndarray:
    """[..., N] far-field steering s_n = exp(+j k0 d_n sin(az)), d_n along x_right."""
    k0 = 2 * np.pi / radio.wavelength_m
    return np.exp(1j * k0 * np.asarray(sin_az)[..., None] * element_positions_m(radio))


def elevation_gain(u_world: np.ndarray, down_axis: np.ndarray, radio) -> np.ndarray:
    """Coherent, unsteered row sum of an N_rows x N_cols planar array, per path [...].

    ``down_axis`` is the unit vector of the array's vertical axis in world coordinates
    (world z tilted by the downtilt). Rows are summed with weight 1/N_rows and no elevation
    steering (broadside = radar boresight): AF(u) = (1/M) sum_m exp(j k0 z_m u . axis).
    This keeps one azimuth heatmap per frame with the elevation beam on boresight; paths far
    off boresight in elevation are attenuated as a real unsteered planar array would do.
    For a ULA (1 row) the factor is 1.
    """
    M = radio.array_rows
    if M == 1:
        return np.ones(np.asarray(u_world).shape[:-1])
    k0 = 2 * np.pi / radio.wavelength_m
    z = (np.arange(M) - (M - 1) / 2.0) * radio.spacing_wavelengths * radio.wavelength_m
    proj = np.asarray(u_world) @ np.asarray(down_axis)
    return np.exp(1j * k0 * proj[..., None] * z).mean(axis=-1)


def beamformer(radio) -> np.ndarray:
    """[N, A] weights v_n(b) of eq. (3): Taylor taper (nbar=4, -30 dB sidelobes), unit coherent gain.

    Taylor keeps a narrower main lobe than Hann for the same sidelobe suppression, which
    matters with only 8-16 columns.
    """
    from scipy.signal.windows import taylor

    N = radio.array_cols
    t = taylor(N, nbar=4, sll=30, norm=False)
    a = steering(np.sin(azimuth_bins_rad(radio)), radio)  # [A, N]
    return (t[:, None] * np.conj(a).T) / t.sum()


# ----------------------------------------------------------------------------- noise
def cfr_noise(rng: np.random.Generator, shape: tuple[int, ...], radio) -> np.ndarray:
    """Complex white Gaussian noise [..., K] in sqrt(mW), variance k_B T F B per sample."""
    sigma2_mw = noise_power_w(radio) * 1e3
    z = rng.standard_normal(shape + (2,), dtype=np.float64)
    return (z[..., 0] + 1j * z[..., 1]) * np.sqrt(sigma2_mw / 2.0)


def noise_range_antenna(rng: np.random.Generator, radio, rows: np.ndarray, n_ant: int) -> np.ndarray:
    """[R, N] noise after the same window + IFFT as the signal (exact, drawn in the CFR domain)."""
    z = cfr_noise(rng, (n_ant, radio.n_subcarriers), radio)
    return np.fft.ifft(hann(radio.n_subcarriers) * z, axis=-1)[:, rows].T


# ----------------------------------------------------------------------------- Doppler
def doppler_kernel(fd_hz: np.ndarray, radio) -> np.ndarray:
    """[P, D] Hann-windowed slow-time DFT of a tone at f_D, fftshifted bins (closed form).

    Slow time m = 0..D-1 at PRI T: sum_m w_m e^{j 2 pi f_D m T} e^{-j 2 pi m d / D}
    = D_w(f_D T D - d); shifted so column j is Doppler bin d = j - D/2 (ascending).
    Normalised by 1/D like the range IFFT.
    """
    D = radio.doppler_symbols
    d = np.arange(D) - D // 2
    nu = np.asarray(fd_hz, dtype=np.float64)[:, None] * radio.pri_s * D
    return hann_kernel(nu - d[None], D) / D


def noise_range_doppler(rng: np.random.Generator, radio, rows: np.ndarray) -> np.ndarray:
    """[R, D] noise through window + range IFFT + Doppler DFT (one antenna, exact)."""
    K, D = radio.n_subcarriers, radio.doppler_symbols
    z = cfr_noise(rng, (D, K), radio)
    x = np.fft.ifft(hann(K) * z, axis=-1)[:, rows]                # [D, R]
    y = np.fft.fft(hann(D)[:, None] * x, axis=0) / D              # e^{-j 2 pi m d / D}
    return np.fft.fftshift(y, axes=0).T


def to_db(x: np.ndarray) -> np.ndarray:
    """10 log10 |x|^2 (x in sqrt(mW) -> dBm), float32, floored at -300 dBm."""
    return (10.0 * np.log10(np.maximum(np.abs(x) ** 2, 1e-30))).astype(np.float32)
