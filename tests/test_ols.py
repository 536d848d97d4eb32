"""OLS and COCO-style AP/AR (cruw-devkit definitions) against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from radiovisual.evaluate.ols import (OLS_THRESHOLDS, RodEvalFilter, evaluate_localiser_points, evaluate_rod,
                                      ols)

CAR, PED = 2, 0


def offset(r: float, dx: float) -> tuple[float, float]:
    """Polar of the point (dx, r): dx metres to the right of a boresight point at range r."""
    return math.hypot(dx, r), math.atan2(dx, r)


def test_ols_hand_values_and_confmap_agreement():
    # dist 0.5 m at s = 10 m: car kappa 0.03 -> exp(-0.25 / 6); pedestrian kappa 0.005 -> exp(-0.25 / 1)
    g, d = np.array([10.0, 0.0]), np.array(offset(10.0, 0.5))
    assert ols(g, d, 3.0) == pytest.approx(math.exp(-0.25 / 6.0), abs=1e-12)
    assert ols(g, d, 0.5) == pytest.approx(math.exp(-0.25), abs=1e-12)
    assert ols(g, g, 1.0) == pytest.approx(1.0)
    from radiovisual.baselines.confmap import ols as confmap_ols  # the RODNet baseline's own OLS

    xy = lambda p: np.array([p[0] * math.sin(p[1]), p[0] * math.cos(p[1])])  # noqa: E731
    assert confmap_ols(xy(g), xy(d), 10.0, 3.0) == pytest.approx(float(ols(g, d, 3.0)), abs=1e-12)


def test_perfect_detection_gives_ap_ar_one():
    gt, dt = [np.array([[10.0, 0.0, CAR]])] * 2, [np.array([[*offset(10.0, 0.5), CAR, 0.9]])] * 2
    res = evaluate_rod(gt, dt)
    assert res["AP"] == pytest.approx(1.0) and res["AR"] == pytest.approx(1.0)
    assert res["n_gt"] == 2 and res["n_dt"] == 2


def test_single_gt_quirk_of_the_devkit_recall():
    # cruw-devkit computes recall = tp / (n_gt + eps): with ONE GT of a class that is 1 - 2^-52 < 1, so the
    # recall point 1.0 is never reached and a perfect detector scores 100/101 (with n_gt >= 2 it rounds to 1).
    res = evaluate_rod([np.array([[10.0, 0.0, CAR]])], [np.array([[10.0, 0.0, CAR, 0.9]])])
    assert res["AP"] == pytest.approx(100 / 101) and res["AR"] == pytest.approx(1.0)


def test_score_order_decides_matches_per_threshold():
    # d1 (score .9) has OLS 0.72 with the GT, d2 (score .8) sits on it. t <= 0.70 (5 thresholds): d1 TP, d2 FP,
    # precision envelope 1 everywhere -> AP_t = 1. t >= 0.75 (4): d1 FP, d2 TP -> precision 0.5 -> AP_t = 0.5.
    dist = math.sqrt(-math.log(0.72) * 2 * 100 * 0.03)
    gt = [np.array([[10.0, 0.0, CAR]])] * 2  # two identical frames (n_gt = 2, see the quirk above)
    dt = [np.array([[*offset(10.0, dist), CAR, 0.9], [10.0, 0.0, CAR, 0.8]])] * 2
    res = evaluate_rod(gt, dt)
    assert res["AP"] == pytest.approx((5 * 1.0 + 4 * 0.5) / 9)
    assert res["AR"] == pytest.approx(1.0)
    assert res["AP_at"]["0.70"] == pytest.approx(1.0) and res["AP_at"]["0.75"] == pytest.approx(0.5)


def test_recall_sampling_and_missed_frame():
    # two frames, one GT each; frame 0 found (score .9), frame 1 detection far off (score .8):
    # precision 1 for recall <= 0.5 (51 of 101 recall points), 0 beyond -> AP = 51/101, AR = 0.5
    gt = [np.array([[10.0, 0.0, CAR]]), np.array([[10.0, 0.0, CAR]])]
    dt = [np.array([[10.0, 0.0, CAR, 0.9]]), np.array([[*offset(10.0, 5.0), CAR, 0.8]])]
    res = evaluate_rod(gt, dt)
    assert res["AP"] == pytest.approx(51 / 101)
    assert res["AR"] == pytest.approx(0.5)


def test_classes_weighted_by_gt_count_and_filter():
    # car found, pedestrian missed -> 1/2 * 1 + 1/2 * 0. A car at 26 m and a detection at 0.5 m are filtered.
    gt = [np.array([[10.0, 0.0, CAR], [8.0, 0.3, PED], [26.0, 0.0, CAR]])] * 2
    dt = [np.array([[10.0, 0.0, CAR, 0.9], [0.5, 0.0, PED, 0.99]])] * 2
    res = evaluate_rod(gt, dt)
    assert res["AP"] == pytest.approx(0.5) and res["AR"] == pytest.approx(0.5)
    assert res["n_gt"] == 4 and res["n_dt"] == 2
    assert res["per_class"]["pedestrian"]["AP"] == 0.0 and math.isnan(res["per_class"]["cyclist"]["AP"])
    # a 1..20 m filter (another script's choice) drops a GT at 22 m that the default keeps
    far = [np.array([[22.0, 0.0, CAR]])]
    assert evaluate_rod(far, [np.zeros((0, 4))])["n_gt"] == 1
    assert evaluate_rod(far, [np.zeros((0, 4))], RodEvalFilter(max_range_m=20.0))["n_gt"] == 0


def test_localiser_points_use_each_objects_class_size():
    # pedestrian 0.5 m off at 10 m: OLS exp(-0.25) = 0.779 -> matched for t <= 0.75 (6 of 9 thresholds)
    objects = np.array([[[10.0, 0.0, PED], [np.nan, np.nan, np.nan]]] * 2)
    res = evaluate_localiser_points(np.array([offset(10.0, 0.5)] * 2), objects)
    assert res["AP"] == pytest.approx(6 / 9) and res["AR"] == pytest.approx(6 / 9)
    assert len(OLS_THRESHOLDS) == 9 and OLS_THRESHOLDS[0] == 0.5 and OLS_THRESHOLDS[-1] == 0.9
