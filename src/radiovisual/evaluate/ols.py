"""RODNet-style evaluation: object location similarity (OLS) and COCO-style AP/AR. See ``docs/cruw.md``.

Definitions (cruw-devkit ``eval/metrics.py`` and ``eval/rod``; written from them, not copied):
* OLS between a ground-truth object g and a detection d of the same class:
  OLS = exp(-dist^2 / (2 s^2 kappa)), dist = x-y distance [m] (x = r sin az, y = r cos az),
  s = distance of g from the radar [m], kappa = (class reference size [m]) / 100
  (pedestrian 0.5, cyclist 1.0, car 3.0 m).
* Objects (both GT and detections) outside ``min_range_m <= r <= max_range_m`` or ``|az| > max_az_deg``
  are dropped first; the devkit uses 1..25 m and 60 deg (other scripts use 1..20 m: pass it explicitly).
* Per frame and class, detections sorted by score (stable) greedily take the unmatched GT of highest
  OLS >= t (ties go to the later GT), for every threshold t in 0.5:0.05:0.9.
* Per class, over all frames: detections sorted by score; precision/recall curves; precision made
  monotone (non-increasing); sampled at recall 0:0.01:1 (searchsorted left, 0 past the curve's end).
  AP_k = mean over (t, recall points); AR_k = mean over t of the final recall.
* AP, AR = sum over classes of (GT count of class k / GT count) * AP_k (resp. AR_k); classes with no
  GT and no detection in any frame are skipped. With no GT at all, AP and AR are NaN.
* Confidence scores must lie in [0, 1]: cruw-devkit raises on a score above 1, so a score outside [0, 1] is
  refused here with one line (``EvaluationError``) rather than mapped; NaN scores (like NaN positions) mark
  padding and are dropped.
* Kept on purpose (the devkit does it): recall = tp / (n_gt + eps). For a class with exactly ONE GT
  object that is 1 - 2^-52, so the recall point 1.0 is never reached and a perfect detector scores
  AP = 100/101; with n_gt >= 2 the sum rounds to n_gt and the quirk vanishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import EvaluationError

CLASSES = ("pedestrian", "cyclist", "car")
CLASS_SIZES_M = (0.5, 1.0, 3.0)
OLS_THRESHOLDS = np.round(np.linspace(0.5, 0.9, 9), 2)
RECALL_THRESHOLDS = np.round(np.linspace(0.0, 1.0, 101), 2)


def ols(gt_polar: np.ndarray, dt_polar: np.ndarray, size_m: float) -> np.ndarray:
    """OLS in [0, 1] between GT [..., (range m, az rad)] and detections (broadcasting); s = GT distance."""
    g, d = np.asarray(gt_polar, np.float64), np.asarray(dt_polar, np.float64)
    gx, gy = g[..., 0] * np.sin(g[..., 1]), g[..., 0] * np.cos(g[..., 1])
    dx, dy = d[..., 0] * np.sin(d[..., 1]), d[..., 0] * np.cos(d[..., 1])
    dist2 = (gx - dx) ** 2 + (gy - dy) ** 2
    s2 = gx ** 2 + gy ** 2
    return np.exp(-dist2 / (2.0 * s2 * (size_m / 100.0)))


@dataclass(frozen=True)
class RodEvalFilter:
    min_range_m: float = 1.0
    max_range_m: float = 25.0
    max_az_deg: float = 60.0

    def keep(self, polar: np.ndarray) -> np.ndarray:
        p = np.asarray(polar, np.float64).reshape(-1, 2)
        return ((p[:, 0] >= self.min_range_m) & (p[:, 0] <= self.max_range_m)
                & (np.abs(p[:, 1]) <= np.deg2rad(self.max_az_deg)))


def check_scores(scores: Sequence[np.ndarray] | np.ndarray, where: str = "detection") -> None:
    """One-line refusal of any finite score outside [0, 1], as cruw-devkit refuses scores above 1."""
    for f, sc in enumerate(scores if isinstance(scores, (list, tuple)) else [scores]):
        sc = np.asarray(sc, np.float64).ravel()
        bad = np.isfinite(sc) & ((sc < 0.0) | (sc > 1.0))
        if bad.any():
            at = f" in frame {f}" if isinstance(scores, (list, tuple)) else f" at index {int(np.argmax(bad))}"
            raise EvaluationError(f"{where} confidence scores must lie in [0, 1] (cruw-devkit refuses scores above "
                                  f"1); got {sc[bad][0]:g}{at}")


def match_indices(o: np.ndarray, t: float) -> np.ndarray:
    """[D] matched GT index per detection (-1: unmatched) at threshold ``t``, from o [D, G] = OLS of each
    detection (sorted by score, descending) to each GT: each takes the untaken GT of highest OLS >= t (ties go
    to the later GT), cruw-devkit's greedy rule."""
    D, G = o.shape
    out = -np.ones(D, int)
    taken = np.zeros(G, bool)
    for di in range(D):
        best, m = min(t, 1 - 1e-10), -1
        for gi in range(G):
            if taken[gi] or o[di, gi] < best:
                continue
            best, m = o[di, gi], gi
        if m >= 0:
            taken[m] = True
            out[di] = m
    return out


def _match_frame(g: np.ndarray, d: np.ndarray, size_m: float, thresholds: np.ndarray) -> np.ndarray:
    """Bool [T, D]: detection (already sorted by score, descending) matched at each threshold."""
    T, D, G = len(thresholds), len(d), len(g)
    tp = np.zeros((T, D), bool)
    if D == 0 or G == 0:
        return tp
    o = ols(g[None, :, :2], d[:, None, :2], size_m)  # [D, G]
    for ti, t in enumerate(thresholds):
        tp[ti] = match_indices(o, t) >= 0
    return tp


def _class_curves(tps: list[np.ndarray], scores: list[np.ndarray], n_gt: int, thresholds: np.ndarray,
                  rec_thr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(precision [T, R], recall [T]) of one class from per-frame matches."""
    T = len(thresholds)
    sc = np.concatenate(scores) if scores else np.zeros(0)
    order = np.argsort(-sc, kind="mergesort")
    tp = (np.concatenate(tps, axis=1) if tps else np.zeros((T, 0), bool))[:, order]
    nd = tp.shape[1]
    prec, rec = np.zeros((T, len(rec_thr))), np.zeros(T)
    for t in range(T):
        tp_c = np.cumsum(tp[t]).astype(np.float64)
        fp_c = np.cumsum(~tp[t]).astype(np.float64)
        rc = tp_c / (n_gt + np.spacing(1))
        pr = tp_c / (tp_c + fp_c + np.spacing(1))
        rec[t] = rc[-1] if nd else 0.0
        pr = np.maximum.accumulate(pr[::-1])[::-1] if nd else pr  # precision envelope
        idx = np.searchsorted(rc, rec_thr, side="left")
        prec[t] = np.where(idx < nd, pr[np.minimum(idx, max(nd - 1, 0))] if nd else 0.0, 0.0)
    return prec, rec


def class_matches(gts: Sequence[np.ndarray], dts: Sequence[np.ndarray], filt: RodEvalFilter,
                  sizes_m: Sequence[float], thresholds: np.ndarray, on_frame: Any = None) -> tuple:
    """The per-class matching of ``evaluate_rod``: frames filtered, split by class, detections sorted by score
    (stable), ``_match_frame`` at every threshold. Returns (tps[k]: list of [T, D] per frame, scores[k]: list of
    [D], n_gt [K], n_dt [K], seen [K]). ``on_frame(k, g_k, d_k_sorted)`` (optional) sees each frame's class
    slice, so other scorers (``evaluate.detection``) share this one loop."""
    if len(gts) != len(dts):
        raise ValueError(f"gts ({len(gts)} frames) and dts ({len(dts)} frames) differ in length")
    check_scores([np.asarray(d, np.float64).reshape(-1, 4)[:, 3] for d in dts])
    K = len(sizes_m)
    tps: list[list[np.ndarray]] = [[] for _ in range(K)]
    scs: list[list[np.ndarray]] = [[] for _ in range(K)]
    n_gt, n_dt, seen = np.zeros(K, int), np.zeros(K, int), np.zeros(K, bool)
    for g, d in zip(gts, dts):
        g = np.asarray(g, np.float64).reshape(-1, 3)
        d = np.asarray(d, np.float64).reshape(-1, 4)
        g, d = g[filt.keep(g[:, :2]) & np.isfinite(g).all(1)], d[filt.keep(d[:, :2]) & np.isfinite(d).all(1)]
        for k in range(K):
            gk, dk = g[g[:, 2] == k], d[d[:, 2] == k]
            if len(gk) == 0 and len(dk) == 0:
                continue
            seen[k] = True
            dk = dk[np.argsort(-dk[:, 3], kind="mergesort")]
            tps[k].append(_match_frame(gk, dk, sizes_m[k], thresholds))
            scs[k].append(dk[:, 3])
            n_gt[k] += len(gk)
            n_dt[k] += len(dk)
            if on_frame is not None:
                on_frame(k, gk, dk)
    return tps, scs, n_gt, n_dt, seen


def evaluate_rod(gts: Sequence[np.ndarray], dts: Sequence[np.ndarray], filt: RodEvalFilter | None = None,
                 sizes_m: Sequence[float] = CLASS_SIZES_M, thresholds: np.ndarray = OLS_THRESHOLDS,
                 rec_thr: np.ndarray = RECALL_THRESHOLDS) -> dict:
    """AP/AR over frames. gts[f]: [G, 3] (range m, az rad, class id); dts[f]: [D, 4] (+ score).

    Returns {"AP", "AR", "AP_at": {t: AP}, "AR_at": {t: AR}, "per_class": {name: {"AP", "AR", "n_gt",
    "n_dt"}}, "n_gt", "n_dt", "filter"}.
    """
    filt = filt or RodEvalFilter()
    K, T = len(sizes_m), len(thresholds)
    tps, scs, n_gt, n_dt, seen = class_matches(gts, dts, filt, sizes_m, thresholds)
    prec = -np.ones((T, len(rec_thr), K))
    rec = -np.ones((T, K))
    for k in range(K):
        if seen[k]:
            prec[:, :, k], rec[:, k] = _class_curves(tps[k], scs[k], n_gt[k], thresholds, rec_thr)
    total = n_gt.sum()

    def summarise(t_idx: slice | int) -> tuple[float, float]:
        if total == 0:
            return float("nan"), float("nan")
        ap = ar = 0.0
        for k in range(K):
            if seen[k]:
                ap += n_gt[k] / total * float(np.mean(prec[t_idx, :, k]))
                ar += n_gt[k] / total * float(np.mean(rec[t_idx, k]))
        return ap, ar

    ap, ar = summarise(slice(None))
    at = {f"{t:.2f}": summarise(i) for i, t in enumerate(thresholds)}
    names = CLASSES if K == len(CLASSES) else tuple(str(k) for k in range(K))
    per = {names[k]: {"AP": float(np.mean(prec[:, :, k])) if seen[k] else float("nan"),
                      "AR": float(np.mean(rec[:, k])) if seen[k] else float("nan"),
                      "n_gt": int(n_gt[k]), "n_dt": int(n_dt[k])} for k in range(K)}
    return {"AP": ap, "AR": ar, "AP_at": {t: v[0] for t, v in at.items()}, "AR_at": {t: v[1] for t, v in at.items()},
            "per_class": per, "n_gt": int(total), "n_dt": int(n_dt.sum()),
            "filter": {"min_range_m": filt.min_range_m, "max_range_m": filt.max_range_m,
                       "max_az_deg": filt.max_az_deg}}


def evaluate_localiser_points(pred_polar: np.ndarray, gt_objects: np.ndarray, score: np.ndarray | None = None,
                              filt: RodEvalFilter | None = None) -> dict:
    """Class-agnostic AP/AR of a one-point-per-frame localiser against all annotated objects.

    pred_polar [N, 2]; gt_objects [N, K, 3] (range, az, class id; NaN-padded, as imported); score [N]
    (default 1). The localiser has no classes, so all objects form one category in which each GT
    object keeps its own class size in the OLS (kappa = size / 100); matching and curves as above.
    """
    pred = np.asarray(pred_polar, np.float64)
    gto = np.asarray(gt_objects, np.float64)
    score = np.ones(len(pred)) if score is None else np.asarray(score, np.float64)
    check_scores(score)
    if gto.ndim != 3 or gto.shape[0] != len(pred) or gto.shape[2] != 3:
        raise ValueError(f"gt_objects must be [N={len(pred)}, K, 3], got {list(gto.shape)}")
    filt = filt or RodEvalFilter()
    gts, dts = [], []
    for i in range(len(pred)):
        g = gto[i][np.isfinite(gto[i]).all(1)]
        gts.append(g)
        dts.append(np.array([[pred[i, 0], pred[i, 1], 0.0, score[i]]]))
    return _evaluate_merged(gts, dts, filt)


def _evaluate_merged(gts: list[np.ndarray], dts: list[np.ndarray], filt: RodEvalFilter) -> dict:
    """Single merged class whose OLS uses each GT object's own class size."""
    tps, scs, n_gt, n_dt = [], [], 0, 0
    for g, d in zip(gts, dts):
        g, d = g[filt.keep(g[:, :2])], d[filt.keep(d[:, :2])]
        if len(g) == 0 and len(d) == 0:
            continue
        d = d[np.argsort(-d[:, 3], kind="mergesort")]
        T, D = len(OLS_THRESHOLDS), len(d)
        tp = np.zeros((T, D), bool)
        if D and len(g):
            sizes = np.asarray(CLASS_SIZES_M)[g[:, 2].astype(int)]
            o = ols(g[None, :, :2], d[:, None, :2], 1.0) ** (1.0 / sizes[None, :])  # kappa = size/100
            for ti, t in enumerate(OLS_THRESHOLDS):
                taken = np.zeros(len(g), bool)
                for di in range(D):
                    cand = np.where(taken, -1.0, o[di])
                    gi = int(np.argmax(cand))
                    if cand[gi] >= min(t, 1 - 1e-10):
                        taken[gi] = True
                        tp[ti, di] = True
        tps.append(tp)
        scs.append(d[:, 3])
        n_gt += len(g)
        n_dt += len(d)
    if n_gt == 0:
        return {"AP": float("nan"), "AR": float("nan"), "n_gt": 0, "n_dt": n_dt}
    prec, rec = _class_curves(tps, scs, n_gt, OLS_THRESHOLDS, RECALL_THRESHOLDS)
    return {"AP": float(prec.mean()), "AR": float(rec.mean()),
            "AP_at": {f"{t:.2f}": float(prec[i].mean()) for i, t in enumerate(OLS_THRESHOLDS)},
            "n_gt": n_gt, "n_dt": n_dt, "class_agnostic": True,
            "filter": {"min_range_m": filt.min_range_m, "max_range_m": filt.max_range_m,
                       "max_az_deg": filt.max_az_deg}}


def rod_metrics_for_store(pred_polar: np.ndarray, data: Any, split: str = "val", score: np.ndarray | None = None,
                          filt: RodEvalFilter | None = None) -> dict:
    """Scoring only (reads ground truth): class-agnostic AP/AR of one point per frame of ``split``.

    Against every annotated object (``objects``, imported real data) or, for synthetic stores, the
    target as a car. ``data``: a store path or an open ``Dataset``.
    """
    from ..dataset.format import open_dataset

    ds = data if hasattr(data, "split") and hasattr(data, "attrs") else open_dataset(data, labels=True)
    sv = ds.split(split) if ds.labels else open_dataset(ds.path, labels=True).split(split)
    if "objects" in sv:
        gto = sv.read("objects").astype(np.float64)[..., :3]   # (range, azimuth, class); more columns follow
    else:
        t = sv.read("target_polar").astype(np.float64)
        gto = np.concatenate([t, np.full((len(t), 1), float(CLASSES.index("car")))], axis=1)[:, None]
    return evaluate_localiser_points(pred_polar, gto, score, filt)
