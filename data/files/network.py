"""The walking network from a file: an OSM extract (pyrosm's walking network) or any vector
file of lines, read as a WalkNetwork and imported into PostGIS (stored by ``data.network``).
"""

from __future__ import annotations

from pathlib import Path

from pyrosm.exceptions import PBFException
from sqlalchemy.orm import Session

from data.db import Progress
from data.errors import ImportFileError
from data.files.vector import read_vector
from data.network import save_network
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
