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
    # dispatched again while dispatched: escalation to the street (街道) or a department, or a
    # hand-over to another worker, always with a reason (the note).
    "dispatched": frozenset({"resolved", "dispatched"}),
    "resolved": frozenset({"closed", "dispatched"}),  # dispatched again: verification failed
    "closed": frozenset(),
    "rejected": frozenset(),
}

DISPATCHED: Status = "dispatched"
RESOLVED: Status = "resolved"
# Steps that must carry a note: refusing a report, a re-dispatch (escalation) and a reopen.
NEEDS_NOTE: frozenset[tuple[Status, Status]] = frozenset(
    {
        ("reported", "rejected"),
        ("accepted", "rejected"),
        ("dispatched", "dispatched"),
        ("resolved", "dispatched"),
    }
)

# Who handles incidents: grid workers (one per grid by default), street (街道) staff,
# departments (职能部门), and people who only file or verify (handlers of the hotline).
PersonRole = Literal["worker", "street", "department", "handler"]
PERSON_ROLES: tuple[PersonRole, ...] = get_args(PersonRole)

# Duplicate detection on intake: open reports of the same category this near and this recent.
DUPLICATE_RADIUS_M = 50.0
DUPLICATE_WINDOW = timedelta(days=7)


# Open311 GeoReport v2 knows two statuses.
def open311_status(status: str) -> str:
    """``open`` or ``closed`` (GeoReport v2): rejected reports are closed too."""
    return "closed" if status in (CLOSED, REJECTED) else "open"


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


# The categories a fresh database is seeded with (the Open311 services): the digital
# urban-management classes of CJ/T 214-2007 (carried into GB/T 30428) — events (事件, E..)
# and components (部件, C..) — plus the community-governance classes (G..). Cities extend the
# table. (code, Chinese name, English name, default priority)
CATEGORY_SEED: tuple[tuple[str, str, str, Priority], ...] = (
    ("E01", "市容环境", "City appearance & sanitation", "routine"),
    ("E02", "宣传广告", "Posters & advertising", "routine"),
    ("E03", "施工管理", "Construction management", "complex"),
    ("E04", "突发事件", "Emergencies", "routine"),
    ("E05", "街面秩序", "Street order", "routine"),
    ("E06", "其他事件", "Other events", "complex"),
    ("C01", "公用设施", "Public utilities", "complex"),
    ("C02", "道路交通", "Roads & traffic facilities", "complex"),
    ("C03", "市容环境设施", "Sanitation facilities", "routine"),
    ("C04", "园林绿化", "Parks & greenery", "complex"),
    ("C05", "房屋土地", "Buildings & land", "major"),
    ("C06", "其他设施", "Other facilities", "complex"),
    ("G01", "邻里纠纷", "Neighbour disputes", "complex"),
    ("G02", "安全隐患", "Safety hazards", "routine"),
    ("G03", "民生服务", "Elderly & social help", "complex"),
    ("G04", "矛盾调解", "Conflict mediation", "major"),
)
