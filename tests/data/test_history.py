"""The sample city's synthetic year: deterministic, seasonal, clustered, mostly closed, with
events that match each report's status."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from data.lifecycle import DEFAULT_DEADLINE_HOURS
from data.sample_loader import load_sample_history, sample_history

pytestmark = pytest.mark.postgis

END = datetime(2026, 11, 29, tzinfo=UTC)
DEADLINES: dict[str, timedelta] = {p: timedelta(hours=h) for p, h in DEFAULT_DEADLINE_HOURS.items()}


def test_the_sample_year(session: Session) -> None:
    started = time.perf_counter()
    count = load_sample_history(session=session, end=END, deadlines=DEADLINES, count=6000)
    elapsed = time.perf_counter() - started
    assert count == 6000 and elapsed < 60
    q = lambda sql: session.execute(text(sql)).all()  # noqa: E731
    statuses: dict[str, int] = dict(q("SELECT status, count(*) FROM incidents GROUP BY 1"))
    assert statuses["closed"] > 0.8 * count
    assert 0 < statuses.get("rejected", 0) < 0.1 * count
    overdue = q(
        "SELECT count(*) FROM incidents WHERE status NOT IN ('closed', 'rejected') "
        "AND due_at < '2026-11-29'"
    )[0][0]
    assert 0 < overdue < 0.1 * count
    months: dict[int, int] = dict(
        q("SELECT extract(month FROM reported_at)::int, count(*) FROM incidents GROUP BY 1")
    )
    assert months[7] > 1.3 * months[1]  # summer peak
    per_grid = sorted(
        (n for _, n in q("SELECT grid_code, count(*) FROM incidents GROUP BY 1")), reverse=True
    )
    assert sum(per_grid[: len(per_grid) // 10]) > 0.25 * count  # a few hot grids
    # the last event of every incident is its status; closed ones carry closed_at
    mismatched = q(
        """
        SELECT count(*) FROM incidents i JOIN LATERAL (
            SELECT to_status, at FROM incident_events e WHERE e.incident_id = i.id
            ORDER BY at DESC, id DESC LIMIT 1) last ON true
        WHERE last.to_status <> i.status
           OR (i.status = 'closed') <> (i.closed_at IS NOT NULL)
        """
    )[0][0]
    assert mismatched == 0
    again = sample_history(session=session, end=END, count=50, deadlines=DEADLINES)
    assert again == sample_history(session=session, end=END, count=50, deadlines=DEADLINES)
