"""Mapbox Vector Tiles of grids, buildings and incidents: how maps show more features than a
page can embed (the incidents map beyond api.pages.TILE_THRESHOLD)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.deps import SessionDep
from api.pages import TILE_PATH
from data.tiles import LAYERS, tile

router = APIRouter(tags=["tiles"])

MEDIA_TYPE = "application/vnd.mapbox-vector-tile"


@router.get(
    TILE_PATH,
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "the tile, empty if no features"}},
    summary="A vector tile (XYZ, web mercator)",
)
def get_tile(
    session: SessionDep,
    layer: Annotated[str, Path(description=" | ".join(LAYERS))],
    z: int,
    x: int,
    y: int,
) -> Response:
    # Incidents change by the minute: a short max-age still spares panning back and forth.
    return Response(
        tile(session=session, layer=layer, z=z, x=x, y=y),
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "max-age=60"},
    )
