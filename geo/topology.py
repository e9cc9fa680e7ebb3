"""Grid topology: does a community's set of grids still partition it, and edits that keep it so.

The check (``check_partition``) reports four kinds of problem, each with the grid codes it
concerns, its area in m² (computed in the local UTM zone) and where it is (a WGS84 shapely
geometry):

* ``invalid`` — a grid that is not a valid, non-empty (multi)polygon;
* ``overlap`` — two grids sharing more than ``tolerance_m2`` of area;
* ``gap`` — part of the territory that no grid covers, larger than ``tolerance_m2``;
* ``outside_community`` — part of a grid outside its community, larger than ``tolerance_m2``.

A check can be limited to a ``region`` (where the grids changed): then only gaps inside it and
overlaps and outside parts of the grids touching it are looked for, so a boundary move in a
50-grid community costs what its two grids cost, and a defect elsewhere does not block it.

Edits work on the exact vertices of their input, so a shared boundary stays shared vertex for
vertex and no sliver appears: ``move_boundary`` (two grids, one new shared edge), ``split``
(one grid by a line), ``merge`` and ``snap`` (a drawn polygon onto its neighbours' vertices).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from geo.crs import to_metric, utm_epsg
from geo.errors import InvalidGeometryError

ProblemKind = Literal["gap", "overlap", "invalid", "outside_community"]
DEFAULT_TOLERANCE_M2 = 1.0  # slivers below this area (m²) are floating-point dust, not defects
_POINT = re.compile(r"\[(-?[\d.eE+-]+) (-?[\d.eE+-]+)\]")


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    codes: tuple[str, ...]
    area_m2: float
    where: BaseGeometry  # WGS84


class Metric:
    """Areas and distances in metres in one UTM zone (the zone of ``lon, lat``)."""

    def __init__(self, lon: float, lat: float) -> None:
        self.epsg = utm_epsg(lon, lat)

    @classmethod
    def around(cls, geoms: Sequence[BaseGeometry]) -> Metric:
        usable = [g for g in geoms if g is not None and not g.is_empty]
        if not usable:
            return cls(0.0, 0.0)
        x0, y0, x1, y1 = shapely.total_bounds(np.array(usable, dtype=object))
        return cls((x0 + x1) / 2, (y0 + y1) / 2)

    def project(self, geom: BaseGeometry) -> BaseGeometry:
        def fn(xy: NDArray[np.float64]) -> NDArray[np.float64]:
            x, y = to_metric(xy[:, 0], xy[:, 1], self.epsg)
            return np.c_[x, y]

        return shapely.transform(geom, fn)

    def xy(self, coords: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = to_metric(coords[:, 0], coords[:, 1], self.epsg)
        return np.c_[x, y]

    def area(self, geom: BaseGeometry) -> float:
        return float(self.project(geom).area) if not geom.is_empty else 0.0


def polygonal(geom: BaseGeometry) -> BaseGeometry:
    """The polygons of ``geom`` (what overlay results hold besides stray lines and points)."""
    if geom.is_empty or geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return Polygon()
    return shapely.union_all(parts)


def _pieces(geom: BaseGeometry) -> list[BaseGeometry]:
    return [p for p in shapely.get_parts(polygonal(geom)) if not p.is_empty]


def invalid_reason(geom: BaseGeometry | None) -> tuple[str, BaseGeometry] | None:
    """Why ``geom`` cannot be a grid, and where; None when it is a valid (multi)polygon."""
    if geom is None or geom.is_empty:
        return "empty geometry", Polygon()
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return f"a {geom.geom_type}, not a polygon", geom
    if not bool(np.isfinite(shapely.get_coordinates(geom)).all()):
        return "non-finite coordinates", Polygon()
    reason = shapely.is_valid_reason(geom)
    if reason == "Valid Geometry":
        return None
    found = _POINT.search(reason)
    where = Point(float(found[1]), float(found[2])) if found else geom
    return reason, where


def check_partition(
    grids: Sequence[BaseGeometry | None],
    codes: Sequence[str],
    *,
    territory: BaseGeometry | None,
    region: BaseGeometry | None = None,
    changed: Sequence[bool] | None = None,
    tolerance_m2: float = DEFAULT_TOLERANCE_M2,
    metric: Metric | None = None,
) -> list[Problem]:
    """Problems of ``grids`` (one community's, WGS84) as a partition of ``territory`` (the
    community polygon; None: not known, so no gap or outside check).

    ``region`` limits the gap search to where grids changed and ``changed`` flags the grids
    whose overlaps and outside parts are looked for (default: everywhere, every grid).
    """
    if len(grids) != len(codes):
        raise ValueError("one code per grid")
    flags = [True] * len(grids) if changed is None else list(changed)
    metric = metric or Metric.around([g for g in grids if g is not None] + [territory or Point()])
    problems: list[Problem] = []
    good: list[int] = []
    for i, (geom, code) in enumerate(zip(grids, codes, strict=True)):
        bad = invalid_reason(geom)
        if bad is None:
            good.append(i)
        elif flags[i]:
            area = metric.area(geom) if geom is not None and bad[1] is geom else 0.0
            problems.append(Problem("invalid", (code,), area, bad[1]))
    valid = np.array([grids[i] for i in good], dtype=object)
    shapely.prepare(valid)
    tree = shapely.STRtree(valid)
    problems += _overlaps(
        valid, [codes[i] for i in good], [flags[i] for i in good], tree, metric, tolerance_m2
    )
    if territory is not None:
        shapely.prepare(territory)
        inside = shapely.covers(territory, valid)  # the usual case, without an overlay
        for k, i in enumerate(good):
            if flags[i] and not inside[k]:
                outside = polygonal(shapely.difference(valid[k], territory))
                problems += [
                    Problem("outside_community", (codes[i],), a, p)
                    for p in _pieces(outside)
                    if (a := metric.area(p)) > tolerance_m2
                ]
        problems += _gaps(
            valid, [codes[i] for i in good], tree, territory, region, metric, tolerance_m2
        )
    return problems


def _overlaps(
    valid: NDArray[np.object_],
    codes: list[str],
    flags: list[bool],
    tree: shapely.STRtree,
    metric: Metric,
    tolerance_m2: float,
) -> list[Problem]:
    problems = []
    left, right = tree.query(valid, predicate="intersects")
    flagged = np.asarray(flags, dtype=bool)
    keep = (left < right) & (flagged[left] | flagged[right])
    left, right = left[keep], right[keep]
    # Neighbours touch along edges; only pairs whose interiors meet can overlap.
    meet = shapely.relate_pattern(valid[left], valid[right], "T********")
    for i, j in zip(left[meet].tolist(), right[meet].tolist(), strict=True):
        shared = polygonal(shapely.intersection(valid[i], valid[j]))
        if shared.is_empty:
            continue
        area = metric.area(shared)
        if area > tolerance_m2:
            problems.append(Problem("overlap", tuple(sorted((codes[i], codes[j]))), area, shared))
    return problems


def _gaps(
    valid: NDArray[np.object_],
    codes: list[str],
    tree: shapely.STRtree,
    territory: BaseGeometry,
    region: BaseGeometry | None,
    metric: Metric,
    tolerance_m2: float,
) -> list[Problem]:
    area = territory if region is None else shapely.intersection(territory, region)
    near = tree.query(area, predicate="intersects")
    covered = shapely.union_all(valid[near]) if near.size else Polygon()
    if shapely.covers(covered, area):  # the usual case, decided without the overlay
        return []
    problems = []
    for piece in _pieces(shapely.difference(area, covered)):
        size = metric.area(piece)
        if size <= tolerance_m2:
            continue
        around = tree.query(piece, predicate="intersects")
        problems.append(
            Problem("gap", tuple(sorted(codes[k] for k in around.tolist())), size, piece)
        )
    return problems


# --- edits ----------------------------------------------------------------------------------


def _valid(geom: BaseGeometry, what: str) -> BaseGeometry:
    bad = invalid_reason(geom)
    if bad is not None:
        raise InvalidGeometryError(f"{what}: {bad[0]}")
    return geom


def _single(geom: BaseGeometry, what: str) -> Polygon:
    geom = polygonal(geom)
    if geom.geom_type == "MultiPolygon" and len(geom.geoms) == 1:
        geom = geom.geoms[0]
    if geom.geom_type != "Polygon" or geom.is_empty:
        raise InvalidGeometryError(f"{what} is not one connected polygon")
    return _valid(geom, what)


def ordered(geoms: Sequence[BaseGeometry]) -> list[int]:
    """Indexes of ``geoms`` west→east, ties north→south (by their representative points),
    the order new grid codes are handed out in."""
    points = shapely.point_on_surface(np.array(geoms, dtype=object))
    x, y = shapely.get_x(points), shapely.get_y(points)
    return [int(i) for i in np.lexsort((-y, x))]


def split(grid: BaseGeometry, line: LineString) -> list[Polygon]:
    """``grid`` cut by ``line`` (which must cross it from edge to edge), west→east."""
    from shapely.ops import split as _split

    polygon = _single(grid, "grid")
    if line.geom_type != "LineString" or not line.is_valid or line.is_empty:
        raise InvalidGeometryError("the cut must be a simple line")
    parts = [p for p in _split(polygon, line).geoms if p.geom_type == "Polygon"]
    if len(parts) < 2:
        raise InvalidGeometryError("the line does not cut the grid in two")
    return [parts[i] for i in ordered(parts)]


def merge(grids: Sequence[BaseGeometry]) -> Polygon:
    """Grids that share edges dissolved into one polygon (disjoint ones are an error)."""
    if len(grids) < 2:
        raise InvalidGeometryError("merge needs at least two grids")
    for g in grids:
        _valid(g, "grid")
    return _single(shapely.union_all(np.array(grids, dtype=object)), "the merged grids")


def move_boundary(a: BaseGeometry, b: BaseGeometry, edge: LineString) -> tuple[Polygon, Polygon]:
    """Grids ``a`` and ``b`` with their shared boundary replaced by ``edge``.

    ``edge`` runs inside ``a ∪ b`` from one end of the shared boundary to the other (its end
    vertices are snapped onto those ends when within 1e-9 degrees). The union is cut along
    ``edge``, so both new grids carry the very same vertices along it and their other
    boundaries keep the vertices they had: the union is unchanged and no sliver appears."""
    a, b = _single(a, "first grid"), _single(b, "second grid")
    shared = shapely.line_merge(polygonal_boundary(a, b))
    if shared.is_empty:
        raise InvalidGeometryError("the grids share no boundary")
    if shared.geom_type != "LineString":
        raise InvalidGeometryError("the grids share more than one stretch of boundary")
    start, end = Point(shared.coords[0]), Point(shared.coords[-1])
    coords = [tuple(c) for c in edge.coords]
    if Point(coords[0]).distance(end) < Point(coords[0]).distance(start):
        start, end = end, start
    for k, target in ((0, start), (-1, end)):
        if Point(coords[k]).distance(target) > 1e-9:
            raise InvalidGeometryError("the new edge must start and end where the old one does")
        coords[k] = (target.x, target.y)
    new_edge = LineString(coords)
    if not new_edge.is_simple:
        raise InvalidGeometryError("the new edge crosses itself")
    union = _single(shapely.union(a, b), "the two grids")
    if not union.covers(new_edge):
        raise InvalidGeometryError("the new edge leaves the two grids")
    pieces = split(union, new_edge)
    side_a = [p for p in pieces if p.intersection(a).area >= p.intersection(b).area]
    side_b = [p for p in pieces if p.intersection(a).area < p.intersection(b).area]
    if not side_a or not side_b:
        raise InvalidGeometryError("the new edge leaves one grid empty")
    return (
        _single(shapely.union_all(side_a), "first new grid"),
        _single(shapely.union_all(side_b), "second new grid"),
    )


def polygonal_boundary(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    """The boundary two grids share, as lines."""
    inter = shapely.intersection(a.boundary, b.boundary)
    lines = [p for p in shapely.get_parts(inter) if p.geom_type in ("LineString", "LinearRing")]
    return shapely.union_all(lines) if lines else LineString()


def snap(
    drawn: BaseGeometry, neighbours: Sequence[BaseGeometry], *, tolerance_m: float
) -> BaseGeometry:
    """``drawn`` with every vertex within ``tolerance_m`` of a neighbour's vertex moved onto
    that vertex exactly (bit for bit), so hand-drawn edges meet their neighbours'."""
    if not neighbours:
        return drawn
    metric = Metric.around([drawn])
    targets = shapely.get_coordinates(np.array(neighbours, dtype=object))
    tree = cKDTree(metric.xy(targets))

    def fn(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        dist, nearest = tree.query(metric.xy(xy), distance_upper_bound=tolerance_m)
        out = xy.copy()
        hit = np.isfinite(dist)
        out[hit] = targets[nearest[hit]]
        return out

    snapped = shapely.transform(drawn, fn)
    cleaned = shapely.remove_repeated_points(snapped, 0.0)
    if cleaned.geom_type == "Polygon":
        return _valid(cleaned, "the snapped polygon")
    return _valid(MultiPolygon(list(cleaned.geoms)) if cleaned.geoms else cleaned, "snapped")
