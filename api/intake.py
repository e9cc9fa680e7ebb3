"""Filing a report, shared by the JSON API and Open311: convert the point, find its grid,
take the category's default priority when none is given, store it with its first event and
an audit row naming its actor (once: a resend of a known ``client_id`` writes nothing), list
possible duplicates, and commit before anyone is told it is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from api.locator import Locator
from api.settings import Settings
from data import incidents as repo
from data.categories import get_category
from data.db import retry_deadlocks
from data.lifecycle import PRIORITIES, Priority
from geo.crs import to_wgs84


@dataclass(frozen=True)
class Report:
    category: str
    description: str
    lon: float
    lat: float
    crs: str = "wgs84"
    priority: Priority | None = None
    reported_at: datetime | None = None
    client_id: str | None = None
    address: str | None = None
    media_url: str | None = None


@dataclass(frozen=True)
class Filed:
    record: dict[str, Any]
    created: bool
    new: repo.NewIncident
    possible_duplicates: list[int]


def file_report(
    *,
    session: Session,
    locator: Locator,
    settings: Settings,
    report: Report,
    actor: str,
    now: datetime,
    commit: bool = True,
) -> Filed:
    """File ``report`` and commit (durable before we acknowledge); ``commit=False`` for
    callers that write more in the transaction (the report page links the device token and
    stores photos) and then commit themselves."""
    lon, lat = to_wgs84(np.array([report.lon]), np.array([report.lat]), report.crs)
    snapshot = locator.snapshot
    snapshot.require_in_region(float(lon[0]), float(lat[0]))  # (0, 0) and the like: 422
    grid_code = None
    if snapshot.index is not None:
        code_index, _, _ = snapshot.index.locate_one(float(lon[0]), float(lat[0]))
        grid_code = snapshot.codes[code_index] if code_index >= 0 else None
    priority = report.priority
    if priority is None:
        category = get_category(session=session, code=report.category)
        priority = category["priority"] if category else PRIORITIES[0]
    new = repo.NewIncident(
        category=report.category,
        description=report.description,
        lon=float(lon[0]),
        lat=float(lat[0]),
        grid_code=grid_code,
        priority=priority,
        reported_at=report.reported_at,
        client_id=report.client_id,
        address=report.address,
        media_url=report.media_url,
    )

    def store() -> tuple[dict[str, Any], bool, list[int]]:
        record, created = repo.create_incident(
            session=session,
            new=new,
            deadlines=settings.deadlines(),
            reporter=actor,
            now=now,
            tolerance_m=settings.tolerance_m,
            index_state=snapshot.grid_version if snapshot.index is not None else None,
            index_until=snapshot.until,
        )
        duplicates = repo.possible_duplicates(session=session, incident=record)
        if commit:
            session.commit()  # durable before we acknowledge
        return record, created, duplicates

    # a deadlock's victim goes again, unless the caller's transaction holds more than this
    record, created, duplicates = retry_deadlocks(session, store) if commit else store()
    return Filed(record, created, new, duplicates)


def plausible_time(when: datetime | None, settings: Settings, now: datetime) -> datetime | None:
    """A report's time must lie between the configured start and now (plus clock skew)."""
    latest = now + timedelta(seconds=settings.max_clock_skew_s)
    if when is not None and not settings.earliest_report <= when <= latest:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "reported_at"),
                    "msg": f"must lie between {settings.earliest_report:%Y-%m-%d} and now",
                    "type": "value_error",
                }
            ]
        )
    return when


def same_report(stored: dict[str, Any], new: repo.NewIncident) -> bool:
    """Whether a retry carries the report stored under its client_id (to the stored precision)."""
    return (
        (stored["category"], stored["description"], stored["priority"])
        == (new.category, new.description, new.priority)
        and abs(stored["lon"] - new.lon) < 1e-9
        and abs(stored["lat"] - new.lat) < 1e-9
        and (new.reported_at is None or stored["reported_at"] == new.reported_at)
    )
