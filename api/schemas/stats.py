"""Statistics schemas (the definitions are in data/stats.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from data.stats import By


class StatsRow(BaseModel):
    key: str | None = Field(description="the grid, community, street, category or person id")
    name: str | None = Field(default=None, description="by=worker: the person's name")
    total: int
    open: int
    closed: int
    rejected: int
    closure_rate: float | None = Field(description="closed / (total − rejected)")
    overdue: int = Field(description="open with due_at in the past")
    on_time_rate: float | None = Field(description="closed by due_at / closed")
    median_hours_to_close: float | None


class IncidentStats(BaseModel):
    by: By
    from_: datetime | None = Field(alias="from", description="reported at or after")
    to: datetime | None = Field(description="reported before")
    rows: list[StatsRow]
