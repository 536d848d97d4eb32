"""Complex radar cube of one frame: slow-time chirps with Doppler phase (``radio.cube_chirps``, ``cube_raw``).

The maps of ``sensors.radar`` are one snapshot (range-azimuth) and one closed-form slow-time DFT (range-Doppler).
With the cube on, both come from one explicit chirp sequence, which is also stored. Chirp m = 0..D-1
(D = ``radio.doppler_symbols``) starts m T after the frame's instant (T = ``radio.pri_s``); eq. (1) of
``sensors.radar`` becomes, per chirp,

  H_m[k, n] = sum_p g_p s_n(u_p) exp(-j 2 pi (f_c + f_k) tau_p) exp(+j 2 pi f_D,p m T) + Z_m[n, k]        (C1)
  x_m[r, n] = IFFT_k{ w_k H_m[k, n] }[r]                 (radar eq. 2: Hann w, 1/K, row r at r c / (2B))   (C2)
  Y_m[r, b] = sum_n v_n(b) x_m[r, n]                     (radar eq. 3: Taylor taper, unit coherent gain)   (C3)
  RD[r, d]  = (1/D) sum_m h_m x_m[r, n_ref] exp(-j 2 pi m d / D),  d = -D/2 .. D/2 - 1 (Hann h, n_ref = N/2) (C4)

g_p, tau_p, u_p, f_D,p: each path's complex gain (with sqrt(P_tx) in sqrt(mW) and the elevation factor), delay
[s], arrival direction and Doppler shift [Hz] (positive = approaching, so the phase advances: tau shrinks by
2 v T / c per chirp and -2 pi f_c tau grows by 2 pi (2 v / lambda) T). Z_m[n, k]: complex white Gaussian
noise of variance k_B T_0 F B per chirp, antenna and subcarrier (radar.cfr_noise), independent between chirps;
only the entries the maps read are drawn unless the raw cube is stored (``CubeDSP.noise``).

Stored per frame: ``radar`` = 10 log10 |Y_0|^2 [dBm], ``range_doppler`` = 10 log10 |RD|^2 [dBm],
``radar_chirps[c]`` = Y_{m_c} with m_c = floor(c D / C) (C = ``cube_chirps``, chirps taken evenly over the
burst as ROD2021 takes chirps 0, 64, 128, 192 of 255) in sqrt(mW), and with ``cube_raw`` ``radar_cube[m, k, n]``
= H_m[k, n] in sqrt(mW), from which (C2)-(C4) give the stored maps back.

Approximation: delays are held over the burst (phase-only Doppler, no range migration: at 6 m/s a target
moves 4 cm in a 64 x 0.1 ms burst, a fifth of a 0.19 m range bin). The signal terms of (C2) are evaluated
in closed form (``radar.range_antenna_banded``, kernel kept to +-24 bins, < -85 dB), the noise through
``np.fft``; (C4) of the signal is the exact closed-form DFT (``radar.doppler_kernel``). With the cube off
none of this runs and the maps keep their byte-identical single-snapshot path (``sionna_radar._dsp``).
"""

from __future__ import annotations

import numpy as np

from . import radar as rp

STATIC_DOPPLER_HZ = 1e-6   # |f_D| at or below this is a static path (as in sionna_radar._coherent)


def chirp_indices(n_symbols: int, n_chirps: int) -> np.ndarray:
    """[C] slow-time indices m_c = floor(c D / C) of the stored chirps (0 first; evenly spread)."""
    return (np.arange(n_chirps) * n_symbols) // max(1, n_chirps)


def cube_enabled(radio) -> bool:
    return int(getattr(radio, "cube_chirps", 0) or 0) > 0


class CubeDSP:
    """Per-frame cube processing for one radio config; ``frame`` replaces ``RadarSimulator._dsp``."""

    def __init__(self, radio, rows: np.ndarray, beamformer: np.ndarray):
        self.radio = radio
        self.rows = np.asarray(rows)
        self.V = np.ascontiguousarray(beamformer)               # [N, A], radar eq. (3)
        self.chirps = chirp_indices(radio.doppler_symbols, radio.cube_chirps)
        self.raw = bool(radio.cube_raw)
        self.ref = radio.array_cols // 2                        # the range-Doppler map's antenna

    # ------------------------------------------------------------------ bookkeeping
    def allocate(self, T: int) -> dict[str, np.ndarray]:
        r = self.radio
        out = {"radar_chirps": np.empty((T, len(self.chirps), len(self.rows), r.n_azimuth_bins), np.complex64)}
        if self.raw:
            out["radar_cube"] = np.empty((T, r.doppler_symbols, r.n_subcarriers, r.array_cols), np.complex64)
        return out

    def store(self, out: dict, frame: int, res: dict) -> None:
        for k in ("radar_chirps", "radar_cube"):
            if k in res:
                out[k][frame] = res[k]

    def attrs(self) -> dict:
        r = self.radio
        return {
            "chirps": int(r.cube_chirps), "chirp_index": self.chirps.tolist(),
            "chirp_times_s": (self.chirps * r.pri_s).tolist(), "burst_symbols": int(r.doppler_symbols),
            "pri_s": float(r.pri_s), "raw": self.raw,
            "radar_chirps": "complex64 [N, C, R, A]: beamformed range-azimuth of chirps chirp_index, sqrt(mW)",
            "radar_cube": ("complex64 [N, D, K, antennas]: CFR of every chirp (chirp x subcarrier x antenna), "
                           "sqrt(mW), subcarrier k at f_c + (k - K/2) B/K, antenna n at column n along x_right"
                           if self.raw else "not stored (radio.cube_raw=false)"),
            "doppler_phase": "exp(+j 2 pi f_D m T) per chirp m; delays held over the burst (no range migration)",
            "maps": "radar = |radar_chirps[0]|^2 in dBm; range_doppler = Hann-windowed DFT over all D chirps of "
                    "the reference column (array_cols // 2), 1/D, fftshifted, in dBm",
            "noise": "independent complex AWGN per chirp, antenna and subcarrier (k_B T F B)",
        }

    # ------------------------------------------------------------------ DSP
    def frame(self, g: np.ndarray, tau: np.ndarray, u: np.ndarray, fd: np.ndarray, rng: np.random.Generator,
              static_sum: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
        """One frame from pruned paths (gains g, delays tau [s], arrival unit vectors u, Doppler fd [Hz]).

        ``static_sum`` = (range-antenna [R, N], range-Doppler [R, D]) of static paths shared by all frames
        (zero Doppler, so the same in every chirp); never given when the raw cube is stored.
        """
        r = self.radio
        D, K, N = r.doppler_symbols, r.n_subcarriers, r.array_cols
        S = rp.steering(rp.sin_azimuth(u), r)                       # [P, N] far-field steering
        M = rp.range_antenna_banded(tau, g, S, r, self.rows)         # sparse [R, P], eq. (C2) per path
        moving = np.abs(fd) > STATIC_DOPPLER_HZ
        x_static = M[:, ~moving] @ S[~moving]                        # [R, N], identical in every chirp
        rd = np.outer(x_static[:, self.ref], rp.doppler_kernel(np.zeros(1), r)[0])
        Mm, Sm, fdm = M[:, moving], S[moving], fd[moving]
        if moving.any():
            rd = rd + Mm @ (Sm[:, self.ref][:, None] * rp.doppler_kernel(fdm, r))   # (C4), exact DFT
        if static_sum is not None:
            x_static, rd = x_static + static_sum[0], rd + static_sum[1]
        # noise in the CFR domain through the same window and IFFT (C1-C2), only where a map reads it
        Zc, Zref, Z = self.noise(rng, full=self.raw)
        win = rp.hann(K)
        zx = np.fft.ifft(win * Zc, axis=-1)[..., self.rows]                     # [C, N, R] stored chirps
        zref = np.fft.ifft(win * Zref, axis=-1)[:, self.rows]                   # [D, R] reference column
        zrd = np.fft.fftshift(np.fft.fft(rp.hann(D)[:, None] * zref, axis=0) / D, axes=0)  # [D, R]
        Y = np.empty((len(self.chirps), len(self.rows), r.n_azimuth_bins), np.complex128)
        for c, m in enumerate(self.chirps):
            x = x_static + zx[c].T                                    # [R, N] range-antenna of chirp m
            if moving.any():
                x += Mm @ (Sm * np.exp(2j * np.pi * fdm * m * r.pri_s)[:, None])
            # (C3) with einsum's own loops, not BLAS: a multi-threaded BLAS on a busy 2-core machine took
            # ~11 ms per such [128, 16] x [16, 64] product (thread hand-offs), einsum ~0.3 ms
            Y[c] = np.einsum("rn,na->ra", x, self.V)
        res = {"radar": rp.to_db(Y[0]), "range_doppler": rp.to_db(rd + zrd.T),
               "radar_chirps": Y.astype(np.complex64)}
        if self.raw:
            res["radar_cube"] = self._raw(g, tau, S, fd, moving, Z)
        return res

    def noise(self, rng: np.random.Generator, full: bool = True) -> tuple[np.ndarray, ...]:
        """(Z of the stored chirps [C, N, K], Z of the reference column [D, K], full Z [D, N, K] or None) of (C1),
        from one generator per frame (one draw of ``rng``, whatever the options).

        Drawn in an order that puts what the maps read first: the stored chirps on every antenna, then the
        reference column of the other chirps; only then (``full``, for the raw cube) the other columns of
        the other chirps. So the maps are the same with and without ``cube_raw``, and the chirps-only path
        draws 1/8 of the numbers (quick: 31.7k of 262k complex values per frame).
        """
        r = self.radio
        D, K, N = r.doppler_symbols, r.n_subcarriers, r.array_cols
        sub = np.random.default_rng(int(rng.integers(0, 2**63 - 1)))
        others = np.setdiff1d(np.arange(D), self.chirps)
        Zc = rp.cfr_noise(sub, (len(self.chirps), N, K), r)
        Zref = np.empty((D, K), np.complex128)
        Zref[self.chirps], Zref[others] = Zc[:, self.ref], rp.cfr_noise(sub, (len(others), K), r)
        if not full:
            return Zc, Zref, None
        Z = np.empty((D, N, K), np.complex128)
        Z[self.chirps], Z[:, self.ref] = Zc, Zref
        rest = np.array([n for n in range(N) if n != self.ref])
        Z[np.ix_(others, rest)] = rp.cfr_noise(sub, (len(others), N - 1, K), r)
        return Zc, Zref, Z

    def _raw(self, g, tau, S, fd, moving, Z) -> np.ndarray:
        """[D, K, N] complex64 CFR of every chirp, eq. (C1): static paths once, moving ones by their phase."""
        r = self.radio
        D, K, N = r.doppler_symbols, r.n_subcarriers, r.array_cols
        fk = (np.arange(K) - K / 2) * r.bandwidth_hz / K
        gs = g[:, None] * S                                          # [P, N]
        E_s = np.exp(-2j * np.pi * (r.carrier_hz + fk[None]) * tau[~moving, None])      # [Ps, K]
        H = np.broadcast_to((E_s.T @ gs[~moving])[None], (D, K, N)).copy()
        if moving.any():
            E_m = np.exp(-2j * np.pi * (r.carrier_hz + fk[None]) * tau[moving, None])    # [Pm, K]
            A = (E_m[:, :, None] * gs[moving][:, None, :]).reshape(int(moving.sum()), K * N)
            ph = np.exp(2j * np.pi * np.arange(D)[:, None] * r.pri_s * fd[moving][None])  # [D, Pm]
            H += (ph @ A).reshape(D, K, N)
        H += np.transpose(Z, (0, 2, 1))
        return H.astype(np.complex64)


# ----------------------------------------------------------------------------- reference processing
def maps_from_raw(cube: np.ndarray, radio, rows: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """(RA chirps [D, R, A] complex, RA [R, A] dBm, RD [R, D] dBm) from a raw cube [D, K, N] by the DSP chain
    (C2)-(C4) with plain ``np.fft`` (no closed forms): the documented way to recompute the stored maps."""
    rows = rp.range_rows(radio) if rows is None else np.asarray(rows)
    D, K, _ = cube.shape
    x = np.fft.ifft(rp.hann(K)[None, :, None] * cube.astype(np.complex128), axis=1)[:, rows]   # [D, R, N]
    Y = x @ rp.beamformer(radio)                                                                # [D, R, A]
    ref = radio.array_cols // 2
    rd = np.fft.fftshift(np.fft.fft(rp.hann(D)[:, None] * x[:, :, ref], axis=0) / D, axes=0).T   # [R, D]
    return Y, rp.to_db(Y[0]), rp.to_db(rd)
