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
    """Replace the stored network with ``network``; returns the number of edges."""
    session.execute(delete(NetworkEdge))
    session.execute(delete(NetworkNode))
    nodes = [
        {"id": i + 1, "geom": f"SRID=4326;POINT({x!r} {y!r})"}
        for i, (x, y) in enumerate(network.node_lonlat.tolist())
    ]
    bulk_insert(session, NetworkNode, nodes)
    vertices = network.to_lonlat(network.vertex_xy)
    # Ends exactly at the node coordinates: the reload (from_lines) joins edges only at
    # identical vertices, and the metric round trip is not bit-exact.
    vertices[network.vertex_ptr[:-1]] = network.node_lonlat[network.edge_u]
    vertices[network.vertex_ptr[1:] - 1] = network.node_lonlat[network.edge_v]
    lines = shapely.linestrings(
        vertices, indices=np.repeat(np.arange(network.n_edges), np.diff(network.vertex_ptr))
    )
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


def load_network(*, session: Session) -> WalkNetwork | None:
    """The stored network, or None when none was imported."""
    rows = session.execute(select(func.ST_AsBinary(NetworkEdge.geom))).scalars().all()
    if not rows:
        return None
    return WalkNetwork.from_lines(shapely.from_wkb([bytes(r) for r in rows]))
