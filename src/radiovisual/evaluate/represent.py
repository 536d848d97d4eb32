"""Representations of a pretraining run: pooled radio features (linear probe) and the cross-modal
embeddings a method is trained to align (retrieval).

Interface with ``pretrain`` kept deliberately small, so new methods work unchanged:
* the whole method is loaded by ``pretrain.train.load_method`` (``weights_only=True`` checkpoint,
  rebuilt from the registry); the probe only needs ``load_backbones`` (radio backbone + config).
* cross-modal embeddings, first that applies: ``embed_radio(radar)``/``embed_vision(image, gamma)``
  (per-bin MCL), ``embed(radar, image, gamma)`` (mcl-paper, CL), the method's projectors
  ``proj_r``/``proj_v`` on pooled backbone features (CLIP), the backbones themselves (SCL: per-bin
  radio features, mask-pooled vision).
  Online nets only (no EMA). A per-bin radio embedding ([B, D, h, w], [B, D, n] or [B, n, D]) is
  kept per bin and scored as the method scores pairs, by a smooth max over bins
  (``retrieval.pair_scores``, the method's ``tau_s``; hard max without one, as SCL's loss); a pooled
  mean would drown the target's bin.
* projector BatchNorm uses batch statistics even in eval mode (``GlobalBatchNorm1d``), so
  embeddings are computed in batches of ``batch`` (default 1024) to make them (nearly) independent of
  the batching; the quick val split fits one batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RadiovisualError
from ..utils.plotting import pyplot, save_png
# the pieces the linear probe (``probe.py``) shares with this module live one level down, in ``features.py``
from .features import (pool_bins, radio_features, random_radio_backbone, reuse_or_none,  # noqa: F401
                       run_identity, write_result)


def load_method(run: str | Path) -> tuple[Any, dict[str, Any]]:
    """(method nn.Module in eval mode on CPU, resolved config dict incl. ``method`` and ``data``)."""
    from ..pretrain.train import load_method as _load

    model, ck = _load(run)
    d = dict(ck["config"])
    d["method"] = ck.get("method", d.get("method"))
    d["data"] = ck.get("data", {})
    return model, d


def _per_bin(z: Any, d: int) -> Any:
    """Radio embeddings -> [B, D] or per-bin [B, D, n] (from [B, D, h, w], [B, D, n] or [B, n, D])."""
    if z.ndim == 4:
        return z.flatten(2)
    if z.ndim == 3 and z.shape[1] != d and z.shape[2] == d:
        return z.transpose(1, 2)
    return z


def _embed_batch(model: Any, radar: Any, image: Any, gamma: Any, radio_pool: str) -> tuple[Any, Any]:
    """One batch -> (z_r [B, D] or [B, D, n], z_v [B, D]), each vector L2-normalised (along D)."""
    import torch
    import torch.nn.functional as F

    from ..pretrain.losses import masked_mean_pool

    if callable(getattr(model, "embed_radio", None)) and callable(getattr(model, "embed_vision", None)):
        g = gamma if gamma is not None else torch.ones_like(image[:, :1])
        z_r, z_v = model.embed_radio(radar), model.embed_vision(image, g)
    elif callable(getattr(model, "embed", None)):
        z_r, z_v = model.embed(radar, image, gamma)
    else:
        fv = masked_mean_pool(model.vision(image * gamma if gamma is not None else image), gamma,
                              model.vision.stride)
        proj_r, proj_v = getattr(model, "proj_r", None), getattr(model, "proj_v", None)
        fr = model.radio(radar)                                       # [B, C, h, w]
        # with projectors (CLIP) the radio map is pooled first; without (SCL) it stays per bin,
        # scored like SCL's loss by the max over bins of the per-bin cosine
        z_r = proj_r(pool_bins(fr, radio_pool)) if proj_r is not None else fr
        z_v = proj_v(fv) if proj_v is not None else fv
    z_v = F.normalize(z_v.float(), dim=1)
    return F.normalize(_per_bin(z_r, z_v.shape[1]).float(), dim=1), z_v


def embedding_kind(model: Any) -> str:
    if callable(getattr(model, "embed_radio", None)) and callable(getattr(model, "embed_vision", None)):
        return "method.embed_radio()/embed_vision()"
    if callable(getattr(model, "embed", None)):
        return "method.embed()"
    return ("projectors on pooled backbones" if hasattr(model, "proj_r") else
            "backbones: per-bin radio features, mask-pooled vision (no projector)")


def cross_modal_embeddings(model: Any, cfg: dict[str, Any], radar: np.ndarray, image: np.ndarray,
                           mask: np.ndarray | None, batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Radar embeddings [N, D] (or per-bin [N, D, n]) and image embeddings [N, D], as the method pairs them.

    Masked methods (``needs_mask``) see the image through the camera's target mask, exactly as in
    pretraining (``loss.mask_pad_px``); ``mask`` may be None for unmasked methods.
    """
    import torch

    from ..pretrain.data import image_to_tensor, mask_to_tensor, radar_to_tensor

    masked = bool(getattr(model, "needs_mask", False))
    if masked and mask is None:
        raise RadiovisualError(f"method {cfg.get('method')} embeds images through the target mask; none given")
    pad = int(cfg.get("loss", {}).get("mask_pad_px", 0))
    pool = str(cfg.get("loss", {}).get("radio_pool", "mean"))
    zr, zv = [], []
    with torch.no_grad():
        for s in range(0, len(radar), batch):
            sl = slice(s, s + batch)
            g = mask_to_tensor(mask[sl], pad) if masked else None
            a, b = _embed_batch(model, radar_to_tensor(radar[sl]), image_to_tensor(image[sl]), g, pool)
            zr.append(a.numpy())
            zv.append(b.numpy())
    return np.concatenate(zr), np.concatenate(zv)


_plt = pyplot


# ---- cross-modal retrieval ------------------------------------------------------------------------------------

def plot_retrieval(sim: np.ndarray, report: dict[str, Any], sequence: np.ndarray, frame: np.ndarray, tol: int,
                   path: str | Path, n_show: int = 60) -> Path:
    """Left: Recall@k vs k (both directions, exact and ±tol frames, chance); right: score matrix."""
    from .retrieval import chance_recall_at_k, neighbour_positives, recall_curve

    plt = _plt()
    n = len(sim)
    k = np.arange(1, n + 1)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4))
    pos = neighbour_positives(sequence, frame, tol)
    for name, s, p, c in (("radar→image", sim, None, "#1f77b4"), ("image→radar", sim.T, None, "#d62728"),
                          (f"radar→image ±{tol} frame", sim, pos, "#1f77b4"),
                          (f"image→radar ±{tol} frame", sim.T, pos.T, "#d62728")):
        ax.plot(k, recall_curve(s, p), color=c, ls="-" if p is None else ":", label=name)
    ax.plot(k, k / n, color="k", ls="--", lw=0.8, label="chance (exact) k/N")
    ch = chance_recall_at_k(n, k[: min(n, 200)], pos.sum(1))
    ax.plot(list(ch), list(ch.values()), color="gray", ls="-.", lw=0.8, label=f"chance (±{tol} frame)")
    ax.set_xscale("log")
    ax.set_xlabel("k")
    ax.set_ylabel("Recall@k")
    r1 = report["exact"]["radar_to_image"]["recall"]["1"]
    ax.set_title(f"{report.get('method', '')} retrieval, N={n} (R@1 radar→image {r1:.3f})", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    m = min(n, n_show)
    im = bx.imshow(sim[:m, :m], cmap="viridis")
    bx.set_xlabel("image index")
    bx.set_ylabel("radar index")
    bx.set_title(f"pair score, first {m} samples (diagonal = pairs)", fontsize=9)
    fig.colorbar(im, ax=bx, fraction=0.046)
    return save_png(fig, path)


def run_retrieval(run: str | Path, data: str | Path, out: str | Path, split: str = "val",
                  ks: tuple[int, ...] = (1, 5, 10), tol: int = 1, visible_only: bool = True,
                  batch: int = 1024) -> dict[str, Any]:
    """Cross-modal Recall@k of ``run``'s embeddings on ``split`` (label-free); ``out/retrieval.json`` + PNG.

    ``visible_only`` keeps the samples whose (padded) camera target mask is non-empty, for every method
    alike: an image without the target cannot be matched to its heatmap by content, and masked methods
    cannot even embed it. The mask is camera data, not ground truth.
    """
    from ..dataset.format import open_dataset
    from ..pretrain.data import mask_to_tensor, read_masks
    from .retrieval import pair_scores, retrieval_report

    if not ks or min(ks) < 1 or tol < 0 or batch < 1:
        raise RadiovisualError("retrieval needs ks >= 1, tol >= 0 and batch >= 1")
    ident = run_identity(run, data)
    options = {"split": split, "ks": [int(k) for k in ks], "frame_tolerance": tol, "visible_only": visible_only,
               "batch": batch}
    cached = reuse_or_none(out, "retrieval.json", ident, options)
    if cached is not None:
        return cached
    model, cfg = load_method(run)
    sv = open_dataset(data, labels=False).split(split)
    radar, image = sv.read("radar"), sv.read("image")
    loss = cfg.get("loss", {})
    mask = read_masks(sv, slice(None), str(loss.get("mask_source", "mask")), image.shape[1:3])
    seq, frame = sv.read("sequence"), sv.read("frame")
    keep = np.arange(len(radar))
    if visible_only:
        g = mask_to_tensor(mask, int(loss.get("mask_pad_px", 0)))
        keep = np.nonzero(g.flatten(1).amax(dim=1).numpy() > 0)[0]
    if len(keep) < 2:
        raise RadiovisualError(f"split '{split}' has {len(keep)} usable samples; retrieval needs at least 2")
    z_r, z_v = cross_modal_embeddings(model, cfg, radar[keep], image[keep], mask[keep], batch)
    tau_s = float(getattr(model, "tau_s", 0.0)) if z_r.ndim == 3 else 0.0
    sim = pair_scores(z_r, z_v, tau_s)
    report = retrieval_report(sim, seq[keep], frame[keep], ks, tol)
    report["method"] = ident["method"]
    score = ("cosine similarity" if z_r.ndim == 2 else
             f"smooth max over {z_r.shape[2]} radio bins of the per-bin cosine (tau_s={tau_s:g})")
    result = {"evaluation": "cross-modal retrieval", "supervised_evaluation": False, **ident, "options": options,
              "embedding": embedding_kind(model), "score": score, "n_split": int(len(radar)),
              "n_excluded_no_target_in_image": int(len(radar) - len(keep)), **report,
              "note": f"exact: only the paired sample is a hit; pm{tol}_frame: any frame within ±{tol} of the "
                      "query's frame in the same sequence is a hit (neighbouring frames look alike)"}
    plot_retrieval(sim, report, seq[keep], frame[keep], tol, Path(out) / "retrieval.png")
    write_result(out, "retrieval.json", result)
    return result


def evaluate_representation(run: str | Path, data: str | Path, out: str | Path,
                            tasks: tuple[str, ...] | list[str] = ("lane-side", "range-bin"),
                            fractions: tuple[float, ...] | list[float] = (0.01, 0.1, 1.0), seed: int = 0,
                            evals: tuple[str, ...] | list[str] = ("probe", "retrieval"),
                            progress: bool = False, supervised_cache: str | Path | None = None) -> dict[str, Any]:
    """The benchmark's hook: run the chosen evaluations of one pretraining run into ``out``.

    Writes ``out/probe.json`` + ``probe.png`` and/or ``out/retrieval.json`` + ``retrieval.png`` (reused
    when already made from the same run, data and options) and returns the JSON-able dict
    ``{"probe": {...}, "retrieval": {...}}`` (only the keys asked for), each the full result file.
    Pass one ``supervised_cache`` directory for all methods of a benchmark: the from-scratch probe baseline
    is then trained once, not once per method.
    """
    from .probe import run_probe

    bad = sorted(set(evals) - {"probe", "retrieval"})
    if bad:
        raise RadiovisualError(f"unknown representation evaluation '{bad[0]}' (choose from probe, retrieval)")
    res: dict[str, Any] = {}
    if "probe" in evals:
        res["probe"] = run_probe(run, data, out, tasks=tasks, fractions=fractions, seed=seed, progress=progress,
                                 supervised_cache=supervised_cache)
    if "retrieval" in evals:
        res["retrieval"] = run_retrieval(run, data, out)
    return res
