"""Incident schemas (Base/Create/Public); the vocabulary comes from data.lifecycle."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.fields import Category, ClientId, Description, Moment
from api.schemas.points import CrsName, JsonLat, JsonLon
from data.lifecycle import Priority, Status


class IncidentBase(BaseModel):
    category: Category
    description: Description = ""
    priority: Priority = "routine"


class IncidentCreate(IncidentBase):
    model_config = ConfigDict(extra="forbid")
    client_id: ClientId | None = None
    lon: JsonLon
    lat: JsonLat
    crs: CrsName = "wgs84"
    reported_at: Moment | None = Field(
        default=None, description="when it was seen; naive times are local (GRIDMAP_TIMEZONE)"
    )


class IncidentPublic(IncidentBase):
    id: int
    client_id: str | None
    status: Status
    lon: float = Field(description="WGS84")
    lat: float = Field(description="WGS84")
    grid_code: str | None
    reported_at: datetime
    created_at: datetime
    due_at: datetime
    closed_at: datetime | None


class IncidentPage(BaseModel):
    items: list[IncidentPublic]
    next_cursor: str | None
