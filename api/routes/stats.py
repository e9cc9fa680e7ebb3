"""Incident statistics, computed in SQL (data/stats.py holds the definitions)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRouter

from api.deps import SessionDep, SettingsDep, Viewer
from api.schemas.fields import Moment
from api.schemas.stats import IncidentStats, StatsRow
from data.stats import By, incident_stats

router = APIRouter(prefix="/api/v1/stats", tags=["statistics"])


@router.get(
    "/incidents",
    response_model=IncidentStats,
    response_model_by_alias=True,
    summary="Counts by status, closure rate, overdue, on-time rate, median hours to close",
)
def stats_incidents(
    session: SessionDep,
    settings: SettingsDep,
    _: Viewer,
    by: By = "grid",
    start: Annotated[
        Moment | None, Query(alias="from", description="reported at or after (naive: local)")
    ] = None,
    end: Annotated[Moment | None, Query(alias="to", description="reported before")] = None,
) -> IncidentStats:
    start, end = settings.aware(start), settings.aware(end)
    if start is not None and end is not None and end <= start:
        raise RequestValidationError(
            [{"loc": ("query", "to"), "msg": "must be after `from`", "type": "value_error"}]
        )
    rows = incident_stats(session=session, by=by, start=start, end=end, now=datetime.now(UTC))
    return IncidentStats.model_validate(
        {"by": by, "from": start, "to": end, "rows": [StatsRow.model_validate(r) for r in rows]}
    )
