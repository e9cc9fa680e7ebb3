"""Grid boundaries as GeoJSON: list, one grid with its ETag, history; and redraws (admin):
validate (dry run), redraw (atomic commit of a change set), PUT of one grid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api import redraw as redraws
from api.deps import Admin, BboxDep, LocatorDep, SessionDep, SettingsDep, Viewer
from api.errors import problem
from api.geojson import GEOJSON_OK, collection, feature, geojson_response
from api.locator import Locator
from api.schemas.fields import Code, Moment
from api.schemas.grids import GridUpdate, RedrawIn
from api.settings import Settings
from data import grids as grid_repo
from data.errors import PreconditionRequiredError
from data.grids import GridRow
from data.redraw import Change

router = APIRouter(prefix="/api/v1/grids", tags=["grids"])


def grid_properties(row: GridRow) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
        "community": row.community,
        "households": row.households,
        "worker_name": row.worker_name,
        "worker_phone": row.worker_phone,
        "version": row.version,
        "valid_from": row.valid_from.isoformat(),
        "valid_to": row.valid_to.isoformat() if row.valid_to else None,
    }


@router.get("", summary="Grids as a GeoJSON FeatureCollection", responses=GEOJSON_OK)
def list_grids(
    session: SessionDep,
    settings: SettingsDep,
    bbox: BboxDep,
    community: Code | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    at: Annotated[Moment | None, Query(description="grids valid at this time")] = None,
) -> Response:
    rows = grid_repo.list_grids(
        session=session, community=community, bbox=bbox, limit=limit, at=settings.aware(at)
    )
    body = collection(feature(r.geometry, grid_properties(r), id_=r.code) for r in rows)
    return geojson_response(body)


@router.get("/{code}", summary="One grid, with its ETag", responses=GEOJSON_OK)
@router.head("/{code}", summary="A grid's ETag", operation_id="head_grid")
def get_grid(
    code: Code,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    at: Moment | None = None,
) -> Response:
    row = grid_repo.get_grid(session=session, code=code, at=settings.aware(at))
    headers = {"ETag": row.etag}
    if request.headers.get("if-none-match") == row.etag:
        return Response(status_code=304, headers=headers)
    body = feature(row.geometry, grid_properties(row), id_=row.code)
    if request.method == "HEAD":
        return Response(headers={**headers, "Content-Type": "application/geo+json"})
    return geojson_response(body, headers=headers)


@router.get("/{code}/history", summary="Every version of a grid")
def grid_history(code: Code, session: SessionDep, _: Viewer) -> dict[str, Any]:
    versions = grid_repo.grid_history(session=session, code=code)
    return {
        "code": code,
        "versions": [
            {**grid_properties(row), "author": author, "reason": reason, "etag": row.etag}
            for row, author, reason in versions
        ],
    }


REDRAW_RESPONSES: dict[int | str, dict[str, Any]] = {
    412: {"description": "an etag is stale (the grid changed or was retired since)"},
    428: {"description": "a change lacks its etag (PUT: no If-Match)"},
    422: {"description": "the change set opens a gap or overlap, or is invalid: the report"},
}


def _valid_from(when: datetime | None, settings: Settings) -> datetime | None:
    """A change takes effect now or later, never in the past (history is not rewritten);
    a time within the allowed clock skew before now means now."""
    aware = settings.aware(when)
    now = datetime.now(UTC)
    if aware is not None and now - timedelta(seconds=settings.max_clock_skew_s) <= aware <= now:
        return None
    if aware is not None and aware < now:
        raise RequestValidationError(
            [{"loc": ("body", "valid_from"), "msg": "must not lie in the past", "type": "value"}]
        )
    return aware


def _need_reason(reason: str) -> str:
    if not reason.strip():
        raise RequestValidationError(
            [{"loc": ("body", "reason"), "msg": "a redraw needs a reason", "type": "missing"}]
        )
    return reason


def _rejected(body: dict[str, Any]) -> JSONResponse:
    kinds = sorted({p["kind"] for p in body["problems"]})
    detail = f"the redraw leaves {len(body['problems'])} problem(s): {', '.join(kinds)}"
    return problem(422, "redraw-problems", "Redraw problems", detail, **body)


@router.post("/validate", summary="Dry run of a redraw: problems and impact")
def validate_redraw(
    body: RedrawIn, session: SessionDep, settings: SettingsDep, _: Admin
) -> dict[str, Any]:
    """Checks ETags (412/428 as a commit would) and the topology of every community the
    changes touch, and lists the buildings and open incidents that would change grid."""
    valid_from = _valid_from(body.valid_from, settings)
    changes = [redraws.change_of(c) for c in body.changes]
    result = redraws.validate(session=session, changes=changes, tolerance_m=settings.tolerance_m)
    return redraws.report(result, valid_from=valid_from)


@router.post(
    "/redraw", summary="Apply a set of grid changes atomically", responses=REDRAW_RESPONSES
)
def redraw(
    body: RedrawIn,
    session: SessionDep,
    settings: SettingsDep,
    locator: LocatorDep,
    actor: Admin,
) -> JSONResponse:
    """All or nothing: every changed grid gets a new version (author, reason, valid_from),
    buildings and open incidents are reassigned, an audit row written, in one transaction."""
    reason = _need_reason(body.reason)
    valid_from = _valid_from(body.valid_from, settings)
    changes = [redraws.change_of(c) for c in body.changes]
    return _commit(session, settings, locator, changes, actor, reason, valid_from)


def _commit(
    session: Session,
    settings: Settings,
    locator: Locator,
    changes: list[Change],
    actor: str,
    reason: str,
    valid_from: datetime | None,
) -> JSONResponse:
    result = redraws.commit(
        session=session,
        changes=changes,
        tolerance_m=settings.tolerance_m,
        actor=actor,
        reason=reason,
        valid_from=valid_from,
    )
    body = redraws.report(result, valid_from=valid_from)
    if not result.ok:
        return _rejected(body)
    locator.refresh()  # this worker answers with the new grids at once
    return JSONResponse(body)


@router.put("/{code}", summary="Change one grid (If-Match required)", responses=REDRAW_RESPONSES)
def put_grid(
    code: Code,
    body: GridUpdate,
    session: SessionDep,
    settings: SettingsDep,
    locator: LocatorDep,
    actor: Admin,
    if_match: Annotated[str | None, Header(alias="If-Match", max_length=64)] = None,
) -> JSONResponse:
    """The same rules as a redraw of one grid; answers the redraw report with the grid's new
    ETag in the ``ETag`` header."""
    if not if_match:
        raise PreconditionRequiredError(f"PUT of grid {code} needs If-Match with its ETag")
    valid_from = _valid_from(body.valid_from, settings)
    change = Change(
        code=code,
        etag=if_match,
        geometry=None if body.geometry is None else redraws.geometry_of(body.geometry),
        properties=redraws.properties_of(body.properties),
    )
    reason = body.reason.strip() or f"PUT /api/v1/grids/{code}"
    response = _commit(session, settings, locator, [change], actor, reason, valid_from)
    if response.status_code == 200:
        latest = grid_repo.grid_history(session=session, code=code)[-1][0]
        response.headers["ETag"] = latest.etag
    return response
