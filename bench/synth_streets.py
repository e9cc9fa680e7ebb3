"""A synthetic street-grid city for the coverage benchmark: fixed seed, no files.

A jittered rectangular street grid (about 100,000 intersections, ~90 m blocks) drawn as
WGS84 street lines of a few blocks each, with a few percent of the block segments missing
so that routes detour and some corners become islands; buildings, stations and candidate
sites are random points across the city, households per building 1–60.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from geo.crs import from_metric, utm_epsg

CENTRE = (118.78, 32.05)  # Nanjing


@dataclass(frozen=True)
class City:
    lines: NDArray[np.object_]  # WGS84 LineStrings
    buildings: NDArray[np.float64]  # (n, 2) lon/lat
    households: NDArray[np.float64]
    stations: NDArray[np.float64]
    candidates: NDArray[np.float64]


def synth_city(
    *,
    rows: int = 250,
    cols: int = 400,
    spacing_m: float = 90.0,
    buildings: int = 100_000,
    stations: int = 200,
    candidates: int = 5_000,
    missing: float = 0.04,
    seed: int = 20240601,
) -> City:
    """Build the city; the same arguments always give the same city."""
    rng = np.random.default_rng(seed)
    epsg = utm_epsg(*CENTRE)
    x0, y0 = _centre_xy(epsg)
    gx, gy = np.meshgrid(np.arange(cols) * spacing_m, np.arange(rows) * spacing_m)
    x = x0 - cols * spacing_m / 2 + gx + rng.normal(0, spacing_m * 0.08, gx.shape)
    y = y0 - rows * spacing_m / 2 + gy + rng.normal(0, spacing_m * 0.08, gy.shape)
    lon, lat = from_metric(x.ravel(), y.ravel(), epsg)
    node = np.column_stack([lon, lat]).reshape(rows, cols, 2)
    lines = [*_streets(node, rng, missing), *_streets(node.transpose(1, 0, 2), rng, missing)]

    def points(count: int) -> NDArray[np.float64]:
        px = x0 + rng.uniform(-0.5, 0.5, count) * (cols - 1) * spacing_m
        py = y0 + rng.uniform(-0.5, 0.5, count) * (rows - 1) * spacing_m
        return np.column_stack(from_metric(px, py, epsg))

    return City(
        lines=np.asarray(lines, dtype=object),
        buildings=points(buildings),
        households=rng.integers(1, 61, buildings).astype(np.float64),
        stations=points(stations),
        candidates=points(candidates),
    )


def _centre_xy(epsg: int) -> tuple[float, float]:
    from geo.crs import to_metric

    x, y = to_metric([CENTRE[0]], [CENTRE[1]], epsg)
    return float(x[0]), float(y[0])


def _streets(
    grid: NDArray[np.float64], rng: np.random.Generator, missing: float
) -> list[shapely.LineString]:
    """Each grid row as streets of 2–6 blocks, skipping the block segments that are missing."""
    out = []
    for row in grid:
        present = rng.random(len(row) - 1) >= missing
        start = 0
        while start < len(row) - 1:
            stop = min(start + int(rng.integers(2, 7)), len(row) - 1)
            run = start
            for seg in range(start, stop + 1):
                if seg == stop or not present[seg]:
                    if seg > run:
                        out.append(shapely.LineString(row[run : seg + 1]))
                    run = seg + 1
            start = stop
        # a street ends where the next begins, so the shared vertex joins them
    return out
