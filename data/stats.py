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

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import text
from sqlalchemy.orm import Session

from data.lifecycle import OPEN, sql_list

By = Literal["grid", "community", "street", "category", "worker"]
BY: tuple[By, ...] = get_args(By)


def _groupings(grid: str, direct: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """Each grouping's key expression and the joins it needs (fixed strings, never user
    input): ``grid`` the grid code expression, ``direct`` the keys read without a join."""
    community = f"LEFT JOIN grids g ON g.code = {grid} AND g.valid_to IS NULL"
    return {
        **direct,
        "community": ("g.community", community),
        "street": (
            "r.parent",
            f"{community} LEFT JOIN regions r ON r.code = g.community AND r.level = 'community'",
        ),
    }


# the key expression and the joins each grouping needs, over the incidents
_KEYS = _groupings(
    "i.grid_code",
    {
        "grid": ("i.grid_code", ""),
        "category": ("i.category", ""),
        "worker": ("i.assignee::text", ""),
    },
)

_OPEN = sql_list(OPEN)


_PERIOD = """
    (CAST(:start AS timestamptz) IS NULL OR i.reported_at >= :start)
    AND (CAST(:end AS timestamptz) IS NULL OR i.reported_at < :end)"""


def _counts_sql(by: str) -> str:
    """The reference counts: plain aggregates over the incidents themselves."""
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
    """The reference medians: the ordered-set aggregate over the closed reports."""
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


def _rows(
    session: Session, by: str, counts: Sequence[Any], medians: dict[str | None, float]
) -> list[dict[str, Any]]:
    names: dict[str, str] = {}
    if by == "worker":
        names = {str(i): n for i, n in session.execute(text("SELECT id, name FROM people")).all()}
    out = []
    for r in sorted(counts, key=lambda r: (r.key is None, r.key or "")):
        m = r._mapping
        median = medians.get(m["key"])
        row = {
            "key": m["key"],
            "total": int(m["total"]),
            "open": int(m["open"]),
            "closed": int(m["closed"]),
            "rejected": int(m["rejected"]),
            "closure_rate": _ratio(m["closed"], m["total"] - m["rejected"]),
            "overdue": int(m["overdue"]),
            "on_time_rate": _ratio(m["closed_on_time"], m["closed"]),
            "median_hours_to_close": None if median is None else float(median),
        }
        if by == "worker":
            row["name"] = names.get(m["key"]) if m["key"] is not None else None
        out.append(row)
    return out


def direct_incident_stats(
    *,
    session: Session,
    by: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """The same answer as :func:`incident_stats`, straight from the incidents (every row of
    the period read): the reference the rollups are tested and benchmarked against."""
    values = {"start": start, "end": end, "now": now}
    medians: dict[str | None, float] = dict(
        session.execute(text(_medians_sql(by)), values).tuples().all()
    )
    counts = session.execute(text(_counts_sql(by)), values).all()
    return _rows(session, by, counts, medians)


# --- from the rollups ----------------------------------------------------------------------
# incident_rollups (migration 0008, kept by triggers on incidents in the writing transaction)
# holds, per UTC day and per UTC month of reported_at and per grid / category / assignee, the
# counts by status. A period is cut into whole months, whole days around them and the
# part-days at its edges; the first two come from the rollups, the edges from incidents.
# Overdue (it depends on now) and the medians (exact) are read from incidents: the open ones
# through the partial index ix_incidents_open_stats, the closed ones through the covering
# indexes of migration 0003.

# hours from report to closing (float8: fast to compute and sort; the reference's numeric
# rounds the same value to within 1e-12 relative). ix_incidents_closed_hours (migration 0008)
# indexes this very expression.
CLOSE_HOURS = "date_part('epoch', i.closed_at - i.reported_at) / 3600.0"

_DIM = {"grid": "g", "community": "g", "street": "g", "category": "c", "worker": "w"}
# the rollup/raw key (grid code, category, assignee) → the grouping's key
_OUTER = _groupings("p.key", dict.fromkeys(("grid", "category", "worker"), ("p.key", "")))
_RAW_KEY = {"g": "i.grid_code", "c": "i.category::text", "w": "i.assignee::text"}
# periods up to this long: medians grouped by hashing (one array per key, the period read
# through ix_incidents_stats_grid); longer ones (by grid) walk ix_incidents_closed_hours
_SHORT = timedelta(days=62)

Range = tuple[datetime | date | None, datetime | date | None]


@dataclass(frozen=True)
class Split:
    """A period cut into what the rollups answer and what the incidents answer."""

    months: list[Range] = field(default_factory=list)  # whole UTC months
    days: list[Range] = field(default_factory=list)  # whole UTC days
    raw: list[Range] = field(default_factory=list)  # part-days (timestamps)


def _next_day(t: datetime) -> date:
    day = t.date()
    return day if t == datetime.combine(day, time(), UTC) else day + timedelta(days=1)


def _next_month(d: date) -> date:
    first = d.replace(day=1)
    if first == d:
        return d
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def split_period(start: datetime | None, end: datetime | None) -> Split:
    """``[start, end)`` (either open) as whole UTC months, whole UTC days and part-days."""
    s = None if start is None else start.astimezone(UTC)
    e = None if end is None else end.astimezone(UTC)
    d0 = None if s is None else _next_day(s)
    d1 = None if e is None else e.date()
    if d0 is not None and d1 is not None and d0 >= d1:
        return Split(raw=[(s, e)])
    raw: list[Range] = []
    if s is not None and d0 is not None:
        raw.append((s, datetime.combine(d0, time(), UTC)))
    if e is not None and d1 is not None:
        raw.append((datetime.combine(d1, time(), UTC), e))
    m0 = None if d0 is None else _next_month(d0)
    m1 = None if d1 is None else d1.replace(day=1)
    if m0 is not None and m1 is not None and m0 >= m1:
        return Split(days=[(d0, d1)], raw=raw)
    days: list[Range] = [(d0, m0)] if d0 is not None else []
    days += [(m1, d1)] if d1 is not None else []
    return Split(months=[(m0, m1)], days=days, raw=raw)


def _ranges(column: str, ranges: list[Range], prefix: str, values: dict[str, Any]) -> str:
    """``(column >= :p0a AND column < :p0b) OR …`` over ``ranges`` (None: unbounded), with
    the bounds put in ``values``; ``FALSE`` for none."""
    terms = []
    for n, (lo, hi) in enumerate(ranges):
        if lo is not None and hi is not None and lo >= hi:
            continue
        parts = []
        for side, op, bound in (("a", ">=", lo), ("b", "<", hi)):
            if bound is not None:
                values[f"{prefix}{n}{side}"] = bound
                parts.append(f"{column} {op} :{prefix}{n}{side}")
        terms.append("(" + (" AND ".join(parts) or "TRUE") + ")")
    return " OR ".join(terms) or "FALSE"


def _rollup_counts_sql(by: str, split: Split, values: dict[str, Any]) -> str:
    key, joins = _OUTER[by]
    dim = _DIM[by]
    months = _ranges("bucket", split.months, "m", values)
    days = _ranges("bucket", split.days, "d", values)
    raw = _ranges("i.reported_at", split.raw, "r", values)
    period = _ranges("i.reported_at", [(values["start"], values["end"])], "p", values)
    return f"""
    WITH p AS (
        SELECT key, total, open, closed, rejected, closed_on_time, 0 AS overdue
        FROM incident_rollups
        WHERE dim = '{dim}' AND ((span = 'm' AND ({months})) OR (span = 'd' AND ({days})))
        UNION ALL
        SELECT {_RAW_KEY[dim]}, count(*),
               count(*) FILTER (WHERE i.status IN ({_OPEN})),
               count(*) FILTER (WHERE i.status = 'closed'),
               count(*) FILTER (WHERE i.status = 'rejected'),
               count(*) FILTER (WHERE i.status = 'closed' AND i.closed_at <= i.due_at), 0
        FROM incidents i WHERE {raw}
        GROUP BY 1
        UNION ALL
        SELECT {_RAW_KEY[dim]}, 0, 0, 0, 0, 0, count(*)
        FROM incidents i
        WHERE i.status IN ({_OPEN}) AND i.due_at < :now AND ({period})
        GROUP BY 1)
    SELECT {key} AS key, sum(p.total)::bigint AS total, sum(p.open)::bigint AS open,
           sum(p.closed)::bigint AS closed, sum(p.rejected)::bigint AS rejected,
           sum(p.closed_on_time)::bigint AS closed_on_time, sum(p.overdue)::bigint AS overdue
    FROM p {joins}
    GROUP BY 1
    HAVING sum(p.total) > 0
    """


def _fast_medians_sql(by: str, short: bool, values: dict[str, Any]) -> str:
    key, joins = _KEYS[by]
    period = _ranges("i.reported_at", [(values["start"], values["end"])], "q", values)
    hours = CLOSE_HOURS  # ix_incidents_closed_hours's expression, to the letter
    if short:  # hash the period's closed reports into one array per key, sort each alone
        return f"""
        SELECT key, (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(a) x)
        FROM (SELECT {key} AS key, array_agg({hours}) AS a
              FROM incidents i {joins}
              WHERE i.status = 'closed' AND ({period})
              GROUP BY 1) s
        """
    return f"""
    SELECT {key} AS key, percentile_cont(0.5) WITHIN GROUP (ORDER BY {hours}) AS median
    FROM incidents i {joins}
    WHERE i.status = 'closed' AND ({period})
    GROUP BY 1
    """


def incident_stats(
    *,
    session: Session,
    by: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """One row per key: counts by status, closure rate, overdue, on-time rate, median hours
    to close (definitions above): counts from the rollups, overdue and medians from the
    incidents (exact)."""
    values: dict[str, Any] = {"start": start, "end": end, "now": now}
    split = split_period(start, end)
    short = start is not None and end is not None and end - start <= _SHORT
    session.execute(text("SET LOCAL work_mem = '64MB'"))  # the medians' arrays and sorts
    medians: dict[str | None, float] = dict(
        session.execute(text(_fast_medians_sql(by, short, values)), values).tuples().all()
    )
    counts = session.execute(text(_rollup_counts_sql(by, split, values)), values).all()
    return _rows(session, by, counts, medians)


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
