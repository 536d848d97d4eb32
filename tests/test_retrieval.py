"""Recall@k: hand-computed rankings, chance levels, random embeddings, per-bin scores vs NumPy/SciPy."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
from scipy.special import logsumexp

from radiovisual.evaluate.retrieval import (chance_recall_at_k, cosine_similarity, neighbour_positives, pair_scores,
                                            recall_at_k, recall_curve, retrieval_ranks, retrieval_report)

# rows: queries (radar), columns: gallery (images); the pair of query i is column i
SIM = np.array([[0.9, 0.1, 0.5, 0.0],
                [0.8, 0.7, 0.2, 0.0],
                [0.3, 0.6, 0.4, 0.0],
                [0.2, 0.2, 0.2, 0.2]])   # all tied: ties count against the query (rank 3, never a hit at k<=3)


def test_recall_at_k_matches_hand_ranking():
    # q0: 0.9 beats all -> rank 0; q1: 0.8 > 0.7 -> 1; q2: 0.6 > 0.4 -> 1; q3: three ties >= 0.2 -> 3
    assert retrieval_ranks(SIM).tolist() == [0, 1, 1, 3]
    assert recall_at_k(SIM, (1, 2, 4)) == {1: 0.25, 2: 0.75, 4: 1.0}
    assert recall_curve(SIM).tolist() == [0.25, 0.75, 0.75, 1.0]
    # image -> radar is the transpose: image 0: 0.9 vs (0.8, 0.3, 0.2) -> 0; image 1: 0.7 vs (0.1, 0.6, 0.2)
    # -> 0; image 2: 0.4 vs (0.5, 0.2, 0.2) -> 1; image 3: 0.2 vs (0, 0, 0) -> 0
    assert retrieval_ranks(SIM.T).tolist() == [0, 0, 1, 0]


def test_neighbour_frame_variant_by_hand():
    seq, frame = np.array([0, 0, 0, 1]), np.array([0, 1, 2, 0])
    pos = neighbour_positives(seq, frame, tol=1)
    assert pos.tolist() == [[True, True, False, False], [True, True, True, False],
                            [False, True, True, False], [False, False, False, True]]
    # q1 now also accepts column 0 (0.8, the best) -> rank 0; q2 accepts column 1 (0.6) -> rank 0
    assert retrieval_ranks(SIM, pos).tolist() == [0, 0, 0, 3]
    rep = retrieval_report(SIM, seq, frame, ks=(1,), tol=1)
    assert rep["exact"]["radar_to_image"]["recall"]["1"] == 0.25
    assert rep["pm1_frame"]["radar_to_image"]["recall"]["1"] == 0.75
    assert rep["exact"]["chance"]["1"] == pytest.approx(1 / 4)
    # chance with p positives of N=4 at k=1 is p/4: mean over (2, 3, 2, 1) positives
    assert rep["pm1_frame"]["chance"]["1"] == pytest.approx(np.mean([2, 3, 2, 1]) / 4)
    assert rep["exact"]["radar_to_image"]["ratio_to_chance"]["1"] == pytest.approx(1.0)
    assert neighbour_positives(seq, frame, tol=0).tolist() == np.eye(4, dtype=bool).tolist()


def test_chance_formula_is_hypergeometric():
    assert chance_recall_at_k(50, (1, 5, 10)) == pytest.approx({1: 1 / 50, 5: 5 / 50, 10: 10 / 50})
    N, p = 12, np.array([1, 2, 3])
    for k in (1, 3, 12, 20):
        want = np.mean([1 - comb(N - q, k) / comb(N, k) if k <= N else 1.0 for q in p])
        assert chance_recall_at_k(N, (k,), p)[k] == pytest.approx(want, abs=1e-12)


def test_random_embeddings_recall_at_chance():
    """Random (untrained) embeddings: Recall@k within sampling noise of the chance level."""
    rng = np.random.default_rng(0)
    N, trials = 300, 10
    seq, frame = np.arange(N) // 15, np.arange(N) % 15
    pos = neighbour_positives(seq, frame, 1)
    got = {"exact": [], "pm1": []}
    for _ in range(trials):
        sim = cosine_similarity(rng.normal(size=(N, 32)), rng.normal(size=(N, 32)))
        got["exact"].append(recall_at_k(sim, (1, 5, 10)))
        got["pm1"].append(recall_at_k(sim, (1, 5, 10), pos))
    for name, npos in (("exact", None), ("pm1", pos.sum(1))):
        chance = chance_recall_at_k(N, (1, 5, 10), npos)
        for k, c in chance.items():
            mean = np.mean([g[k] for g in got[name]])
            sd = np.sqrt(c * (1 - c) / (N * trials))          # binomial standard error of the mean
            assert abs(mean - c) < 4 * sd, (name, k, mean, c)


def test_per_bin_scores_match_logsumexp_reference():
    rng = np.random.default_rng(1)
    zr = rng.normal(size=(5, 8, 6))
    zr /= np.linalg.norm(zr, axis=1, keepdims=True)
    zv = rng.normal(size=(4, 8))
    zv /= np.linalg.norm(zv, axis=1, keepdims=True)
    per_bin = np.einsum("idn,jd->ijn", zr, zv)
    tau = 0.1
    np.testing.assert_allclose(pair_scores(zr, zv, tau, chunk=2), tau * logsumexp(per_bin / tau, axis=2), atol=1e-12)
    np.testing.assert_allclose(pair_scores(zr, zv, 0.0), per_bin.max(axis=2), atol=1e-12)
    np.testing.assert_allclose(pair_scores(zr[:, :, 0], zv), per_bin[:, :, 0], atol=1e-12)   # [N, D]: cosine


def test_bad_shapes_fail_clearly():
    with pytest.raises(ValueError, match="square"):
        retrieval_ranks(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="at least one positive"):
        retrieval_ranks(np.zeros((2, 2)), np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match="embeddings"):
        cosine_similarity(np.zeros((2, 3)), np.zeros((2, 4)))
