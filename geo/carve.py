"""A new grid drawn over existing ones: snapped onto their vertices and cut out of them.

Grids partition their community, so a grid drawn by hand always lands on grids that exist:
``carve`` snaps the drawn polygon's vertices onto the grids' vertices within a tolerance (bit
for bit, ``geo.topology.snap``), keeps the part inside the grids given (a new grid cannot leave
the community) and takes that part out of each grid it overlaps. The grids' union is
unchanged, so the edit opens no gap and leaves no overlap beyond floating-point dust.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.errors import InvalidGeometryError
from geo.topology import Metric, invalid_reason, polygonal, snap

MIN_AREA_M2 = 1.0  # a carved grid or a grid's rest below this is nothing


def carve(
    drawn: BaseGeometry, grids: Sequence[BaseGeometry], *, tolerance_m: float
) -> tuple[BaseGeometry, list[BaseGeometry | None]]:
    """The new grid, and each of ``grids`` without it (None: wholly taken, so retired).
    InvalidGeometryError when the drawn polygon is invalid or covers none of the grids."""
    bad = invalid_reason(drawn)
    if bad is not None:
        raise InvalidGeometryError(f"the drawn grid: {bad[0]}")
    if not grids:
        raise InvalidGeometryError("a new grid must be drawn over the grids it is cut from")
    snapped = snap(drawn, list(grids), tolerance_m=tolerance_m)
    metric = Metric.around([snapped])
    territory = shapely.union_all(np.array(grids, dtype=object))
    new = _without_dust(shapely.intersection(snapped, territory), metric)
    if new is None:
        raise InvalidGeometryError("the drawn grid covers none of the grids")
    return new, [_without_dust(shapely.difference(grid, new), metric) for grid in grids]


def _without_dust(geom: BaseGeometry, metric: Metric) -> BaseGeometry | None:
    """The polygons of an overlay result larger than MIN_AREA_M2 (None when none is)."""
    parts = [p for p in shapely.get_parts(polygonal(geom)) if metric.area(p) >= MIN_AREA_M2]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.multipolygons(parts)
