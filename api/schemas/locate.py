"""Schemas of the point→grid endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.points import BatchLat, BatchLon, CrsName


class GridRef(BaseModel):
    code: str
    name: str
    community: str | None


class LocatePublic(BaseModel):
    grid: GridRef
    match: Literal["inside", "boundary", "nearest"]
    distance_m: float


class LocateBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: list[tuple[BatchLon, BatchLat]] = Field(
        description="[lon, lat] pairs, up to the setting batch_max_points (default 100,000)"
    )
    crs: CrsName = "wgs84"


class PointError(BaseModel):
    index: int = Field(description="position of the point in `points`")
    msg: str


class LocateBatchPublic(BaseModel):
    codes: list[str | None]
    errors: list[PointError] = Field(
        default_factory=list,
        description="points that could not be located (their code is null): out-of-range "
        "lon/lat or outside the region",
    )
