"""Removing single records a wrong import left behind: retire a grid (its history stays),
delete a building, a station or an incident (with its events). Each takes the caller's
session and raises NotFoundError when there is nothing to remove; callers audit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from data import grids as grid_repo
from data.errors import NotFoundError
from data.models import Building, Grid, Incident, IncidentEvent, Station


def retire_grid(*, session: Session, code: str) -> dict[str, Any]:
    """Close the current version of grid ``code`` (kept in its history); buildings are
    reassigned (those it held now fall in no grid or a neighbour)."""
    found = session.execute(
        update(Grid)
        .where(Grid.code == code, Grid.valid_to.is_(None))
        .values(valid_to=func.now())
        .returning(Grid.id, Grid.name)
    ).first()
    if found is None:
        raise NotFoundError(f"no current grid {code!r}")
    grid_repo.reassign_buildings(session=session)
    return {"code": code, "id": found.id, "name": found.name}


def _delete(session: Session, model: Any, record_id: int, what: str) -> dict[str, Any]:
    row = session.execute(
        delete(model)
        .where(model.id == record_id)
        .returning(model.id, func.ST_AsText(model.geom).label("geom"))
    ).first()
    if row is None:
        raise NotFoundError(f"no {what} {record_id}")
    return {"id": row.id, "geom": row.geom}


def delete_building(*, session: Session, building_id: int) -> dict[str, Any]:
    """Delete one building; its grid's household count is recounted."""
    gone = _delete(session, Building, building_id, "building")
    session.execute(grid_repo.REFRESH_HOUSEHOLDS)
    return gone


def delete_station(*, session: Session, station_id: int) -> dict[str, Any]:
    return _delete(session, Station, station_id, "station")


def delete_incident(*, session: Session, incident_id: int) -> dict[str, Any]:
    """Delete one incident and its lifecycle events (a report imported by mistake)."""
    exists = session.execute(select(Incident.id).where(Incident.id == incident_id)).first()
    if exists is None:
        raise NotFoundError(f"no incident {incident_id}")
    session.execute(delete(IncidentEvent).where(IncidentEvent.incident_id == incident_id))
    return _delete(session, Incident, incident_id, "incident")
