"""15-minute service circles: walk distances to the nearest station, coverage per group,
gaps, isochrone polygons and greedy station siting — all on a ``WalkNetwork``.

The distance rule (DESIGN.md) is exact: the station's access leg, the shortest network path
between the two projections (or along their shared edge directly) and the building's access
leg. scipy's Dijkstra starts every source at zero, so each source becomes an extra graph
node whose two edges to its edge's ends carry the access leg plus the partial edge lengths;
source nodes have only outgoing edges, so no path passes through them.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from scipy.sparse import csr_array
from scipy.sparse.csgraph import dijkstra

from geo._arrays import FloatArray, GeomArray, IntArray, concat_ranges, first_of_runs, grouped
from geo.network import Snap, WalkNetwork

SPEED_M_PER_MIN = 75.0
LEVELS_MIN: tuple[float, ...] = (5.0, 10.0, 15.0)

Keys = Sequence[Any] | NDArray[Any]  # group keys: grid codes, community names, None


@dataclass(frozen=True)
class Nearest:
    """Per target: metres to the nearest source (inf when unreachable) and its index (-1)."""

    distance_m: FloatArray
    source: IntArray


@dataclass(frozen=True)
class GroupCoverage:
    """Covered totals of one group (a grid, a community, or all when ``key`` is None)."""

    key: Any
    buildings: int
    covered_buildings: int
    households: float
    covered_households: float
    population: float
    covered_population: float

    @property
    def pct_buildings(self) -> float | None:
        return _pct(self.covered_buildings, self.buildings)

    @property
    def pct_households(self) -> float | None:
        return _pct(self.covered_households, self.households)

    @property
    def pct_population(self) -> float | None:
        return _pct(self.covered_population, self.population)


@dataclass(frozen=True)
class Siting:
    """Chosen candidate indices in the order picked and the households each newly covers."""

    candidate: IntArray
    added_households: FloatArray


# --- distances ----------------------------------------------------------------------


def walk_distances(
    network: WalkNetwork,
    sources_lonlat: ArrayLike,
    targets_lonlat: ArrayLike,
    *,
    max_access_m: float = 300.0,
) -> FloatArray:
    """Metres from each target to its nearest source along the network; inf if unreachable."""
    return walk_nearest(
        network, sources_lonlat, targets_lonlat, max_access_m=max_access_m
    ).distance_m


def walk_nearest(
    network: WalkNetwork,
    sources_lonlat: ArrayLike,
    targets_lonlat: ArrayLike,
    *,
    max_access_m: float = 300.0,
    limit: float = np.inf,
) -> Nearest:
    """Distance to and index of each target's nearest source; beyond ``limit`` counts as
    unreachable, which bounds the search (use the coverage radius for speed).
    """
    sources = _snap(network, sources_lonlat, max_access_m)
    targets = _snap(network, targets_lonlat, max_access_m)
    return nearest_snapped(network, sources, targets, limit=limit)


def nearest_snapped(
    network: WalkNetwork, sources: Snap, targets: Snap, *, limit: float = np.inf
) -> Nearest:
    """``walk_nearest`` for points already snapped (snap buildings once, stations per kind)."""
    graph, src = _with_sources(network, sources)
    n = network.n_nodes
    node_dist, node_src = np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    if len(src):
        dist, _, origin = dijkstra(
            graph,
            directed=True,
            indices=n + np.arange(len(src)),
            limit=limit,
            min_only=True,
            return_predecessors=True,
        )
        node_dist = dist[:n]
        reached = origin[:n] >= n
        node_src[reached] = src[origin[:n][reached] - n]
    t = np.flatnonzero(targets.on_network)
    e = targets.edge[t]
    via = np.stack(
        [
            node_dist[network.edge_u[e]] + targets.from_u[t],
            node_dist[network.edge_v[e]] + targets.from_v[t],
        ]
    )
    via_src = np.stack([node_src[network.edge_u[e]], node_src[network.edge_v[e]]])
    pick = np.argmin(via, axis=0)
    cols = np.arange(len(t))
    best, best_src = via[pick, cols], via_src[pick, cols]
    # Both on one edge: straight along it (also reachable around it, via the nodes above).
    s, tt, d = _same_edge_pairs(sources, targets, t)
    order = np.lexsort((d, tt))
    s, tt, d = s[order], tt[order], d[order]
    first = first_of_runs(tt)
    pos = np.searchsorted(t, tt[first])
    closer = d[first] < best[pos]
    best[pos[closer]], best_src[pos[closer]] = d[first][closer], s[first][closer]
    distance = np.full(len(targets), np.inf)
    source = np.full(len(targets), -1, dtype=np.int64)
    distance[t] = best + targets.access_m[t]
    source[t] = best_src
    beyond = ~(distance <= limit)
    distance[beyond], source[beyond] = np.inf, -1
    return Nearest(distance_m=distance, source=source)


# --- coverage figures ---------------------------------------------------------------


def covered_within(
    distance_m: ArrayLike, minutes: float, *, speed_m_per_min: float = SPEED_M_PER_MIN
) -> NDArray[np.bool_]:
    """Covered at ``minutes``: walk distance <= minutes × speed."""
    return np.asarray(distance_m, dtype=np.float64) <= minutes * speed_m_per_min


def coverage_level(
    distance_m: ArrayLike,
    *,
    levels_min: Sequence[float] = LEVELS_MIN,
    speed_m_per_min: float = SPEED_M_PER_MIN,
) -> FloatArray:
    """Smallest of ``levels_min`` within which each target is covered; 0 where none is."""
    levels = np.sort(np.asarray(levels_min, dtype=np.float64))
    i = np.searchsorted(levels * speed_m_per_min, np.asarray(distance_m, dtype=np.float64))
    return np.concatenate([levels, [0.0]])[i]


def coverage_by_group(
    covered: ArrayLike,
    groups: Keys | None = None,
    *,
    households: ArrayLike | None = None,
    population: ArrayLike | None = None,
) -> list[GroupCoverage]:
    """Buildings, households and population covered per group key (sorted, None last for
    buildings in no group); one row with key None for all buildings when ``groups`` is None.
    """
    cov = np.asarray(covered, dtype=bool)
    keys, inverse = _factorize(np.full(len(cov), None) if groups is None else groups)

    def sums(weights: ArrayLike | None) -> tuple[FloatArray, FloatArray]:
        w = np.ones(len(cov)) if weights is None else np.asarray(weights, dtype=np.float64)
        total = np.bincount(inverse, weights=w, minlength=len(keys)).astype(np.float64)
        part = np.bincount(inverse, weights=w * cov, minlength=len(keys)).astype(np.float64)
        return total, part

    b, cb = sums(None)
    h, ch = sums(households) if households is not None else (np.zeros(len(keys)),) * 2
    p, cp = sums(population) if population is not None else (np.zeros(len(keys)),) * 2
    return [
        GroupCoverage(
            key=k,
            buildings=int(b[i]),
            covered_buildings=int(cb[i]),
            households=float(h[i]),
            covered_households=float(ch[i]),
            population=float(p[i]),
            covered_population=float(cp[i]),
        )
        for i, k in enumerate(keys)
    ]


def gaps_by_group(covered: ArrayLike, groups: Keys) -> dict[Any, IntArray]:
    """Indices of the uncovered buildings, grouped by key (only groups that have gaps)."""
    gap = np.flatnonzero(~np.asarray(covered, dtype=bool))
    keys, inverse = _factorize(np.asarray(groups, dtype=object)[gap])
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(keys)))[:-1]
    return dict(zip(keys, np.split(gap[order], bounds), strict=True))


def _factorize(groups: Keys) -> tuple[list[Any], IntArray]:
    """Sorted distinct keys as Python values, None last (np.unique cannot order None), and
    each item's key index."""
    values = np.asarray(groups, dtype=object)
    none = np.fromiter((v is None for v in values.tolist()), dtype=bool, count=len(values))
    keys, inverse = np.unique(values[~none], return_inverse=True)
    index = np.full(len(values), len(keys), dtype=np.int64)
    index[~none] = inverse.reshape(-1)
    found = [k.item() if isinstance(k, np.generic) else k for k in keys.tolist()]
    return [*found, None] if none.any() else found, index


# --- isochrones ---------------------------------------------------------------------


def isochrones(
    network: WalkNetwork,
    stations_lonlat: ArrayLike,
    *,
    minutes: Sequence[float] = LEVELS_MIN,
    speed_m_per_min: float = SPEED_M_PER_MIN,
    buffer_m: float = 50.0,
    resolution_m: float = 20.0,
    max_access_m: float = 300.0,
) -> GeomArray:
    """Each station's walking isochrone per level: (stations, levels) WGS84 MultiPolygons,
    empty where the station is off-network.

    The area is the reached network (whole edges and the reached parts of edges, the
    station's access leg counted) widened by ``buffer_m`` and dissolved. GEOS needs ~50 ms
    to buffer and union one station's edges (BASELINES), so it is rasterised instead: cells
    of ``resolution_m`` within ``buffer_m`` (in cell units) of points sampled along the
    reached pieces, traced into polygons. The outline is within about a cell of the exact
    buffer, and every reached point of the network lies strictly inside: samples are at
    most ``2 * (buffer_m - 1.5 * resolution_m)`` apart, so a reached point is within half
    that of a sample, and every cell touching it lies within ``buffer_m`` of the sample's
    cell (hence ``resolution_m`` must stay below ``buffer_m / 1.5``).
    """
    if not 0 < 1.5 * resolution_m < buffer_m:
        raise ValueError("resolution_m must be positive and below buffer_m / 1.5")
    spacing = 2 * (buffer_m - 1.5 * resolution_m)
    stations = _snap(network, stations_lonlat, max_access_m)
    radii = np.asarray(minutes, dtype=np.float64) * speed_m_per_min
    out = np.empty((len(stations), len(radii)), dtype=object)
    out[...] = shapely.MultiPolygon()
    on = np.flatnonzero(stations.on_network)
    if len(on) == 0:
        return out
    pieces = _edge_pieces(network, stations, _reach(network, stations, float(radii.max())))
    centre = np.column_stack([stations.x[on], stations.y[on]])
    rank = np.full(len(stations), -1, dtype=np.int64)
    rank[on] = np.arange(len(on))
    for level, r in enumerate(radii):
        station, edge, t0, t1 = _cut(pieces, r)
        xy, owner = _sample(network, edge, t0, t1, station, spacing)
        out[on, level] = _raster_outline(
            network,
            xy,
            rank[owner],
            centre,
            radius=float(r),
            buffer_m=buffer_m,
            cell=resolution_m,
        )
    return out


@dataclass(frozen=True)
class _Pieces:
    """Each (station, edge) the search reached: the distances of the edge's two nodes, and
    on the station's own edge its position and access leg (NaN / inf elsewhere)."""

    station: IntArray
    edge: IntArray
    length: FloatArray
    du: FloatArray
    dv: FloatArray
    own_at: FloatArray
    own_access: FloatArray


def _edge_pieces(
    network: WalkNetwork, stations: Snap, reach: Iterator[tuple[IntArray, IntArray, FloatArray]]
) -> _Pieces:
    """Gather, per station, the edges at its reached nodes and at its own projection."""
    n, m = network.n_nodes, network.n_edges
    parts = list(reach)
    s = np.concatenate([np.zeros(0, dtype=np.int64), *(p[0] for p in parts)])
    node = np.concatenate([np.zeros(0, dtype=np.int64), *(p[1] for p in parts)])
    d = np.concatenate([np.zeros(0), *(p[2] for p in parts)])
    node_key = s * n + node
    order = np.argsort(node_key)
    node_key, d = node_key[order], d[order]
    count = network.incident_ptr[node + 1] - network.incident_ptr[node]
    edge = network.incident_edge[concat_ranges(network.incident_ptr[node], count)]
    on = np.flatnonzero(stations.on_network)
    key = np.unique(np.concatenate([np.repeat(s, count) * m + edge, on * m + stations.edge[on]]))
    ps, pe = key // m, key % m
    own = stations.edge[ps] == pe
    return _Pieces(
        station=ps,
        edge=pe,
        length=network.edge_length[pe],
        du=_lookup(node_key, d, ps * n + network.edge_u[pe]),
        dv=_lookup(node_key, d, ps * n + network.edge_v[pe]),
        own_at=np.where(own, stations.from_u[ps], np.nan),
        own_access=np.where(own, stations.access_m[ps], np.inf),
    )


def _cut(p: _Pieces, r: float) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Intervals [t0, t1] (metres from u) of each edge within ``r`` of its station: from
    either reached end, and around the station's projection on its own edge."""
    own = np.flatnonzero(np.isfinite(p.own_access))
    slack = r - p.own_access[own]
    station = np.concatenate([p.station, p.station, p.station[own]])
    edge = np.concatenate([p.edge, p.edge, p.edge[own]])
    t0 = np.concatenate(
        [
            np.where(p.du <= r, 0.0, np.inf),
            np.maximum(0.0, p.length - (r - p.dv)),
            np.maximum(0.0, p.own_at[own] - slack),
        ]
    )
    t1 = np.concatenate(
        [
            np.minimum(p.length, r - p.du),
            np.where(p.dv <= r, p.length, -np.inf),
            np.minimum(p.length[own], p.own_at[own] + slack),
        ]
    )
    keep = t0 <= t1
    return station[keep], edge[keep], t0[keep], t1[keep]


def _sample(
    network: WalkNetwork,
    edge: IntArray,
    t0: FloatArray,
    t1: FloatArray,
    owner: IntArray,
    spacing: float,
) -> tuple[FloatArray, IntArray]:
    """Points at most ``spacing`` apart along each interval, both ends of every segment
    part included."""
    piece, seg, f0, f1 = network.segment_pieces(edge, t0, t1)
    count = np.ceil(np.abs(f1 - f0) * network.seg_len[seg] / spacing).astype(np.int64) + 1
    which = np.repeat(np.arange(len(seg)), count)
    step = concat_ranges(np.zeros_like(count), count) / np.maximum(count - 1, 1)[which]
    frac = f0[which] + step * (f1 - f0)[which]
    return network.segment_point(seg[which], frac), owner[piece][which]


def _raster_outline(
    network: WalkNetwork,
    xy: FloatArray,
    owner: IntArray,
    centre: FloatArray,
    *,
    radius: float,
    buffer_m: float,
    cell: float,
) -> GeomArray:
    """Per owner, the cells within ``buffer_m`` of its points, as WGS84 MultiPolygons.

    A cell is marked when its index lies within ``buffer_m / cell`` of a point's cell.
    Each owner gets its own square window around ``centre``; every point lies within
    ``radius`` of it (a network distance is never shorter than the straight line), so the
    window keeps an empty border for the outline tracer.
    """
    k = int(np.ceil(buffer_m / cell))
    half = int(np.ceil(radius / cell)) + k + 2
    size = 2 * half
    origin = centre - half * cell
    ij = np.floor((xy - np.take(origin, owner, axis=0)) / cell).astype(np.int64)
    mask = np.zeros((len(centre), size, size), dtype=bool)
    mask[owner, ij[:, 1], ij[:, 0]] = True
    marked = np.flatnonzero(mask)
    di, dj = np.mgrid[-k : k + 1, -k : k + 1]
    disk = di**2 + dj**2 <= (buffer_m / cell) ** 2
    flat = mask.reshape(-1)
    for offset in (di[disk] * size + dj[disk]).tolist():  # the border keeps rows apart
        flat[marked + offset] = True
    return shapely.transform(_polygonize(mask, origin, cell), network.to_lonlat)


def _polygonize(mask: NDArray[np.bool_], origin: FloatArray, cell: float) -> GeomArray:
    """Trace a stack of binary images (empty border) into one MultiPolygon per image.

    Vectorized over the whole stack: boundary unit edges run with the inside on their left,
    rings are followed by pointer doubling, shells are counter-clockwise and holes belong
    to the 4-connected component of cells on their left. Diagonal-only contacts (saddles)
    are filled first, so rings never touch and the polygons are valid.
    """
    _fill_saddles(mask)
    out = np.empty(len(mask), dtype=object)
    out[...] = shapely.MultiPolygon()
    cross = np.zeros((3, 3, 3), dtype=bool)
    cross[1] = [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    labels, _ = ndimage.label(mask, structure=cross)
    start, end, inside, direction = _boundary_edges(mask)
    if len(start) == 0:
        return out
    h1, w1 = mask.shape[1] + 1, mask.shape[2] + 1
    by_start = np.argsort(start)
    nxt = by_start[np.searchsorted(start[by_start], end)]
    ring = _cycle_min(nxt)
    position = _cycle_rank(nxt, ring)
    order = np.lexsort((position, ring))
    ring, direction, start, end = ring[order], direction[order], start[order], end[order]
    first = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
    ring_id = np.cumsum(np.r_[True, ring[1:] != ring[:-1]]) - 1
    last = np.r_[first[1:], len(ring)] - 1
    previous = np.arange(len(ring)) - 1
    previous[first] = last
    corner = direction != direction[previous]
    k, si, sj = np.unravel_index(start, (len(mask), h1, w1))
    _, ei, ej = np.unravel_index(end, (len(mask), h1, w1))
    area2 = np.bincount(ring_id, weights=(sj * ei - ej * si).astype(np.float64))
    component = labels.reshape(-1)[inside[order][first]]
    ring_order = np.lexsort((area2 < 0, component))  # each component: shell, then holes
    coords = origin[k] + np.column_stack([sj, si]) * cell
    rank_of_ring = np.empty_like(ring_order)
    rank_of_ring[ring_order] = np.arange(len(ring_order))
    vertex_order = np.lexsort((np.arange(len(ring)), rank_of_ring[ring_id]))
    vertex_order = vertex_order[corner[vertex_order]]
    rings = shapely.linearrings(coords[vertex_order], indices=rank_of_ring[ring_id][vertex_order])
    comp_sorted = component[ring_order]
    comp_index = np.cumsum(np.r_[True, comp_sorted[1:] != comp_sorted[:-1]]) - 1
    polygons = shapely.polygons(rings, indices=comp_index)
    image = k[first][ring_order][np.r_[True, comp_sorted[1:] != comp_sorted[:-1]]]
    return shapely.multipolygons(polygons, indices=image, out=out)


def _fill_saddles(mask: NDArray[np.bool_]) -> None:
    """Fill one empty cell of every 2×2 block whose in-cells touch only diagonally."""
    while True:
        a, b = mask[:, :-1, :-1], mask[:, :-1, 1:]
        c, d = mask[:, 1:, :-1], mask[:, 1:, 1:]
        main = a & d & ~b & ~c
        anti = b & c & ~a & ~d
        if not (main.any() or anti.any()):
            return
        mask[:, :-1, 1:] |= main
        mask[:, :-1, :-1] |= anti


def _boundary_edges(mask: NDArray[np.bool_]) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Directed unit edges between in and out cells, inside on the left (x = column,
    y = row): start and end vertex ids, the inside cell's flat index, direction 0..3."""
    _, h, w = mask.shape
    above, below = mask[:, 1:, :], mask[:, :-1, :]  # the cells either side of row line i
    right, left = mask[:, :, 1:], mask[:, :, :-1]  # either side of column line j
    parts = []
    for cond, line, start, end, cell, direction in (
        (above & ~below, (1, 0), (0, 0), (0, 1), (0, 0), 0),  # +x
        (below & ~above, (1, 0), (0, 1), (0, 0), (-1, 0), 2),  # -x
        (right & ~left, (0, 1), (1, 0), (0, 0), (0, 0), 3),  # -y
        (left & ~right, (0, 1), (0, 0), (1, 0), (0, -1), 1),  # +y
    ):
        k, i, j = np.nonzero(cond)
        i, j = i + line[0], j + line[1]
        parts.append(
            (
                (k * (h + 1) + i + start[0]) * (w + 1) + j + start[1],
                (k * (h + 1) + i + end[0]) * (w + 1) + j + end[1],
                (k * h + i + cell[0]) * w + j + cell[1],
                np.full(len(k), direction),
            )
        )
    s, e, c, d = (np.concatenate(p) for p in zip(*parts, strict=True))
    return s, e, c, d


def _cycle_min(nxt: IntArray) -> IntArray:
    """Smallest index on each element's cycle of the permutation ``nxt`` (pointer doubling:
    once a doubling step changes nothing, every window already spans its whole cycle)."""
    low, jump = np.arange(len(nxt)), nxt
    while True:
        new = np.minimum(low, low[jump])
        if np.array_equal(new, low):
            return low
        low, jump = new, jump[jump]


def _cycle_rank(nxt: IntArray, head: IntArray) -> IntArray:
    """Steps from each cycle's head (its smallest index) to each element (list ranking)."""
    is_head = head == np.arange(len(nxt))
    tail = is_head[nxt]  # the element just before its head
    succ = np.where(tail, np.arange(len(nxt)), nxt)
    to_tail = (~tail).astype(np.int64)
    while True:
        jump = succ[succ]
        if np.array_equal(jump, succ):
            break
        to_tail, succ = to_tail + to_tail[succ], jump
    return -to_tail  # sorts like the distance from the head


# --- siting -------------------------------------------------------------------------


def suggest_sites(
    network: WalkNetwork,
    stations: ArrayLike,
    buildings: ArrayLike,
    households: ArrayLike,
    candidates: ArrayLike,
    *,
    minutes: float,
    count: int,
    speed_m_per_min: float = SPEED_M_PER_MIN,
    max_access_m: float = 300.0,
) -> Siting:
    """Greedy maximum coverage: up to ``count`` candidate sites (lon/lat rows), each adding
    the most households not yet within ``minutes`` of a station or an earlier pick.

    Each candidate's reach is searched once, bounded by the radius; the greedy is lazy
    (coverage is submodular, so a stale gain is an upper bound). Greedy is within 1 - 1/e
    of the best choice.
    """
    radius = minutes * speed_m_per_min
    targets = _snap(network, buildings, max_access_m)
    weight = np.asarray(households, dtype=np.float64).copy()
    near = nearest_snapped(network, _snap(network, stations, max_access_m), targets, limit=radius)
    weight[np.isfinite(near.distance_m)] = 0.0
    open_t = np.flatnonzero((weight > 0) & targets.on_network)
    sites = _snap(network, candidates, max_access_m)
    ptr, member = _reach_pairs(network, sites, targets, open_t, radius)
    owner = np.repeat(np.arange(len(sites)), np.diff(ptr))
    gain = np.bincount(owner, weights=weight[member], minlength=len(sites))
    heap = [(-g, c) for c, g in enumerate(gain.tolist()) if g > 0]
    heapq.heapify(heap)
    taken = np.zeros(len(weight), dtype=bool)
    chosen: list[int] = []
    added: list[float] = []
    while heap and len(chosen) < count:
        _, c = heapq.heappop(heap)
        reach = member[ptr[c] : ptr[c + 1]]
        g = float(weight[reach][~taken[reach]].sum())
        if heap and g < -heap[0][0]:
            if g > 0:
                heapq.heappush(heap, (-g, c))
            continue
        if g <= 0:
            break
        chosen.append(c)
        added.append(g)
        taken[reach] = True
    return Siting(candidate=np.asarray(chosen, dtype=np.int64), added_households=np.asarray(added))


def _reach_pairs(
    network: WalkNetwork, sources: Snap, targets: Snap, t: IntArray, limit: float
) -> tuple[IntArray, IntArray]:
    """Each source's targets (of ``t``) within ``limit``, as a CSR: (ptr, target)."""
    e = targets.edge[t]
    at_node = np.concatenate([network.edge_u[e], network.edge_v[e]])
    order, ptr = grouped(at_node, network.n_nodes)
    at_t = np.concatenate([t, t])[order]
    at_off = np.concatenate([targets.from_u[t], targets.from_v[t]])[order]
    at_off += np.concatenate([targets.access_m[t], targets.access_m[t]])[order]
    s2, t2, d2 = _same_edge_pairs(sources, targets, t)
    d2 += targets.access_m[t2]
    pair_s, pair_t = [s2[d2 <= limit]], [t2[d2 <= limit]]
    for s, node, d in _reach(network, sources, limit):
        count = ptr[node + 1] - ptr[node]
        idx = concat_ranges(ptr[node], count)
        ps, pt = np.repeat(s, count), at_t[idx]
        within = np.repeat(d, count) + at_off[idx] <= limit
        # Straight along a shared edge within reach is already listed above.
        shared = sources.edge[ps] == targets.edge[pt]
        direct = sources.access_m[ps] + np.abs(sources.from_u[ps] - targets.from_u[pt])
        within &= ~(shared & (direct + targets.access_m[pt] <= limit))
        # Nodes have one source per batch, so a pair repeats only via both of its edge's ends.
        key = np.unique(ps[within] * len(targets) + pt[within])
        pair_s.append(key // len(targets))
        pair_t.append(key % len(targets))
    s_all, t_all = np.concatenate(pair_s), np.concatenate(pair_t)
    order, ptr_s = grouped(s_all, len(sources))
    return ptr_s, t_all[order]


# --- shared machinery ---------------------------------------------------------------


def _snap(network: WalkNetwork, lonlat: ArrayLike, max_access_m: float) -> Snap:
    rows = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
    return network.snap(rows[:, 0], rows[:, 1], max_access_m=max_access_m)


def _with_sources(network: WalkNetwork, sources: Snap) -> tuple[csr_array, IntArray]:
    """The routing graph plus node ``n + i`` for on-network source ``src[i]`` (module doc)."""
    src = np.flatnonzero(sources.on_network)
    e = sources.edge[src]
    u, v = network.edge_u[e], network.edge_v[e]
    wu = sources.access_m[src] + sources.from_u[src]
    wv = sources.access_m[src] + sources.from_v[src]
    loop = u == v  # one entry, the shorter way round to its single node
    wu = np.where(loop, np.minimum(wu, wv), wu)
    keep = np.column_stack([np.ones(len(src), dtype=bool), ~loop]).reshape(-1)
    cols = np.column_stack([u, v]).reshape(-1)[keep]
    weights = np.column_stack([wu, wv]).reshape(-1)[keep]
    g = network.graph
    size = network.n_nodes + len(src)
    indptr = np.concatenate([g.indptr, g.indptr[-1] + np.cumsum(2 - loop)])
    graph = csr_array(
        (
            np.concatenate([g.data, weights]),
            np.concatenate([g.indices, cols]).astype(np.int32),
            indptr.astype(np.int32),
        ),
        shape=(size, size),
    )
    return graph, src


def _reach(
    network: WalkNetwork, sources: Snap, limit: float
) -> Iterator[tuple[IntArray, IntArray, FloatArray]]:
    """(source, node, metres) for every node within ``limit`` of each source on its own.

    Sources whose projections are more than ``2 * limit`` apart cannot reach a common node
    (a network distance is never shorter than the straight line), so one multi-source
    Dijkstra serves a whole batch of them exactly: sources are put in cells of that size,
    and a batch takes at most one source per cell from one of four alternating cell
    classes. This beats a (sources × nodes) distance matrix by far.
    """
    graph, src = _with_sources(network, sources)
    if len(src) == 0:
        return
    n = network.n_nodes
    size = max(2.0 * limit, 1.0) * (1 + 1e-9)
    cell = np.floor(np.column_stack([sources.x[src], sources.y[src]]) / size).astype(np.int64)
    cell_id = np.unique(cell, axis=0, return_inverse=True)[1].reshape(-1)
    order = np.argsort(cell_id, kind="stable")
    first = np.searchsorted(cell_id[order], cell_id[order])
    rank = np.empty(len(src), dtype=np.int64)
    rank[order] = np.arange(len(src)) - first
    batch = rank * 4 + (cell[:, 0] % 2) * 2 + cell[:, 1] % 2
    batch_order, batch_ptr = grouped(np.unique(batch, return_inverse=True)[1].reshape(-1), len(src))
    for rows in np.split(batch_order, batch_ptr[1:-1]):  # batches are never empty
        dist, _, origin = dijkstra(
            graph,
            directed=True,
            indices=n + rows,
            limit=limit,
            min_only=True,
            return_predecessors=True,
        )
        node = np.flatnonzero(dist[:n] <= limit)
        yield src[origin[node] - n], node, dist[node]


def _same_edge_pairs(
    sources: Snap, targets: Snap, t: IntArray
) -> tuple[IntArray, IntArray, FloatArray]:
    """(source, target, metres) for targets ``t`` sharing an edge with a source: the access
    leg plus the straight way along the edge (the target's own access leg not included)."""
    on = np.flatnonzero(sources.on_network)
    order = on[np.argsort(sources.edge[on], kind="stable")]
    edge = sources.edge[order]
    lo = np.searchsorted(edge, targets.edge[t], side="left")
    count = np.searchsorted(edge, targets.edge[t], side="right") - lo
    s = order[concat_ranges(lo, count)]
    tt = np.repeat(t, count)
    return s, tt, sources.access_m[s] + np.abs(sources.from_u[s] - targets.from_u[tt])


def _lookup(keys: IntArray, values: FloatArray, query: IntArray) -> FloatArray:
    """``values`` at ``query`` keys (``keys`` sorted, unique); inf where absent."""
    if len(keys) == 0:
        return np.full(len(query), np.inf)
    i = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[i] == query, values[i], np.inf)


def _pct(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole else None
