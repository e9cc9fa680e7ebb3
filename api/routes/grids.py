"""Grid boundaries as GeoJSON: list, one grid with its ETag, history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.deps import BboxDep, SessionDep, SettingsDep, Viewer
from api.geojson import GEOJSON_OK, collection, feature, geojson_response
from api.schemas.fields import Code, Moment
from data import grids as grid_repo
from data.grids import GridRow

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
