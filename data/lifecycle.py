"""The incident vocabulary, in one place: statuses and their order, which count as open, the
priorities and their deadlines, and which status may follow which.

Pure (imports nothing of the database), so schemas, ORM models, migrations, SQL and the map
legends all take their lists from here. The closed loop 发现 → 立案 → 派遣 → 处置 → 反馈 →
核查结案 is ``reported → accepted → dispatched → resolved → closed``, plus ``rejected``
(不予立案) and the reopen ``resolved → dispatched`` (verification failed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Literal, get_args

Status = Literal["reported", "accepted", "dispatched", "resolved", "closed", "rejected"]
Priority = Literal["routine", "complex", "major"]

STATUSES: tuple[Status, ...] = get_args(Status)  # lifecycle order
PRIORITIES: tuple[Priority, ...] = get_args(Priority)

INITIAL: Status = "reported"
CLOSED: Status = "closed"
REJECTED: Status = "rejected"
# Open = still somebody's work: everything but closed and rejected (resolved awaits its check).
OPEN: tuple[Status, ...] = tuple(s for s in STATUSES if s not in (CLOSED, REJECTED))

TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    "reported": frozenset({"accepted", "rejected"}),
    "accepted": frozenset({"dispatched", "rejected"}),
    "dispatched": frozenset({"resolved"}),
    "resolved": frozenset({"closed", "dispatched"}),  # dispatched again: verification failed
    "closed": frozenset(),
    "rejected": frozenset(),
}

STATUS_LABELS: Mapping[str, str] = {
    "reported": "上报 reported",
    "accepted": "立案 accepted",
    "dispatched": "派遣 dispatched",
    "resolved": "处置 resolved",
    "closed": "结案 closed",
    "rejected": "不予立案 rejected",
}
PRIORITY_LABELS: Mapping[str, str] = {
    "routine": "立即办 routine",
    "complex": "限时办 complex",
    "major": "跟踪办 major",
}
# 一般问题立即办, 复杂问题限时办, 重大问题跟踪办: hours to the deadline (settings override them).
DEFAULT_DEADLINE_HOURS: Mapping[Priority, int] = {
    "routine": 24,
    "complex": 5 * 24,
    "major": 30 * 24,
}


def can_follow(current: Status, new: Status) -> bool:
    """Whether ``new`` is one legal step from ``current``."""
    return new in TRANSITIONS[current]


def due_at(
    reported_at: datetime, priority: Priority, deadlines: Mapping[str, timedelta]
) -> datetime:
    """The deadline of a report filed at ``reported_at`` with ``priority``."""
    return reported_at + deadlines[priority]


def sql_list(values: Iterable[str]) -> str:
    """``'a', 'b'`` for an SQL ``IN (…)`` of these fixed names (never user input)."""
    return ", ".join(f"'{v}'" for v in values)
