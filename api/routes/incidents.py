"""Incident intake (idempotent by client_id, committed before the answer) and listing."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import BboxDep, LocatorDep, PageDep, Reporter, SessionDep, SettingsDep, Viewer
from api.schemas.incidents import IncidentCreate, IncidentPage, IncidentPublic
from data import incidents as repo
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
    lon, lat = to_wgs84(np.array([body.lon]), np.array([body.lat]), body.crs)
    snapshot = locator.snapshot
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
        reported_at=body.reported_at,
        client_id=body.client_id,
    )
    record, created = repo.create_incident(
        session=session,
        new=new,
        deadlines=settings.deadlines(),
        reporter=actor,
        now=datetime.now(UTC),
    )
    session.commit()  # durable before we acknowledge
    public = IncidentPublic.model_validate(record).model_dump(mode="json")
    return JSONResponse(public, status_code=201 if created else 200)


@router.get("", response_model=IncidentPage, summary="Incidents, filtered, in keyset pages")
def list_incidents(
    session: SessionDep,
    _: Viewer,
    bbox: BboxDep,
    page: PageDep,
    grid: str | None = None,
    community: str | None = None,
    status: Status | None = None,
    category: str | None = None,
    since: datetime | None = None,
) -> IncidentPage:
    rows = repo.list_incidents(
        session=session,
        grid=grid,
        community=community,
        status=status,
        category=category,
        bbox=bbox,
        since=since,
        after_id=page.after_id,
        limit=page.limit,
    )
    return IncidentPage(
        items=[IncidentPublic.model_validate(r) for r in rows], next_cursor=page.next_cursor(rows)
    )
