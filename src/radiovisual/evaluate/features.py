"""What the linear probe (``probe.py``) and the representation evaluation (``represent.py``) share: frozen
radio-backbone features and the bookkeeping that lets a finished evaluation be reused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RadiovisualError


def random_radio_backbone(cfg: dict[str, Any], seed: int) -> Any:
    """A freshly initialised (seeded) radio backbone of the run's architecture: the probe's floor."""
    import torch

    from ..config import from_dict
    from ..pretrain.backbones import build_backbones
    from ..pretrain.config import BackboneConfig

    torch.manual_seed(seed)
    radio, _ = build_backbones(from_dict(BackboneConfig, cfg["backbone"]))
    return radio.eval()


def pool_bins(f: Any, how: str = "mean") -> Any:
    """[B, C, h, w] -> [B, C] global mean (or max) over all bins, as the radio projector pools."""
    return f.amax(dim=(2, 3)) if how == "max" else f.mean(dim=(2, 3))


def radio_features(radio: Any, radar: np.ndarray, pool: str = "mean", batch: int = 256) -> np.ndarray:
    """Frozen backbone features: dB heatmaps [N, R, A] -> pooled features [N, C] (float32)."""
    import torch

    from ..pretrain.data import radar_to_tensor

    out = []
    with torch.no_grad():
        for s in range(0, len(radar), batch):
            out.append(pool_bins(radio(radar_to_tensor(radar[s:s + batch])), pool).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


# ---- run bookkeeping shared by the probe and retrieval ------------------------------------------------------

def run_identity(run: str | Path, data: str | Path) -> dict[str, Any]:
    """What an evaluation result depends on: the finished run's and the dataset's fingerprints."""
    import json

    from ..dataset.format import open_dataset

    run = Path(run)
    if not (run / "done.json").is_file():
        raise RadiovisualError(f"{run} is not a finished pretraining run (no done.json)")
    done = json.loads((run / "done.json").read_text())
    ds = open_dataset(data, labels=False)
    return {"run": str(run.resolve()), "run_fingerprint": done.get("key", done.get("fingerprint")), "method": done.get("method"),
            "data": str(Path(data).resolve()), "data_fingerprint": ds.attrs.get("config_fingerprint")}


def _fp(ident: dict[str, Any], options: dict[str, Any]) -> str:
    from ..config import fingerprint

    return fingerprint({"run": ident["run_fingerprint"], "data": ident["data_fingerprint"], "options": options})


def reuse_or_none(out: str | Path, name: str, ident: dict[str, Any], options: dict[str, Any]) -> dict | None:
    """The finished ``out/name`` when it was made from the same run, data and options, else None."""
    import json

    p = Path(out) / name
    if not p.is_file():
        return None
    try:
        have = json.loads(p.read_text())
    except ValueError:
        return None
    return have if have.get("fingerprint") == _fp(ident, options) else None


def write_result(out: str | Path, name: str, result: dict[str, Any]) -> Path:
    """Atomic JSON write, stamped with the fingerprint ``reuse_or_none`` checks (written last)."""
    from ..utils.io import check_writable_dir, write_json

    check_writable_dir(out)
    result["fingerprint"] = _fp(result, result["options"])
    write_json(Path(out) / name, result)
    return Path(out) / name
