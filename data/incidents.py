"""Incident repository: idempotent intake, filtered keyset listing, bulk import.

Idempotency rests on the unique ``client_id`` constraint (INSERT … ON CONFLICT DO
NOTHING), never on read-then-write, so concurrent retries cannot duplicate a report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, insert, select, text
from sqlalchemy.orm import Session

from data.errors import NotFoundError
from data.lifecycle import INITIAL, Priority, due_at
from data.models import Grid, Incident, IncidentEvent


@dataclass(frozen=True)
class NewIncident:
    category: str
    description: str
    lon: float
    lat: float
    grid_code: str | None
    priority: Priority
    reported_at: datetime | None
    client_id: str | None = None


_COLUMNS = (
    Incident.id,
    Incident.client_id,
    Incident.category,
    Incident.description,
    Incident.priority,
    Incident.status,
    Incident.grid_code,
    Incident.reported_at,
    Incident.created_at,
    Incident.due_at,
    Incident.closed_at,
    func.ST_X(Incident.geom).label("lon"),
    func.ST_Y(Incident.geom).label("lat"),
)


def _values(
    new: NewIncident, *, deadlines: dict[str, timedelta], reporter: str | None, now: datetime
) -> dict[str, Any]:
    reported = new.reported_at or now
    return {
        "client_id": new.client_id,
        "category": new.category,
        "description": new.description,
        "priority": new.priority,
        "status": INITIAL,
        "grid_code": new.grid_code,
        "geom": f"SRID=4326;POINT({new.lon!r} {new.lat!r})",
        "reported_at": reported,
        "due_at": due_at(reported, new.priority, deadlines),
        "reporter": reporter,
    }


CREATE = text(
    """
    WITH ins AS (
        INSERT INTO incidents (client_id, category, description, priority, status, grid_code,
                               geom, reported_at, due_at, reporter)
        VALUES (:client_id, :category, :description, :priority, :status,
                gridmap_filing_grid(CAST(:grid_code AS text), ST_GeomFromEWKT(:geom), :tolerance_m,
                                    CAST(:index_state AS bigint),
                                    CAST(:index_until AS timestamptz)),
                ST_GeomFromEWKT(:geom), :reported_at, :due_at, :reporter)
        ON CONFLICT (client_id) DO NOTHING
        RETURNING *),
    ev AS (
        INSERT INTO incident_events (incident_id, from_status, to_status, actor)
        SELECT id, NULL, :status, :reporter FROM ins)
    SELECT id, client_id, category, description, priority, status, grid_code, reported_at,
           created_at, due_at, closed_at, ST_X(geom) AS lon, ST_Y(geom) AS lat
    FROM ins
    """
)


def create_incident(
    *,
    session: Session,
    new: NewIncident,
    deadlines: dict[str, timedelta],
    reporter: str | None,
    now: datetime,
    tolerance_m: float = 50.0,
    index_state: int | None = None,
    index_until: datetime | None = None,
) -> tuple[dict[str, Any], bool]:
    """Store a report and its first event in one statement unless its ``client_id`` is
    known; returns (record, created). ``new.grid_code`` is taken when it comes from an index
    of the grids as they still are (built at grid state ``index_state``, holding until
    ``index_until``); else the database locates the point itself (migration 0004's
    ``gridmap_filing_grid``), so no incident is filed with a grid a redraw just changed."""
    values = _values(new, deadlines=deadlines, reporter=reporter, now=now)
    values.update(tolerance_m=tolerance_m, index_state=index_state, index_until=index_until)
    # Core-level execute on the session's connection: half the CPU of Session.execute on
    # this hot path, same transaction.
    row = session.connection().execute(CREATE, values).first()
    if row is not None:
        return dict(row._mapping), True
    existing = session.execute(
        select(Incident.id).where(Incident.client_id == new.client_id)
    ).scalar_one()
    return get_incident(session=session, incident_id=existing), False


def get_incident(*, session: Session, incident_id: int) -> dict[str, Any]:
    row = session.execute(select(*_COLUMNS).where(Incident.id == incident_id)).first()
    if row is None:
        raise NotFoundError(f"no incident {incident_id}")
    return dict(row._mapping)


def list_incidents(
    *,
    session: Session,
    grid: str | None = None,
    community: str | None = None,
    status: str | None = None,
    category: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    since: datetime | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Incidents in id order after ``after_id`` (keyset paging: stable under inserts)."""
    query: Select[Any] = select(*_COLUMNS)
    if grid is not None:
        query = query.where(Incident.grid_code == grid)
    if community is not None:
        in_community = select(Grid.code).where(Grid.community == community, Grid.valid_to.is_(None))
        query = query.where(Incident.grid_code.in_(in_community))
    if status is not None:
        query = query.where(Incident.status == status)
    if category is not None:
        query = query.where(Incident.category == category)
    if bbox is not None:
        query = query.where(Incident.geom.intersects(func.ST_MakeEnvelope(*bbox, 4326)))
    if since is not None:
        query = query.where(Incident.reported_at >= since)
    if after_id is not None:
        query = query.where(Incident.id > after_id)
    return [dict(r._mapping) for r in session.execute(query.order_by(Incident.id).limit(limit))]


def insert_many(
    *,
    session: Session,
    rows: Sequence[NewIncident],
    deadlines: dict[str, timedelta],
    reporter: str | None,
    now: datetime,
) -> list[int]:
    """Bulk intake (CSV import): one first event per row; ids in input order."""
    if not rows:
        return []
    values = [_values(r, deadlines=deadlines, reporter=reporter, now=now) for r in rows]
    ids = list(
        session.execute(
            insert(Incident).returning(Incident.id, sort_by_parameter_order=True), values
        ).scalars()
    )
    session.execute(
        insert(IncidentEvent),
        [
            {"incident_id": i, "from_status": None, "to_status": INITIAL, "actor": reporter}
            for i in ids
        ],
    )
    return ids
