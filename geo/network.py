"""The walking network: nodes, edges with their metric geometry, the routing graph, snapping.

Every distance is in metres in the local UTM zone of the data's centre (``geo.crs``), so an
edge's length is the length of its geometry there, whichever constructor built it. Walking
is undirected; of parallel edges the routing graph keeps the shortest, and an edge that
repeats another's geometry (one street drawn twice) is kept once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components

from geo._arrays import FloatArray, IntArray, concat_ranges, stable_order
from geo.crs import from_metric, to_metric, utm_epsg
from geo.errors import GeoError, InvalidCoordinatesError, InvalidGeometryError


@dataclass(frozen=True)
class Snap:
    """Where points join the network: the orthogonal projection onto the nearest edge geometry.

    ``edge`` is -1 for points farther than ``max_access_m`` from every edge (off-network);
    there ``from_u``/``from_v``/``x``/``y`` are NaN and ``access_m`` is inf.
    """

    edge: IntArray
    from_u: FloatArray  # metres along the edge from its u node to the projection
    from_v: FloatArray  # metres from the projection on to the v node
    access_m: FloatArray  # straight leg from the point to its projection
    x: FloatArray  # projection in the network's metric CRS
    y: FloatArray

    @property
    def on_network(self) -> NDArray[np.bool_]:
        return self.edge >= 0

    def __len__(self) -> int:
        return len(self.edge)


@dataclass(frozen=True, eq=False)
class WalkNetwork:
    """An undirected walking network in one UTM zone.

    Edge ``e`` runs from node ``edge_u[e]`` to ``edge_v[e]`` along the polyline
    ``vertex_xy[vertex_ptr[e]:vertex_ptr[e + 1]]``; segment arrays (``seg_*``) flatten all
    polylines for snapping and interpolation. Build it with ``from_lines`` or ``from_osm``.
    """

    epsg: int
    node_lonlat: FloatArray  # (n, 2)
    node_xy: FloatArray  # (n, 2)
    edge_u: IntArray
    edge_v: IntArray
    edge_length: FloatArray
    vertex_ptr: IntArray  # (m + 1,)
    vertex_xy: FloatArray  # (V, 2), each edge's vertices from u to v
    seg_edge: IntArray  # edge of each segment
    seg_start: FloatArray  # metres from the edge's u node to the segment's first vertex
    seg_len: FloatArray
    seg_xy: FloatArray  # (k, 4): each segment's ax, ay, bx, by, for fast gathers
    graph: csr_array  # (n, n) symmetric, shortest of parallel edges, no self-loops
    incident_ptr: IntArray  # CSR of node -> incident edges (self-loops listed once)
    incident_edge: IntArray
    _grid: _SegmentGrid  # snapping index

    @property
    def n_nodes(self) -> int:
        return len(self.node_xy)

    @property
    def n_edges(self) -> int:
        return len(self.edge_u)

    # --- constructors ---------------------------------------------------------------

    @classmethod
    def from_lines(cls, lines_wgs84: ArrayLike) -> WalkNetwork:
        """Network of WGS84 (Multi)LineStrings: every vertex a node, consecutive vertices
        joined by a straight edge, lines meeting at an identical vertex connected.
        """
        parts = shapely.get_parts(np.asarray(lines_wgs84, dtype=object))
        if len(parts) and not np.all(shapely.get_type_id(parts) == 1):
            raise InvalidGeometryError("walk network lines must be LineStrings")
        coords, line = shapely.get_coordinates(parts, return_index=True)
        _check_lonlat(coords)
        # As complex numbers the unique rows sort ~10× faster than with axis=0.
        as_complex = np.ascontiguousarray(coords).view(np.complex128).reshape(-1)
        unique, vertex_node = np.unique(as_complex, return_inverse=True)
        node_lonlat = np.column_stack([unique.real, unique.imag])
        vertex_node = vertex_node.reshape(-1)
        joined = np.flatnonzero(line[1:] == line[:-1])
        u, v = vertex_node[joined], vertex_node[joined + 1]
        keep = u != v  # a repeated vertex is no edge
        u, v = u[keep], v[keep]
        vertex_lonlat = node_lonlat[np.column_stack([u, v]).reshape(-1)]
        return _build(node_lonlat, u, v, vertex_lonlat, np.arange(len(u) + 1) * 2)

    @classmethod
    def from_osm(cls, path: str | Path) -> WalkNetwork:
        """pyrosm's walking network of an ``.osm.pbf`` extract, every way split at every
        node (``nodes=True``), all components kept; edge geometry as pyrosm gives it.
        """
        import pyrosm  # lazy: the one reader geo/ has (docs/design.md, stable API)

        result: Any = pyrosm.OSM(str(path)).get_network(network_type="walking", nodes=True)
        if result is None:
            raise GeoError(f"{path}: no walking network in the extract")
        nodes, edges = result
        node_ids = nodes["id"].to_numpy(dtype=np.int64)
        order = np.argsort(node_ids)
        u = order[np.searchsorted(node_ids, edges["u"].to_numpy(dtype=np.int64), sorter=order)]
        v = order[np.searchsorted(node_ids, edges["v"].to_numpy(dtype=np.int64), sorter=order)]
        node_lonlat = nodes[["lon", "lat"]].to_numpy(dtype=np.float64)
        coords, line = shapely.get_coordinates(edges.geometry.to_numpy(), return_index=True)
        vertex_ptr = np.searchsorted(line, np.arange(len(edges) + 1))
        return _build(node_lonlat, u, v, coords, vertex_ptr)

    # --- snapping -------------------------------------------------------------------

    def snap(
        self,
        lon: ArrayLike,
        lat: ArrayLike,
        *,
        max_access_m: float = 300.0,
        edges_ok: NDArray[np.bool_] | None = None,
    ) -> Snap:
        """Project WGS84 points orthogonally onto their nearest edge geometry (of the
        edges ``edges_ok`` marks, when given)."""
        lon_a, lat_a = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        _check_lonlat(np.column_stack([lon_a.ravel(), lat_a.ravel()]))
        x, y = to_metric(lon_a.ravel(), lat_a.ravel(), self.epsg)
        return self.snap_xy(x, y, max_access_m=max_access_m, edges_ok=edges_ok)

    def component_of_edge(self) -> IntArray:
        """Connected component label of every edge (components numbered from 0)."""
        _, label = connected_components(self.graph, directed=False)
        return np.asarray(label, dtype=np.int64)[self.edge_u]

    def component_nodes(self) -> IntArray:
        """Node count of every connected component, by label."""
        _, label = connected_components(self.graph, directed=False)
        return np.bincount(label).astype(np.int64)

    def snap_xy(
        self,
        x: ArrayLike,
        y: ArrayLike,
        *,
        max_access_m: float = 300.0,
        edges_ok: NDArray[np.bool_] | None = None,
    ) -> Snap:
        """``snap`` for points already in the network's metric CRS; with ``edges_ok``, only
        onto the edges it marks (the nearest of those)."""
        if not np.isfinite(max_access_m) or max_access_m < 0:
            raise ValueError("max_access_m must be a finite, non-negative distance")
        p = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
        seg = np.zeros(len(p), dtype=np.int64)
        dist = np.full(len(p), np.inf)
        grid = self._grid
        # Farther than max_access_m from the network's box (or not a finite point: far
        # outside the metric CRS's zone) is off-network without a search; such points are
        # moved to the box's corner so the arithmetic below stays finite.
        corner = np.array([grid.x0, grid.y0])
        far_corner = corner + grid.size * np.array([grid.nx, grid.ny])
        with np.errstate(invalid="ignore"):
            inside = (p >= corner - max_access_m) & (p <= far_corner + max_access_m)
        near = np.all(inside, axis=1)
        p[~near] = corner
        pending, reach = np.flatnonzero(near), 0
        while len(pending):
            # The cells within ``reach`` list every segment within ``grid.exact(reach)``.
            chunk = max(1, 4_000_000 // (grid.mean_load * (2 * reach + 1) ** 2))
            for lo in range(0, len(pending), chunk):
                rows = pending[lo : lo + chunk]
                point, cand = grid.around(p[rows], reach)
                if edges_ok is not None:
                    keep = edges_ok[self.seg_edge[cand]]
                    point, cand = point[keep], cand[keep]
                seg[rows], dist[rows] = self._nearest(p[rows], point, cand)
            if grid.exact(reach) >= max_access_m:
                break
            pending = pending[dist[pending] > grid.exact(reach)]
            reach = 2 * reach + 1
        on = (dist <= max_access_m) & near
        frac, _ = _project(p, np.take(self.seg_xy, seg, axis=0))
        proj = self.segment_point(seg, frac)
        e = self.seg_edge[seg]
        from_u = np.minimum(self.seg_start[seg] + frac * self.seg_len[seg], self.edge_length[e])
        return Snap(
            edge=np.where(on, e, -1),
            from_u=np.where(on, from_u, np.nan),
            from_v=np.where(on, np.maximum(self.edge_length[e] - from_u, 0.0), np.nan),
            access_m=np.where(on, dist, np.inf),
            x=np.where(on, proj[:, 0], np.nan),
            y=np.where(on, proj[:, 1], np.nan),
        )

    def segment_pieces(
        self, edge: IntArray, t0: FloatArray, t1: FloatArray
    ) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
        """Split intervals [t0, t1] (metres from u) of edges into their segments' parts:
        (interval index, segment, start fraction, end fraction) per part."""
        first = self.vertex_ptr[edge] - edge  # segment ptr = vertex ptr minus one per edge
        last = self.vertex_ptr[edge + 1] - edge - 2
        s0 = first + _last_at_or_before(self.seg_start, first, last, t0)
        s1 = first + _last_at_or_before(self.seg_start, first, last, t1)
        count = s1 - s0 + 1
        piece = np.repeat(np.arange(len(edge)), count)
        seg = concat_ranges(s0, count)
        start, length = self.seg_start[seg], self.seg_len[seg]
        safe = np.where(length > 0, length, 1.0)
        f0 = np.clip((t0[piece] - start) / safe, 0.0, 1.0)
        f1 = np.clip((t1[piece] - start) / safe, 0.0, 1.0)
        return piece, seg, f0, f1

    def segment_point(self, seg: IntArray, frac: FloatArray) -> FloatArray:
        """Metric (x, y) at fraction ``frac`` along each segment."""
        c = np.take(self.seg_xy, seg, axis=0)  # take: far faster than fancy row indexing
        return c[:, :2] + frac[:, None] * (c[:, 2:] - c[:, :2])

    def to_lonlat(self, xy: FloatArray) -> FloatArray:
        """Metric (x, y) rows back to WGS84 (lon, lat) rows."""
        lon, lat = from_metric(xy[:, 0], xy[:, 1], self.epsg)
        return np.column_stack([lon, lat])

    # --- internals ------------------------------------------------------------------

    def _nearest(
        self, p: FloatArray, point: IntArray, seg: IntArray
    ) -> tuple[IntArray, FloatArray]:
        """Per point, the nearest of its candidate segments (pairs grouped by point) and
        its distance; segment 0 and inf when a point has no candidate."""
        _, d2 = _project(np.take(p, point, axis=0), np.take(self.seg_xy, seg, axis=0))
        best_seg = np.zeros(len(p), dtype=np.int64)
        best_d = np.full(len(p), np.inf)
        if len(point):
            starts = np.flatnonzero(np.r_[True, point[1:] != point[:-1]])
            low = np.minimum.reduceat(d2, starts)
            hit = np.flatnonzero(d2 == np.repeat(low, np.diff(np.r_[starts, len(d2)])))
            first = hit[np.r_[True, point[hit][1:] != point[hit][:-1]]]  # lowest listed
            best_seg[point[first]] = seg[first]
            best_d[point[first]] = np.sqrt(d2[first])
        return best_seg, best_d


def _project(q: FloatArray, c: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Fraction along segments ``c`` (rows ax, ay, bx, by) of the orthogonal projection of
    points ``q``, and the squared distance to it."""
    ax, ay = c[:, 0], c[:, 1]
    abx, aby = c[:, 2] - ax, c[:, 3] - ay
    qx, qy = q[:, 0] - ax, q[:, 1] - ay
    den = abx * abx + aby * aby
    t = np.divide(qx * abx + qy * aby, den, out=np.zeros_like(den), where=den > 0)
    t = np.minimum(np.maximum(t, 0.0), 1.0)
    dx, dy = abx * t - qx, aby * t - qy
    return t, dx * dx + dy * dy


def _check_lonlat(coords: FloatArray) -> None:
    ok = np.isfinite(coords).all(axis=1)
    ok &= (np.abs(coords[:, 0]) <= 180) & (np.abs(coords[:, 1]) <= 90)
    if not ok.all():
        bad = coords[int(np.flatnonzero(~ok)[0])]
        raise InvalidCoordinatesError(f"invalid lon/lat {bad[0]}, {bad[1]}")


def _last_at_or_before(
    values: FloatArray, first: IntArray, last: IntArray, t: FloatArray
) -> IntArray:
    """Per query, the offset from ``first`` of the last of ``values[first : last + 1]``
    (sorted) that is <= t; 0 when none is."""
    lo = np.zeros_like(first)
    hi = last - first
    while True:  # vectorized binary search; edges have few segments, so few rounds
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi + 1) // 2
        go = active & (values[first + np.where(active, mid, 0)] <= t)
        lo = np.where(go, mid, lo)
        hi = np.where(active & ~go, mid - 1, hi)


def _build(
    node_lonlat: FloatArray,
    edge_u: IntArray,
    edge_v: IntArray,
    vertex_lonlat: FloatArray,
    vertex_ptr: IntArray,
) -> WalkNetwork:
    """Project, measure and index a network given as nodes and u→v edge polylines."""
    if len(edge_u) == 0:
        raise InvalidGeometryError("the walk network has no edges")
    n_vert = np.diff(vertex_ptr)
    keep = _distinct(edge_u, edge_v, vertex_lonlat, vertex_ptr, len(node_lonlat))
    edge_u, edge_v = edge_u[keep], edge_v[keep]
    vertex_lonlat = vertex_lonlat[np.repeat(keep, n_vert)]
    vertex_ptr = np.concatenate([[0], np.cumsum(n_vert[keep])])
    lo, hi = vertex_lonlat.min(axis=0), vertex_lonlat.max(axis=0)
    epsg = utm_epsg((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2)
    node_xy = np.column_stack(to_metric(node_lonlat[:, 0], node_lonlat[:, 1], epsg))
    vertex_xy = np.column_stack(to_metric(vertex_lonlat[:, 0], vertex_lonlat[:, 1], epsg))
    m = len(edge_u)
    n_vert = np.diff(vertex_ptr)
    seg_edge = np.repeat(np.arange(m), n_vert - 1)
    seg_first_vertex = np.arange(len(seg_edge)) + seg_edge
    seg_len = np.hypot(*(vertex_xy[seg_first_vertex + 1] - vertex_xy[seg_first_vertex]).T)
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    seg_ptr = vertex_ptr - np.arange(m + 1)
    seg_start = cum[:-1] - cum[seg_ptr[seg_edge]]
    edge_length = np.add.reduceat(seg_len, seg_ptr[:-1]) if len(seg_len) else np.zeros(m)
    n = len(node_lonlat)
    seg_xy = np.column_stack([vertex_xy[seg_first_vertex], vertex_xy[seg_first_vertex + 1]])
    grid = _SegmentGrid.build(seg_xy, float(np.clip(np.median(seg_len) / 2, 10.0, 50.0)))
    incident_ptr, incident_edge = _incidence(edge_u, edge_v, n)
    return WalkNetwork(
        epsg=epsg,
        node_lonlat=node_lonlat,
        node_xy=node_xy,
        edge_u=edge_u.astype(np.int64),
        edge_v=edge_v.astype(np.int64),
        edge_length=edge_length,
        vertex_ptr=vertex_ptr.astype(np.int64),
        vertex_xy=vertex_xy,
        seg_edge=seg_edge,
        seg_start=seg_start,
        seg_len=seg_len,
        seg_xy=seg_xy,
        graph=_graph(edge_u, edge_v, edge_length, n),
        incident_ptr=incident_ptr,
        incident_edge=incident_edge,
        _grid=grid,
    )


def _distinct(
    u: IntArray, v: IntArray, vertex_lonlat: FloatArray, vertex_ptr: IntArray, n: int
) -> NDArray[np.bool_]:
    """Which edges to keep: one that repeats an earlier edge's geometry (the same street
    drawn twice, in either direction) adds no route, and would make snapping ambiguous:
    two points projected onto the same spot of twin edges would have to detour via a node.
    """
    pair = np.minimum(u, v) * n + np.maximum(u, v)
    _, inverse, counts = np.unique(pair, return_inverse=True, return_counts=True)
    keep = np.ones(len(u), dtype=bool)
    seen: set[bytes] = set()
    for e in np.flatnonzero(counts[inverse.reshape(-1)] > 1).tolist():
        coords = vertex_lonlat[vertex_ptr[e] : vertex_ptr[e + 1]]
        ways = (coords.tobytes(), coords[::-1].tobytes())
        shape = min(ways) if u[e] == v[e] else ways[int(u[e] > v[e])]
        keep[e] = shape not in seen
        seen.add(shape)
    return keep


def _graph(u: IntArray, v: IntArray, length: FloatArray, n: int) -> csr_array:
    """Symmetric CSR routing matrix built by hand: COO→CSR would sum parallel edges, so
    each node pair keeps its shortest edge; zero-length edges stay explicit entries,
    which scipy's csgraph routes as zero-cost edges.
    """
    loop = u == v  # a self-loop never shortens a path
    rows = np.concatenate([u[~loop], v[~loop]])
    cols = np.concatenate([v[~loop], u[~loop]])
    key = rows * n + cols
    order = np.argsort(key)
    key = key[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    w = np.minimum.reduceat(np.concatenate([length[~loop], length[~loop]])[order], first)
    rows, cols = key[first] // n, key[first] % n
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
    return csr_array((w, cols.astype(np.int32), indptr.astype(np.int32)), shape=(n, n))


def _incidence(u: IntArray, v: IntArray, n: int) -> tuple[IntArray, IntArray]:
    edge = np.arange(len(u))
    loop = u == v
    nodes = np.concatenate([u, v[~loop]])
    edges = np.concatenate([edge, edge[~loop]])
    order = np.argsort(nodes, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(nodes, minlength=n))])
    return ptr.astype(np.int64), edges[order].astype(np.int64)


@dataclass(frozen=True)
class _SegmentGrid:
    """Segments bucketed in square cells: each segment is listed in every cell that its
    bounding box, widened by one cell size, overlaps. So a point's own cell lists every
    segment within one cell size of it, and the cells within ``reach`` of its cell every
    segment within ``exact(reach)``. A dense table of cells (at most ``MAX_CELLS``, the
    cell size grows for vast extents) makes every look-up a plain gather: vectorized where a
    KD-tree or an STRtree answers point by point.
    """

    MAX_CELLS = 4_000_000

    size: float
    x0: float
    y0: float
    nx: int
    ny: int
    ptr: IntArray  # (nx * ny + 1,): cell key iy * nx + ix -> its run in ``seg``
    seg: IntArray
    mean_load: int  # segments per occupied cell, for sizing chunks

    @classmethod
    def build(cls, seg_xy: FloatArray, size: float) -> _SegmentGrid:
        lo = np.minimum(seg_xy[:, :2], seg_xy[:, 2:])
        hi = np.maximum(seg_xy[:, :2], seg_xy[:, 2:])
        extent = hi.max(axis=0) - lo.min(axis=0)
        size = max(size, float(np.sqrt(np.prod(extent + 3 * size) / cls.MAX_CELLS)))
        lo, hi = lo - size, hi + size
        x0, y0 = lo.min(axis=0)
        first = np.floor((lo - (x0, y0)) / size).astype(np.int64)
        last = np.floor((hi - (x0, y0)) / size).astype(np.int64)
        nx, ny = (int(c) + 1 for c in last.max(axis=0))
        span = last - first + 1
        count = span[:, 0] * span[:, 1]
        seg = np.repeat(np.arange(len(seg_xy)), count)
        k = concat_ranges(np.zeros_like(count), count)
        key = (first[seg, 1] + k // span[seg, 0]) * nx + first[seg, 0] + k % span[seg, 0]
        cells = np.bincount(key, minlength=nx * ny)
        return cls(
            size=size,
            x0=float(x0),
            y0=float(y0),
            nx=nx,
            ny=ny,
            ptr=np.concatenate([[0], np.cumsum(cells)]),
            seg=seg[stable_order(key)],
            mean_load=max(1, len(seg) // int(np.count_nonzero(cells))),
        )

    def exact(self, reach: int) -> float:
        """Distance up to which the cells within ``reach`` list every segment: a segment
        within D has a point, moved one cell size towards the query point, inside its
        widened box, at most ``ceil((D - size) / size)`` cells away."""
        return self.size * (reach + 1)

    def around(self, p: FloatArray, reach: int) -> tuple[IntArray, IntArray]:
        """(point index, segment) candidate pairs, grouped by point, from the cells within
        ``reach`` cells of each point's cell."""
        cell = np.floor((p - (self.x0, self.y0)) / self.size).astype(np.int64)
        dx, dy = (o.ravel() for o in np.mgrid[-reach : reach + 1, -reach : reach + 1])
        ix = (cell[:, 0:1] + dx[None, :]).ravel()
        iy = (cell[:, 1:2] + dy[None, :]).ravel()
        valid = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        key = np.where(valid, iy * self.nx + ix, 0)
        start = self.ptr[key]
        count = np.where(valid, self.ptr[key + 1] - start, 0)
        owner = np.repeat(np.arange(len(p)), len(dx))
        return np.repeat(owner, count), self.seg[concat_ranges(start, count)]
