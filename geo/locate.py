"""Point → grid index: which grid polygon covers a lon/lat point, with exactly PostGIS's answer.

The rule (docs/design.md): a point belongs to the grid whose polygon *covers* it (``ST_Covers``:
interior or boundary); when several cover it (a shared edge or vertex, or overlapping input)
the smallest code in Unicode code-point order wins (PostgreSQL's ``C`` collation). A point in
no grid but within ``tolerance_m`` metres of one gets the nearest grid (ties: smallest code).

Exactness. PostGIS 3.3 answers ``ST_Covers(polygon, point)`` with its own point-in-polygon
short cut, not GEOS: a winding number per ring (postgis/lwgeom_functions_analytic.c,
``point_in_ring_rtree`` / ``point_in_multipolygon_rtree``) whose side test is the plain
double-precision ``(x2-x1)*(py-y1) - (px-x1)*(y2-y1)``, "on the ring" being a side of exactly
0.0 with the point inside the segment's bounding box. GEOS (shapely) uses robust predicates
instead, so the two can disagree on points within ~1e-15 degrees of an edge (tests keep one
beside an edge across the Greenwich meridian, where PostGIS says "on it" and GEOS not).
This module evaluates PostGIS's formula with the same IEEE operations and control flow,
so such points get PostGIS's answer bit for bit; tests/geo/test_locate_postgis.py checks it
against the installed PostGIS (3.3; re-run it when PostGIS changes). Zero-length segments
are skipped as PostGIS does. Match ``boundary`` means the point is on the boundary of the
*winning* grid in that sense (PostGIS: ``ST_Covers AND NOT ST_Contains``).

Speed. A raster of cells over the grids: a cell that no edge comes within 1e-9 degrees of
is "pure" and answered by one lookup (its winner, or none, or "near a grid"); only points in
cells crossed by an edge are tested exactly, against the polygons that can cover them and
only with their edges that span the cell's row and reach its x-range. The formula's
floating-point error is below 1e-12 degrees for any lon/lat, far inside that 1e-9 margin, so
a pure cell's answer is PostGIS's answer for every point in it. Points near but outside all
grids look up the edges listed for their cell of a coarser lattice (cells >= 2x tolerance).

Distances (match ``nearest``) are metres from the point to a grid's straight lon/lat edges
(the edges ST_Covers uses), on the WGS84 ellipsoid's tangent plane at the point (meridional
and prime-vertical radii of curvature). They agree with PostGIS ``ST_Distance`` in the
local UTM zone divided by the UTM scale factor to a few millimetres up to 50 m;
``ST_Distance(geography)`` differs more, as it joins vertices by great circles (~1.6 m off
midway along a 10 km edge; nothing on grid-sized edges) and picks the closest point on a
sphere. The tolerance test is ``distance <= tolerance_m``; grids must not cross the
antimeridian.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import NamedTuple

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import maximum_filter1d

from geo._arrays import expand, first_of_runs
from geo.errors import InvalidCoordinatesError, InvalidGeometryError
from geo.parts import merge_parts

# Edges closer than this (degrees) to a cell make it an exactly tested "boundary" cell.
_MARGIN_DEG = 1e-9
# Raster size: about this many cells per polygon edge, within these bounds (int32 cells).
_CELLS_PER_EDGE = 64
_MIN_CELLS = 4096
_MAX_CELLS = 1 << 24
# Cell values below 0: no grid and farther than the tolerance; no grid but maybe near one.
_FAR = -1
_NEAR = -2
_FIRST_BOUNDARY = -3  # boundary cell b is stored as -3 - b
# Per edge-table entry flags: first entry of a ring run, of a shell's run, of a part's runs.
_RUN_START, _SHELL, _PART_START = 1, 2, 4
# WGS84 ellipsoid for metre distances.
_WGS84_A = 6378137.0
_WGS84_E2 = 0.00669437999014


class Match(IntEnum):
    """How a point was matched to its grid."""

    NONE = 0
    INSIDE = 1
    BOUNDARY = 2
    NEAREST = 3


class LocateResult(NamedTuple):
    """Per point: index into ``GridIndex.codes`` (-1 none), ``Match`` value, metres away."""

    code_index: NDArray[np.int32]
    match: NDArray[np.uint8]
    distance_m: NDArray[np.float64]


def _chunks(n: int, size: int = 1 << 17) -> list[slice]:
    """Slices covering range(n), so that big expansions run in bounded memory."""
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _unique(a: NDArray[np.int64]) -> NDArray[np.int64]:
    """Sorted unique values; numpy 2.4's ``np.unique`` hashes and is ~25x slower on int64."""
    a = np.sort(a)
    return a[first_of_runs(a)]


def _metres_per_degree(lat: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """Metres per degree of longitude and of latitude at ``lat`` on the WGS84 ellipsoid."""
    phi = np.radians(lat)
    w2 = 1.0 - _WGS84_E2 * np.sin(phi) ** 2
    n = _WGS84_A / np.sqrt(w2)
    m = _WGS84_A * (1.0 - _WGS84_E2) / (w2 * np.sqrt(w2))
    return n * np.cos(phi) * (np.pi / 180.0), m * (np.pi / 180.0)


def metres_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude at ``lat``: the scales of the tangent
    plane that ``nearest`` distances are measured in (for other evaluators of the rule)."""
    mx, my = _metres_per_degree(np.array([lat], dtype=np.float64))
    return float(mx[0]), float(my[0])


class _Lattice(NamedTuple):
    """Cells of dx x dy degrees from (x0, y0), nx to a row; a cell's flat id is row * nx + col."""

    x0: float
    y0: float
    dx: float
    dy: float
    nx: int


def _spans(
    lo: NDArray[np.float64], hi: NDArray[np.float64], origin: float, size: float, margin: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Each (item, cell number along one axis) whose cell meets [lo - margin, hi + margin]."""
    first = np.floor((lo - margin - origin) / size).astype(np.int64)
    last = np.floor((hi + margin - origin) / size).astype(np.int64)
    return expand(first, last - first + 1)


def _segment_cells(
    grid: _Lattice,
    x1: NDArray[np.float64],
    y1: NDArray[np.float64],
    x2: NDArray[np.float64],
    y2: NDArray[np.float64],
    margin: tuple[float, float],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Each (segment, flat cell) with the cell within ``margin`` (x, y degrees) of the segment.

    Column by column: the segment's y-range over the column widened by the margin, so the
    cells met by the margin-box around the segment, with no cell of its bounding box spare.
    """
    mx, my = margin
    xlo, xhi = np.minimum(x1, x2), np.maximum(x1, x2)
    seg, col = _spans(xlo, xhi, grid.x0, grid.dx, mx)
    sx1, sy1 = x1[seg], y1[seg]
    sa = np.clip(grid.x0 + col * grid.dx - mx, xlo[seg], xhi[seg])
    sb = np.clip(grid.x0 + (col + 1) * grid.dx + mx, xlo[seg], xhi[seg])
    ex = x2[seg] - sx1
    vertical = ex == 0.0
    safe = np.where(vertical, 1.0, ex)
    ta = np.where(vertical, 0.0, np.clip((sa - sx1) / safe, 0.0, 1.0))
    tb = np.where(vertical, 1.0, np.clip((sb - sx1) / safe, 0.0, 1.0))
    ey = y2[seg] - sy1
    ya, yb = sy1 + ta * ey, sy1 + tb * ey
    owner, row = _spans(np.minimum(ya, yb), np.maximum(ya, yb), grid.y0, grid.dy, my)
    return seg[owner], row * grid.nx + col[owner]


def _validate(geoms: NDArray[np.object_], codes: NDArray[np.str_]) -> None:
    if geoms.ndim != 1 or geoms.size != codes.size:
        raise InvalidGeometryError(f"got {geoms.size} geometries but {codes.size} codes")
    if geoms.size == 0:
        raise InvalidGeometryError("a grid index needs at least one polygon")
    kind = shapely.get_type_id(geoms)
    for test, why in (
        (~np.isin(kind, (3, 6)), "is not a Polygon or MultiPolygon"),
        (shapely.is_empty(geoms), "is empty"),
        (~shapely.is_valid(geoms), "is invalid"),
    ):
        if test.any():
            i = int(np.flatnonzero(test)[0])
            reason = (
                f" ({shapely.is_valid_reason(geoms[i])}); repair it with shapely.make_valid "
                "and keep the polygonal part, as `gridmap import grids` does"
                if why == "is invalid"
                else ""
            )
            raise InvalidGeometryError(f"grid {codes[i]!r} (index {i}) {why}{reason}")
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    if not (max(abs(xmin), abs(xmax)) <= 180.0 and max(abs(ymin), abs(ymax)) <= 90.0):
        raise InvalidGeometryError("grid coordinates must be WGS84 lon/lat degrees")


class _Edges(NamedTuple):
    """Polygon edges in PostGIS's storage order, polygons ordered by code."""

    x1: NDArray[np.float64]
    y1: NDArray[np.float64]
    x2: NDArray[np.float64]
    y2: NDArray[np.float64]
    ring: NDArray[np.int32]  # global ring id; rings ordered by (polygon, part, ring)
    poly: NDArray[np.int32]  # polygon rank (position in code order)
    ring_is_shell: NDArray[np.bool_]  # per ring
    ring_part: NDArray[np.int32]  # per ring: global part id


def _edges(ranked: NDArray[np.object_]) -> _Edges:
    parts, part_poly = shapely.get_parts(ranked, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)  # exterior first
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    start = np.flatnonzero(coord_ring[:-1] == coord_ring[1:])
    x1, y1 = coords[start, 0], coords[start, 1]
    x2, y2 = coords[start + 1, 0], coords[start + 1, 1]
    keep = (x1 != x2) | (y1 != y2)  # PostGIS skips zero-length segments
    ring = coord_ring[start][keep].astype(np.int32)
    return _Edges(
        x1[keep], y1[keep], x2[keep], y2[keep], ring, part_poly[ring_part[ring]].astype(np.int32),
        first_of_runs(ring_part), ring_part.astype(np.int32),
    )  # fmt: skip


class _Cover(NamedTuple):
    """Row intervals of cells whose centre a polygon covers (flat cell ids, inclusive)."""

    start: NDArray[np.int64]
    end: NDArray[np.int64]
    poly: NDArray[np.int32]


class GridIndex:
    """In-memory point → grid index over WGS84 polygons; see the module docstring for the rule.

    ``geoms`` are valid, non-empty shapely Polygons/MultiPolygons in lon/lat, ``codes`` their
    string codes (``InvalidGeometryError`` otherwise). Geometries sharing a code are parts
    of one grid, merged by ``geo.parts.merge_parts`` (``multipart`` says which codes had
    several); ``codes`` then lists each code once. Grids must not cross the antimeridian.
    The index is immutable, so threads may share it.
    """

    def __init__(
        self,
        geoms: Sequence[shapely.Geometry] | NDArray[np.object_],
        codes: Sequence[str] | NDArray[np.str_],
        *,
        tolerance_m: float = 50.0,
    ) -> None:
        geom_arr = np.asarray(geoms, dtype=object)
        code_arr = np.asarray(codes, dtype=str)
        if not tolerance_m >= 0.0:
            raise ValueError(f"tolerance_m must be >= 0, got {tolerance_m}")
        self.multipart: dict[str, int] = {}
        if geom_arr.ndim == 1 and geom_arr.size == code_arr.size:
            merged = merge_parts(geom_arr, code_arr)
            geom_arr, code_arr = merged.geoms, merged.codes
            self.multipart = merged.multipart
        _validate(geom_arr, code_arr)
        self._codes = code_arr
        self._npoly = code_arr.size
        self.tolerance_m = float(tolerance_m)
        # Polygons are ranked by code, so "smallest code wins" is "smallest rank wins".
        self._order = np.argsort(code_arr, kind="stable").astype(np.int32)
        edges = _edges(geom_arr[self._order])
        self._setup_raster(edges)
        cells, cell_poly = self._supercover(edges)
        first = first_of_runs(cells)  # cells come sorted
        self._boundary = cells[first].astype(np.int32)
        cell_id = (np.cumsum(first) - 1).astype(np.int32)
        del cells, first
        cover = self._scanline(edges)
        self._fill_raster(cover)
        self._build_candidates(edges, cell_id, cell_poly.astype(np.int32), cover)
        self._seg = np.stack([edges.x1, edges.y1, edges.x2, edges.y2], axis=1)
        self._build_near(edges)
        self._seg_poly = edges.poly.astype(np.int32)

    @property
    def codes(self) -> NDArray[np.str_]:
        """Grid codes in input order (a repeated code once, where it first appears);
        ``code_index`` values index into this array."""
        return self._codes

    # --- build -------------------------------------------------------------------------

    def _setup_raster(self, e: _Edges) -> None:
        """Choose square-in-metres cells over the bounds plus the tolerance and a border."""
        xmin, xmax = float(min(e.x1.min(), e.x2.min())), float(max(e.x1.max(), e.x2.max()))
        ymin, ymax = float(min(e.y1.min(), e.y2.min())), float(max(e.y1.max(), e.y2.max()))
        # Degrees that surely span tolerance_m anywhere in the extent.
        worst_lat = min(max(abs(ymin), abs(ymax)) + 1.0, 89.9)
        m_lon = float(_metres_per_degree(np.array([worst_lat]))[0][0])
        m_lat = float(_metres_per_degree(np.array([0.0]))[1][0])
        self._tol_x = self.tolerance_m / m_lon * 1.001 + _MARGIN_DEG
        self._tol_y = self.tolerance_m / m_lat * 1.001 + _MARGIN_DEG
        aspect = max(float(np.cos(np.radians((ymin + ymax) / 2.0))), 0.01)
        width, height = xmax - xmin + 2 * self._tol_x, ymax - ymin + 2 * self._tol_y
        target = min(max(_CELLS_PER_EDGE * e.x1.size, _MIN_CELLS), _MAX_CELLS)
        dy = max(float(np.sqrt(width * height * aspect / target)), 1e-7)
        dx = dy / aspect
        self._dx, self._dy, self._inv_dx, self._inv_dy = dx, dy, 1.0 / dx, 1.0 / dy
        # Three border cells beyond the tolerance: out-of-extent points clip onto far cells.
        self._x0 = xmin - self._tol_x - 3.0 * dx
        self._y0 = ymin - self._tol_y - 3.0 * dy
        self._nx = int(np.ceil((xmax + self._tol_x - self._x0) / dx)) + 4
        self._ny = int(np.ceil((ymax + self._tol_y - self._y0) / dy)) + 4
        self._lattice = _Lattice(self._x0, self._y0, dx, dy, self._nx)

    def _supercover(self, e: _Edges) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Every (cell, polygon) with an edge of the polygon within the margin of the cell.

        Sorted by cell, then polygon. Edges go in chunks to bound the temporary memory.
        """
        keys = []
        for sl in _chunks(e.x1.size):
            seg, flat = _segment_cells(
                self._lattice, e.x1[sl], e.y1[sl], e.x2[sl], e.y2[sl], (_MARGIN_DEG, _MARGIN_DEG)
            )
            keys.append(_unique(flat * self._npoly + e.poly[sl][seg]))
        key = _unique(np.concatenate(keys))
        return key // self._npoly, key % self._npoly

    def _build_near(self, e: _Edges) -> None:
        """Edges by coarse cell, each listed in every cell within the tolerance of it."""
        grid = self._lattice
        dx, dy = max(2.0 * self._tol_x, grid.dx), max(2.0 * self._tol_y, grid.dy)
        self._near_lattice = _Lattice(grid.x0, grid.y0, dx, dy, int(grid.nx * grid.dx / dx) + 2)
        nseg = e.x1.size
        keys = []
        for sl in _chunks(nseg):
            seg, flat = _segment_cells(
                self._near_lattice,
                e.x1[sl],
                e.y1[sl],
                e.x2[sl],
                e.y2[sl],
                (self._tol_x, self._tol_y),
            )
            keys.append(flat * nseg + seg + sl.start)
        key = np.sort(np.concatenate(keys))
        self._near_cell = key // nseg
        self._near_seg = (key % nseg).astype(np.int32)

    def _scanline(self, e: _Edges) -> _Cover:
        """Cells whose centre each polygon covers, by even-odd fill along row centre lines.

        Exact for centres away from the polygon's own edges, which is all that is used:
        near its edges a polygon is tested exactly.
        """
        y0, dy = self._y0, self._dy
        ylo, yhi = np.minimum(e.y1, e.y2), np.maximum(e.y1, e.y2)
        r0 = np.floor((ylo - y0) / dy - 0.5).astype(np.int64)
        r1 = np.floor((yhi - y0) / dy - 0.5).astype(np.int64) + 1
        edge, row = expand(r0, r1 - r0 + 1)
        yc = y0 + (row + 0.5) * dy
        hit = (ylo[edge] <= yc) & (yc < yhi[edge])  # half-open: each ring crosses evenly
        edge, row, yc = edge[hit], row[hit], yc[hit]
        x1, y1 = e.x1[edge], e.y1[edge]
        xc = x1 + (yc - y1) * (e.x2[edge] - x1) / (e.y2[edge] - y1)
        poly = e.poly[edge]
        order = np.lexsort((xc, row, poly))
        xc, row, poly = xc[order], row[order], poly[order]
        xa, xb, row, poly = xc[0::2], xc[1::2], row[0::2], poly[0::2]
        c0 = np.ceil((xa - self._x0) / self._dx - 0.5).astype(np.int64)
        c1 = np.floor((xb - self._x0) / self._dx - 0.5).astype(np.int64)
        ok = c0 <= c1
        base = row[ok] * self._nx
        return _Cover(base + c0[ok], base + c1[ok], poly[ok])

    def _fill_raster(self, cover: _Cover) -> None:
        """Cell values: a boundary cell's id, else the winning grid, else near or far."""
        start, end, rank = cover.start, cover.end, cover.poly
        ncell = self._nx * self._ny
        # Intervals overlapping no other (all of them for a partition, but for centres on a
        # shared edge) fill a difference array of input index + 1; uncovered cells end at -1.
        order = np.argsort(start, kind="stable")
        joins = np.zeros(order.size, dtype=bool)
        joins[1:] = start[order][1:] <= np.maximum.accumulate(end[order])[:-1]
        cluster = np.cumsum(~joins) - 1
        alone = np.bincount(cluster)[cluster] == 1
        single, shared = order[alone], order[~alone]
        value = self._order[rank[single]] + 1
        total = np.zeros(ncell + 1, dtype=np.int32)
        np.add.at(total, start[single], value)
        np.add.at(total, end[single] + 1, -value)
        np.cumsum(total, out=total)
        raster = total[:ncell]
        raster -= 1  # == _FAR where no interval covers
        if shared.size:  # overlapping intervals: the smallest rank covering each cell
            owner, cell = expand(start[shared], end[shared] - start[shared] + 1)
            ranks = rank[shared][owner]
            by_cell = np.lexsort((ranks, cell))
            first = by_cell[first_of_runs(cell[by_cell])]
            raster[cell[first]] = self._order[ranks[first]]
        # Near: uncovered but within the tolerance (plus a cell) of a boundary cell.
        far = np.flatnonzero(raster == _FAR)
        mask = np.zeros(ncell, dtype=np.uint8)
        mask[self._boundary] = 1
        kx = int(np.ceil(self._tol_x / self._dx)) + 1
        ky = int(np.ceil(self._tol_y / self._dy)) + 1
        near = maximum_filter1d(mask.reshape(self._ny, self._nx), 2 * kx + 1, axis=1)
        near = maximum_filter1d(near, 2 * ky + 1, axis=0).ravel()
        raster[far[near[far] == 1]] = _NEAR
        raster[self._boundary] = _FIRST_BOUNDARY - np.arange(self._boundary.size, dtype=np.int32)
        self._raster = raster
        # locate_one's constants in one tuple: attribute lookups dominate a 1 µs call.
        self._one = (self._x0, self._inv_dx, self._nx, self._y0, self._inv_dy, self._ny)

    def _build_candidates(
        self, e: _Edges, cell_id: NDArray[np.int32], cell_poly: NDArray[np.int32], cover: _Cover
    ) -> None:
        """Per boundary cell, the edges PostGIS's test can use for a point in it.

        Candidate polygons are those with an edge near the cell plus those covering its
        centre (which covers the whole cell when no edge of theirs is near). Of each
        candidate we keep the edges whose y-range meets the cell's row and that reach the
        cell's x-range or lie right of it: an edge wholly left of the point never counts in
        the winding number (its side has the non-counting sign by a wide margin) and cannot
        hold the point. Entries are grouped by candidate (code order), ring and part.
        ``cell_id``/``cell_poly`` are the boundary-cell ids and polygons of the edge cover.
        """
        cand_cell, cand_poly = self._candidates(cell_id, cell_poly, cover)
        cand, ent = self._candidate_edges(e, cand_cell, cand_poly)
        ring = e.ring[ent]
        cand_first = first_of_runs(cand)
        run_first = cand_first | first_of_runs(ring)
        part_first = run_first & (cand_first | first_of_runs(e.ring_part[ring]))
        flags = run_first.view(np.uint8) * np.uint8(_RUN_START)
        flags |= (run_first & e.ring_is_shell[ring]).view(np.uint8) * np.uint8(_SHELL)
        flags |= part_first.view(np.uint8) * np.uint8(_PART_START)
        self._ce_flags = flags
        self._ce_rank = cand_poly[cand]
        self._ce_edge = ent
        self._ce_ptr = np.append(
            np.int32(0), np.cumsum(np.bincount(cand_cell[cand], minlength=self._boundary.size))
        ).astype(np.int32)

    def _candidates(
        self, cell_id: NDArray[np.int32], cell_poly: NDArray[np.int32], cover: _Cover
    ) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
        """(boundary cell id, polygon rank) of every candidate, sorted."""
        npoly, boundary = self._npoly, self._boundary
        lo = np.searchsorted(boundary, cover.start, side="left")
        hi = np.searchsorted(boundary, cover.end, side="right")
        owner, centre_cell = expand(lo, hi - lo)
        keys = _unique(
            np.concatenate(
                (
                    cell_id.astype(np.int64) * npoly + cell_poly,
                    centre_cell * npoly + cover.poly[owner],
                )
            )
        )
        return (keys // npoly).astype(np.int32), (keys % npoly).astype(np.int32)

    def _candidate_edges(
        self, e: _Edges, cand_cell: NDArray[np.int32], cand_poly: NDArray[np.int32]
    ) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
        """(candidate, edge) pairs: each candidate's edges in its cell's row, in edge order."""
        npoly = self._npoly
        # Edges per row, sorted by (row, edge): a (row, polygon) group is one contiguous range.
        ylo, yhi = np.minimum(e.y1, e.y2), np.maximum(e.y1, e.y2)
        edge, row = _spans(ylo, yhi, self._y0, self._dy, _MARGIN_DEG)
        order = np.lexsort((edge, row))
        edge = edge[order].astype(np.int32)
        group_key = row[order] * npoly + e.poly[edge]
        del row, order
        reach = np.maximum(e.x1, e.x2)[edge]  # how far right each entry's edge reaches
        group_start = np.flatnonzero(first_of_runs(group_key))
        group_len = np.diff(np.append(group_start, edge.size))
        group_key = group_key[group_start]
        chosen = []  # in chunks of candidates, to bound the memory of the expansion
        for sl in _chunks(cand_cell.size):
            flat = self._boundary[cand_cell[sl]].astype(np.int64)
            want = (flat // self._nx) * npoly + cand_poly[sl]
            g = np.minimum(np.searchsorted(group_key, want), group_key.size - 1)
            owner, ent = expand(group_start[g], np.where(group_key[g] == want, group_len[g], 0))
            left = self._x0 + (flat % self._nx) * self._dx - _MARGIN_DEG
            keep = reach[ent] >= left[owner]
            chosen.append(((owner[keep] + sl.start).astype(np.int32), edge[ent[keep]]))
        return np.concatenate([c for c, _ in chosen]), np.concatenate([en for _, en in chosen])

    # --- queries -----------------------------------------------------------------------

    def locate(self, lon: ArrayLike, lat: ArrayLike) -> LocateResult:
        """Locate every point; arrays of any (equal) shape, results in the same shape.

        NaN, infinite or out-of-range coordinates simply match no grid; callers that must
        reject them use ``geo.crs.validate_lonlat`` first.
        """
        x = np.asarray(lon, dtype=np.float64)
        y = np.asarray(lat, dtype=np.float64)
        if x.shape != y.shape:
            raise InvalidCoordinatesError(f"lon has shape {x.shape} but lat has shape {y.shape}")
        shape = x.shape
        x, y = x.ravel(), y.ravel()
        v = np.take(self._raster, self._cells(x, y))
        code = np.maximum(v, np.int32(-1))
        match = (v >= 0).view(np.uint8)
        dist = np.where(v >= 0, 0.0, np.nan)
        todo = np.flatnonzero(v < _FAR)
        if todo.size:
            self._resolve(x, y, v, todo, code, match, dist)
        return LocateResult(code.reshape(shape), match.reshape(shape), dist.reshape(shape))

    def locate_one(self, lon: float, lat: float) -> tuple[int, int, float]:
        """``locate`` for one point as (code_index, match, distance_m), in plain Python.

        Same cells and the same PostGIS arithmetic as ``locate`` (tests hold them equal);
        only a point near but outside every grid takes the array path.
        """
        x0, inv_dx, nx, y0, inv_dy, ny = self._one
        fx = (lon - x0) * inv_dx
        fy = (lat - y0) * inv_dy
        ix = int(fx) if 0.0 <= fx < nx else 0  # elsewhere (and NaN): a far border cell
        iy = int(fy) if 0.0 <= fy < ny else 0
        v: int = self._raster.item(iy * nx + ix)
        if v >= 0:
            return v, Match.INSIDE, 0.0
        if v <= _FIRST_BOUNDARY:
            rank, match = self._exact_one(lon, lat, _FIRST_BOUNDARY - v)
            if rank >= 0:
                return self._order.item(rank), match, 0.0
        elif v == _FAR:
            return -1, Match.NONE, float("nan")
        near, metres = self._nearest(np.array([lon]), np.array([lat]))
        if near[0] < 0:
            return -1, Match.NONE, float("nan")
        return self._order.item(near[0]), Match.NEAREST, float(metres[0])

    def _exact_one(self, px: float, py: float, cell: int) -> tuple[int, Match]:
        """``_exact`` for one point, walking the cell's ring runs in order."""
        lo, hi = self._ce_ptr.item(cell), self._ce_ptr.item(cell + 1)
        segs = self._seg[self._ce_edge[lo:hi]].tolist()
        flags = self._ce_flags[lo:hi].tolist()
        rank, undecided = -1, False  # the current part, and whether it may still be inside
        for i, flag in enumerate(flags):
            if not flag & _RUN_START:
                continue
            if flag & _PART_START:
                if undecided:  # the previous part had no decisive ring: inside it
                    return rank, Match.INSIDE
                rank, undecided = self._ce_rank.item(lo + i), bool(flag & _SHELL)
            if not undecided:
                continue
            wn, end = 0, i + 1
            while end < len(flags) and not flags[end] & _RUN_START:
                end += 1
            for x1, y1, x2, y2 in segs[i:end]:
                side = (x2 - x1) * (py - y1) - (px - x1) * (y2 - y1)
                if (
                    side == 0.0
                    and min(x1, x2) <= px <= max(x1, x2)
                    and min(y1, y2) <= py <= max(y1, y2)
                ):
                    return rank, Match.BOUNDARY
                if y1 <= py < y2 and side > 0.0:
                    wn += 1
                elif y2 <= py < y1 and side < 0.0:
                    wn -= 1
            if (wn != 0) != bool(flag & _SHELL):  # outside the shell, or inside a hole
                undecided = False
        return (rank, Match.INSIDE) if undecided else (-1, Match.NONE)

    def _cells(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.int64]:
        """Flat cell of each point; points off the raster (or NaN) land on far border cells."""
        with np.errstate(invalid="ignore"):  # NaN/inf cast to int: clipped right after
            ix = ((x - self._x0) * self._inv_dx).astype(np.int64)
            iy = ((y - self._y0) * self._inv_dy).astype(np.int64)
        np.clip(ix, 0, self._nx - 1, out=ix)
        np.clip(iy, 0, self._ny - 1, out=iy)
        iy *= self._nx
        iy += ix
        return iy

    def _resolve(
        self,
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        v: NDArray[np.int32],
        todo: NDArray[np.int64],
        code: NDArray[np.int32],
        match: NDArray[np.uint8],
        dist: NDArray[np.float64],
    ) -> None:
        """Fill in the points of boundary and near cells: exact test, then nearest grid."""
        in_boundary = v[todo] <= _FIRST_BOUNDARY
        pts = todo[in_boundary]
        winner, on_edge = self._exact(x[pts], y[pts], _FIRST_BOUNDARY - v[pts])
        hit = winner >= 0
        code[pts[hit]] = self._order[winner[hit]]
        match[pts[hit]] = np.where(on_edge[hit], Match.BOUNDARY, Match.INSIDE)
        dist[pts[hit]] = 0.0
        rest = np.concatenate((todo[~in_boundary], pts[~hit]))
        if rest.size:
            rank, metres = self._nearest(x[rest], y[rest])
            found = rank >= 0
            code[rest[found]] = self._order[rank[found]]
            match[rest[found]] = Match.NEAREST
            dist[rest[found]] = metres[found]

    def _exact(
        self, px: NDArray[np.float64], py: NDArray[np.float64], bcell: NDArray[np.int32]
    ) -> tuple[NDArray[np.int32], NDArray[np.bool_]]:
        """PostGIS's ST_Covers for points in boundary cells: (winning rank or -1, on its edge).

        Per candidate polygon (in code order) and ring, the winding number and "on the ring"
        test of ``point_in_ring_rtree``; then ``point_in_multipolygon_rtree``'s control flow:
        parts in order, a part decided by its shell (outside: skip the part; on it:
        boundary) and then by its first hole that is not "outside" (inside it: skip the
        part; on it: boundary); the first part not skipped gives the answer.
        """
        winner = np.full(px.size, -1, dtype=np.int32)
        on_edge = np.zeros(px.size, dtype=bool)
        e0 = self._ce_ptr[bcell]
        ent_pt, ent = expand(e0, self._ce_ptr[bcell + 1] - e0)
        if ent.size == 0:
            return winner, on_edge
        seg = np.take(self._seg, self._ce_edge[ent], axis=0)
        x1, y1, x2, y2 = seg[:, 0], seg[:, 1], seg[:, 2], seg[:, 3]
        flags = self._ce_flags[ent]
        px, py = px[ent_pt], py[ent_pt]
        # PostGIS determineSide(), operation for operation.
        side = (x2 - x1) * (py - y1) - (px - x1) * (y2 - y1)
        run_start = np.flatnonzero(flags & _RUN_START)
        zero = np.flatnonzero(side == 0.0)
        zx, zy, zx1, zy1, zx2, zy2 = px[zero], py[zero], x1[zero], y1[zero], x2[zero], y2[zero]
        in_box = (
            (np.minimum(zx1, zx2) <= zx) & (zx <= np.maximum(zx1, zx2))
            & (np.minimum(zy1, zy2) <= zy) & (zy <= np.maximum(zy1, zy2))
        )  # fmt: skip
        on = np.zeros(run_start.size, dtype=bool)
        on[np.searchsorted(run_start, zero[in_box], side="right") - 1] = True
        # Winding: rising edges with the point on their left count +1, falling on the right -1.
        rising = (y1 <= py) & (py < y2) & (side > 0.0)
        falling = (y2 <= py) & (py < y1) & (side < 0.0)
        inside = np.add.reduceat(rising.view(np.int8) - falling.view(np.int8), run_start) != 0
        # Parts: the first decisive ring of each part; pairs: the first part not skipped.
        run_flags = flags[run_start]
        shell = (run_flags & _SHELL) != 0
        part_first = (run_flags & _PART_START) != 0
        part_of_run = np.cumsum(part_first) - 1
        part_start = np.flatnonzero(part_first)
        result = np.full(part_start.size, Match.INSIDE, dtype=np.uint8)  # no decisive ring
        decisive = np.flatnonzero(on | (shell ^ inside))
        first = decisive[first_of_runs(part_of_run[decisive])]
        result[part_of_run[first]] = np.where(on[first], Match.BOUNDARY, Match.NONE)
        result[~shell[part_start]] = Match.NONE  # shell has no edge in this row: outside
        # Points: the first part not skipped, which is in the first covering candidate.
        kept = part_start[result != Match.NONE]
        kept_entry = run_start[kept]
        kept_pt = ent_pt[kept_entry]
        firsts = first_of_runs(kept_pt)
        winner[kept_pt[firsts]] = self._ce_rank[ent[kept_entry[firsts]]]
        on_edge[kept_pt[firsts]] = result[result != Match.NONE][firsts] == Match.BOUNDARY
        return winner, on_edge

    def _nearest(
        self, px: NDArray[np.float64], py: NDArray[np.float64]
    ) -> tuple[NDArray[np.int32], NDArray[np.float64]]:
        """Nearest polygon rank within the tolerance (ties: smallest code) and metres to it."""
        grid = self._near_lattice
        col = np.floor((px - grid.x0) / grid.dx).astype(np.int64)
        flat = np.floor((py - grid.y0) / grid.dy).astype(np.int64) * grid.nx + col
        lo = np.searchsorted(self._near_cell, flat, side="left")
        hi = np.searchsorted(self._near_cell, flat, side="right")
        pt, ent = expand(lo, hi - lo)
        seg = self._near_seg[ent]
        mx, my = _metres_per_degree(py)
        x1, y1, x2, y2 = (self._seg[seg, k] for k in range(4))
        sx, sy, qx, qy = mx[pt], my[pt], px[pt], py[pt]
        ax, ay = (x1 - qx) * sx, (y1 - qy) * sy
        bx, by = (x2 - qx) * sx, (y2 - qy) * sy
        dx, dy = bx - ax, by - ay
        t = np.clip(-(ax * dx + ay * dy) / (dx * dx + dy * dy), 0.0, 1.0)
        d = np.hypot(ax + t * dx, ay + t * dy)
        ok = np.flatnonzero(d <= self.tolerance_m)  # pt stays sorted
        pt, d, rank = pt[ok], d[ok], self._seg_poly[seg[ok]]
        out_rank = np.full(px.size, -1, dtype=np.int32)
        out_dist = np.full(px.size, np.nan)
        if pt.size:
            start = np.flatnonzero(first_of_runs(pt))
            least = np.minimum.reduceat(d, start)
            tied = d == np.repeat(least, np.diff(np.append(start, pt.size)))
            out_rank[pt[start]] = np.minimum.reduceat(np.where(tied, rank, self._npoly), start)
            out_dist[pt[start]] = least
        return out_rank, out_dist
