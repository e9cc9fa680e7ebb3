"""Incident intake (idempotent by client_id, committed before the answer) and listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.deps import BboxDep, LocatorDep, PageDep, Reporter, SessionDep, SettingsDep, Viewer
from api.schemas.fields import Category, Code, Moment
from api.schemas.incidents import IncidentCreate, IncidentPage, IncidentPublic
from api.settings import Settings
from data import incidents as repo
from data.errors import ConflictError
from data.lifecycle import Status
from geo.crs import to_wgs84

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


@router.post(
    "",
    status_code=201,
    response_model=IncidentPublic,
    responses={200: {"model": IncidentPublic, "description": "a retry: the stored record"}},
    summary="File a report; the grid is assigned from its location",
)
def create_incident(
    body: IncidentCreate,
    locator: LocatorDep,
    session: SessionDep,
    settings: SettingsDep,
    actor: Reporter,
) -> JSONResponse:
    now = datetime.now(UTC)
    reported_at = _plausible_time(settings.aware(body.reported_at), settings, now)
    lon, lat = to_wgs84(np.array([body.lon]), np.array([body.lat]), body.crs)
    snapshot = locator.snapshot
    snapshot.require_in_region(float(lon[0]), float(lat[0]))  # (0, 0) and the like: 422
    grid_code = None
    if snapshot.index is not None:
        code_index, _, _ = snapshot.index.locate_one(float(lon[0]), float(lat[0]))
        grid_code = snapshot.codes[code_index] if code_index >= 0 else None
    new = repo.NewIncident(
        category=body.category,
        description=body.description,
        lon=float(lon[0]),
        lat=float(lat[0]),
        grid_code=grid_code,
        priority=body.priority,
        reported_at=reported_at,
        client_id=body.client_id,
    )
    record, created = repo.create_incident(
        session=session,
        new=new,
        deadlines=settings.deadlines(),
        reporter=actor,
        now=now,
        tolerance_m=settings.tolerance_m,
        index_state=snapshot.grid_version if snapshot.index is not None else None,
        index_until=snapshot.until,
    )
    session.commit()  # durable before we acknowledge
    if not created and not _same_report(record, new):
        raise ConflictError(f"client_id {body.client_id!r} was already used for another report")
    public = IncidentPublic.model_validate(record).model_dump(mode="json")
    return JSONResponse(public, status_code=201 if created else 200)


def _plausible_time(when: datetime | None, settings: Settings, now: datetime) -> datetime | None:
    """A report's time must lie between the configured start and now (plus clock skew)."""
    latest = now + timedelta(seconds=settings.max_clock_skew_s)
    if when is not None and not settings.earliest_report <= when <= latest:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "reported_at"),
                    "msg": f"must lie between {settings.earliest_report:%Y-%m-%d} and now",
                    "type": "value_error",
                }
            ]
        )
    return when


def _same_report(stored: dict[str, Any], new: repo.NewIncident) -> bool:
    """Whether a retry carries the report stored under its client_id (to the stored precision)."""
    return (
        (stored["category"], stored["description"], stored["priority"])
        == (new.category, new.description, new.priority)
        and abs(stored["lon"] - new.lon) < 1e-9
        and abs(stored["lat"] - new.lat) < 1e-9
        and (new.reported_at is None or stored["reported_at"] == new.reported_at)
    )


@router.get("", response_model=IncidentPage, summary="Incidents, filtered, in keyset pages")
def list_incidents(
    session: SessionDep,
    settings: SettingsDep,
    _: Viewer,
    bbox: BboxDep,
    page: PageDep,
    grid: Code | None = None,
    community: Code | None = None,
    status: Status | None = None,
    category: Category | None = None,
    since: Moment | None = None,
) -> IncidentPage:
    rows = repo.list_incidents(
        session=session,
        grid=grid,
        community=community,
        status=status,
        category=category,
        bbox=bbox,
        since=None if since is None else settings.aware(since),
        after_id=page.after_id,
        limit=page.limit,
    )
    return IncidentPage(
        items=[IncidentPublic.model_validate(r) for r in rows], next_cursor=page.next_cursor(rows)
    )
