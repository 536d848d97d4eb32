"""Statistical baseline (paper §5.1): CFAR -> DBSCAN -> range matching -> centroid.

Per frame:
 1. range-azimuth (RA) map: dB -> linear power, 2-D CFAR (CA or OS), DBSCAN on the
    detections -> RA clusters with power-weighted (range, azimuth) centroids;
 2. range-Doppler (RD) map, when the store has one and ``use_doppler``: the same CFAR
    (Doppler axis periodic), detections clustered along (range, Doppler); a cluster is
    moving when its power-weighted |velocity| centroid is >= ``min_speed_mps``;
 3. domain matching: an RA cluster is *confirmed* when its range extent (widened by
    ``match_tol_m``) overlaps an RD cluster's range extent, and *moving* when that RD
    cluster is a moving one. Only confirmed clusters are candidates (all RA clusters
    when none is confirmed);
 4. selection of ONE candidate as the target estimate:
    * ``genie=True`` (``cfar-genie``, the paper's CFAR†): the candidate whose centroid is
      closest (x-y) to the ground truth. Reads ``target_polar`` — uses GT by definition.
    * ``genie=False`` (``cfar``): rule ``selection`` — "moving" picks, among the candidates
      matched to a moving RD cluster (the target is the only moving car), the one whose range
      is closest to the strongest moving RD cluster, else the strongest candidate;
      "strongest" picks the strongest candidate (summed linear power).
 Fallback when CFAR finds nothing (or DBSCAN keeps no cluster): the strongest RA cell
 beyond ``min_range_m`` — so the output is never NaN; the fallback rate is reported.

Windows: the RA guard/train windows are stated in resolution cells (``*_cells``: range
resolution cells, azimuth Rayleigh beamwidths) and resolved per store (``CFARConfig.for_grid``,
``dataset.resolution``): on the quick grid (range bin = resolution 0.19 m, 3.76 azimuth bins
per beam) they are 4/8 range and 2/4 azimuth bins; on CRUW's 128 x 128 grid (15.9 bins per beam)
4/8 and 8/16. Explicit bins (``--set cfar.guard_azimuth=3``) override. ``tune_cfar`` searches
a small grid on the TRAIN split only and never looks at val; its score reads train GT, so a
tuned CFAR is genie-aided (the CLI refuses ``--tune`` without ``--genie``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import resolve, to_dict
from ..dataset.resolution import ASSUMED_BINS_PER_CELL, GridResolution, store_resolution
from ..errors import ConfigError, DatasetError
from .cfar import cfar_2d, db_to_power
from .cluster import Cluster, cluster_detections


@dataclass(frozen=True)
class CFARConfig:
    variant: str = "os"               # "ca" | "os" (Rohling's OS-CFAR copes with multi-target scenes)
    pfa: float = 1e-3                 # target false-alarm probability per cell
    os_rank: float = 0.75             # OS-CFAR k = ceil(os_rank * N)
    # RA windows each side of the CUT [bins]; "auto" = the *_cells value below on the store's grid
    # (``for_grid``): range in range-resolution cells, azimuth in Rayleigh beamwidths (1/(N d) in sin az).
    # A guard of half a beam keeps the target's own main lobe out of the noise estimate; one beam of
    # training cells each side. On our quick grid this is exactly 4/8 range and 2/4 azimuth bins.
    guard_range: int | str = "auto"
    train_range: int | str = "auto"
    guard_azimuth: int | str = "auto"
    train_azimuth: int | str = "auto"
    guard_range_cells: float = 4.0
    train_range_cells: float = 8.0
    guard_azimuth_cells: float = 0.5
    train_azimuth_cells: float = 1.0
    guard_doppler: int = 1
    train_doppler: int = 4
    eps: float = 1.5                  # DBSCAN radius: bins (cluster_space="bins") or metres
    min_samples: int = 2              # DBSCAN core-point neighbourhood size (incl. the point)
    cluster_space: str = "bins"       # "bins" | "metres" (RA only; RD always clusters in bins)
    use_doppler: bool = True          # match RA and RD clusters over range (when RD exists)
    match_tol_m: float = 0.5          # widening of range extents when matching [m]
    min_speed_mps: float = 0.5        # |v| at or above this is "moving" [m/s]
    selection: str = "moving"         # non-genie rule: "moving" | "strongest"
    min_range_m: float = 0.0          # ignore cells nearer than this [m]
    batch: int = 64                   # frames read per chunk

    def validate(self) -> None:
        if self.variant not in ("ca", "os"):
            raise ConfigError(f"cfar.variant must be 'ca' or 'os', got '{self.variant}'")
        if not 0 < self.pfa < 1:
            raise ConfigError(f"cfar.pfa must be in (0, 1), got {self.pfa}")
        if not 0 < self.os_rank <= 1:
            raise ConfigError(f"cfar.os_rank must be in (0, 1], got {self.os_rank}")
        for k in WINDOW_KEYS:
            v = getattr(self, k)
            if isinstance(v, str) and v != "auto":
                raise ConfigError(f"cfar.{k} must be a number of bins or 'auto', got '{v}'")
        if min([v for v in (self.guard_range, self.train_range, self.guard_azimuth, self.train_azimuth)
                if not isinstance(v, str)] + [self.guard_doppler, self.train_doppler]) < 0:
            raise ConfigError("cfar guard/train cells must be >= 0")
        if min(self.guard_range_cells, self.guard_azimuth_cells) < 0 or \
                min(self.train_range_cells, self.train_azimuth_cells) <= 0:
            raise ConfigError("cfar.*_cells must be >= 0 (guard) and > 0 (train)")
        if self.train_range == 0 and (self.train_azimuth == 0 or self.train_doppler == 0):
            raise ConfigError("cfar needs at least one training cell per map")
        if self.eps <= 0 or self.min_samples < 1:
            raise ConfigError("cfar.eps must be > 0 and cfar.min_samples >= 1")
        if self.cluster_space not in ("bins", "metres"):
            raise ConfigError(f"cfar.cluster_space must be 'bins' or 'metres', got '{self.cluster_space}'")
        if self.selection not in ("moving", "strongest"):
            raise ConfigError(f"cfar.selection must be 'moving' or 'strongest', got '{self.selection}'")
        if self.match_tol_m < 0 or self.min_speed_mps < 0 or self.min_range_m < 0 or self.batch < 1:
            raise ConfigError("cfar.match_tol_m, min_speed_mps, min_range_m must be >= 0 and batch >= 1")

    def for_grid(self, grid: GridResolution) -> "CFARConfig":
        """This config with every "auto" RA window in whole bins of ``grid`` (explicit bins are kept).

        Training cells are at least one bin, so the resolved config always has a noise estimate.
        """
        out = {}
        for k in WINDOW_KEYS:
            if getattr(self, k) == "auto":
                axis = "range" if k.endswith("range") else "azimuth"
                n = grid.bins(getattr(self, f"{k}_cells"), axis)
                out[k] = max(1, n) if k.startswith("train") else n
        return replace(self, **out) if out else self

    @property
    def resolved(self) -> bool:
        return not any(isinstance(getattr(self, k), str) for k in WINDOW_KEYS)


WINDOW_KEYS = ("guard_range", "train_range", "guard_azimuth", "train_azimuth")


CFAR_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {},
    "quick": {},
    # Explicit bins (kept from before the windows were stated in cells): on the paper grid (0.19 m
    # range bins = resolution, 10.7 azimuth bins per beam) "auto" would give 4/8 range, 5/11 azimuth.
    "paper": {"guard_range": 6, "train_range": 12, "guard_azimuth": 3, "train_azimuth": 6},
}


def resolve_cfar_config(preset: str = "quick", overrides: list[str] | None = None,
                        yaml_path: str | None = None) -> CFARConfig:
    return resolve(CFARConfig, CFAR_PRESETS, preset, yaml_path, overrides)


@dataclass
class Candidate:
    polar: np.ndarray        # [2] (range [m], azimuth [rad]) power-weighted centroid
    total: float             # summed linear power
    size: int                # detected cells
    confirmed: bool = False  # range-matched to an RD cluster
    moving: bool = False     # range-matched to a moving RD cluster


@dataclass
class FrameResult:
    candidates: list[Candidate]
    n_detections: int
    fallback: np.ndarray | None = None    # [2] strongest-cell polar when there is no candidate
    rd_moving: int = 0
    rd_static: int = 0
    moving_range: float | None = None     # range centroid [m] of the strongest moving RD cluster
    extra: dict = field(default_factory=dict)


def as_dataset(data: Any, labels: bool):
    """A path or an open Dataset -> Dataset with the requested label access (labels=False: guarded)."""
    from ..dataset.format import Dataset, open_dataset

    if isinstance(data, Dataset):
        if labels:
            return data if data.labels else open_dataset(data.path, labels=True)
        return data.label_free()
    return open_dataset(data, labels=labels)


_ASSUMED_GRID = GridResolution(*ASSUMED_BINS_PER_CELL, source="assumed (detect_frame without a store grid)")


def _range_extent(c: Cluster, rb: np.ndarray) -> tuple[float, float]:
    return float(rb[c.rows.min()]), float(rb[c.rows.max()])


def detect_frame(ra_db: np.ndarray, rd_db: np.ndarray | None, rb: np.ndarray, ab: np.ndarray,
                 vb: np.ndarray | None, cfg: CFARConfig) -> FrameResult:
    """All candidate target clusters of one frame (see module docstring).

    ``cfg`` should be resolved for the store's grid (``cfg.for_grid(store_resolution(ds))``); "auto"
    windows left in it are resolved with the ``ASSUMED_BINS_PER_CELL`` of a store without radio attrs.
    """
    if not cfg.resolved:
        cfg = cfg.for_grid(_ASSUMED_GRID)
    ra = db_to_power(ra_db)
    near = rb < cfg.min_range_m
    ra[near] = 0.0
    det, _ = cfar_2d(ra, cfg.variant, (cfg.guard_range, cfg.guard_azimuth), (cfg.train_range, cfg.train_azimuth),
                     cfg.pfa, cfg.os_rank, ("shrink", "shrink"))
    det[near] = False
    clusters = cluster_detections(det, ra, rb, ab, cfg.eps, cfg.min_samples, cfg.cluster_space)
    cands = [Candidate(polar=c.centroid, total=c.total, size=c.size) for c in clusters]
    res = FrameResult(candidates=cands, n_detections=int(det.sum()))
    if rd_db is not None and cfg.use_doppler and cands:
        rd = db_to_power(rd_db)
        rd[near] = 0.0
        rdet, _ = cfar_2d(rd, cfg.variant, (cfg.guard_range, cfg.guard_doppler),
                          (cfg.train_range, cfg.train_doppler), cfg.pfa, cfg.os_rank, ("shrink", "wrap"))
        rdet[near] = False
        # A cluster is moving by its power-weighted velocity centroid, not per cell: windowing
        # leaks strong static clutter into the neighbouring Doppler bins.
        rd_clusters = cluster_detections(rdet, rd, rb, vb, 1.5, cfg.min_samples, "bins")  # strongest first
        groups = [(abs(c.centroid[1]) >= cfg.min_speed_mps, _range_extent(c, rb)) for c in rd_clusters]
        moving_rd = [c for c in rd_clusters if abs(c.centroid[1]) >= cfg.min_speed_mps]
        res.moving_range = float(moving_rd[0].centroid[0]) if moving_rd else None
        res.rd_moving = sum(1 for m, _ in groups if m)
        res.rd_static = len(groups) - res.rd_moving
        for cand, c in zip(cands, clusters):
            lo, hi = _range_extent(c, rb)
            for is_moving, (glo, ghi) in groups:
                if lo - cfg.match_tol_m <= ghi and glo <= hi + cfg.match_tol_m:
                    cand.confirmed = True
                    cand.moving = cand.moving or is_moving
        if any(c.confirmed for c in cands):
            res.candidates = [c for c in cands if c.confirmed]
    if not res.candidates:
        i, j = np.unravel_index(np.argmax(ra), ra.shape)
        res.fallback = np.array([rb[i], ab[j]])
    return res


def select(res: FrameResult, cfg: CFARConfig, gt_polar: np.ndarray | None = None) -> np.ndarray:
    """One (range, azimuth) estimate from a frame's candidates; genie when ``gt_polar`` is given."""
    if not res.candidates:
        return res.fallback
    cands = res.candidates
    if gt_polar is not None:
        from ..dataset.format import polar_to_xy

        gt = polar_to_xy(gt_polar)
        d = [np.hypot(*(polar_to_xy(c.polar) - gt)) for c in cands]
        return cands[int(np.argmin(d))].polar
    if cfg.selection == "moving":
        moving = [c for c in cands if c.moving]
        if moving and res.moving_range is not None:
            # several RA clusters can share the moving echo's range: take the closest in range,
            # the stronger one on a tie within match_tol_m
            tie = max(cfg.match_tol_m, 1e-6)
            return min(moving, key=lambda c: (round(abs(c.polar[0] - res.moving_range) / tie), -c.total)).polar
    return max(cands, key=lambda c: c.total).polar


def run_cfar_detailed(data: Any, split: str = "val", genie: bool = False, cfg: CFARConfig | None = None,
                      limit: int | None = None, progress: bool = False) -> tuple[np.ndarray, dict]:
    """(estimates [N, 2] polar, stats). Label-free unless ``genie``."""
    cfg = cfg or CFARConfig()
    cfg.validate()
    ds = as_dataset(data, labels=False)
    grid = store_resolution(ds)
    cfg = cfg.for_grid(grid)  # "auto" windows in bins of this store's grid; recorded in stats["config"]
    sv = ds.split(split)
    n = len(sv) if limit is None else min(limit, len(sv))
    rb, ab = ds.range_bins_m, ds.azimuth_bins_rad
    has_rd = "range_doppler" in sv
    vb = None
    if has_rd and cfg.use_doppler:
        if "doppler_bins_mps" not in ds.attrs:
            raise DatasetError(f"{ds.path}: has range_doppler but no 'doppler_bins_mps' attribute")
        vb = np.asarray(ds.attrs["doppler_bins_mps"], dtype=np.float64)
    gt = None
    if genie:
        # The genie is GT-aided by definition: open the labels explicitly, for selection only.
        gt = as_dataset(ds.path, labels=True).split(split).read("target_polar", slice(0, n)).astype(np.float64)
    out = np.zeros((n, 2))
    stats = {"n": n, "detections": 0, "candidates": 0, "fallback": 0, "moving_found": 0,
             "doppler_used": bool(has_rd and cfg.use_doppler)}
    it = range(0, n, cfg.batch)
    if progress:
        from ..utils.progress import tqdm

        it = tqdm(it, desc=f"cfar{'-genie' if genie else ''} {split}", unit="batch")
    for s in it:
        e = min(n, s + cfg.batch)
        ra = sv.read("radar", slice(s, e))
        rd = sv.read("range_doppler", slice(s, e)) if vb is not None else None
        for k in range(e - s):
            res = detect_frame(ra[k], None if rd is None else rd[k], rb, ab, vb, cfg)
            out[s + k] = select(res, cfg, None if gt is None else gt[s + k])
            stats["detections"] += res.n_detections
            stats["candidates"] += len(res.candidates)
            stats["fallback"] += int(res.fallback is not None)
            stats["moving_found"] += int(any(c.moving for c in res.candidates))
    for key in ("detections", "candidates", "fallback", "moving_found"):
        stats[f"{key}_per_frame"] = stats[key] / max(n, 1)
    stats["config"] = to_dict(cfg)
    stats["grid_resolution"] = grid.as_dict()
    stats["method"] = "cfar-genie" if genie else "cfar"
    return out, stats


def run_cfar(data: Any, split: str = "val", genie: bool = False, cfg: CFARConfig | None = None) -> np.ndarray:
    """[N, 2] (range [m], azimuth [rad]) estimates for ``split``; never NaN (strongest-cell fallback)."""
    return run_cfar_detailed(data, split, genie, cfg)[0]


TUNE_GRID: dict[str, tuple] = {
    "variant": ("ca", "os"),
    "pfa": (1e-2, 1e-3, 1e-4),
    "eps": (1.5, 2.5),
}


def tune_cfar(data: Any, score: Callable[[np.ndarray], float], genie: bool = True, base: CFARConfig | None = None,
              grid: dict[str, tuple] | None = None, limit: int = 200) -> tuple[CFARConfig, list[dict]]:
    """Grid search on the first ``limit`` TRAIN samples; never touches val.

    ``score(pred [n, 2]) -> float`` (lower is better) is supplied by the caller; the CLI passes
    ``evaluate.score.train_scorer``, which reads TRAIN ground truth, so a tuned result is
    genie-aided and must carry the genie name (``cfar --tune`` is refused without ``--genie``).
    """
    import itertools

    base = base or CFARConfig()
    grid = grid or TUNE_GRID
    n = min(limit, len(as_dataset(data, labels=False).split("train")))
    rows = []
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        cfg = replace(base, **dict(zip(keys, values)))
        pred, _ = run_cfar_detailed(data, "train", genie, cfg, limit=n)
        rows.append({**dict(zip(keys, values)), "train_score": float(score(pred))})
    best = min(range(len(rows)), key=lambda i: rows[i]["train_score"])
    return replace(base, **{k: rows[best][k] for k in keys}), rows


def run_cfar_stage(cfg: CFARConfig, data: Any, out: str | Path, split: str = "val", genie: bool = False,
                   limit: int | None = None, force: bool = False, progress: bool = False,
                   extra_inputs: dict | None = None) -> Path:
    """The CFAR stage on the shared contract: ``out/pred.npy`` ([N, 2] polar) and ``out/stats.json``.

    Reused when finished with the same config, dataset, split and genie flag; refused when the
    directory holds another one (``StageChangedError``) unless ``force``.
    """
    from ..utils.io import write_json
    from ..utils.stage import StageDir

    ds = as_dataset(data, labels=False)
    cfg = cfg.for_grid(store_resolution(ds))  # the stage config holds the windows in bins actually used
    inputs = {"data": ds.fingerprint(), "split": split, "genie": bool(genie), "limit": limit, **(extra_inputs or {})}
    sd = StageDir(out, "cfar", cfg, inputs, force=force)
    if sd.done:
        return sd.path
    out = sd.begin()
    pred, stats = run_cfar_detailed(ds, split, genie, cfg, limit=limit, progress=progress)
    save_estimates(out / "pred.npy", pred)
    write_json(out / "stats.json", stats)
    sd.finish({"method": stats["method"], "n": stats["n"]})
    return out


def save_estimates(path: str | Path, pred: np.ndarray) -> None:
    from ..utils.io import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, pred)
