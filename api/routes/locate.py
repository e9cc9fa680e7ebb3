"""Point → grid: one point (with the grid's attributes) or up to 100,000 at once."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Response
from fastapi.exceptions import RequestValidationError
from numpy.typing import NDArray
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.deps import LocatorDep, SessionsDep, SettingsDep
from api.locator import MATCH_NAMES
from api.schemas.fields import Moment
from api.schemas.locate import LocateBatchCreate, LocateBatchPublic, LocatePublic, PointError
from api.schemas.points import CrsName, Lat, Lon
from data import grids as grid_repo
from data.errors import NotFoundError
from geo.crs import to_wgs84
from geo.region import plausible_lonlat

router = APIRouter(prefix="/api/v1/locate", tags=["locate"])


@router.get("", response_model=LocatePublic, summary="Which grid owns this point")
async def locate(
    locator: LocatorDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    lon: Annotated[Lon, Query()],
    lat: Annotated[Lat, Query()],
    crs: CrsName = "wgs84",
    at: Annotated[Moment | None, Query(description="use the grids valid at this time")] = None,
) -> Response:
    """The hot path: answered from the worker's in-memory index without touching the
    database (async, no thread hop, response serialised once)."""
    x, y = to_wgs84(np.array([lon]), np.array([lat]), crs)
    locator.snapshot.require_in_region(float(x[0]), float(y[0]))
    if at is not None:
        return await run_in_threadpool(
            _locate_at, sessions, float(x[0]), float(y[0]), settings.aware(at), settings.tolerance_m
        )
    snapshot = locator.snapshot
    index = snapshot.index
    found = index.locate_one(float(x[0]), float(y[0])) if index else (-1, 0, float("nan"))
    code_index, match, distance = found
    if code_index < 0:
        raise NotFoundError("the point is in no grid and not within tolerance of one")
    return _answer(
        snapshot.codes[code_index],
        snapshot.names[code_index],
        snapshot.communities[code_index],
        MATCH_NAMES[match],
        float(distance),
    )


def _answer(code: str, name: str, community: str | None, match: str, distance: float) -> Response:
    body = {
        "grid": {"code": code, "name": name, "community": community},
        "match": match,
        "distance_m": round(distance, 3),
    }
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")


def _locate_at(
    sessions: sessionmaker[Session], lon: float, lat: float, at: datetime, tolerance_m: float
) -> Response:
    """History queries are rare: PostGIS evaluates the same rule on the grids valid then."""
    with sessions() as session:
        hit = grid_repo.locate_at(session=session, lon=lon, lat=lat, at=at, tolerance_m=tolerance_m)
    if hit is None:
        raise NotFoundError("the point is in no grid valid at that time")
    grid, match, distance = hit
    return _answer(grid.code, grid.name, grid.community, match, distance)


@router.post("/batch", response_model=LocateBatchPublic, summary="Grid codes of many points")
def locate_batch(
    body: LocateBatchCreate, locator: LocatorDep, settings: SettingsDep
) -> LocateBatchPublic:
    if len(body.points) > settings.batch_max_points:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "points"),
                    "msg": f"at most {settings.batch_max_points} points per batch",
                    "type": "too_long",
                }
            ]
        )
    snapshot = locator.snapshot
    if not body.points or snapshot.index is None:
        return LocateBatchPublic(codes=[None] * len(body.points))
    xy = np.asarray(body.points, dtype=np.float64)
    good = plausible_lonlat(xy[:, 0], xy[:, 1])
    lon, lat = np.full(len(xy), np.nan), np.full(len(xy), np.nan)
    lon[good], lat[good] = to_wgs84(xy[good, 0], xy[good, 1], body.crs)
    inside = snapshot.region.contains(lon, lat) if snapshot.region is not None else good
    result = snapshot.index.locate(lon, lat)
    codes = snapshot.codes_for(np.where(inside, result.code_index, -1))
    if inside.all():
        return LocateBatchPublic(codes=codes)
    return LocateBatchPublic(codes=codes, errors=_point_errors(xy, good, inside, snapshot.region))


def _point_errors(
    xy: NDArray[np.float64], good: NDArray[np.bool_], inside: NDArray[np.bool_], region: Any
) -> list[PointError]:
    """Why each unlocatable point was not located (its code is null)."""
    errors = []
    for i in np.flatnonzero(~inside).tolist():
        lon, lat = xy[i].tolist()
        msg = (
            f"outside the region {region}"
            if good[i]
            else "lon must be in [-180, 180] and lat in [-90, 90]"
        )
        errors.append(PointError(index=i, msg=f"[{lon!r}, {lat!r}]: {msg}"))
    return errors
