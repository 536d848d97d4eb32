"""The localiser as a trainable ``nn.Module`` in polar coordinates: load a finished run, fine-tune it, save it.

``PolarLocaliser(radar)`` maps dB heatmaps [B, R, A] (or [B, 1, R, A]) to the target [B, 2] = (range [m],
azimuth [rad]): the run's ``Localiser`` gives fractional heatmap bins and a differentiable linear
interpolation of the store's bin centres (``np.interp``'s, clamped at the edges) turns them into polar
coordinates, so a loss on metres and radians trains it end to end. ``save`` writes a finished localiser run
that ``predict`` (the frozen, BatchNorm-folded TorchScript path) and ``load_polar`` read back.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import RadiovisualError
from ..utils.io import save_checkpoint, write_json
from ..utils.stage import StageDir
from .model import Localiser


def interp(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``np.interp(x, arange(len(grid)), grid)`` in torch: fractional index -> value, clamped at both ends."""
    n = grid.shape[0]
    x = x.to(grid.dtype).clamp(0, n - 1)
    i0 = x.detach().floor().clamp(max=n - 2).long()
    w = x - i0.to(x.dtype)
    return grid[i0] + w * (grid[i0 + 1] - grid[i0])


class PolarLocaliser(nn.Module):
    """``forward(radar_db [B,R,A] or [B,1,R,A]) -> [B,2]`` (range [m], azimuth [rad]), float64.

    ``net`` is the radar-only ``Localiser`` (heatmap bins); ``meta`` its run's ``config.json`` (grid, config).
    Train it like any module (``train()``, an optimiser on ``parameters()``); ``save(out)`` writes a run.
    """

    def __init__(self, net: Localiser, meta: dict[str, Any]):
        super().__init__()
        self.net = net
        self.meta = dict(meta)
        # float64 grids: the frozen path interpolates in float64 too (``bins_to_polar``)
        self.register_buffer("range_bins_m", torch.tensor(meta["range_bins_m"], dtype=torch.float64))
        self.register_buffer("azimuth_bins_rad", torch.tensor(meta["azimuth_bins_rad"], dtype=torch.float64))

    @property
    def heatmap_hw(self) -> tuple[int, int]:
        return int(self.range_bins_m.shape[0]), int(self.azimuth_bins_rad.shape[0])

    def bins(self, radar: torch.Tensor) -> torch.Tensor:
        """[B,R,A] or [B,1,R,A] dB -> fractional (row, col) heatmap bins [B,2] (the net's own output)."""
        x = radar if radar.ndim == 4 else radar[:, None]
        return self.net(x.float())

    def forward(self, radar: torch.Tensor) -> torch.Tensor:
        rc = self.bins(radar)
        return torch.stack([interp(rc[:, 0], self.range_bins_m), interp(rc[:, 1], self.azimuth_bins_rad)], dim=1)

    def save(self, out: str | Path, note: str = "fine-tuned") -> Path:
        """Write a finished localiser run (``model.pt``, ``config.json``, ``done.json``) to ``out``; returns it.

        The run's key covers the weights, so saving other weights into the same ``out`` replaces it."""
        state = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
        h = hashlib.sha256()
        for k, v in state.items():
            h.update(k.encode())
            h.update(v.numpy().tobytes())
        weights = h.hexdigest()[:16]
        meta = {**copy.deepcopy(self.meta), "note": note, "weights": weights}
        for marker in ("done.json", "stage.json"):     # replace a localiser run, never another stage's directory
            m = Path(out) / marker
            if m.is_file() and json.loads(m.read_text()).get("stage") != "localise":
                raise RadiovisualError(f"{out} holds a {json.loads(m.read_text()).get('stage')} run, not a "
                                       "localiser run; save the localiser to another directory")
        sd = StageDir(out, "localise", meta.get("config", {}), {"weights": weights,
                                                               "from": self.meta.get("labels_fingerprint")},
                      force=True, version=int(meta.get("model_version", 1)))
        path = sd.begin()
        R, A = self.heatmap_hw
        save_checkpoint(path / "model.pt", {"state_dict": state, "width": int(self.net.s2[0].out_channels),
                                            "stem": list(self.net.stem), "heatmap_hw": [R, A],
                                            "model_version": int(meta.get("model_version", 1))})
        write_json(path / "config.json", meta)
        sd.finish({"note": note, "weights": weights, "label_free": meta.get("label_free")})
        return path


def load_polar(run: str | Path, train: bool = False) -> PolarLocaliser:
    """A finished localiser run as a ``PolarLocaliser`` (eval mode, or train mode with ``train=True``)."""
    from .train import load_eager

    net, meta = load_eager(run)
    model = PolarLocaliser(net, meta)
    return model.train(train)


def new_polar(range_bins_m: Any, azimuth_bins_rad: Any, width: int = 8, stem: tuple[int, int] = (1, 1)
              ) -> PolarLocaliser:
    """A freshly initialised localiser for a grid (e.g. ``ds.range_bins_m``, ``ds.azimuth_bins_rad``)."""
    meta = {"range_bins_m": [float(v) for v in range_bins_m], "azimuth_bins_rad": [float(v) for v in azimuth_bins_rad],
            "heatmap_hw": [len(range_bins_m), len(azimuth_bins_rad)], "config": {"width": int(width)},
            "model_version": 1, "label_free": None}
    return PolarLocaliser(Localiser(width=width, stem=stem), meta)
