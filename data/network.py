"""The walking network in PostGIS: store a WalkNetwork, load it back as one.

Reading a network from a file and importing it is ``data.files.network``.
"""

from __future__ import annotations

import numpy as np
import shapely
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from data.db import Progress, bulk_insert
from data.models import NetworkEdge, NetworkNode, ewkt
from geo.network import WalkNetwork


def save_network(*, session: Session, network: WalkNetwork, progress: Progress = None) -> int:
    """Replace the stored network with ``network``; returns the number of edges written
    (0 when the stored network is the same already: an identical re-import writes nothing).
    """
    nodes = [
        {"id": i + 1, "geom": f"SRID=4326;POINT({x!r} {y!r})"}
        for i, (x, y) in enumerate(network.node_lonlat.tolist())
    ]
    vertices = network.to_lonlat(network.vertex_xy)
    # Ends exactly at the node coordinates: the reload (from_lines) joins edges only at
    # identical vertices, and the metric round trip is not bit-exact.
    vertices[network.vertex_ptr[:-1]] = network.node_lonlat[network.edge_u]
    vertices[network.vertex_ptr[1:] - 1] = network.node_lonlat[network.edge_v]
    lines = shapely.linestrings(
        vertices, indices=np.repeat(np.arange(network.n_edges), np.diff(network.vertex_ptr))
    )
    if _stored_equals(session, network, lines):
        return 0
    session.execute(delete(NetworkEdge))
    session.execute(delete(NetworkNode))
    bulk_insert(session, NetworkNode, nodes)
    edges = [
        {
            "source": int(u) + 1,
            "target": int(v) + 1,
            "length_m": float(length),
            "geom": ewkt(line),
        }
        for u, v, length, line in zip(
            network.edge_u, network.edge_v, network.edge_length, lines, strict=True
        )
    ]
    return bulk_insert(session, NetworkEdge, edges, progress)


def _stored_equals(session: Session, network: WalkNetwork, lines: np.ndarray) -> bool:
    """Whether the stored nodes and edges are exactly what saving ``network`` would write."""
    stored_nodes = session.execute(
        select(func.ST_X(NetworkNode.geom), func.ST_Y(NetworkNode.geom)).order_by(NetworkNode.id)
    ).all()
    if len(stored_nodes) != network.n_nodes or not np.array_equal(
        np.array(stored_nodes, dtype=np.float64).reshape(-1, 2), network.node_lonlat
    ):
        return False
    stored = session.execute(
        select(
            NetworkEdge.source,
            NetworkEdge.target,
            NetworkEdge.length_m,
            func.ST_AsBinary(NetworkEdge.geom),
        ).order_by(NetworkEdge.id)
    ).all()
    if len(stored) != network.n_edges:
        return False
    ends = np.array([(r[0], r[1]) for r in stored], dtype=np.int64).reshape(-1, 2)
    lengths = np.array([r[2] for r in stored], dtype=np.float64)
    geoms = shapely.from_wkb([bytes(r[3]) for r in stored])
    return (
        np.array_equal(ends, np.column_stack([network.edge_u, network.edge_v]) + 1)
        and np.array_equal(lengths, network.edge_length)
        and bool(shapely.equals_exact(geoms, lines, tolerance=0.0).all())
    )


def load_network(*, session: Session) -> WalkNetwork | None:
    """The stored network, or None when none was imported."""
    rows = session.execute(select(func.ST_AsBinary(NetworkEdge.geom))).scalars().all()
    if not rows:
        return None
    return WalkNetwork.from_lines(shapely.from_wkb([bytes(r) for r in rows]))
