"""Metric functions against scipy / sklearn / independent references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import entropy, wasserstein_distance
from sklearn.metrics import mutual_info_score

from radiovisual.evaluate.metrics import (error_summary, histogram_pmf, kl_divergence, location_errors,
                                          mutual_information, seeds_summary, selflabel_deviation,
                                          wasserstein_1d)


def test_location_errors_polar_to_cartesian():
    gt = np.array([[10.0, 0.0], [5.0, np.pi / 2], [8.0, 0.3]])
    pred = np.array([[10.0, np.deg2rad(90)], [5.0, -np.pi / 2], [8.0, 0.3]])
    e = location_errors(pred, gt)
    # (0,10) vs (10,0): 10*sqrt(2); (5,0) vs (-5,0): 10; identical: 0
    np.testing.assert_allclose(e, [10 * np.sqrt(2), 10.0, 0.0], atol=1e-12)
    with pytest.raises(ValueError):
        location_errors(pred[:2], gt)


def test_error_summary_and_seeds():
    e = np.arange(1, 101, dtype=float)
    s = error_summary(e)
    assert s["p50_m"] == pytest.approx(np.percentile(e, 50)) and s["p90_m"] == pytest.approx(90.1)
    assert s["n"] == 100 and s["mean_m"] == pytest.approx(50.5)
    ss = seeds_summary([{"p50_m": 1.0, "p90_m": 2.0, "n": 5}, {"p50_m": 3.0, "p90_m": 2.0, "n": 5}])
    assert ss == {"p50_m": 2.0, "p50_std_m": pytest.approx(np.sqrt(2)), "p50_worst_m": 3.0, "p90_m": 2.0,
                  "p90_std_m": 0.0, "p90_worst_m": 2.0, "n": 5, "n_seeds": 2}
    # one seed: the same keys minus the std (the report then prints no "±")
    assert seeds_summary([{"p50_m": 1.0, "n": 3}]) == {"p50_m": 1.0, "n": 3, "n_seeds": 1}


@pytest.mark.parametrize("na,nb", [(50, 50), (37, 91), (1, 13)])
def test_wasserstein_p1_matches_scipy(na, nb):
    rng = np.random.default_rng(na * nb)
    a, b = rng.normal(0, 1, na), rng.gamma(2.0, 1.5, nb)
    assert wasserstein_1d(a, b, p=1) == pytest.approx(wasserstein_distance(a, b), rel=1e-10, abs=1e-12)


def test_wasserstein_p2_independent_references():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 200), rng.normal(3, 2, 200)
    # equal sizes: the optimal coupling pairs sorted samples
    ref = np.mean((np.sort(a) - np.sort(b)) ** 2)
    assert wasserstein_1d(a, b, p=2) == pytest.approx(ref, rel=1e-12)
    # unequal sizes: fine midpoint quadrature of the quantile functions
    c = rng.uniform(-1, 4, 77)
    u = (np.arange(200_000) + 0.5) / 200_000
    qa = np.sort(a)[np.minimum((u * len(a)).astype(int), len(a) - 1)]
    qc = np.sort(c)[np.minimum((u * len(c)).astype(int), len(c) - 1)]
    assert wasserstein_1d(a, c, p=2) == pytest.approx(np.mean((qa - qc) ** 2), rel=1e-3)
    # Gaussians: W2^2 = (mu1-mu2)^2 + (s1-s2)^2 (large-sample check)
    big_a, big_b = rng.normal(0, 1, 20000), rng.normal(3, 2, 20000)
    assert wasserstein_1d(big_a, big_b) == pytest.approx(9 + 1, rel=0.03)
    assert wasserstein_1d(a, a) == 0.0


def test_kl_matches_scipy_entropy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 500), rng.normal(0.5, 1.3, 700)
    edges = np.linspace(-6, 6, 21)
    for alpha in (0.5, 1.0):
        p, q = histogram_pmf(a, edges, alpha), histogram_pmf(b, edges, alpha)
        assert kl_divergence(a, b, edges, alpha=alpha) == pytest.approx(entropy(p, q), rel=1e-12)
    # integer bins: equal-width edges over the pooled range, same as numpy's
    e = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), 17)
    assert kl_divergence(a, b, 16) == pytest.approx(
        entropy(histogram_pmf(a, e, 0.5), histogram_pmf(b, e, 0.5)), rel=1e-12)
    assert kl_divergence(a, a, 16) == pytest.approx(0.0, abs=1e-12)
    assert np.isinf(kl_divergence(np.zeros(5), np.ones(5) * 3, 4, alpha=0.0))


def test_mutual_information_matches_sklearn():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 10, 2000)
    y = x + rng.normal(0, 1.0, 2000)
    edges = np.linspace(min(x.min(), y.min()), max(x.max(), y.max()), 25)
    dx = np.clip(np.digitize(x, edges[1:-1]), 0, 23)
    dy = np.clip(np.digitize(y, edges[1:-1]), 0, 23)
    assert mutual_information(x, y, 24) == pytest.approx(mutual_info_score(dx, dy), rel=1e-10)
    indep = mutual_information(x, rng.permutation(y), 24)
    assert indep < 0.2 * mutual_information(x, y, 24)


def test_selflabel_deviation_orders_good_and_bad_labels():
    rng = np.random.default_rng(3)
    gt = np.stack([rng.uniform(3, 20, 600), rng.uniform(-1, 1, 600)], 1)
    good = gt + rng.normal(0, [0.2, 0.02], gt.shape)
    bad = np.stack([rng.uniform(3, 20, 600) + 2.0, rng.uniform(-1, 1, 600)], 1)
    dg, db = selflabel_deviation(good, gt), selflabel_deviation(bad, gt)
    assert set(dg) == {"range", "angle"} and set(dg["range"]) == {"D_W", "D_KL", "MI"}
    for k in ("range", "angle"):
        assert dg[k]["MI"] > db[k]["MI"]
    assert dg["range"]["D_W"] < db["range"]["D_W"] and db["range"]["D_W"] == pytest.approx(4.0, rel=0.3)
    # angle is in degrees: a 1 deg constant shift gives D_W = 1 deg^2
    shifted = gt.copy()
    shifted[:, 1] += np.deg2rad(1.0)
    assert selflabel_deviation(shifted, gt)["angle"]["D_W"] == pytest.approx(1.0, rel=1e-6)
