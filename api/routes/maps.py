"""Planners' maps as HTML pages; their JS/CSS comes from /static, so they work offline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep, SettingsDep
from api.mapping import basemap, coverage_page, grids_page, incidents_page
from api.routes.tiles import url_template
from maps.assets import render_page
from maps.grids import Measure

router = APIRouter(prefix="/maps", tags=["maps"])

BasemapParam = Annotated[
    str | None,
    Query(
        description="osm | tianditu | amap | none (default: settings)",
        pattern="^(osm|tianditu|amap|none)$",
    ),
]


@router.get("/grids", response_class=HTMLResponse, summary="Grids coloured by a measure")
def grids(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    measure: Measure | None = "households",
    tiles: BasemapParam = None,
) -> HTMLResponse:
    m = grids_page(
        session=session,
        settings=settings,
        measure=measure,
        tiles=basemap(settings, tiles),
        cache=request.app.state.network_cache,
    )
    return HTMLResponse(render_page(m))


@router.get("/coverage", response_class=HTMLResponse, summary="Service circles and gaps")
def coverage(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    minutes: Annotated[float, Query(gt=0, le=120)] = 15,
    suggest: Annotated[int, Query(ge=0, le=20, description="also propose N new sites")] = 0,
    tiles: BasemapParam = None,
) -> HTMLResponse:
    m = coverage_page(
        session=session,
        settings=settings,
        minutes=minutes,
        suggest=suggest,
        tiles=basemap(settings, tiles),
        cache=request.app.state.network_cache,
    )
    return HTMLResponse(render_page(m))


@router.get("/incidents", response_class=HTMLResponse, summary="Incidents: heat map, clusters")
def incidents(
    session: SessionDep, settings: SettingsDep, tiles: BasemapParam = None
) -> HTMLResponse:
    """Embedded points up to 20,000 incidents, vector tiles from /tiles beyond."""
    page = incidents_page(
        session=session, tiles=basemap(settings, tiles), tiles_url=url_template("incidents")
    )
    return HTMLResponse(render_page(page))
