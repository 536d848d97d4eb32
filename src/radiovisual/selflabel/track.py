"""Sequence-aware self-labels (``mcl+track``): Viterbi over per-frame candidates with a max-speed motion model.

Uses capture metadata only (sequence id, frame index, frame period), never labels. Each frame offers a
few candidate positions (radar local maxima near the attention/vision prior) with a unary cost; the
path through a sequence minimises  sum_t unary_t + sum_t trans(x_t, x_{t+1}), where

    trans(a, b) = ((max(0, |a - b| - v_max dt df - slack) / slack)^2

(df = frame-index gap): a target cannot move faster than ``v_max``. Exact dynamic programming,
O(T k^2) per sequence.
"""

from __future__ import annotations

import numpy as np


def viterbi_tracks(cand_xy: list[np.ndarray], unary: list[np.ndarray], sequence: np.ndarray, frame: np.ndarray,
                   step_m: float, slack_m: float = 0.5) -> np.ndarray:
    """Chosen candidate index [N] per sample.

    cand_xy[i] [k_i, 2] candidate positions [m] of sample i (k_i >= 1); unary[i] [k_i] their costs
    (lower is better); sequence/frame [N] capture metadata; step_m = v_max * frame period [m per frame].
    Samples are grouped by sequence and ordered by frame; a sequence with one sample keeps its best unary.
    """
    N = len(cand_xy)
    chosen = np.zeros(N, dtype=np.int64)
    sequence, frame = np.asarray(sequence), np.asarray(frame)
    for s in np.unique(sequence):
        idx = np.nonzero(sequence == s)[0]
        idx = idx[np.argsort(frame[idx], kind="stable")]
        cost = np.asarray(unary[idx[0]], np.float64)
        back: list[np.ndarray] = []
        for a, b in zip(idx[:-1], idx[1:]):
            gap = max(1, int(frame[b]) - int(frame[a]))
            d = np.linalg.norm(cand_xy[a][:, None, :] - cand_xy[b][None, :, :], axis=2)   # [k_a, k_b]
            trans = (np.maximum(0.0, d - step_m * gap - slack_m) / slack_m) ** 2
            tot = cost[:, None] + trans
            back.append(np.argmin(tot, axis=0))
            cost = tot.min(axis=0) + np.asarray(unary[b], np.float64)
        k = int(np.argmin(cost))
        chosen[idx[-1]] = k
        for t in range(len(idx) - 2, -1, -1):
            k = int(back[t][k])
            chosen[idx[t]] = k
    return chosen
