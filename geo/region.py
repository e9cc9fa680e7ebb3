"""Where a city's data may lie: plausible lon/lat degrees, and a region (a lon/lat box, by
default the grids' extent plus a margin) outside which a point is taken for a mistake
(projected coordinates read as degrees, a swapped column, a (0, 0) from a broken GPS fix).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geo.errors import OutsideRegionError

_M_PER_DEG_LAT = 111_320.0


def plausible_lonlat(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Per point: finite, lon in [-180, 180] and lat in [-90, 90]."""
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (np.abs(x) <= 180.0) & (np.abs(y) <= 90.0)


@dataclass(frozen=True)
class Region:
    """A lon/lat box (west, south, east, north), bounds inclusive."""

    west: float
    south: float
    east: float
    north: float

    @classmethod
    def parse(cls, text: str) -> Region:
        """``"west,south,east,north"`` in degrees; ValueError when it is not a box."""
        parts = [float(p) for p in text.split(",")]
        if len(parts) != 4:
            raise ValueError(f"a region is west,south,east,north; got {text!r}")
        region = cls(*parts)
        if not (region.west < region.east and region.south < region.north):
            raise ValueError(f"region {text!r} is empty (west < east and south < north)")
        if not plausible_lonlat([region.west, region.east], [region.south, region.north]).all():
            raise ValueError(f"region {text!r} is not in lon/lat degrees")
        return region

    @classmethod
    def around(cls, bounds: ArrayLike, margin_m: float) -> Region:
        """The box ``bounds`` (xmin, ymin, xmax, ymax) grown by ``margin_m`` on every side."""
        xmin, ymin, xmax, ymax = (float(v) for v in np.asarray(bounds, dtype=np.float64))
        dy = margin_m / _M_PER_DEG_LAT
        widest = min(max(abs(ymin), abs(ymax)) + dy, 89.0)
        dx = dy / max(float(np.cos(np.radians(widest))), 0.01)
        return cls(
            max(xmin - dx, -180.0),
            max(ymin - dy, -90.0),
            min(xmax + dx, 180.0),
            min(ymax + dy, 90.0),
        )

    def contains(self, lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
        x = np.asarray(lon, dtype=np.float64)
        y = np.asarray(lat, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            return (self.west <= x) & (x <= self.east) & (self.south <= y) & (y <= self.north)

    def __str__(self) -> str:
        return f"{self.west:.4f},{self.south:.4f},{self.east:.4f},{self.north:.4f}"

    def require(self, lon: float, lat: float) -> None:
        """Raise OutsideRegionError unless (lon, lat) lies in the region."""
        if not bool(self.contains(lon, lat)):
            raise OutsideRegionError(
                f"point ({lon:g}, {lat:g}) lies outside the region {self} "
                "(the grids' extent plus a margin; setting GRIDMAP_REGION); is its crs right?"
            )
