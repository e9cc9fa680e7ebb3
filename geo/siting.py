"""Station siting: greedy maximum coverage of households by new sites chosen from
candidates, on top of the existing stations.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from geo._arrays import FloatArray, IntArray, concat_ranges, grouped
from geo.network import Snap, WalkNetwork
from geo.walk import (
    SPEED_M_PER_MIN,
    nearest_snapped,
    nodes_within,
    same_edge_pairs,
    snap_lonlat,
    snap_targets,
)


@dataclass(frozen=True)
class Siting:
    """Chosen candidate indices in the order picked and the households each newly covers."""

    candidate: IntArray
    added_households: FloatArray


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
    mainland_stations: ArrayLike | None = None,
) -> Siting:
    """Greedy maximum coverage: up to ``count`` candidate sites (lon/lat rows), each adding
    the most households not yet within ``minutes`` of a station or an earlier pick.

    Buildings join the mainland of ``stations`` (``geo.walk``), or of ``mainland_stations``
    when given: all stations, when ``stations`` are one facility kind's, so buildings join
    the network where a compliance run joins them.

    Each candidate's reach is searched once, bounded by the radius; the greedy is lazy
    (coverage is submodular, so a stale gain is an upper bound). Greedy is within 1 - 1/e
    of the best choice.
    """
    radius = minutes * speed_m_per_min
    existing = snap_lonlat(network, stations, max_access_m)
    anchors = existing
    if mainland_stations is not None:
        anchors = snap_lonlat(network, mainland_stations, max_access_m)
    targets, _ = snap_targets(network, anchors, buildings, max_access_m)
    weight = np.asarray(households, dtype=np.float64).copy()
    near = nearest_snapped(network, existing, targets, limit=radius)
    weight[np.isfinite(near.distance_m)] = 0.0
    open_t = np.flatnonzero((weight > 0) & targets.on_network)
    sites = snap_lonlat(network, candidates, max_access_m)
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
    s2, t2, d2 = same_edge_pairs(sources, targets, t)
    d2 += targets.access_m[t2]
    pair_s, pair_t = [s2[d2 <= limit]], [t2[d2 <= limit]]
    for s, node, d in nodes_within(network, sources, limit):
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
