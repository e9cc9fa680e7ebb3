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

from geo.network import FloatArray, IntArray, Snap, WalkNetwork

SPEED_M_PER_MIN = 75.0
LEVELS_MIN: tuple[float, ...] = (5.0, 10.0, 15.0)
_CHUNK = 64  # sources per bounded Dijkstra call: bounds the dense (sources × nodes) matrix

GeomArray = NDArray[np.object_]


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
        node_src = np.where(origin[:n] >= n, src[origin[:n] - n], -1)
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
    first = np.ones(len(tt), dtype=bool)
    first[1:] = tt[1:] != tt[:-1]
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
    groups: ArrayLike | None = None,
    *,
    households: ArrayLike | None = None,
    population: ArrayLike | None = None,
) -> list[GroupCoverage]:
    """Buildings, households and population covered per group key (sorted by key); one row
    with key None for all buildings when ``groups`` is None.
    """
    cov = np.asarray(covered, dtype=bool)
    keys, inverse = (
        (np.array([None], dtype=object), np.zeros(len(cov), dtype=np.int64))
        if groups is None
        else np.unique(np.asarray(groups), return_inverse=True)
    )
    inverse = inverse.reshape(-1)

    def sums(weights: ArrayLike | None) -> tuple[FloatArray, FloatArray]:
        w = np.ones(len(cov)) if weights is None else np.asarray(weights, dtype=np.float64)
        total = np.bincount(inverse, weights=w, minlength=len(keys))
        return total, np.bincount(inverse, weights=w * cov, minlength=len(keys))

    b, cb = sums(None)
    h, ch = sums(households) if households is not None else (np.zeros(len(keys)),) * 2
    p, cp = sums(population) if population is not None else (np.zeros(len(keys)),) * 2
    return [
        GroupCoverage(
            key=k.item() if isinstance(k, np.generic) else k,
            buildings=int(b[i]),
            covered_buildings=int(cb[i]),
            households=float(h[i]),
            covered_households=float(ch[i]),
            population=float(p[i]),
            covered_population=float(cp[i]),
        )
        for i, k in enumerate(keys)
    ]


def gaps_by_group(covered: ArrayLike, groups: ArrayLike) -> dict[Any, IntArray]:
    """Indices of the uncovered buildings, grouped by key (only groups that have gaps)."""
    gap = np.flatnonzero(~np.asarray(covered, dtype=bool))
    keys, inverse = np.unique(np.asarray(groups)[gap], return_inverse=True)
    order = np.argsort(inverse.reshape(-1), kind="stable")
    bounds = np.cumsum(np.bincount(inverse.reshape(-1), minlength=len(keys)))[:-1]
    return {
        k.item() if isinstance(k, np.generic) else k: part
        for k, part in zip(keys, np.split(gap[order], bounds), strict=True)
    }


# --- isochrones ---------------------------------------------------------------------


def isochrones(
    network: WalkNetwork,
    stations_lonlat: ArrayLike,
    *,
    minutes: Sequence[float] = LEVELS_MIN,
    speed_m_per_min: float = SPEED_M_PER_MIN,
    buffer_m: float = 50.0,
    resolution_m: float = 10.0,
    max_access_m: float = 300.0,
) -> GeomArray:
    """Each station's walking isochrone per level: (stations, levels) WGS84 MultiPolygons.

    The area is the reached network — whole edges and the reached parts of edges, the
    station's access leg counted — widened by ``buffer_m``, dissolved. It is rasterised at
    ``resolution_m`` rather than buffered in GEOS (which needs ~50 ms a station, see
    BASELINES): a cell is in when it lies within ``buffer_m`` of a point sampled at most
    ``resolution_m`` apart along the reached pieces, so the outline is within about one
    cell of the exact buffer, and every reached point of the network lies strictly inside
    (a buffer of at least √2 cells guarantees it). Empty where the station is off-network.
    """
    if resolution_m <= 0 or buffer_m <= 0:
        raise ValueError("buffer_m and resolution_m must be positive")
    stations = _snap(network, stations_lonlat, max_access_m)
    radii = np.asarray(minutes, dtype=np.float64) * speed_m_per_min
    out = np.empty((len(stations), len(radii)), dtype=object)
    out[...] = shapely.MultiPolygon()
    s, node, d = _reach(network, stations, float(radii.max(initial=0.0)))
    pieces = _edge_pieces(network, stations, s, node, d)
    on = np.flatnonzero(stations.on_network)
    if len(on) == 0:
        return out
    centre = np.column_stack([stations.x[on], stations.y[on]])
    rank = np.full(len(stations), -1, dtype=np.int64)
    rank[on] = np.arange(len(on))
    for level, r in enumerate(radii):
        station, edge, t0, t1 = _cut(pieces, r)
        xy, owner = _sample(network, edge, t0, t1, station, resolution_m)
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
    """Per (station, edge) reached: node distances at both ends, and for the station's own
    edge its position and access leg (inf elsewhere)."""

    station: IntArray
    edge: IntArray
    du: FloatArray
    dv: FloatArray
    own_at: FloatArray
    own_access: FloatArray


def _edge_pieces(
    network: WalkNetwork, stations: Snap, s: IntArray, node: IntArray, d: FloatArray
) -> _Pieces:
    n, m = network.n_nodes, network.n_edges
    count = network.incident_ptr[node + 1] - network.incident_ptr[node]
    starts = np.repeat(network.incident_ptr[node], count)
    offs = np.arange(len(starts)) - np.repeat(np.cumsum(count) - count, count)
    edge = network.incident_edge[starts + offs]
    on = np.flatnonzero(stations.on_network)
    key = np.unique(np.concatenate([np.repeat(s, count) * m + edge, on * m + stations.edge[on]]))
    ps, pe = key // m, key % m
    node_key = s * n + node  # sorted: _reach returns rows in (station, node) order

    def at(nodes: IntArray) -> FloatArray:
        i = np.minimum(np.searchsorted(node_key, ps * n + nodes), len(node_key) - 1)
        hit = len(node_key) > 0
        return np.where(hit & (node_key[i] == ps * n + nodes), d[i] if hit else 0.0, np.inf)

    own = stations.edge[ps] == pe
    return _Pieces(
        station=ps,
        edge=pe,
        du=at(network.edge_u[pe]),
        dv=at(network.edge_v[pe]),
        own_at=np.where(own, stations.from_u[ps], np.nan),
        own_access=np.where(own, stations.access_m[ps], np.inf),
    )


def _cut(p: _Pieces, r: float) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Intervals [t0, t1] (metres from u) of each edge within ``r`` of its station."""
    length = _length_of(p)
    from_u = np.minimum(length, r - p.du)
    from_v = np.maximum(0.0, length - (r - p.dv))
    slack = r - p.own_access
    own = np.isfinite(p.own_access)
    station = np.concatenate([p.station, p.station, p.station[own]])
    edge = np.concatenate([p.edge, p.edge, p.edge[own]])
    t0 = np.concatenate([np.zeros(len(p.edge)), from_v, np.maximum(0.0, p.own_at[own] - slack[own])])
    t1 = np.concatenate([from_u, length, np.minimum(length[own], p.own_at[own] + slack[own])])
    keep = t0 <= t1
    keep[: 2 * len(p.edge)] &= np.concatenate([p.du <= r, p.dv <= r])
    return station[keep], edge[keep], t0[keep], t1[keep]


def _length_of(p: _Pieces) -> FloatArray:
    raise NotImplementedError
