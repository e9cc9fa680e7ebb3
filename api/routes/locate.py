"""Point → grid: one point (with the grid's attributes) or up to 100,000 at once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request

from api.deps import SessionDep
from api.locator import MATCH_NAMES, Locator
from api.schemas.locate import GridRef, LocateBatchCreate, LocateBatchPublic, LocatePublic
from api.schemas.points import CrsName, Lat, Lon
from data import grids as grid_repo
from data.errors import NotFoundError
from geo.crs import to_wgs84

router = APIRouter(prefix="/api/v1/locate", tags=["locate"])


def locator(request: Request) -> Locator:
    held: Locator = request.app.state.locator
    return held


@router.get("", response_model=LocatePublic, summary="Which grid owns this point")
def locate(
    request: Request,
    session: SessionDep,
    lon: Annotated[Lon, Query()],
    lat: Annotated[Lat, Query()],
    crs: CrsName = "wgs84",
    at: Annotated[datetime | None, Query(description="use the grids valid at this time")] = None,
) -> LocatePublic:
    x, y = to_wgs84(np.array([lon]), np.array([lat]), crs)
    if at is None:
        snapshot = locator(request).snapshot
        index = snapshot.index
        found = index.locate_one(float(x[0]), float(y[0])) if index else (-1, 0, float("nan"))
        code_index, match, distance = found
        if code_index < 0:
            raise NotFoundError("the point is in no grid and not within tolerance of one")
        return LocatePublic(
            grid=GridRef(
                code=snapshot.codes[code_index],
                name=snapshot.names[code_index],
                community=snapshot.communities[code_index],
            ),
            match=MATCH_NAMES[match],  # type: ignore[arg-type]
            distance_m=round(float(distance), 3),
        )
    settings = request.app.state.settings
    hit = grid_repo.locate_at(
        session=session, lon=float(x[0]), lat=float(y[0]), at=at, tolerance_m=settings.tolerance_m
    )
    if hit is None:
        raise NotFoundError("the point is in no grid valid at that time")
    grid, match, distance = hit
    return LocatePublic(
        grid=GridRef(code=grid.code, name=grid.name, community=grid.community),
        match=match,  # type: ignore[arg-type]
        distance_m=round(distance, 3),
    )


@router.post("/batch", response_model=LocateBatchPublic, summary="Grid codes of many points")
def locate_batch(request: Request, body: LocateBatchCreate) -> LocateBatchPublic:
    snapshot = locator(request).snapshot
    if not body.points or snapshot.index is None:
        return LocateBatchPublic(codes=[None] * len(body.points))
    xy = np.asarray(body.points, dtype=np.float64)
    lon, lat = to_wgs84(xy[:, 0], xy[:, 1], body.crs)
    result = snapshot.index.locate(lon, lat)
    return LocateBatchPublic(codes=snapshot.codes_for(result.code_index))
