"""The walking network from a file: an OSM extract (pyrosm's walking network) or any vector
file of lines, read as a WalkNetwork and imported into PostGIS (stored by ``data.network``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pyrosm.exceptions import PBFException
from sqlalchemy.orm import Session

from data.db import Progress
from data.errors import ImportFileError
from data.files.osm import pbf_named
from data.files.vector import osm_kind, read_vector
from data.network import save_network
from geo.errors import GeoError
from geo.network import WalkNetwork


def read_network(path: str | Path) -> WalkNetwork:
    """A WalkNetwork from an OSM .pbf extract (pyrosm's walking network; recognised by its
    content, not its name) or a vector file of lines; OSM XML is refused with one line."""
    path = Path(path)
    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    kind = osm_kind(path)
    if kind == "XML":
        raise ImportFileError(
            f"{path}: OpenStreetMap XML is not read here; convert it to PBF first, e.g. "
            f"`osmium cat {path.name} -o {path.stem}.osm.pbf`"
        )
    try:
        if kind == "PBF":
            with pbf_named(path) as pbf:
                return WalkNetwork.from_osm(pbf)
        lines = read_vector(path).geometry.to_numpy()
        return WalkNetwork.from_lines(lines)
    except GeoError as exc:
        raise ImportFileError(f"{path}: {exc}") from exc
    except (PBFException, ValueError) as exc:  # pyrosm on a corrupt extract or OSM XML
        raise ImportFileError(
            f"{path}: cannot read the walk network, an .osm.pbf extract is needed ({exc})"
        ) from exc


def import_network(
    *,
    session: Session,
    path: str | Path,
    progress: Progress = None,
    report: Callable[[str], None] | None = None,
) -> int:
    """Replace the stored network with the one in ``path``; returns the number of edges."""
    network = read_network(path)
    if report:
        report(
            f"walking network of {Path(path).name}: {network.n_nodes} nodes, "
            f"{network.n_edges} edges"
        )
    return save_network(session=session, network=network, progress=progress)
