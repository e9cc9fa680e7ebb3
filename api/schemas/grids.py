"""Grid redraw bodies (docs/design.md): a set of changes with each grid's ETag and a reason."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas.fields import Code, Description, Moment, Text
from api.schemas.points import JsonLat, JsonLon

Position = tuple[JsonLon, JsonLat]
Ring = Annotated[list[Position], Field(min_length=4)]
PolygonCoords = Annotated[list[Ring], Field(min_length=1)]


class PolygonIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["Polygon"]
    coordinates: PolygonCoords


class MultiPolygonIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["MultiPolygon"]
    coordinates: Annotated[list[PolygonCoords], Field(min_length=1)]


GeometryIn = Annotated[PolygonIn | MultiPolygonIn, Field(discriminator="type")]
Short = Annotated[Text, Field(max_length=200)]


class GridProperties(BaseModel):
    """The attributes a change may set (omitted ones keep their value)."""

    model_config = ConfigDict(extra="forbid")
    name: Short | None = None
    worker_name: Short | None = None
    worker_phone: Short | None = None


class GridChangeIn(BaseModel):
    """``{code, etag, geometry?, properties?}`` changes a grid, ``{code: null, community,
    geometry, properties}`` creates one, ``{code, etag, retire: true}`` retires one."""

    model_config = ConfigDict(extra="forbid")
    code: Code | None = None
    etag: Annotated[Text, Field(max_length=64)] | None = None
    community: Code | None = None
    geometry: GeometryIn | None = None
    properties: GridProperties | None = None
    retire: bool = False

    @model_validator(mode="after")
    def _shape(self) -> GridChangeIn:
        if self.code is None and (self.community is None or self.geometry is None):
            raise ValueError("a new grid (code null) needs community and geometry")
        if self.code is not None and self.community is not None:
            raise ValueError("community is only given for a new grid")
        if self.retire and (self.geometry is not None or self.properties is not None):
            raise ValueError("a retired grid takes no geometry or properties")
        return self


class RedrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changes: Annotated[list[GridChangeIn], Field(min_length=1, max_length=2000)]
    valid_from: Moment | None = Field(
        default=None, description="when the change takes effect (default now; may be future)"
    )
    reason: Description = ""


class GridUpdate(BaseModel):
    """PUT /api/v1/grids/{code}: one grid's new geometry and/or attributes."""

    model_config = ConfigDict(extra="forbid")
    geometry: GeometryIn | None = None
    properties: GridProperties | None = None
    valid_from: Moment | None = None
    reason: Description = ""
