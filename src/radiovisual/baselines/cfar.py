"""Two-dimensional CFAR detectors (cell-averaging and ordered-statistic) on LINEAR power.

A cell under test (CUT) is declared a detection when its power exceeds ``alpha * Z``,
where ``Z`` is a noise estimate from the training cells of a rectangular window around
the CUT with a guard band (per axis) excluded. For exponentially distributed noise
power (square-law detector, Rayleigh amplitude):

* CA-CFAR: ``Z`` = mean of the N training cells and ``Pfa = (1 + alpha/N)^(-N)``, hence
  ``alpha = N (Pfa^(-1/N) - 1)`` (the standard CA result, e.g. Richards, *Fundamentals of
  Radar Signal Processing*, ch. 6; written here for the mean rather than the sum).
* OS-CFAR: ``Z`` = k-th smallest of the N training cells and
  ``Pfa = prod_{i=0}^{k-1} (N - i) / (N - i + alpha)`` (Rohling 1983, the paper's ref. [69]). ``alpha``
  is found by bracketing root search (the product is monotone in ``alpha``).

Edges are handled explicitly, per axis: ``"shrink"`` uses only the training cells that
lie inside the map and recomputes ``alpha`` for the actual N of each CUT (so Pfa stays
the target value at the border); ``"wrap"`` treats the axis as periodic (the natural
choice for a Doppler axis).

Inputs in dB must be converted first with ``db_to_power``; these functions never take logs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import ConfigError

EDGE_MODES = ("shrink", "wrap")


def db_to_power(x_db: np.ndarray) -> np.ndarray:
    """dB -> linear power (float64). CFAR thresholds are derived for linear power."""
    return np.power(10.0, np.asarray(x_db, dtype=np.float64) / 10.0)


def ca_alpha(n_train: np.ndarray | int, pfa: float) -> np.ndarray:
    """CA-CFAR scale on the training MEAN: alpha = N (Pfa^(-1/N) - 1)."""
    n = np.asarray(n_train, dtype=np.float64)
    return n * (np.power(pfa, -1.0 / np.maximum(n, 1.0)) - 1.0)


@lru_cache(maxsize=4096)
def os_alpha(n_train: int, k: int, pfa: float) -> float:
    """OS-CFAR scale on the k-th order statistic (1-based k of N), solving Rohling's Pfa product."""
    from scipy.optimize import brentq

    if not 1 <= k <= n_train:
        raise ConfigError(f"OS-CFAR rank k={k} must be in [1, N={n_train}]")
    i = np.arange(k, dtype=np.float64)
    nn = n_train - i
    target = np.log(pfa)

    def f(alpha: float) -> float:  # log Pfa(alpha) - log Pfa_target, decreasing in alpha
        return float(np.sum(np.log(nn) - np.log(nn + alpha)) - target)

    hi = 1.0
    while f(hi) > 0:
        hi *= 2.0
        if hi > 1e12:
            raise ConfigError(f"OS-CFAR: cannot reach pfa={pfa} with N={n_train}, k={k}")
    return float(brentq(f, 0.0, hi, xtol=1e-10, rtol=1e-12))


def _check(shape: tuple[int, int], guard: tuple[int, int], train: tuple[int, int], pfa: float,
           edge: tuple[str, str]) -> None:
    if len(shape) != 2:
        raise ConfigError(f"CFAR expects a 2-D map, got shape {shape}")
    if min(guard) < 0 or min(train) < 0 or max(train) == 0:
        raise ConfigError(f"CFAR guard must be >= 0 and train >= 0 with at least one train cell "
                          f"(guard={guard}, train={train})")
    if not 0 < pfa < 1:
        raise ConfigError(f"CFAR pfa must be in (0, 1), got {pfa}")
    for e in edge:
        if e not in EDGE_MODES:
            raise ConfigError(f"CFAR edge mode '{e}' is not one of {EDGE_MODES}")


def _pad_wrap(x: np.ndarray, half: tuple[int, int], edge: tuple[str, str]) -> tuple[np.ndarray, tuple[int, int]]:
    """Periodically extend the 'wrap' axes so that 'shrink' arithmetic sees full windows there."""
    pads = [(h, h) if e == "wrap" else (0, 0) for h, e in zip(half, edge)]
    if all(p == (0, 0) for p in pads):
        return x, (0, 0)
    # np.pad(wrap) handles pads longer than the axis by repeated wrapping.
    return np.pad(x, pads, mode="wrap"), (pads[0][0], pads[1][0])


def _box_sum(x: np.ndarray, h0: int, h1: int) -> np.ndarray:
    """Sum over the (2h0+1) x (2h1+1) window around every cell, clipped to the map."""
    R, A = x.shape
    S = np.zeros((R + 1, A + 1))
    S[1:, 1:] = x.cumsum(0).cumsum(1)
    r = np.arange(R)
    a = np.arange(A)
    r0, r1 = np.clip(r - h0, 0, R), np.clip(r + h0 + 1, 0, R)
    a0, a1 = np.clip(a - h1, 0, A), np.clip(a + h1 + 1, 0, A)
    return S[np.ix_(r1, a1)] - S[np.ix_(r0, a1)] - S[np.ix_(r1, a0)] + S[np.ix_(r0, a0)]


def ca_cfar_2d(power: np.ndarray, guard: tuple[int, int], train: tuple[int, int], pfa: float,
               edge: tuple[str, str] = ("shrink", "shrink")) -> tuple[np.ndarray, np.ndarray]:
    """CA-CFAR. ``power`` [R, A] linear. Returns (detections bool [R, A], threshold [R, A])."""
    power = np.asarray(power, dtype=np.float64)
    _check(power.shape, guard, train, pfa, edge)
    outer = (guard[0] + train[0], guard[1] + train[1])
    xp, off = _pad_wrap(power, outer, edge)
    ones = np.ones_like(xp)
    tot = _box_sum(xp, *outer) - _box_sum(xp, *guard)
    n = _box_sum(ones, *outer) - _box_sum(ones, *guard)
    sl = (slice(off[0], off[0] + power.shape[0]), slice(off[1], off[1] + power.shape[1]))
    tot, n = tot[sl], np.rint(n[sl])
    mean = tot / np.maximum(n, 1.0)
    thr = ca_alpha(n, pfa) * mean
    thr[n < 1] = np.inf
    return power > thr, thr


def _train_stack(power: np.ndarray, guard: tuple[int, int], train: tuple[int, int],
                 edge: tuple[str, str]) -> np.ndarray:
    """[R, A, M] float32 training-cell values of every CUT, NaN where the window leaves the map."""
    outer = (guard[0] + train[0], guard[1] + train[1])
    xp, off = _pad_wrap(power.astype(np.float32), outer, edge)
    # NaN-pad the remaining (shrink) margins so every CUT has a full-size window.
    pads = [(h - o, h - o) for h, o in zip(outer, off)]
    xp = np.pad(xp, pads, mode="constant", constant_values=np.nan)
    R, A = power.shape
    # One shifted copy per training offset: much faster than fancy-indexing a sliding window view.
    return np.stack([xp[outer[0] + di:outer[0] + di + R, outer[1] + dj:outer[1] + dj + A]
                     for di in range(-outer[0], outer[0] + 1) for dj in range(-outer[1], outer[1] + 1)
                     if abs(di) > guard[0] or abs(dj) > guard[1]], axis=-1)


def os_cfar_2d(power: np.ndarray, guard: tuple[int, int], train: tuple[int, int], pfa: float,
               rank: float = 0.75, edge: tuple[str, str] = ("shrink", "shrink")) -> tuple[np.ndarray, np.ndarray]:
    """OS-CFAR with k = ceil(rank * N) of the N in-map training cells (N varies at the edges)."""
    power = np.asarray(power, dtype=np.float64)
    _check(power.shape, guard, train, pfa, edge)
    if not 0 < rank <= 1:
        raise ConfigError(f"OS-CFAR rank must be in (0, 1], got {rank}")
    vals = _train_stack(power, guard, train, edge)
    M = vals.shape[-1]
    n = np.sum(np.isfinite(vals), axis=-1)
    k = np.clip(np.ceil(rank * n).astype(int), 1, np.maximum(n, 1))
    z = np.empty(power.shape)
    full = n == M
    if full.any():  # interior: one fixed k, linear-time selection
        kf = int(np.ceil(rank * M))
        z[full] = np.partition(vals[full], kf - 1, axis=-1)[:, kf - 1]
    if (~full).any():  # border: variable N and k; NaNs sort last
        part = np.sort(vals[~full], axis=-1)
        z[~full] = np.take_along_axis(part, (k[~full] - 1)[:, None], axis=-1)[:, 0]
    alpha = np.empty(n.shape)
    for nn, kk in set(zip(n.ravel().tolist(), k.ravel().tolist())):
        alpha[(n == nn) & (k == kk)] = os_alpha(int(nn), int(kk), float(pfa)) if nn > 0 else np.inf
    thr = alpha * z
    thr[n < 1] = np.inf
    return power > thr, thr


def cfar_2d(power: np.ndarray, variant: str, guard: tuple[int, int], train: tuple[int, int], pfa: float,
            rank: float = 0.75, edge: tuple[str, str] = ("shrink", "shrink")) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch on ``variant`` ("ca" | "os")."""
    if variant == "ca":
        return ca_cfar_2d(power, guard, train, pfa, edge)
    if variant == "os":
        return os_cfar_2d(power, guard, train, pfa, rank, edge)
    raise ConfigError(f"CFAR variant '{variant}' is not one of ('ca', 'os')")
