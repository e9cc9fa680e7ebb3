"""Incident intake (idempotent by client_id, committed before the answer), listing, one
incident with its ETag and events, and the closed loop: a lifecycle step per PATCH, merging
a duplicate into its original."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import JSONResponse

from api.deps import (
    BboxDep,
    LocatorDep,
    PageDep,
    Reporter,
    ReporterOwner,
    SessionDep,
    SettingsDep,
    Viewer,
)
from api.errors import PROBLEM
from api.intake import Report, file_report, plausible_time, same_report
from api.schemas.fields import Category, Code, Moment
from api.schemas.incidents import (
    IncidentCreate,
    IncidentCreated,
    IncidentEvent,
    IncidentMerge,
    IncidentPage,
    IncidentPublic,
    IncidentUpdate,
)
from data import incidents as repo
from data.errors import ConflictError
from data.lifecycle import Status

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


@router.post(
    "",
    status_code=201,
    response_model=IncidentCreated,
    responses={200: {"model": IncidentCreated, "description": "a retry: the stored record"}},
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
    report = Report(
        category=body.category,
        description=body.description,
        lon=body.lon,
        lat=body.lat,
        crs=body.crs,
        priority=body.priority,
        reported_at=plausible_time(settings.aware(body.reported_at), settings, now),
        client_id=body.client_id,
    )
    filed = file_report(
        session=session, locator=locator, settings=settings, report=report, actor=actor, now=now
    )
    if not filed.created and not same_report(filed.record, filed.new):
        raise ConflictError(f"client_id {body.client_id!r} was already used for another report")
    public = IncidentCreated.model_validate(
        {**filed.record, "possible_duplicates": filed.possible_duplicates}
    )
    return JSONResponse(
        public.model_dump(mode="json"),
        status_code=201 if filed.created else 200,
        headers={"ETag": repo.etag(filed.record)},
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
    overdue: Annotated[
        bool | None, Query(description="true: open past due_at; false: all others")
    ] = None,
    assignee: Annotated[int | None, Query(ge=1, lt=2**31, description="person id")] = None,
) -> IncidentPage:
    rows = repo.list_incidents(
        session=session,
        grid=grid,
        community=community,
        status=status,
        category=category,
        bbox=bbox,
        since=None if since is None else settings.aware(since),
        overdue=overdue,
        assignee=assignee,
        now=datetime.now(UTC),
        after_id=page.after_id,
        limit=page.limit,
    )
    return IncidentPage(
        items=[IncidentPublic.model_validate(r) for r in rows], next_cursor=page.next_cursor(rows)
    )


IncidentId = Annotated[int, Path(ge=1, lt=2**63)]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", max_length=128, description="the incident's ETag (412 when stale)"),
]


def _with_etag(record: dict[str, Any]) -> JSONResponse:
    body = IncidentPublic.model_validate(record).model_dump(mode="json")
    return JSONResponse(body, headers={"ETag": repo.etag(record)})


@router.get(
    "/{incident_id}",
    response_model=IncidentPublic,
    summary="One incident, with its ETag",
)
def get_incident(incident_id: IncidentId, session: SessionDep, _: Viewer) -> JSONResponse:
    return _with_etag(repo.get_incident(session=session, incident_id=incident_id))


STALE: dict[int | str, dict[str, Any]] = {
    412: {"description": "the If-Match ETag is stale", "content": {PROBLEM: {}}}
}


@router.patch(
    "/{incident_id}",
    response_model=IncidentPublic,
    summary="Apply one lifecycle step (409 illegal, 412 stale If-Match)",
    responses=STALE,
)
def update_incident(
    incident_id: IncidentId,
    body: IncidentUpdate,
    session: SessionDep,
    owner: ReporterOwner,
    if_match: IfMatch = None,
) -> JSONResponse:
    record = repo.transition(
        session=session,
        incident_id=incident_id,
        step=repo.Step(body.status, body.note, body.assignee),
        actor=owner.actor,
        actor_person=owner.person_id,
        if_match=if_match,
        now=datetime.now(UTC),
    )
    session.commit()
    return _with_etag(record)


@router.post(
    "/{incident_id}/merge",
    response_model=IncidentPublic,
    summary="Close this open duplicate with a link to its original",
    responses=STALE,
)
def merge_incident(
    incident_id: IncidentId,
    body: IncidentMerge,
    session: SessionDep,
    owner: ReporterOwner,
    if_match: IfMatch = None,
) -> JSONResponse:
    record = repo.merge(
        session=session,
        incident_id=incident_id,
        into=body.into,
        note=body.note,
        actor=owner.actor,
        actor_person=owner.person_id,
        if_match=if_match,
        now=datetime.now(UTC),
    )
    session.commit()
    return _with_etag(record)


@router.get(
    "/{incident_id}/events",
    response_model=list[IncidentEvent],
    summary="An incident's lifecycle steps, oldest first",
)
def incident_events(incident_id: IncidentId, session: SessionDep, _: Viewer) -> list[IncidentEvent]:
    rows = repo.list_events(session=session, incident_id=incident_id)
    return [IncidentEvent.model_validate(r) for r in rows]
