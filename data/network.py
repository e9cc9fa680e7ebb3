"""The walking network in PostGIS: import from OSM or line files, load as a WalkNetwork."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from pyrosm.exceptions import PBFException
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from data.db import Progress, bulk_insert
from data.errors import ImportFileError
from data.models import NetworkEdge, NetworkNode, ewkt
from data.vector import read_vector
from geo.errors import GeoError
from geo.network import WalkNetwork

OSM_SUFFIXES = (".pbf", ".osm")


def read_network(path: str | Path) -> WalkNetwork:
    """A WalkNetwork from an OSM extract (pyrosm's walking network) or a file of lines."""
    path = Path(path)
    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    try:
        if path.suffix.lower() in OSM_SUFFIXES:
            return WalkNetwork.from_osm(path)
        lines = read_vector(path).geometry.to_numpy()
        return WalkNetwork.from_lines(lines)
    except GeoError as exc:
        raise ImportFileError(f"{path}: {exc}") from exc
    except (PBFException, ValueError) as exc:  # pyrosm on a corrupt extract or OSM XML
        raise ImportFileError(
            f"{path}: cannot read the walk network, an .osm.pbf extract is needed ({exc})"
        ) from exc


def import_network(*, session: Session, path: str | Path, progress: Progress = None) -> int:
    """Replace the stored network with the one in ``path``; returns the number of edges."""
    return save_network(session=session, network=read_network(path), progress=progress)


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
