"""The resident report page's schemas: device tokens, a report with photos (a multipart form),
its answer, a device's own reports, the grid a point goes to, and photo metadata."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import UploadFile
from pydantic import BaseModel, ConfigDict, Field

from api.schemas.fields import Category, Description, Moment, Text
from api.schemas.incidents import IncidentCreated
from api.schemas.points import CrsName, Lat, Lon
from data.lifecycle import Status

MAX_PHOTOS = 3

PageClientId = Annotated[Text, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: Annotated[Text, Field(pattern=r"^\+?[0-9][0-9 -]{4,19}$")] | None = Field(
        default=None, description="optional: a number the handler may call back"
    )


class TokenIssued(BaseModel):
    token: str = Field(description="send it as X-Device-Token; shown once, stored as a hash")
    created_at: datetime


class ReportForm(BaseModel):
    """A report from the page: multipart/form-data, with up to three photos."""

    model_config = ConfigDict(extra="forbid")
    client_id: PageClientId = Field(
        description="the page's own id of this report: a resend with it never duplicates"
    )
    category: Category
    description: Description = ""
    lon: Lon | None = Field(default=None, description="default: the first photo's EXIF location")
    lat: Lat | None = None
    crs: CrsName = "wgs84"
    accuracy_m: float | None = Field(
        default=None, ge=0, le=100_000, allow_inf_nan=False, description="the location's ±metres"
    )
    reported_at: Moment | None = Field(default=None, description="when it was seen")
    photos: list[UploadFile] = Field(
        default=[], max_length=MAX_PHOTOS, description="JPEG, PNG or WebP, checked by content"
    )


class PhotoPublic(BaseModel):
    id: int
    incident_id: int
    event_id: int | None
    kind: str = Field(description="report (the reporter's) or handling (a handler's)")
    width: int
    height: int
    exif_lon: float | None = Field(description="where the camera said it was (a hint)")
    exif_lat: float | None
    created_at: datetime
    url: str
    thumb_url: str


class ReportFiled(IncidentCreated):
    photos: list[PhotoPublic]


class MyReport(BaseModel):
    id: int
    category: str
    category_name: str | None
    description: str
    status: Status
    status_label: str
    grid_code: str | None
    grid_name: str | None
    reported_at: datetime
    due_at: datetime
    closed_at: datetime | None
    overdue: bool
    answer: str | None = Field(description="the handler's last note, once resolved or closed")
    photos: list[PhotoPublic]


class MyReports(BaseModel):
    items: list[MyReport]


class ReportGrid(BaseModel):
    code: str
    name: str
    community: str | None
    worker: str | None = Field(description="the grid worker's name (never a phone number)")


class ReportPlace(BaseModel):
    grid: ReportGrid
    geometry: dict[str, Any] = Field(description="the grid's outline (GeoJSON, WGS84)")
    match: str | None = Field(description="inside | boundary | nearest; null when asked by code")
    distance_m: float | None
