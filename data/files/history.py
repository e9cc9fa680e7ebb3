"""Work orders with their history in an incident CSV (``gridmap import incidents``): last
year's reports keep their status, timestamps and steps.

A row's history comes from, in order of preference:

- ``events``: a JSON list of steps after ``reported``, ``[{"status", "at", "note"?}, …]``;
- ``status`` with optional ``accepted_at``, ``dispatched_at``, ``resolved_at``,
  ``closed_at`` / ``rejected_at`` columns: the usual path to that status (reported →
  accepted → dispatched → resolved → closed, or → rejected), each step at its column's time
  (the previous step's time when the column is empty).

Dispatches go to the grid's worker. Every history is checked against data.lifecycle's
transition table and time order; the first bad row rejects the file, naming its line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from data.errors import ImportFileError
from data.incidents import PastStep
from data.lifecycle import CLOSED, REJECTED, STATUSES, Status, can_follow

HISTORY_COLUMNS = ("events", "status")
PATHS: Mapping[str, tuple[Status, ...]] = {
    "reported": (),
    "accepted": ("accepted",),
    "dispatched": ("accepted", "dispatched"),
    "resolved": ("accepted", "dispatched", "resolved"),
    CLOSED: ("accepted", "dispatched", "resolved", CLOSED),
    REJECTED: (REJECTED,),
}


def _time(value: Any, where: str, reported: datetime) -> datetime:
    """A step's time; without a zone, in the report's (a zone on a step of a report without
    one is refused: the two could not be ordered)."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ImportFileError(f"{where}: {value!r} is not a time") from None
    if pd.isna(stamp):
        raise ImportFileError(f"{where}: a step without a time")
    when: datetime = stamp.to_pydatetime()
    if when.tzinfo is None:
        return when.replace(tzinfo=reported.tzinfo)
    if reported.tzinfo is None:
        raise ImportFileError(f"{where}: steps have a time zone, reported_at has none")
    return when


def row_steps(
    row: Mapping[str, Any], *, reported: datetime, worker: int | None, where: str
) -> list[PastStep]:
    """The steps of one CSV row (``row``: column → value, None when empty)."""
    steps: list[tuple[str, datetime, str | None]] = []
    if row.get("events") is not None:
        try:
            listed = json.loads(str(row["events"]))
            steps = [
                (str(e["status"]), _time(e["at"], where, reported), e.get("note")) for e in listed
            ]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ImportFileError(f"{where}: events must be a JSON list of steps ({exc})") from None
    elif row.get("status") is not None:
        status = str(row["status"]).strip()
        if status not in PATHS:
            raise ImportFileError(f"{where}: status {status!r} is none of {', '.join(STATUSES)}")
        at = reported
        for step in PATHS[status]:
            given = row.get(f"{step}_at")
            at = at if given is None else _time(given, where, reported)
            steps.append((step, at, None))
    out, current, last = [], "reported", reported
    for status, at, note in steps:
        if status not in STATUSES or not can_follow(current, status):  # type: ignore[arg-type]
            raise ImportFileError(f"{where}: {current} → {status} is no lifecycle step")
        if at < last:
            raise ImportFileError(f"{where}: {status} at {at} comes before the step it follows")
        out.append(PastStep(status, at, note, worker if status == "dispatched" else None))
        current, last = status, at
    return out
