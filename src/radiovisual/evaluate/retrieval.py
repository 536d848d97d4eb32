"""Cross-modal retrieval metrics (LIP-Loc style Recall@k), pure NumPy.

Conventions
- ``sim`` [Nq, Ng]: similarity of query i to gallery item j (``pair_scores``: cosine, or the smooth
  max over radio bins for per-bin radio embeddings).
- ``positives`` [Nq, Ng] bool: which gallery items count as a correct answer for query i. The exact
  protocol uses the identity (the paired sample only); ``neighbour_positives`` builds the "±1 frame of
  the same sequence counts as a hit" variant, because neighbouring frames of one 15-frame sequence
  look alike and an exact-pair criterion then under-states retrieval quality.
- Rank of a query: the number of NON-positive gallery items at least as similar as its most similar
  positive. Ties count against the query (pessimistic), so degenerate constant embeddings score ~0,
  never 1. Query i is a hit at k iff rank < k (some positive lies within the top k).
- Chance level: the probability that a uniformly random ranking puts one of the p_i positives in the
  top k, 1 - C(N-p_i, k) / C(N, k), averaged over queries; this is exactly k/N for the exact protocol.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[Na, D], [Nb, D] -> [Na, Nb] cosine similarity (rows L2-normalised here; zero rows give 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"embeddings must be [Na, D] and [Nb, D], got {a.shape} and {b.shape}")
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def pair_scores(z_r: np.ndarray, z_v: np.ndarray, tau_s: float = 0.0, chunk: int = 64) -> np.ndarray:
    """[N radar, N image] scores of every radar/image pair.

    z_r [N, D] (one vector per heatmap): cosine similarity. z_r [N, D, n] (one unit vector per radio
    bin, multiple-instance methods): the smooth maximum over bins of the per-bin cosine,
    tau_s log sum_n exp(<z_v, z_r_n> / tau_s), i.e. the score such a method is trained with;
    tau_s = 0 gives the hard max.
    """
    z_r, z_v = np.asarray(z_r, np.float64), np.asarray(z_v, np.float64)
    if z_r.ndim == 2:
        return cosine_similarity(z_r, z_v)
    if z_r.ndim != 3 or z_v.ndim != 2 or z_r.shape[1] != z_v.shape[1]:
        raise ValueError(f"per-bin radio embeddings must be [N, D, n] with image [M, D], got {z_r.shape}, {z_v.shape}")
    out = np.empty((len(z_r), len(z_v)))
    for s in range(0, len(z_r), chunk):
        a = np.einsum("idn,jd->ijn", z_r[s:s + chunk], z_v)                # [c, M, n] per-bin cosine
        if tau_s > 0:
            m = a.max(axis=2, keepdims=True)
            out[s:s + chunk] = (m + tau_s * np.log(np.exp((a - m) / tau_s).sum(axis=2, keepdims=True)))[..., 0]
        else:
            out[s:s + chunk] = a.max(axis=2)
    return out


def neighbour_positives(sequence: np.ndarray, frame: np.ndarray, tol: int = 1) -> np.ndarray:
    """[N], [N] -> [N, N] bool: same sequence and |frame difference| <= tol (tol=0: the pair only)."""
    s, f = np.asarray(sequence).ravel(), np.asarray(frame).ravel()
    if s.shape != f.shape:
        raise ValueError(f"sequence {s.shape} and frame {f.shape} must have the same length")
    return (s[:, None] == s[None, :]) & (np.abs(f[:, None].astype(np.int64) - f[None, :]) <= tol)


def _positives(sim: np.ndarray, positives: np.ndarray | None) -> np.ndarray:
    if positives is None:
        if sim.shape[0] != sim.shape[1]:
            raise ValueError(f"exact-pair retrieval needs a square similarity matrix, got {sim.shape}")
        return np.eye(sim.shape[0], dtype=bool)
    positives = np.asarray(positives, bool)
    if positives.shape != sim.shape:
        raise ValueError(f"positives {positives.shape} must match sim {sim.shape}")
    if not positives.any(axis=1).all():
        raise ValueError("every query needs at least one positive gallery item")
    return positives


def retrieval_ranks(sim: np.ndarray, positives: np.ndarray | None = None) -> np.ndarray:
    """[Nq] int: 0-based rank of each query's best positive (ties pessimistic; see module doc)."""
    sim = np.asarray(sim, np.float64)
    pos = _positives(sim, positives)
    best = np.where(pos, sim, -np.inf).max(axis=1, keepdims=True)     # [Nq, 1]
    return ((sim >= best) & ~pos).sum(axis=1)


def recall_at_k(sim: np.ndarray, ks: Iterable[int] = (1, 5, 10), positives: np.ndarray | None = None
                ) -> dict[int, float]:
    """{k: fraction of queries with a positive in the top k}; k larger than the gallery is clipped."""
    r = retrieval_ranks(sim, positives)
    return {int(k): float(np.mean(r < k)) for k in ks}


def chance_recall_at_k(n_gallery: int, ks: Iterable[int] = (1, 5, 10),
                       n_positives: np.ndarray | None = None) -> dict[int, float]:
    """Expected Recall@k of a random ranking: mean_i 1 - C(N-p_i, k)/C(N, k) (p_i = 1: k/N)."""
    p = np.ones(1, np.int64) if n_positives is None else np.asarray(n_positives, np.int64).ravel()
    out = {}
    for k in ks:
        k = int(k)
        # C(N-p, k)/C(N, k) = prod_{t<k} (N-p-t)/(N-t), in floats to avoid huge integers
        t = np.arange(min(k, n_gallery))[None, :]
        miss = np.clip((n_gallery - p[:, None] - t) / (n_gallery - t), 0.0, 1.0).prod(axis=1)
        out[k] = float(np.mean(1.0 - miss))
    return out


def recall_curve(sim: np.ndarray, positives: np.ndarray | None = None) -> np.ndarray:
    """[Ng] Recall@k for k = 1..Ng (for plots)."""
    r = retrieval_ranks(sim, positives)
    return np.cumsum(np.bincount(r, minlength=sim.shape[1])[: sim.shape[1]]) / len(r)


def retrieval_report(sim: np.ndarray, sequence: np.ndarray | None = None, frame: np.ndarray | None = None,
                     ks: Iterable[int] = (1, 5, 10), tol: int = 1) -> dict:
    """Radar->image and image->radar Recall@k, chance, ratio and median rank, exact and ±tol frames.

    sim: [N radar, N image] pair scores of paired samples (radar i belongs to image i).
    """
    ks = tuple(int(k) for k in ks)
    sim = np.asarray(sim, np.float64)
    n = sim.shape[0]
    variants: dict[str, np.ndarray | None] = {"exact": None}
    if sequence is not None and frame is not None and tol > 0:
        variants[f"pm{tol}_frame"] = neighbour_positives(sequence, frame, tol)
    out: dict = {"n": n, "ks": list(ks)}
    for name, pos in variants.items():
        npos = None if pos is None else pos.sum(axis=1)
        chance = chance_recall_at_k(n, ks, npos)
        block: dict = {"chance": {str(k): v for k, v in chance.items()},
                       "mean_positives_per_query": 1.0 if pos is None else float(npos.mean())}
        for direction, s, p in (("radar_to_image", sim, pos), ("image_to_radar", sim.T, None if pos is None
                                                                 else pos.T)):
            rec = recall_at_k(s, ks, p)
            block[direction] = {
                "recall": {str(k): v for k, v in rec.items()},
                "ratio_to_chance": {str(k): v / chance[k] if chance[k] > 0 else None for k, v in rec.items()},
                "median_rank": float(np.median(retrieval_ranks(s, p))) + 1.0,   # 1-based
            }
        out[name] = block
    return out
