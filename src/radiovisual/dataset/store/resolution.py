"""Physical resolution of a store's range-azimuth grid, in bins (for windows and kernels stated in cells).

Windows (CFAR guard/train cells) and kernels (the localiser's stem) are stated in **resolution cells**
so that they mean the same thing on every grid; a store's bins per cell turn them into bins:

* range: one cell = the range resolution c / (2 B) [m] (``radio.range_resolution_m``; synthetic stores
  state it, and an imported CRUW store states the AWR1843's). Bins per cell = resolution / bin spacing.
* azimuth: one cell = the Rayleigh resolution of a uniform linear array, 1 / (N d) in u = sin(az)
  (N elements, spacing d in wavelengths): the array factor sin(pi N d u) / (N sin(pi d u)) has its first
  null there. Bins per cell = 1 / (N d) divided by the grid's spacing in u at boresight
  (where the beam is narrowest; uniform-angle grids are finest in u there, uniform-sin grids are uniform).

Our quick grid (16 elements at lambda/2, 64 bins over +-60 deg) has 3.76 azimuth bins per cell; CRUW's
(8 virtual elements, 128 bins uniform in sin) has 15.9: half the angular resolution on twice the bins.
A store without these attrs (toy stores) gets the stated assumption ``ASSUMED_BINS_PER_CELL``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

# Stores that state neither: one range bin per cell (an unpadded FFT) and 4 azimuth bins per beam
# (the sampling of our synthetic grids, 3.7-3.8 bins per cell for the smoke and quick presets).
ASSUMED_BINS_PER_CELL = (1.0, 4.0)
# Bins per cell the radar networks' first conv is designed for (a 3x3 stride-2 stem on our synthetic grids).
DESIGN_BINS_PER_CELL = (1.0, 4.0)


@dataclass(frozen=True)
class GridResolution:
    range_bins_per_cell: float     # range resolution / range bin spacing
    azimuth_bins_per_cell: float   # Rayleigh beamwidth in sin(az) / bin spacing in sin(az) at boresight
    source: str                    # where the numbers came from (recorded with every resolved config)

    def bins(self, cells: float, axis: str) -> int:
        """``cells`` resolution cells -> whole bins on this grid (round half up)."""
        per = self.range_bins_per_cell if axis == "range" else self.azimuth_bins_per_cell
        return int(math.floor(cells * per + 0.5))

    def as_dict(self) -> dict[str, Any]:
        return {"range_bins_per_cell": round(self.range_bins_per_cell, 4),
                "azimuth_bins_per_cell": round(self.azimuth_bins_per_cell, 4), "source": self.source}


def boresight_sin_spacing(azimuth_bins_rad: np.ndarray) -> float:
    """Spacing of the azimuth grid in u = sin(az) at the bin nearest boresight (central difference)."""
    u = np.sin(np.asarray(azimuth_bins_rad, np.float64))
    i = int(np.argmin(np.abs(azimuth_bins_rad)))
    return float(np.gradient(u)[i])


def grid_resolution(attrs: Mapping[str, Any], range_bins_m: np.ndarray,
                    azimuth_bins_rad: np.ndarray) -> GridResolution:
    """Bins per resolution cell on both axes from a store's ``radio`` attrs and bin centres."""
    radio = attrs.get("radio") or {}
    src = []
    dr = float(np.median(np.diff(np.asarray(range_bins_m, np.float64))))
    if radio.get("range_resolution_m"):
        r_per = float(radio["range_resolution_m"]) / dr
        src.append(f"range: radio.range_resolution_m {float(radio['range_resolution_m']):.5g} m / bin {dr:.5g} m")
    else:
        r_per = ASSUMED_BINS_PER_CELL[0]
        src.append(f"range: assumed {r_per:g} bin per cell (store states no radio.range_resolution_m)")
    arr = radio.get("array") or {}
    if arr.get("cols") and arr.get("spacing_wavelengths"):
        cell_u = 1.0 / (float(arr["cols"]) * float(arr["spacing_wavelengths"]))
        du = boresight_sin_spacing(azimuth_bins_rad)
        a_per = cell_u / du
        src.append(f"azimuth: 1/(N d) = 1/({arr['cols']} x {arr['spacing_wavelengths']}) in sin(az) / "
                   f"boresight bin {du:.5g}")
    else:
        a_per = ASSUMED_BINS_PER_CELL[1]
        src.append(f"azimuth: assumed {a_per:g} bins per cell (store states no radio.array)")
    return GridResolution(r_per, a_per, "; ".join(src))


def store_resolution(ds: Any) -> GridResolution:
    """``grid_resolution`` of an open ``Dataset``."""
    return grid_resolution(ds.attrs, ds.range_bins_m, ds.azimuth_bins_rad)


def stem_steps(grid: GridResolution, design: tuple[float, float] = DESIGN_BINS_PER_CELL) -> tuple[int, int]:
    """(range, azimuth) bins per stride-2 step of a radar net's first conv: max(1, round(bins per cell /
    design)), so the stem spans the same number of resolution cells on every grid. Quick: (1, 1);
    CRUW (15.9 azimuth bins per beam): (1, 4)."""
    per = (grid.range_bins_per_cell, grid.azimuth_bins_per_cell)
    return tuple(max(1, int(math.floor(p / d + 0.5))) for p, d in zip(per, design))  # type: ignore[return-value]
