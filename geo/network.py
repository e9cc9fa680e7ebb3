"""The walking network: nodes, edges with their metric geometry, the routing graph, snapping.

Every distance is in metres in the local UTM zone of the data's centre (``geo.crs``), so an
edge's length is the length of its geometry there, whichever constructor built it. Walking
is undirected; of parallel edges the routing graph keeps the shortest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csr_array
from scipy.spatial import cKDTree

from geo.crs import from_metric, to_metric, utm_epsg
from geo.errors import GeoError, InvalidCoordinatesError, InvalidGeometryError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_SNAP_K = 8  # index samples fetched per point before the exactness check


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
    graph: csr_array  # (n, n) symmetric, shortest of parallel edges, no self-loops
    incident_ptr: IntArray  # CSR of node -> incident edges (self-loops listed once)
    incident_edge: IntArray
    _tree: cKDTree  # snapping index over points sampled along the segments
    _sample_seg: IntArray
    _sample_step: float

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
        node_lonlat, vertex_node = np.unique(coords, axis=0, return_inverse=True)
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
        import pyrosm  # lazy: the one reader geo/ has (DESIGN.md stable API)

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

    def snap(self, lon: ArrayLike, lat: ArrayLike, *, max_access_m: float = 300.0) -> Snap:
        """Project WGS84 points orthogonally onto their nearest edge geometry."""
        lon_a, lat_a = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        _check_lonlat(np.column_stack([lon_a.ravel(), lat_a.ravel()]))
        x, y = to_metric(lon_a.ravel(), lat_a.ravel(), self.epsg)
        return self.snap_xy(x, y, max_access_m=max_access_m)

    def snap_xy(self, x: ArrayLike, y: ArrayLike, *, max_access_m: float = 300.0) -> Snap:
        """``snap`` for points already in the network's metric CRS."""
        p = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
        n_samples = len(self._sample_seg)
        half = self._sample_step / 2
        k = min(_SNAP_K, n_samples)
        dist, idx = self._tree.query(p, k=k, distance_upper_bound=max_access_m + half, workers=-1)
        dist, idx = dist.reshape(len(p), k), idx.reshape(len(p), k)
        found = idx < n_samples
        seg = self._sample_seg[np.where(found, idx, 0)]
        seg_d, seg_t = self._segment_distance(p[:, None, :], seg)
        seg_d[~found] = np.inf
        pick = np.argmin(seg_d, axis=1)
        rows = np.arange(len(p))
        best_seg, best_d, best_t = seg[rows, pick], seg_d[rows, pick], seg_t[rows, pick]
        # Any segment not fetched has every sample at >= the k-th distance, so it lies at
        # >= that minus half a sample step: beyond the best unless the check below fails.
        unsure = np.flatnonzero(found[:, -1] & (dist[:, -1] - half <= best_d))
        for i in unsure:
            near = np.unique(self._sample_seg[self._tree.query_ball_point(p[i], best_d[i] + half)])
            d, t = self._segment_distance(p[i][None, :], near)
            j = int(np.argmin(d))
            best_seg[i], best_d[i], best_t[i] = near[j], d[j], t[j]
        on = best_d <= max_access_m
        edge = np.where(on, self.seg_edge[best_seg], -1)
        along = self.seg_start[best_seg] + best_t * self.seg_len[best_seg]
        e = self.seg_edge[best_seg]
        from_u = np.where(on, np.minimum(along, self.edge_length[e]), np.nan)
        proj = self._seg_point(best_seg, best_t)
        return Snap(
            edge=edge.astype(np.int64),
            from_u=from_u,
            from_v=np.where(on, np.maximum(self.edge_length[e] - from_u, 0.0), np.nan),
            access_m=np.where(on, best_d, np.inf),
            x=np.where(on, proj[:, 0], np.nan),
            y=np.where(on, proj[:, 1], np.nan),
        )

    def point_at(self, edge: ArrayLike, from_u: ArrayLike) -> FloatArray:
        """Metric (x, y) of the points ``from_u`` metres along ``edge`` from its u node."""
        e = np.asarray(edge, dtype=np.int64)
        t = np.asarray(from_u, dtype=np.float64)
        first = self.vertex_ptr[e] - e  # segment ptr = vertex ptr minus one per edge
        last = self.vertex_ptr[e + 1] - e - 2
        seg = first + _count_le(self.seg_start, first, last, t)
        frac = np.divide(
            t - self.seg_start[seg],
            self.seg_len[seg],
            out=np.zeros_like(t),
            where=self.seg_len[seg] > 0,
        )
        return self._seg_point(seg, np.clip(frac, 0.0, 1.0))

    def to_lonlat(self, xy: FloatArray) -> FloatArray:
        """Metric (x, y) rows back to WGS84 (lon, lat) rows."""
        lon, lat = from_metric(xy[:, 0], xy[:, 1], self.epsg)
        return np.column_stack([lon, lat])

    # --- internals ------------------------------------------------------------------

    def _seg_ends(self, seg: IntArray) -> tuple[FloatArray, FloatArray]:
        a = seg + self.seg_edge[seg]  # segment s starts at vertex s + its edge index
        return self.vertex_xy[a], self.vertex_xy[a + 1]

    def _seg_point(self, seg: IntArray, t: FloatArray) -> FloatArray:
        a, b = self._seg_ends(seg)
        return a + t[..., None] * (b - a)

    def _segment_distance(self, p: FloatArray, seg: IntArray) -> tuple[FloatArray, FloatArray]:
        """Distance from points to segments and the projection's fraction along each."""
        a, b = self._seg_ends(seg)
        ab = b - a
        den = np.einsum("...i,...i->...", ab, ab)
        num = np.einsum("...i,...i->...", p - a, ab)
        t = np.clip(np.divide(num, den, out=np.zeros_like(num), where=den > 0), 0.0, 1.0)
        d = np.hypot(*np.moveaxis(a + t[..., None] * ab - p, -1, 0))
        return d, t


def _check_lonlat(coords: FloatArray) -> None:
    ok = np.isfinite(coords).all(axis=1)
    ok &= (np.abs(coords[:, 0]) <= 180) & (np.abs(coords[:, 1]) <= 90)
    if not ok.all():
        bad = coords[int(np.flatnonzero(~ok)[0])]
        raise InvalidCoordinatesError(f"invalid lon/lat {bad[0]}, {bad[1]}")


def _count_le(values: FloatArray, first: IntArray, last: IntArray, t: FloatArray) -> IntArray:
    """Per query, how many of ``values[first+1 : last+1]`` are <= t (sorted within a range)."""
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
    tree, sample_seg, step = _snap_index(vertex_xy, seg_first_vertex, seg_len)
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
        graph=_graph(edge_u, edge_v, edge_length, n),
        incident_ptr=incident_ptr,
        incident_edge=incident_edge,
        _tree=tree,
        _sample_seg=sample_seg,
        _sample_step=step,
    )


def _graph(u: IntArray, v: IntArray, length: FloatArray, n: int) -> csr_array:
    """Symmetric CSR routing matrix built by hand: COO→CSR would sum parallel edges, so
    each node pair keeps its shortest edge; zero-length edges stay explicit entries,
    which scipy's csgraph routes as zero-cost edges.
    """
    loop = u == v  # a self-loop never shortens a path
    rows = np.concatenate([u[~loop], v[~loop]])
    cols = np.concatenate([v[~loop], u[~loop]])
    w = np.concatenate([length[~loop], length[~loop]])
    order = np.lexsort((w, cols, rows))
    rows, cols, w = rows[order], cols[order], w[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols, w = rows[first], cols[first], w[first]
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


def _snap_index(
    vertex_xy: FloatArray, seg_first_vertex: IntArray, seg_len: FloatArray
) -> tuple[cKDTree, IntArray, float]:
    """KD-tree over points spaced at most ``step`` apart along every segment (piece
    centres), so any point of a segment is within step/2 of one of its samples.
    """
    step = float(np.clip(np.median(seg_len), 5.0, 50.0))
    pieces = np.maximum(np.ceil(seg_len / step), 1).astype(np.int64)
    sample_seg = np.repeat(np.arange(len(seg_len)), pieces)
    starts = np.concatenate([[0], np.cumsum(pieces)[:-1]])
    k = np.arange(len(sample_seg)) - np.repeat(starts, pieces)
    t = (k + 0.5) / pieces[sample_seg]
    a = vertex_xy[seg_first_vertex[sample_seg]]
    b = vertex_xy[seg_first_vertex[sample_seg] + 1]
    samples = a + t[:, None] * (b - a)
    step_used = float(np.max(seg_len / pieces)) if len(seg_len) else step
    return cKDTree(samples), sample_seg, step_used
