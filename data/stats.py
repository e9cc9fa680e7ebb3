"""Incident statistics and the monthly worker evaluation (考核), computed in SQL.

Definitions (the design's), over the incidents *reported* in ``[start, end)``:

- ``total``: all of them; ``closed``: status ``closed``; ``open``: status in
  data.lifecycle.OPEN (everything but closed and rejected); ``rejected``: status ``rejected``;
- ``closure_rate`` = closed / (total − rejected), null when that is 0;
- ``overdue``: open with ``due_at`` before ``now``;
- ``on_time_rate`` = closed with ``closed_at <= due_at`` / closed, null when none closed;
- ``median_hours_to_close``: median of ``closed_at − reported_at`` over closed, in hours.

Groupings: ``grid`` (the incident's grid code), ``community`` and ``street`` (the current
grid's community and that community's parent street in ``regions``), ``category``, and
``worker`` (the current assignee's person id; ``name`` carries the person's name).

The worker evaluation for a period takes, per person, the incidents *dispatched* to them in
it (an event ``→ dispatched`` naming them as assignee):

- ``handled``: how many such incidents;
- ``on_time_closure_rate``: those closed by their deadline / handled;
- ``median_response_hours``: median of the time from the first such dispatch to the first
  ``resolved`` after it, over those resolved;
- ``reopen_rate``: those with a reopen (``resolved → dispatched``) / handled.

Every grid worker appears (with ``handled`` 0 when nothing reached them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import text
from sqlalchemy.orm import Session

from data.lifecycle import OPEN, sql_list

By = Literal["grid", "community", "street", "category", "worker"]
BY: tuple[By, ...] = get_args(By)

# the key expression and the joins each grouping needs (fixed strings, never user input)
_KEYS: dict[str, tuple[str, str]] = {
    "grid": ("i.grid_code", ""),
    "community": (
        "g.community",
        "LEFT JOIN grids g ON g.code = i.grid_code AND g.valid_to IS NULL",
    ),
    "street": (
        "r.parent",
        "LEFT JOIN grids g ON g.code = i.grid_code AND g.valid_to IS NULL "
        "LEFT JOIN regions r ON r.code = g.community AND r.level = 'community'",
    ),
    "category": ("i.category", ""),
    "worker": ("i.assignee::text", ""),
}

_OPEN = sql_list(OPEN)


_PERIOD = """
    (CAST(:start AS timestamptz) IS NULL OR i.reported_at >= :start)
    AND (CAST(:end AS timestamptz) IS NULL OR i.reported_at < :end)"""


def _counts_sql(by: str) -> str:
    """Counts only: plain aggregates, which PostgreSQL can hash and run in parallel."""
    key, joins = _KEYS[by]
    return f"""
    SELECT {key} AS key,
           count(*) AS total,
           count(*) FILTER (WHERE i.status IN ({_OPEN})) AS open,
           count(*) FILTER (WHERE i.status = 'closed') AS closed,
           count(*) FILTER (WHERE i.status = 'rejected') AS rejected,
           count(*) FILTER (WHERE i.status IN ({_OPEN}) AND i.due_at < :now) AS overdue,
           count(*) FILTER (WHERE i.status = 'closed' AND i.closed_at <= i.due_at)
               AS closed_on_time
    FROM incidents i {joins}
    WHERE {_PERIOD}
    GROUP BY 1
    """


def _medians_sql(by: str) -> str:
    """The ordered-set aggregate on its own, over the closed reports only (it cannot be
    hashed or parallelised; kept apart it does not drag the counts down with it)."""
    key, joins = _KEYS[by]
    return f"""
    SELECT {key} AS key,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM i.closed_at - i.reported_at) / 3600.0) AS median
    FROM incidents i {joins}
    WHERE i.status = 'closed' AND {_PERIOD}
    GROUP BY 1
    """


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def incident_stats(
    *,
    session: Session,
    by: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """One row per key: counts by status, closure rate, overdue, on-time rate, median hours
    to close (definitions above)."""
    values = {"start": start, "end": end, "now": now}
    medians: dict[str | None, float] = dict(
        session.execute(text(_medians_sql(by)), values).tuples().all()
    )
    counts = session.execute(text(_counts_sql(by)), values).all()
    names: dict[str, str] = {}
    if by == "worker":
        names = {str(i): n for i, n in session.execute(text("SELECT id, name FROM people")).all()}
    out = []
    for r in sorted(counts, key=lambda r: (r.key is None, r.key or "")):
        m = r._mapping
        median = medians.get(m["key"])
        row = {
            "key": m["key"],
            "total": m["total"],
            "open": m["open"],
            "closed": m["closed"],
            "rejected": m["rejected"],
            "closure_rate": _ratio(m["closed"], m["total"] - m["rejected"]),
            "overdue": m["overdue"],
            "on_time_rate": _ratio(m["closed_on_time"], m["closed"]),
            "median_hours_to_close": None if median is None else float(median),
        }
        if by == "worker":
            row["name"] = names.get(m["key"]) if m["key"] is not None else None
        out.append(row)
    return out


EVALUATION = text(
    """
    WITH d AS (
        SELECT e.assignee AS person, e.incident_id, min(e.at) AS dispatched_at
        FROM incident_events e
        WHERE e.to_status = 'dispatched' AND e.assignee IS NOT NULL
          AND e.at >= :start AND e.at < :end
        GROUP BY 1, 2),
    h AS (
        SELECT d.person, d.incident_id, d.dispatched_at,
               (SELECT min(x.at) FROM incident_events x
                WHERE x.incident_id = d.incident_id AND x.to_status = 'resolved'
                  AND x.at >= d.dispatched_at) AS resolved_at,
               EXISTS (SELECT 1 FROM incident_events x
                       WHERE x.incident_id = d.incident_id AND x.from_status = 'resolved'
                         AND x.to_status = 'dispatched') AS reopened,
               (i.status = 'closed' AND i.closed_at <= i.due_at) AS on_time
        FROM d JOIN incidents i ON i.id = d.incident_id)
    SELECT p.id AS person_id, p.name, p.phone, p.role,
           count(h.incident_id) AS handled,
           count(*) FILTER (WHERE h.on_time) AS closed_on_time,
           count(*) FILTER (WHERE h.reopened) AS reopened,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM h.resolved_at - h.dispatched_at) / 3600.0)
               AS median_response_hours
    FROM people p LEFT JOIN h ON h.person = p.id
    WHERE p.role = 'worker' OR h.person IS NOT NULL
    GROUP BY p.id ORDER BY p.id
    """
)


def worker_evaluation(*, session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per person: handled, on-time closure rate, median response hours, reopen rate for the
    incidents dispatched to them in ``[start, end)`` (definitions above)."""
    out = []
    for r in session.execute(EVALUATION, {"start": start, "end": end}):
        m = r._mapping
        median = m["median_response_hours"]
        out.append(
            {
                "person_id": m["person_id"],
                "name": m["name"],
                "phone": m["phone"],
                "role": m["role"],
                "handled": m["handled"],
                "on_time_closure_rate": _ratio(m["closed_on_time"], m["handled"]),
                "median_response_hours": None if median is None else float(median),
                "reopen_rate": _ratio(m["reopened"], m["handled"]),
            }
        )
    return out


MONTHLY = text(
    """
    SELECT grid_code, to_char(reported_at AT TIME ZONE :tz, 'YYYY-MM') AS month,
           count(*) AS reported, count(*) FILTER (WHERE status = 'closed') AS closed
    FROM incidents
    WHERE reported_at >= :start AND reported_at < :end AND grid_code IS NOT NULL
    GROUP BY 1, 2
    """
)


def monthly_by_grid(
    *, session: Session, start: datetime, end: datetime, tz: str, months: list[str]
) -> dict[str, tuple[list[int], list[int]]]:
    """Per grid: reports filed and (of them) closed in each of ``months`` (``YYYY-MM`` in
    zone ``tz``), for the stats map's per-grid chart."""
    index = {m: i for i, m in enumerate(months)}
    out: dict[str, tuple[list[int], list[int]]] = {}
    for code, month, reported, closed in session.execute(
        MONTHLY, {"start": start, "end": end, "tz": tz}
    ):
        if month not in index:
            continue
        series = out.setdefault(code, ([0] * len(months), [0] * len(months)))
        series[0][index[month]] = reported
        series[1][index[month]] = closed
    return out
