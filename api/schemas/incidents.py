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
    priority: Priority | None = Field(  # type: ignore[assignment]
        default=None, description="default: the category's (routine for unknown categories)"
    )
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
    assignee: int | None = Field(default=None, description="the person handling it")
    merged_into: int | None = Field(default=None, description="the original it duplicates")


class IncidentCreated(IncidentPublic):
    possible_duplicates: list[int] = Field(
        description="open reports of the same category within 50 m and 7 days, nearest first"
    )


class IncidentUpdate(BaseModel):
    """One lifecycle step (data.lifecycle.TRANSITIONS)."""

    model_config = ConfigDict(extra="forbid")
    status: Status
    note: Description | None = Field(
        default=None, description="why; required to reject, re-dispatch (escalate) or reopen"
    )
    assignee: int | None = Field(
        default=None,
        ge=1,
        lt=2**31,
        strict=True,
        description="dispatch only: the person to dispatch to (default: the grid's worker)",
    )


class IncidentMerge(BaseModel):
    """Close this open duplicate with a link to the original."""

    model_config = ConfigDict(extra="forbid")
    into: int = Field(ge=1, lt=2**63, strict=True, description="the original's id")
    note: Description | None = None


class IncidentEvent(BaseModel):
    id: int
    from_status: Status | None
    to_status: Status
    note: str | None
    actor: str | None
    actor_person: int | None
    actor_name: str | None
    assignee: int | None
    assignee_name: str | None
    at: datetime


class IncidentPage(BaseModel):
    items: list[IncidentPublic]
    next_cursor: str | None
