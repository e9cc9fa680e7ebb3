"""Loading the bundled sample city (data/sample/nanjing, © OpenStreetMap contributors, ODbL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.resources import as_file

from sqlalchemy import delete, exists, func, select, text
from sqlalchemy.orm import Session

from data.db import Progress
from data.files import importers
from data.files.network import import_network
from data.incidents import NewIncident, PastStep, insert_history
from data.models import Building, Grid, GridVersion, Region, Station
from data.people import sync_grid_workers, workers_by_grid
from data.sample import sample_dir
from data.sample.history import synthetic_year


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


SAMPLE_ACTOR = "gridmap:sample"


def sample_history(
    *, session: Session, end: datetime, count: int, deadlines: dict[str, timedelta], seed: int = 0
) -> list[tuple[NewIncident, list[PastStep]]]:
    """The synthetic year before ``end`` on the loaded city's buildings, each dispatch going to
    the grid's worker: (report, steps) pairs ready for ``insert_history``."""
    places = session.execute(
        select(func.ST_X(Building.geom), func.ST_Y(Building.geom), Building.grid_code)
        .where(Building.grid_code.is_not(None))
        .order_by(Building.id)
    ).all()
    if not places:
        return []
    workers = workers_by_grid(session=session)
    lons, lats, codes = zip(*places, strict=True)
    year = synthetic_year(
        lons=lons,
        lats=lats,
        grid_codes=codes,
        end=end,
        count=count,
        deadlines=deadlines,
        seed=seed,
    )
    return [
        (
            NewIncident(
                category=r.category,
                description=r.description,
                lon=r.lon,
                lat=r.lat,
                grid_code=r.grid_code,
                priority=r.priority,
                reported_at=r.reported_at,
            ),
            [
                PastStep(s, at, note, workers.get(r.grid_code) if s == "dispatched" else None)
                for s, at, note in r.steps
            ],
        )
        for r in year
    ]


def sample_photo_keys(*, session: Session) -> list[str]:
    """The storage keys of photos on the sample's synthetic reports (a handler may have
    attached one in the demo): reloading the sample removes those rows, the caller the files."""
    rows = session.execute(
        text(
            "SELECT p.storage_key, p.thumb_key FROM photos p JOIN incidents i "
            "ON i.id = p.incident_id WHERE i.reporter = :a"
        ),
        {"a": SAMPLE_ACTOR},
    )
    return [key for row in rows for key in row]


def load_sample_history(
    *,
    session: Session,
    end: datetime,
    deadlines: dict[str, timedelta],
    count: int = 6000,
    seed: int = 0,
) -> int:
    """Replace the sample's synthetic reports with a fresh year of them ending at ``end``."""
    session.execute(
        text(
            "DELETE FROM incident_events WHERE incident_id IN "
            "(SELECT id FROM incidents WHERE reporter = :a)"
        ),
        {"a": SAMPLE_ACTOR},
    )
    session.execute(
        text(
            "UPDATE incidents SET merged_into = NULL WHERE merged_into IN "
            "(SELECT id FROM incidents WHERE reporter = :a)"
        ),
        {"a": SAMPLE_ACTOR},
    )
    session.execute(text("DELETE FROM incidents WHERE reporter = :a"), {"a": SAMPLE_ACTOR})
    rows = sample_history(session=session, end=end, count=count, deadlines=deadlines, seed=seed)
    return len(
        insert_history(session=session, rows=rows, deadlines=deadlines, actor=SAMPLE_ACTOR, now=end)
    )


def load_sample_city(
    *,
    session: Session,
    deadlines: dict[str, timedelta],
    progress: Progress = None,
    reports: int = 6000,
) -> int:
    """The sample city and a year of its synthetic reports up to today (00:00 UTC), so the
    incident map, the statistics and the stats map have something to show on first start."""
    count = load_sample(session=session, progress=progress)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return count + load_sample_history(session=session, end=end, deadlines=deadlines, count=reports)
