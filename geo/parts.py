"""Features sharing a code are parts of one grid: official boundary files store a
multi-part area (a ZIP code, a village exported from CAD) as several features with the
same code. ``merge_parts`` unions them into one geometry per code, so every entry point
(GridIndex, imports, ``gridmap assign``) sees the same grids, and PostGIS holds the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import shapely
from numpy.typing import NDArray

from geo.crs import to_metric, utm_epsg


class Merged(NamedTuple):
    """One geometry per distinct code (first-appearance order), the row each came from
    first, and how many parts each code that had several was made of."""

    geoms: NDArray[np.object_]
    codes: NDArray[np.str_]
    first_row: NDArray[np.int64]
    multipart: dict[str, int]


def merge_parts(
    geoms: Sequence[shapely.Geometry] | NDArray[np.object_],
    codes: Sequence[str] | NDArray[np.str_],
) -> Merged:
    """Union the geometries of each repeated code (``shapely.union_all``: the parts'
    shared edges dissolve, touching parts become one polygon, disjoint ones a MultiPolygon).
    Codes that occur once keep their geometry untouched."""
    geom_arr = np.asarray(geoms, dtype=object)
    code_arr = np.asarray(codes, dtype=str)
    unique, first, inverse, counts = np.unique(
        code_arr, return_index=True, return_inverse=True, return_counts=True
    )
    if geom_arr.size == unique.size:
        return Merged(geom_arr, code_arr, np.arange(code_arr.size), {})
    order = np.argsort(first, kind="stable")  # back to first-appearance order
    merged = geom_arr[first].copy()
    multipart: dict[str, int] = {}
    for k in np.flatnonzero(counts > 1):
        rows = np.flatnonzero(inverse == k)
        merged[k] = shapely.union_all(geom_arr[rows])
        multipart[str(unique[k])] = int(rows.size)
    return Merged(merged[order], unique[order], first[order].astype(np.int64), multipart)


def describe_multipart(multipart: dict[str, int], *, field: str = "code") -> str:
    """One line: how many codes had several parts, and the first few of them."""
    shown = ", ".join(f"{c} ({n} parts)" for c, n in list(multipart.items())[:5])
    more = ", …" if len(multipart) > 5 else ""
    return (
        f"{len(multipart)} {field} value(s) had several features, merged into one grid each: "
        f"{shown}{more}"
    )


class Overlap(NamedTuple):
    a: str
    b: str
    area_m2: float


def overlaps(
    geoms: Sequence[shapely.Geometry] | NDArray[np.object_],
    codes: Sequence[str] | NDArray[np.str_],
    *,
    min_m2: float = 1.0,
) -> list[Overlap]:
    """Pairs of grids whose interiors overlap by more than ``min_m2`` square metres (in the
    local UTM zone), largest first. Grids that only share edges are not listed."""
    geom_arr = np.asarray(geoms, dtype=object)
    if geom_arr.size < 2:
        return []
    lon, lat = shapely.centroid(shapely.box(*shapely.total_bounds(geom_arr))).coords[0]
    epsg = utm_epsg(lon, lat)
    metric = shapely.transform(
        geom_arr, lambda xy: np.column_stack(to_metric(xy[:, 0], xy[:, 1], epsg))
    )
    tree = shapely.STRtree(metric)
    left, right = tree.query(metric, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    area = shapely.area(shapely.intersection(metric[left], metric[right]))
    big = np.flatnonzero(area > min_m2)
    big = big[np.argsort(-area[big], kind="stable")]
    code_arr = np.asarray(codes, dtype=str)
    return [Overlap(str(code_arr[left[k]]), str(code_arr[right[k]]), float(area[k])) for k in big]


def describe_overlaps(found: Sequence[Overlap], *, worst: int = 3) -> str:
    """One line: how many pairs overlap, their total area and the worst pairs."""
    total = sum(o.area_m2 for o in found)
    pairs = ", ".join(f"{o.a}/{o.b} {o.area_m2:,.0f} m²" for o in found[:worst])
    return f"{len(found)} pairs of grids overlap ({total:,.0f} m² in all); worst: {pairs}"
