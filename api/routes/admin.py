"""The boundary editor: its page (/admin/grids/edit, the admin's key is entered in the page)
and the small JSON endpoints it reads besides the grids API — the communities to pick from,
one community's grids with ETags, households and open incidents at full precision — and its
geometry helpers (split by a line, merge, carve a new grid out of others), which compute
shapes and write nothing: the page commits them through POST /api/v1/grids/redraw."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse
from shapely.geometry import LineString, mapping

from api import redraw as redraws
from api.deps import Admin, BasemapDep, SessionDep, SettingsDep, Viewer
from api.geojson import GEOJSON, GEOJSON_OK
from api.schemas.editor import CarveIn, MergeIn, SplitIn
from api.schemas.fields import Code
from data import editor
from geo.carve import carve
from geo.topology import merge, split
from maps.editor import editor_page

page_router = APIRouter(tags=["admin"])
router = APIRouter(prefix="/api/v1/editor", tags=["admin"])


@page_router.get("/admin/grids/edit", response_class=HTMLResponse, summary="Boundary editor (page)")
def edit_page(settings: SettingsDep, tiles: BasemapDep) -> HTMLResponse:
    """The editor; it asks for an admin key and keeps it in the tab's sessionStorage."""
    html = editor_page(
        basemap=tiles,
        workload_min=settings.workload_min_households,
        workload_max=settings.workload_max_households,
        timezone=settings.timezone,
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/communities", summary="Streets and communities, with their grid counts")
def communities(session: SessionDep, _: Viewer) -> dict[str, Any]:
    return {
        "communities": [
            {
                "code": c.code,
                "name": c.name,
                "street": c.street,
                "street_name": c.street_name,
                "grids": c.grids,
            }
            for c in editor.communities(session=session)
        ]
    }


@router.get(
    "/grids",
    summary="One community's grids to edit (ETags, households, incidents)",
    responses=GEOJSON_OK,
)
def community_grids(community: Code, session: SessionDep, _: Viewer) -> JSONResponse:
    """A FeatureCollection at full coordinate precision (shared vertices stay equal bit for
    bit through the page), each feature with ``code``, ``name``, ``etag``, ``households``,
    ``open_incidents``, ``buildings`` and the worker."""
    features = [
        {
            "type": "Feature",
            "id": g.code,
            "geometry": mapping(g.geom),
            "properties": {
                "code": g.code,
                "name": g.name,
                "community": g.community,
                "etag": g.etag,
                "households": g.households,
                "open_incidents": g.open_incidents,
                "buildings": g.buildings,
                "worker_name": g.worker_name,
                "valid_from": g.valid_from.isoformat(),
            },
        }
        for g in editor.community_grids(session=session, community=community)
    ]
    return JSONResponse(
        {"type": "FeatureCollection", "community": community, "features": features},
        media_type=GEOJSON,
    )


@router.post("/split", summary="A grid cut in two by a line (computed, nothing written)")
def split_grid(body: SplitIn, _: Admin) -> dict[str, Any]:
    """The parts west→east; the line must cross the grid from edge to edge (422 otherwise)."""
    parts = split(redraws.geometry_of(body.geometry), LineString(body.line.coordinates))
    return {"parts": [mapping(p) for p in parts]}


@router.post("/merge", summary="Neighbouring grids dissolved into one (nothing written)")
def merge_grids(body: MergeIn, _: Admin) -> dict[str, Any]:
    """One polygon; grids that do not share an edge are a 422."""
    return {"geometry": mapping(merge([redraws.geometry_of(g) for g in body.geometries]))}


@router.post("/carve", summary="A new grid drawn over others, cut out of them (nothing written)")
def carve_grid(body: CarveIn, _: Admin) -> dict[str, Any]:
    """The drawn polygon snapped onto the grids' vertices within ``snap_m`` and clipped to
    them, and each grid without it (null: wholly covered, so it would retire)."""
    new, rests = carve(
        redraws.geometry_of(body.drawn),
        [redraws.geometry_of(g) for g in body.grids],
        tolerance_m=body.snap_m,
    )
    return {
        "geometry": mapping(new),
        "grids": [None if rest is None else mapping(rest) for rest in rests],
    }
