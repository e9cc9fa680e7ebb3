"""Walking isochrones: per station and level, the area around the network it reaches
within so many minutes, as WGS84 MultiPolygons (rasterised, then traced by
``geo.polygonize``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike

from geo._arrays import FloatArray, GeomArray, IntArray, concat_ranges
from geo.network import Snap, WalkNetwork
from geo.polygonize import polygonize
from geo.walk import LEVELS_MIN, SPEED_M_PER_MIN, nodes_within, snap_lonlat


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
    stations = snap_lonlat(network, stations_lonlat, max_access_m)
    radii = np.asarray(minutes, dtype=np.float64) * speed_m_per_min
    out = np.empty((len(stations), len(radii)), dtype=object)
    out[...] = shapely.MultiPolygon()
    on = np.flatnonzero(stations.on_network)
    if len(on) == 0:
        return out
    pieces = _edge_pieces(network, stations, nodes_within(network, stations, float(radii.max())))
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
    return shapely.transform(polygonize(mask, origin, cell), network.to_lonlat)


def _lookup(keys: IntArray, values: FloatArray, query: IntArray) -> FloatArray:
    """``values`` at ``query`` keys (``keys`` sorted, unique); inf where absent."""
    if len(keys) == 0:
        return np.full(len(query), np.inf)
    i = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[i] == query, values[i], np.inf)
