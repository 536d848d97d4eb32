"""Radar maps of a radiovisual store as ROD2021 chirp files (``export-cruw``). See ``docs/cruw.md``.

ROD2021 stores, per frame, 4 chirps (0, 64, 128, 192 of 255, evenly spread over the burst) of the complex
range-azimuth map after the range and angle FFTs, as float32 [128 range, 128 azimuth, (re, im)].

* **Complex chirps** (stores synthesised with ``radio.cube_chirps``): the stored chirps ``radar_chirps``
  (C evenly spread over the burst, C a multiple of 4: every (C/4)-th is taken) go onto CRUW's grid. On the
  ``cruw`` preset's grid (CRUW's own bin centres) that is a copy. Elsewhere the complex values are
  interpolated (cubic splines, see ``resample_complex``), with the range kernel's known phase ramp removed first.
* **Magnitude only** (stores without chirps): the dB map is interpolated (linear in range and sin(az)) and
  written as (sqrt(power), 0) in all four files: no phase, no chirp-to-chirp change.
* **Scale.** cruw-devkit draws RF images on a 0..1 colour scale (``draw_rf_image(..., normalized=True)``),
  so ROD2021's magnitudes are of order one. One gain per store, ``gain = 10^(-P_max / 20)`` with P_max the
  highest value of ``radar`` (chirp 0 power, dBm) over ALL its splits, scales every file: the strongest
  chirp-0 cell of the store has magnitude 1, levels between frames, chirps and splits keep their ratios,
  and a partial export scales like a full one. ``import-cruw`` divides it out again (sidecar ``radar_gain``).
"""

from __future__ import annotations

import numpy as np

from ...errors import DatasetError
from .. import cruw

ROD_CHIRPS = 4


def store_gain(ds) -> tuple[float, float]:
    """(gain, P_max [dB]) of the rule above: over every split's ``radar`` map, one shard at a time."""
    from ..store.format import SHARD_SAMPLES

    p_max = -np.inf
    for s in ds.splits:
        a = ds.split(s).array("radar")
        for i in range(0, a.shape[0], SHARD_SAMPLES):
            p_max = max(p_max, float(np.max(a[i:i + SHARD_SAMPLES])))
    if not np.isfinite(p_max):
        raise DatasetError(f"{ds.path}: no radar samples to scale")
    return float(10.0 ** (-p_max / 20.0)), p_max


def chirp_selection(n_chirps: int) -> np.ndarray:
    """Indices into ``radar_chirps`` (C stored) of the 4 exported chirps: 0, C/4, C/2, 3C/4."""
    if n_chirps < ROD_CHIRPS or n_chirps % ROD_CHIRPS:
        raise DatasetError(f"the store holds {n_chirps} complex chirps per frame; ROD2021's layout needs 4 evenly "
                           "spread chirps: synthesise with --set radio.cube_chirps=4 (or a multiple of 4)")
    return np.arange(ROD_CHIRPS) * (n_chirps // ROD_CHIRPS)


def _same_grid(rb: np.ndarray, ab: np.ndarray) -> bool:
    return (len(rb) == cruw.N_BINS and len(ab) == cruw.N_BINS and np.allclose(rb, cruw.range_grid_m(), atol=1e-6)
            and np.allclose(ab, cruw.azimuth_grid_rad(), atol=1e-9))


def _interp_axis(z: np.ndarray, x: np.ndarray, xq: np.ndarray, axis: int) -> np.ndarray:
    """Cubic-spline interpolation of complex ``z`` along ``axis`` from ascending ``x`` to ``xq``; 0 outside x.

    Cubic, not linear: at 3-4 samples per beam or range kernel, linear interpolation loses up to ~10 % of a
    peak; the spline stays within ~1 % (``tests/test_cube.py``)."""
    from scipy.interpolate import CubicSpline

    out = CubicSpline(x, z, axis=axis)(np.clip(xq, x[0], x[-1]))
    out = np.moveaxis(out, axis, -1)
    out[..., (xq < x[0] - 1e-9) | (xq > x[-1] + 1e-9)] = 0.0
    return np.moveaxis(out, -1, axis)


def resample_complex(z: np.ndarray, rb: np.ndarray, ab: np.ndarray, range_res_m: float,
                     n_subcarriers: int) -> np.ndarray:
    """Complex [..., R, A] on our grid -> [..., 128, 128] on CRUW's (a copy when the grids agree).

    Range: a point echo's range profile is x[r] ~ c e^{+j pi (K-1) r / K} W(r - r0) with W real and smooth
    (``sensors.radar``, closed form of eq. 2), so the ramp is removed, the smooth part interpolated at the
    fractional bin rho = R / (c / 2B) of each CRUW bin, and the ramp put back at rho. Azimuth: the beamformer
    (symmetric taper, centred array) gives a real, smooth pattern times the echo's phase, interpolated in
    sin(az) (the axis it is uniform in). Cubic splines both ways. Cells outside our coverage are 0 (no data).
    """
    z = np.asarray(z, np.complex128)
    if _same_grid(rb, ab):
        return z.copy()
    K = float(n_subcarriers)
    rows = np.asarray(rb, np.float64) / range_res_m                 # absolute IFFT bins (integers)
    rho = cruw.range_grid_m() / range_res_m
    z = z * np.exp(-1j * np.pi * (K - 1) / K * rows)[:, None]
    z = _interp_axis(z, rows, rho, axis=-2) * np.exp(1j * np.pi * (K - 1) / K * rho)[:, None]
    return _interp_axis(z, np.sin(np.asarray(ab, np.float64)), np.sin(cruw.azimuth_grid_rad()), axis=-1)


def resample_db(db: np.ndarray, rb: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """dB map [R, A] on our grid -> [128, 128] dB on CRUW's (linear in range and sin(az); the map's minimum
    outside our coverage)."""
    if _same_grid(rb, ab):
        return np.asarray(db, np.float64)
    from scipy.interpolate import RegularGridInterpolator

    f = RegularGridInterpolator((rb, np.sin(ab)), np.asarray(db, np.float64), bounds_error=False,
                                fill_value=float(np.min(db)))
    rr, ss = np.meshgrid(cruw.range_grid_m(), np.sin(cruw.azimuth_grid_rad()), indexing="ij")
    return f(np.stack([rr, ss], axis=-1))


def to_ri(z: np.ndarray) -> np.ndarray:
    """complex [..., 128, 128] -> float32 [..., 128, 128, 2] (re, im), ROD2021's file layout."""
    return np.stack([z.real, z.imag], axis=-1).astype(np.float32)


class RadarWriter:
    """The four chirp arrays of one frame, for a store and its gain (complex when it has chirps)."""

    def __init__(self, ds, splits: tuple[str, ...], gain: float):
        self.rb, self.ab, self.gain = ds.range_bins_m, ds.azimuth_bins_rad, gain
        have = [("radar_chirps" in ds.split(s)) for s in splits]
        if any(have) and not all(have):
            raise DatasetError(f"{ds.path}: some exported splits have complex chirps and some do not")
        self.complex = bool(have and all(have))
        radio = ds.attrs.get("radio") or {}
        if self.complex:
            self.sel = chirp_selection(ds.split(splits[0]).shape("radar_chirps")[1])
            if not radio.get("range_resolution_m") or not radio.get("n_subcarriers"):
                raise DatasetError(f"{ds.path}: radio attrs lack range_resolution_m / n_subcarriers, needed to "
                                   "resample complex chirps")
            self.res, self.K = float(radio["range_resolution_m"]), int(radio["n_subcarriers"])
            cube = radio.get("cube") or {}
            idx = cube.get("chirp_index")
            self.slow_time_index = [int(idx[i]) for i in self.sel] if idx else self.sel.tolist()

    def frame(self, sv, i: int) -> list[np.ndarray]:
        """[4] float32 (128, 128, 2) arrays: chirps 0, 64, 128, 192 of ROD2021's naming."""
        if self.complex:
            z = np.asarray(sv.read("radar_chirps", i))[self.sel]
            z = resample_complex(z, self.rb, self.ab, self.res, self.K) * self.gain
            return list(to_ri(z))
        amp = np.power(10.0, resample_db(sv.read("radar", i), self.rb, self.ab) / 20.0) * self.gain
        ri = to_ri(amp.astype(np.complex128))
        return [ri] * ROD_CHIRPS

    def describe(self) -> str:
        if self.complex:
            return (f"complex: stored chirps {self.sel.tolist()} of radar_chirps (slow-time symbols "
                    f"{self.slow_time_index}) on CRUW's grid, times radar_gain")
        return "magnitude only: re = sqrt(power) * radar_gain on CRUW's grid, im = 0; the 4 chirps are identical"
