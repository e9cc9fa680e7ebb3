"""Walk distances on a ``WalkNetwork``: each target's nearest source along the network,
what is covered within a walking time, and the search machinery that isochrones and siting
share (snapping lon/lat rows, the nodes each source reaches, sources sharing an edge).

The distance rule (docs/design.md) is exact: the station's access leg, the shortest network path
between the two projections (or along their shared edge directly) and the building's access
leg. Buildings (targets) join the *mainland*: the nearest edge of a component that holds a
station or has at least ``mainland_min_nodes`` nodes, so a building beside a footpath
fragment is not counted unreachable (``mainland_edges``, ``snap_targets``); stations join
their nearest edge. scipy's Dijkstra starts every source at zero, so each source becomes an
extra graph node whose two edges to its edge's ends carry the access leg plus the partial
edge lengths; source nodes have only outgoing edges, so no path passes through them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csr_array
from scipy.sparse.csgraph import dijkstra

from geo._arrays import FloatArray, IntArray, concat_ranges, first_of_runs, grouped
from geo.network import Snap, WalkNetwork

SPEED_M_PER_MIN = 75.0
LEVELS_MIN: tuple[float, ...] = (5.0, 10.0, 15.0)
MAINLAND_MIN_NODES = 50
"""A component this large is mainland even without a station (the setting's default)."""


@dataclass(frozen=True)
class Nearest:
    """Per target: metres to the nearest source (inf when unreachable) and its index (-1);
    ``moved_off_islands``: targets whose nearest edge lay on an island, snapped to the
    mainland instead."""

    distance_m: FloatArray
    source: IntArray
    moved_off_islands: int = 0


def mainland_edges(
    network: WalkNetwork, sources: Snap, *, min_nodes: int = MAINLAND_MIN_NODES
) -> NDArray[np.bool_]:
    """Edges of the components holding a snapped source or having >= ``min_nodes`` nodes."""
    component = network.component_of_edge()
    big = network.component_nodes() >= min_nodes
    big[component[sources.edge[sources.on_network]]] = True
    return big[component]


def snap_targets(
    network: WalkNetwork,
    sources: Snap,
    targets_lonlat: ArrayLike,
    max_access_m: float,
    *,
    min_nodes: int = MAINLAND_MIN_NODES,
) -> tuple[Snap, int]:
    """Targets snapped to the mainland (module doc), and how many were moved off islands
    (their nearest edge overall lay elsewhere)."""
    nearest = snap_lonlat(network, targets_lonlat, max_access_m)
    ok = mainland_edges(network, sources, min_nodes=min_nodes)
    island = nearest.on_network & ~ok[np.maximum(nearest.edge, 0)]
    if not island.any():
        return nearest, 0
    rows = np.asarray(targets_lonlat, dtype=np.float64).reshape(-1, 2)[island]
    moved = network.snap(rows[:, 0], rows[:, 1], max_access_m=max_access_m, edges_ok=ok)
    fields = {}
    for name in ("edge", "from_u", "from_v", "access_m", "x", "y"):
        column = getattr(nearest, name).copy()
        column[island] = getattr(moved, name)
        fields[name] = column
    return Snap(**fields), int(moved.on_network.sum())


# --- distances ----------------------------------------------------------------------


def walk_distances(
    network: WalkNetwork,
    sources_lonlat: ArrayLike,
    targets_lonlat: ArrayLike,
    *,
    max_access_m: float = 300.0,
) -> FloatArray:
    """Metres from each target to its nearest source along the network; inf if unreachable
    (targets join the mainland: module doc)."""
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
    mainland_min_nodes: int = MAINLAND_MIN_NODES,
) -> Nearest:
    """Distance to and index of each target's nearest source; beyond ``limit`` counts as
    unreachable, which bounds the search (use the coverage radius for speed). Targets
    join the mainland (module doc).
    """
    sources = snap_lonlat(network, sources_lonlat, max_access_m)
    targets, moved = snap_targets(
        network, sources, targets_lonlat, max_access_m, min_nodes=mainland_min_nodes
    )
    found = nearest_snapped(network, sources, targets, limit=limit)
    return Nearest(found.distance_m, found.source, moved_off_islands=moved)


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
    s, tt, d = same_edge_pairs(sources, targets, t)
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


# --- covered within a time ----------------------------------------------------------


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


# --- shared machinery ---------------------------------------------------------------


def snap_lonlat(network: WalkNetwork, lonlat: ArrayLike, max_access_m: float) -> Snap:
    """Snap lon/lat rows (any shape that reshapes to (n, 2)) onto the network."""
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


def nodes_within(
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


def same_edge_pairs(
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
