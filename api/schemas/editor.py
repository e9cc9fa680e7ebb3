"""Bodies of the boundary editor's geometry helpers (split a grid by a line, merge grids)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.grids import GeometryIn, Position


class LineIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["LineString"]
    coordinates: Annotated[list[Position], Field(min_length=2, max_length=10_000)]


class SplitIn(BaseModel):
    """A grid's (possibly edited) geometry and the line drawn across it."""

    model_config = ConfigDict(extra="forbid")
    geometry: GeometryIn
    line: LineIn


class MergeIn(BaseModel):
    """Neighbouring grids' geometries, dissolved into one."""

    model_config = ConfigDict(extra="forbid")
    geometries: Annotated[list[GeometryIn], Field(min_length=2, max_length=20)]


class CarveIn(BaseModel):
    """A grid drawn by hand over the grids it is cut from (their current, edited shapes)."""

    model_config = ConfigDict(extra="forbid")
    drawn: GeometryIn
    grids: Annotated[list[GeometryIn], Field(min_length=1, max_length=500)]
    snap_m: Annotated[float, Field(ge=0, le=50, allow_inf_nan=False, strict=True)] = 3.0
