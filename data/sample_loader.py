"""Loading the bundled sample city (data/sample/nanjing, © OpenStreetMap contributors, ODbL)."""

from __future__ import annotations

from importlib.resources import as_file

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from data.db import Progress
from data.files import importers
from data.files.network import import_network
from data.models import Building, Grid, GridVersion, Region, Station
from data.people import sync_grid_workers
from data.sample import sample_dir


def sample_loaded(*, session: Session) -> bool:
    return bool(session.execute(select(exists().where(Grid.valid_to.is_(None)))).scalar())


def load_sample(*, session: Session, progress: Progress = None) -> int:
    """Replace regions, grids, buildings, stations and the network with the sample city's."""
    for model in (Building, Station, Grid, GridVersion, Region):
        session.execute(delete(model))
    with as_file(sample_dir()) as folder:
        count = importers.import_regions(session=session, path=folder / "regions.geojson")
        count += importers.import_buildings(
            session=session, path=folder / "buildings.geojson", progress=progress
        )
        count += importers.import_grids(
            session=session,
            path=folder / "grids.geojson",
            community_field="community",
            name_field="name",
            author="gridmap",
            progress=progress,
        )
        count += importers.import_stations(
            session=session, path=folder / "stations.geojson", progress=progress
        )
        count += import_network(session=session, path=folder / "network.geojson", progress=progress)
    sync_grid_workers(session=session)
    return count
