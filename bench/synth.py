"""Synthetic city for benchmarks: Voronoi grids over a square around Nanjing, random points.

Deterministic for a seed. Neighbouring grids share their vertices bit for bit (every edge is
densified once, from its lower-numbered Voronoi vertex), so the grids partition the square
with no slivers, like a clean real grid layer.
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.spatial import Voronoi

from geo.crs import from_metric, to_metric, utm_epsg

CENTRE = (118.8, 32.05)  # lon, lat: Nanjing
SEED = 20240601


def voronoi_grids(
    n: int = 6500,
    size_km: float = 30.0,
    seed: int = SEED,
    *,
    vertices: int = 41,
    centre: tuple[float, float] = CENTRE,
) -> tuple[NDArray[np.object_], NDArray[np.str_]]:
    """``n`` Voronoi polygons (WGS84) tiling a ``size_km`` square, ~``vertices`` each.

    Codes are 12-digit strings in an order unrelated to position, so "smallest code wins"
    is exercised on every shared edge.
    """
    rng = np.random.default_rng(seed)
    size = size_km * 1000.0
    seeds = rng.uniform(0.0, size, (n, 2))
    # Mirror the seeds across the four sides so the inner cells end exactly on the square.
    x, y = seeds[:, 0], seeds[:, 1]
    mirrored = [
        np.c_[-x, y], np.c_[2 * size - x, y], np.c_[x, -y], np.c_[x, 2 * size - y],
    ]  # fmt: skip
    vor = Voronoi(np.vstack([seeds, *mirrored]))
    regions = [vor.regions[r] for r in vor.point_region[:n]]
    counts = np.array([len(r) for r in regions])
    a = np.concatenate(regions)
    b = np.concatenate([np.roll(r, -1) for r in regions])
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    length = np.linalg.norm(vor.vertices[hi] - vor.vertices[lo], axis=1)
    step = length.sum() / (n * (vertices - 1))
    pieces = np.maximum(np.rint(length / step).astype(np.int64), 1)
    # Each edge contributes its start vertex plus its interior points, from lo to hi.
    edge = np.repeat(np.arange(a.size), pieces)
    j = np.arange(edge.size) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    j = np.where(a[edge] == lo[edge], j, pieces[edge] - j)  # walk the edge from a to b
    frac = j / pieces[edge]
    xy = vor.vertices[lo[edge]] + (vor.vertices[hi[edge]] - vor.vertices[lo[edge]]) * frac[:, None]
    ring_of_edge = np.repeat(np.arange(n), counts)
    epsg = utm_epsg(*centre)
    cx, cy = to_metric(centre[0], centre[1], epsg)
    lon, lat = from_metric(
        xy[:, 0] + (float(cx) - size / 2), xy[:, 1] + (float(cy) - size / 2), epsg
    )
    rings = shapely.linearrings(np.c_[lon, lat], indices=ring_of_edge[edge])
    codes = np.array([f"320102{k:06d}" for k in rng.permutation(n)])
    return shapely.polygons(rings), codes


def random_points(
    n: int, bounds: tuple[float, float, float, float], seed: int = SEED
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``n`` uniform random lon/lat points in ``bounds`` = (xmin, ymin, xmax, ymax)."""
    rng = np.random.default_rng(seed + 1)
    xmin, ymin, xmax, ymax = bounds
    return rng.uniform(xmin, xmax, n), rng.uniform(ymin, ymax, n)
