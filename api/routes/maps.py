"""Planners' maps as HTML pages; their JS/CSS comes from /static, so they work offline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from api import redraw as redraws
from api.deps import Admin, BasemapDep, CoverageDep, SessionDep, SettingsDep
from api.pages import (
    compliance_page,
    coverage_page,
    grids_page,
    incidents_page,
    redraw_page,
    stats_page,
    tile_url,
)
from api.schemas.fields import Code
from api.schemas.grids import RedrawIn
from maps.assets import render_page
from maps.grids import Measure
from maps.stats import StatsMeasure

router = APIRouter(prefix="/maps", tags=["maps"])


@router.get("/grids", response_class=HTMLResponse, summary="Grids coloured by a measure")
def grids(
    session: SessionDep,
    coverage: CoverageDep,
    tiles: BasemapDep,
    measure: Measure | None = "households",
) -> HTMLResponse:
    m = grids_page(session=session, coverage=coverage, measure=measure, tiles=tiles)
    return HTMLResponse(render_page(m))


@router.get("/coverage", response_class=HTMLResponse, summary="Service circles and gaps")
def coverage(
    session: SessionDep,
    coverage: CoverageDep,
    tiles: BasemapDep,
    minutes: Annotated[
        float | None,
        Query(gt=0, le=120, description="any station within these minutes; none: compliance"),
    ] = None,
    suggest: Annotated[int, Query(ge=0, le=20, description="also propose N new sites")] = 0,
) -> HTMLResponse:
    """With ``minutes`` (or ``suggest``): isochrones and who is within that walk of any
    station; without: the life-circle compliance view (as /maps/compliance)."""
    if minutes is None and suggest == 0:
        m = compliance_page(session=session, coverage=coverage, tiles=tiles)
    else:
        m = coverage_page(
            session=session, coverage=coverage, minutes=minutes or 15, suggest=suggest, tiles=tiles
        )
    return HTMLResponse(render_page(m))


@router.get(
    "/compliance", response_class=HTMLResponse, summary="Life-circle compliance by facility kind"
)
def compliance(
    session: SessionDep,
    coverage: CoverageDep,
    tiles: BasemapDep,
    kind: Annotated[
        Code | None, Query(description="the facility kind shown first (default: overall)")
    ] = None,
) -> HTMLResponse:
    """Grids coloured by overall compliance or by one facility kind (a selector on the
    page), homes by the kinds they miss, popups with the per-kind table (GB 50180-2018)."""
    m = compliance_page(session=session, coverage=coverage, tiles=tiles, kind=kind)
    return HTMLResponse(render_page(m))


@router.get("/incidents", response_class=HTMLResponse, summary="Incidents: heat map, clusters")
def incidents(session: SessionDep, tiles: BasemapDep) -> HTMLResponse:
    """Embedded points up to 20,000 incidents, vector tiles from /tiles beyond."""
    page = incidents_page(session=session, tiles=tiles, tiles_url=tile_url("incidents"))
    return HTMLResponse(render_page(page))


@router.get("/redraw", response_class=HTMLResponse, summary="Redraw preview (how to ask)")
def redraw_help(session: SessionDep, tiles: BasemapDep) -> HTMLResponse:
    """The current grids and a note: POST a change set here to preview it."""
    return HTMLResponse(render_page(redraw_page(result=None, session=session, tiles=tiles)))


@router.post("/redraw", response_class=HTMLResponse, summary="Preview a redraw (admin)")
def redraw_preview(
    body: RedrawIn, session: SessionDep, settings: SettingsDep, tiles: BasemapDep, _: Admin
) -> HTMLResponse:
    """The validate report of the change set (the body of ``POST /api/v1/grids/validate``)
    as a map: old and new boundaries, problems in red, buildings and open incidents that
    would change grid. A page shows it with ``fetch`` and an iframe's ``srcdoc``."""
    changes = [redraws.change_of(c) for c in body.changes]
    result = redraws.validate(session=session, changes=changes, tolerance_m=settings.tolerance_m)
    return HTMLResponse(render_page(redraw_page(result=result, session=session, tiles=tiles)))


@router.get("/stats", response_class=HTMLResponse, summary="Grids by closure rate or overdue")
def stats(
    session: SessionDep,
    settings: SettingsDep,
    tiles: BasemapDep,
    measure: StatsMeasure = "closure_rate",
) -> HTMLResponse:
    """The last twelve months per grid; each popup charts reports filed and closed by month."""
    page = stats_page(
        session=session,
        measure=measure,
        tiles=tiles,
        timezone=settings.timezone,
        now=datetime.now(UTC),
    )
    return HTMLResponse(render_page(page))
