"""Linear-probe evaluation of a frozen radio backbone (the ICC'22 "linear classification benchmark").

This is a SUPERVISED evaluation: the probe's classifier is trained on ground-truth labels of a
fraction of the train split and scored on val. The backbone being judged never sees labels.
Three radio encoders are compared per task and label fraction:
* ``ssl``: the pretrained radio backbone, frozen; pooled features -> logistic regression;
* ``random``: the same architecture, randomly initialised (seeded) and frozen: the floor;
* ``supervised``: the same architecture + linear head trained end-to-end from scratch on the same
  labelled subset (fixed step budget, no early stopping: val is for reporting only).

Tasks (labels built from what the store holds, train split defines every threshold):
* ``lane-side``: target right (1) or left (0) of boresight, sign of ``target_polar`` azimuth;
* ``range-bin``: ``target_polar`` range in ``range_bins`` equal-width classes over the train span;
* ``car-model``: the ``car_model`` label array (stores synthesised before it existed are refused);
* ``moving``: radial velocity v.p/|p| from ``velocity`` and ``target_xy``: towards (1) or away (0);
  samples with |v_r| < ``moving_min_mps`` are left out (parked or crossing targets).
Features are standardised with the labelled subset's statistics; the classifier is scikit-learn's
L2 logistic regression with fixed C=1 (nothing is tuned on val).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import DatasetError, RadiovisualError

TASKS = ("lane-side", "range-bin", "car-model", "moving")
ENCODERS = ("ssl", "supervised", "random")


def task_labels(task: str, train: Any, val: Any, range_bins: int = 4, moving_min_mps: float = 0.25
                ) -> dict[str, Any]:
    """{y_train, y_val (int, -1 = left out), classes, definition} from two label-reading SplitViews."""
    if task not in TASKS:
        raise RadiovisualError(f"unknown probe task '{task}' (choose from {', '.join(TASKS)})")
    if task == "lane-side":
        ys = [(sv.read("target_polar")[:, 1] > 0).astype(np.int64) for sv in (train, val)]
        return {"y_train": ys[0], "y_val": ys[1], "classes": ["left", "right"],
                "definition": "target azimuth > 0 (right of boresight) vs <= 0"}
    if task == "range-bin":
        r_tr, r_va = train.read("target_polar")[:, 0], val.read("target_polar")[:, 0]
        edges = np.linspace(r_tr.min(), r_tr.max(), range_bins + 1)
        ys = [np.clip(np.searchsorted(edges[1:-1], r, side="right"), 0, range_bins - 1) for r in (r_tr, r_va)]
        return {"y_train": ys[0], "y_val": ys[1],
                "classes": [f"[{a:.1f}, {b:.1f}) m" for a, b in zip(edges[:-1], edges[1:])],
                "definition": f"target range in {range_bins} equal-width bins over the train span (val clipped)"}
    if task == "car-model":
        for sv in (train, val):
            if "car_model" not in sv:
                raise DatasetError(f"split '{sv.name}' has no 'car_model' array: the dataset predates car-model "
                                   "labels; re-synthesise it to probe this task")
        raw = [np.asarray(sv.read("car_model")).astype(str) for sv in (train, val)]
        classes = sorted(set(raw[0].tolist()))
        lut = {c: i for i, c in enumerate(classes)}
        ys = [np.array([lut.get(c, -1) for c in r], np.int64) for r in raw]
        ys[1][ys[1] < 0] = len(classes)          # a model never seen in train: always counted wrong
        return {"y_train": ys[0], "y_val": ys[1], "classes": classes, "definition": "car_model label array"}
    ys = []
    for sv in (train, val):
        if "velocity" not in sv:
            raise DatasetError(f"split '{sv.name}' has no 'velocity' array; the 'moving' task needs it")
        v, p = sv.read("velocity").astype(np.float64), sv.read("target_xy").astype(np.float64)
        vr = (v * p).sum(axis=1) / np.maximum(np.linalg.norm(p, axis=1), 1e-9)     # [m/s], > 0 away
        ys.append(np.where(np.abs(vr) < moving_min_mps, -1, (vr < 0).astype(np.int64)))
    for name, y in zip(("train", "val"), ys):
        if len(np.unique(y[y >= 0])) < 2:
            raise DatasetError(f"task 'moving': the {name} split has no targets moving both towards and away "
                               f"(|v_r| >= {moving_min_mps} m/s); use a suburban or street-canyon dataset")
    return {"y_train": ys[0], "y_val": ys[1], "classes": ["away", "towards"],
            "definition": f"radial velocity < -{moving_min_mps} m/s (towards) vs > +{moving_min_mps} m/s (away)"}


def stratified_subset(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a class-stratified ``fraction`` of ``y`` (>= 1 per class; -1 = unusable).

    One permutation per class from ``seed`` alone, so smaller fractions are nested in larger ones.
    """
    if not 0 < fraction <= 1:
        raise RadiovisualError(f"label fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(y[y >= 0]):
        idx = np.nonzero(y == c)[0]
        perm = idx[rng.permutation(len(idx))]
        keep.append(perm[: max(1, int(round(fraction * len(idx))))])
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)


def linear_probe(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                 seed: int = 0) -> float:
    """Val accuracy of a standardised L2 logistic regression (C=1) fit on (x_train, y_train)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(y_train)) < 2:   # one class labelled: the probe can only predict it
        return float(np.mean(y_val == y_train[0]))
    sc = StandardScaler().fit(x_train)
    clf = LogisticRegression(C=1.0, max_iter=2000, random_state=seed).fit(sc.transform(x_train), y_train)
    return float(np.mean(clf.predict(sc.transform(x_val)) == y_val))


def train_supervised(bcfg: Any, radar_train: Any, y: np.ndarray, n_classes: int, seed: int, steps: int = 1000,
                     batch: int = 64, lr: float = 2e-3, pool: str = "mean") -> Any:
    """Radio backbone + pooled linear head trained from scratch with cross-entropy; returns it (eval).

    AdamW, linear warm-up over the first 10 % of ``steps`` then cosine decay to 0, so the final weights
    are not those of one noisy late step (no early stopping: val is for reporting only).
    """
    import math

    import torch
    from torch import nn

    from ..pretrain.backbones import build_backbones
    from .features import pool_bins

    torch.manual_seed(seed)
    radio, _ = build_backbones(bcfg)
    head = nn.Linear(bcfg.channels, n_classes)
    model = nn.ModuleDict({"radio": radio, "head": head})
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: (t + 1) / warm if t < warm else
                                              0.5 * (1 + math.cos(math.pi * (t - warm) / max(1, steps - warm))))
    yt = torch.as_tensor(y, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    b = min(batch, len(yt))
    model.train()
    for _ in range(steps):
        idx = torch.randperm(len(yt), generator=gen)[:b]
        loss = nn.functional.cross_entropy(head(pool_bins(radio(radar_train[idx]), pool)), yt[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def supervised_accuracy(model: Any, radar_val: Any, y_val: np.ndarray, pool: str = "mean", batch: int = 256) -> float:
    import torch

    from .features import pool_bins

    pred = []
    with torch.no_grad():
        for s in range(0, len(radar_val), batch):
            pred.append(model["head"](pool_bins(model["radio"](radar_val[s:s + batch]), pool)).argmax(1).numpy())
    return float(np.mean(np.concatenate(pred) == y_val))


def probe_tasks(feats: dict[str, tuple[np.ndarray, np.ndarray]], labels: dict[str, dict[str, Any]],
                fractions: Sequence[float], seed: int, supervised: Any = None, bar: Any = None) -> dict[str, Any]:
    """Accuracy table {task: {fractions, n_labelled, majority, acc: {encoder: [..]}}}.

    feats: {encoder: (x_train [N, C], x_val [M, C])} of frozen encoders; ``supervised(task, idx, y_tr,
    keep_val, y_va, n_classes) -> accuracy`` trains the from-scratch baseline (None: skipped).
    """
    out: dict[str, Any] = {}
    for task, lab in labels.items():
        y_tr, y_va = lab["y_train"], lab["y_val"]
        kv = y_va >= 0
        n_cls = len(lab["classes"])
        res: dict[str, Any] = {"classes": lab["classes"], "definition": lab["definition"],
                               "n_train_usable": int((y_tr >= 0).sum()), "n_val": int(kv.sum()),
                               "fractions": [float(f) for f in fractions], "n_labelled": [],
                               "acc": {e: [] for e in feats}, "majority_val": None}
        if supervised is not None:
            res["acc"]["supervised"] = []
        for f in fractions:
            idx = stratified_subset(y_tr, f, seed)
            res["n_labelled"].append(int(len(idx)))
            for enc, (xt, xv) in feats.items():
                res["acc"][enc].append(linear_probe(xt[idx], y_tr[idx], xv[kv], y_va[kv], seed))
            if supervised is not None:
                res["acc"]["supervised"].append(supervised(task, idx, y_tr[idx], kv, y_va[kv], n_cls))
            if bar is not None:
                bar.update(1)
        # majority class of the FULL labelled train set, scored on val: the accuracy of a constant guess
        maj = np.bincount(y_tr[y_tr >= 0]).argmax()
        res["majority_val"] = float(np.mean(y_va[kv] == maj))
        out[task] = res
    return out


def plot_probe(result: dict[str, Any], path: Any) -> Any:
    """Accuracy vs label fraction (log x), one panel per task: ssl / supervised / random + majority."""
    from ..utils.plotting import pyplot as _plt, save_png

    plt = _plt()
    tasks = list(result)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), squeeze=False)
    style = {"ssl": ("#1f77b4", "o", "SSL backbone (frozen)"), "supervised": ("#d62728", "s", "supervised, scratch"),
             "random": ("#7f7f7f", "^", "random init (frozen)")}
    for ax, task in zip(axes[0], tasks):
        r = result[task]
        for enc, acc in r["acc"].items():
            c, m, lab = style.get(enc, ("k", "x", enc))
            ax.plot(r["fractions"], acc, marker=m, color=c, label=lab)
        ax.axhline(r["majority_val"], color="k", ls="--", lw=0.8, label="majority class")
        ax.set_xscale("log")
        ax.set_xlabel("label fraction of train")
        ax.set_ylabel("val accuracy")
        ax.set_ylim(0, 1.02)
        ax.set_title(task)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle("Linear probe (supervised evaluation)", fontsize=10)
    return save_png(fig, path)


def _probe_options(tasks: list[str], fractions: list[float], seed: int, steps: int, range_bins: int,
                   moving_min_mps: float) -> dict[str, Any]:
    """Check the probe's arguments (one line each) and return the options that key its result."""
    for f in fractions:
        if not 0 < f <= 1:
            raise RadiovisualError(f"label fraction must be in (0, 1], got {f}")
    for t in tasks:
        if t not in TASKS:
            raise RadiovisualError(f"unknown probe task '{t}' (choose from {', '.join(TASKS)})")
    if not tasks or steps < 1 or range_bins < 2:
        raise RadiovisualError("probe needs >= 1 task, steps >= 1 and range_bins >= 2")
    return {"tasks": tasks, "fractions": fractions, "seed": seed, "supervised_steps": steps,
            "supervised_schedule": "AdamW, 10% linear warm-up, cosine decay to 0",
            "supervised_batch": 64, "supervised_lr": 2e-3, "range_bins": range_bins,
            "moving_min_mps": moving_min_mps, "classifier": "sklearn LogisticRegression(C=1, L2), standardised",
            "train_split": "train", "eval_split": "val"}


def run_probe(run: Any, data: Any, out: Any, tasks: Sequence[str] = ("lane-side", "range-bin"),
              fractions: Sequence[float] = (0.01, 0.1, 1.0), seed: int = 0, steps: int = 1000,
              range_bins: int = 4, moving_min_mps: float = 0.25, progress: bool = True,
              supervised_cache: Any = None) -> dict[str, Any]:
    """Probe ``run``'s radio backbone on ``data`` (train -> val); write ``out/probe.json`` and ``probe.png``.

    A finished probe with the same inputs and options is reused. The from-scratch baseline does not
    depend on the pretrained weights, only on the architecture, data, task, subset, seed and schedule:
    with ``supervised_cache`` (a directory) its results are shared by every run probed with the same
    ones (e.g. all methods of a benchmark). Returns the JSON-able result.
    """
    import hashlib
    import json

    import torch

    from ..config import fingerprint, from_dict, to_dict
    from ..dataset.format import open_dataset
    from ..pretrain import load_backbones
    from ..pretrain.config import BackboneConfig
    from ..pretrain.data import radar_to_tensor
    from ..utils.io import write_json
    from .features import radio_features, random_radio_backbone, reuse_or_none, run_identity, write_result

    tasks, fractions = list(dict.fromkeys(tasks)), sorted({float(f) for f in fractions})
    options = _probe_options(tasks, fractions, seed, steps, range_bins, moving_min_mps)
    ident = run_identity(run, data)
    cached = reuse_or_none(out, "probe.json", ident, options)
    if cached is not None:
        return cached
    bb = load_backbones(run)
    radio, cfg = bb.radio, {**to_dict(bb.config), "data": bb.data}   # plain dicts for the fingerprints below
    pool = bb.config.loss.radio_pool
    free = open_dataset(data, labels=False)            # inputs: label-free view
    lab = open_dataset(data, labels=True)              # labels: this is a supervised evaluation
    labels = {t: task_labels(t, lab.split("train"), lab.split("val"), range_bins, moving_min_mps) for t in tasks}
    r_tr, r_va = free.split("train").read("radar"), free.split("val").read("radar")
    want = tuple(cfg.get("data", {}).get("radar_shape", r_tr.shape[1:]))
    if tuple(r_tr.shape[1:]) != want:
        raise DatasetError(f"radar heatmaps of {data} are {tuple(r_tr.shape[1:])} but the run was pretrained on {want}")
    bar = None
    if progress:
        from ..utils.progress import tqdm

        bar = tqdm(total=len(tasks) * len(fractions), desc="probe", unit="fit", dynamic_ncols=True)
    try:
        rnd = random_radio_backbone(cfg, seed)
        feats = {"ssl": (radio_features(radio, r_tr, pool), radio_features(radio, r_va, pool)),
                 "random": (radio_features(rnd, r_tr, pool), radio_features(rnd, r_va, pool))}
        t_tr, t_va = radar_to_tensor(r_tr), radar_to_tensor(r_va)
        bcfg = from_dict(BackboneConfig, cfg["backbone"])

        fit_acc: dict[str, list[float]] = {t: [] for t in tasks}

        def supervised(task, idx, y, keep_val, y_val, n_cls):
            # everything the scratch fit depends on; the exact labelled subset stands for task/fraction/seed
            key = fingerprint({"backbone": cfg["backbone"], "data": ident["data_fingerprint"], "task": task,
                               "subset": hashlib.sha256(np.asarray(idx, np.int64).tobytes()).hexdigest(),
                               "labels": hashlib.sha256(np.asarray(y, np.int64).tobytes()).hexdigest(),
                               "seed": seed, "pool": pool, **{k: v for k, v in options.items()
                                                              if k.startswith("supervised_")}})
            hit = Path(supervised_cache) / f"supervised-{key}.json" if supervised_cache else None
            if hit is not None and hit.is_file():
                got = json.loads(hit.read_text())
            else:
                x = t_tr[torch.as_tensor(idx)]
                m = train_supervised(bcfg, x, y, n_cls, seed, steps, pool=pool)
                got = {"train_acc": supervised_accuracy(m, x, y, pool),    # on its own labelled subset
                       "val_acc": supervised_accuracy(m, t_va[torch.as_tensor(np.nonzero(keep_val)[0])], y_val, pool)}
                if hit is not None:
                    write_json(hit, got)
            fit_acc[task].append(got["train_acc"])
            return got["val_acc"]

        table = probe_tasks(feats, labels, fractions, seed, supervised, bar)
        for t in tasks:
            table[t]["supervised_train_acc"] = fit_acc[t]
    finally:
        if bar is not None:
            bar.close()
    result = {"evaluation": "linear probe", "supervised_evaluation": True,
              "note": "supervised evaluation: probes and the scratch baseline are trained on ground-truth labels "
                      "of the labelled train fraction; accuracy on val; the SSL backbone itself never saw labels",
              **ident, "options": options, "backbone": cfg["backbone"], "radio_pool": pool, "tasks": table}
    plot_probe(table, Path(out) / "probe.png")
    write_result(out, "probe.json", result)   # last: its fingerprint marks the probe as finished
    return result
