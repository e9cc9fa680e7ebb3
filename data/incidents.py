"""Incident repository: idempotent intake, filtered keyset listing, bulk import, and the
closed loop: one lifecycle step at a time, merging a duplicate, possible duplicates.

Idempotency rests on the unique ``client_id`` constraint (INSERT … ON CONFLICT DO
NOTHING), never on read-then-write, so concurrent retries cannot duplicate a report. A step
locks its incident's row (SELECT … FOR UPDATE) before it checks the current status and the
ETag, so of two concurrent steps exactly one applies and the other sees its result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, Table, func, insert, select, text
from sqlalchemy.orm import Session

from data import audit
from data.errors import ConflictError, NotFoundError, PreconditionFailedError, RuleError
from data.lifecycle import (
    CLOSED,
    DISPATCHED,
    DUPLICATE_RADIUS_M,
    DUPLICATE_WINDOW,
    INITIAL,
    NEEDS_NOTE,
    OPEN,
    STATUSES,
    Priority,
    Status,
    can_follow,
    due_at,
    sql_list,
)
from data.models import Grid, Incident, IncidentEvent, Person
from data.people import worker_of_grid


@dataclass(frozen=True)
class NewIncident:
    category: str
    description: str
    lon: float
    lat: float
    grid_code: str | None
    priority: Priority
    reported_at: datetime | None
    client_id: str | None = None
    address: str | None = None
    media_url: str | None = None


_COLUMNS = (
    Incident.id,
    Incident.client_id,
    Incident.category,
    Incident.description,
    Incident.priority,
    Incident.status,
    Incident.grid_code,
    Incident.reported_at,
    Incident.created_at,
    Incident.due_at,
    Incident.closed_at,
    Incident.assignee,
    Incident.merged_into,
    Incident.version,
    Incident.address,
    Incident.media_url,
    func.ST_X(Incident.geom).label("lon"),
    func.ST_Y(Incident.geom).label("lat"),
)


def _values(
    new: NewIncident, *, deadlines: dict[str, timedelta], reporter: str | None, now: datetime
) -> dict[str, Any]:
    reported = new.reported_at or now
    return {
        "client_id": new.client_id,
        "category": new.category,
        "description": new.description,
        "priority": new.priority,
        "status": INITIAL,
        "grid_code": new.grid_code,
        "geom": f"SRID=4326;POINT({new.lon!r} {new.lat!r})",
        "reported_at": reported,
        "due_at": due_at(reported, new.priority, deadlines),
        "reporter": reporter,
        "address": new.address,
        "media_url": new.media_url,
    }


# an incident as the API shows it, from a statement's RETURNING rows
_RECORD = """id, client_id, category, description, priority, status, grid_code, reported_at,
           created_at, due_at, closed_at, assignee, merged_into, version, address, media_url,
           ST_X(geom) AS lon, ST_Y(geom) AS lat"""

CREATE = text(
    f"""
    WITH ins AS (
        INSERT INTO incidents (client_id, category, description, priority, status, grid_code,
                               geom, reported_at, due_at, reporter, address, media_url)
        VALUES (:client_id, :category, :description, :priority, :status,
                gridmap_filing_grid(CAST(:grid_code AS text), ST_GeomFromEWKT(:geom), :tolerance_m,
                                    CAST(:index_state AS bigint),
                                    CAST(:index_until AS timestamptz)),
                ST_GeomFromEWKT(:geom), :reported_at, :due_at, :reporter, :address,
                :media_url)
        ON CONFLICT (client_id) DO NOTHING
        RETURNING *),
    ev AS (
        INSERT INTO incident_events (incident_id, from_status, to_status, actor)
        SELECT id, NULL, :status, :reporter FROM ins),
    au AS ({
        audit.insert_for(
            "ins", entity_id="CAST(id AS text)", detail="jsonb_build_object('grid', grid_code)"
        )
    })
    SELECT {_RECORD}
    FROM ins
    """
)


def create_incident(
    *,
    session: Session,
    new: NewIncident,
    deadlines: dict[str, timedelta],
    reporter: str | None,
    now: datetime,
    tolerance_m: float = 50.0,
    index_state: int | None = None,
    index_until: datetime | None = None,
) -> tuple[dict[str, Any], bool]:
    """Store a report, its first event and its audit row in one statement unless its
    ``client_id`` is known; returns (record, created). ``new.grid_code`` is taken when it
    comes from an index of the grids as they still are (built at grid state ``index_state``,
    holding until ``index_until``); else the database locates the point itself (migration
    0004's ``gridmap_filing_grid``), so no incident is filed with a grid a redraw just
    changed."""
    values = _values(new, deadlines=deadlines, reporter=reporter, now=now)
    values.update(tolerance_m=tolerance_m, index_state=index_state, index_until=index_until)
    values.update(
        actor=reporter,
        **audit.values_for(action="create", entity="incident", detail={"client_id": new.client_id}),
    )
    # Core-level execute on the session's connection: half the CPU of Session.execute on
    # this hot path, same transaction.
    row = session.connection().execute(CREATE, values).first()
    if row is not None:
        return dict(row._mapping), True
    existing = session.execute(
        select(Incident.id).where(Incident.client_id == new.client_id)
    ).scalar_one()
    return get_incident(session=session, incident_id=existing), False


def get_incident(*, session: Session, incident_id: int) -> dict[str, Any]:
    row = session.execute(select(*_COLUMNS).where(Incident.id == incident_id)).first()
    if row is None:
        raise NotFoundError(f"no incident {incident_id}")
    return dict(row._mapping)


def list_incidents(
    *,
    session: Session,
    grid: str | None = None,
    community: str | None = None,
    status: str | None = None,
    category: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    since: datetime | None = None,
    overdue: bool | None = None,
    assignee: int | None = None,
    now: datetime | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Incidents in id order after ``after_id`` (keyset paging: stable under inserts);
    ``overdue`` means open with its deadline before ``now`` (or not, when False)."""
    query: Select[Any] = select(*_COLUMNS)
    if grid is not None:
        query = query.where(Incident.grid_code == grid)
    if community is not None:
        in_community = select(Grid.code).where(Grid.community == community, Grid.valid_to.is_(None))
        query = query.where(Incident.grid_code.in_(in_community))
    if status is not None:
        query = query.where(Incident.status == status)
    if category is not None:
        query = query.where(Incident.category == category)
    if bbox is not None:
        query = query.where(Incident.geom.intersects(func.ST_MakeEnvelope(*bbox, 4326)))
    if since is not None:
        query = query.where(Incident.reported_at >= since)
    if overdue is not None:
        late = Incident.status.in_(OPEN) & (Incident.due_at < (now or func.now()))
        query = query.where(late if overdue else ~late)
    if assignee is not None:
        query = query.where(Incident.assignee == assignee)
    if after_id is not None:
        query = query.where(Incident.id > after_id)
    return [dict(r._mapping) for r in session.execute(query.order_by(Incident.id).limit(limit))]


def insert_many(
    *,
    session: Session,
    rows: Sequence[NewIncident],
    deadlines: dict[str, timedelta],
    reporter: str | None,
    now: datetime,
) -> list[int]:
    """Bulk intake (CSV import): one first event per row; ids in input order."""
    if not rows:
        return []
    values = [_values(r, deadlines=deadlines, reporter=reporter, now=now) for r in rows]
    ids = list(
        session.execute(
            insert(Incident).returning(Incident.id, sort_by_parameter_order=True), values
        ).scalars()
    )
    session.execute(
        insert(IncidentEvent),
        [
            {"incident_id": i, "from_status": None, "to_status": INITIAL, "actor": reporter}
            for i in ids
        ],
    )
    return ids


def etag(incident: dict[str, Any]) -> str:
    """Strong ETag of an incident's state: every step bumps its version."""
    return f'"{incident["id"]}.{incident["version"]}"'


def version_in(tag: str, incident_id: int) -> int | None:
    """The version an ``etag`` of this incident names; None for any other text."""
    match = re.fullmatch(rf'"{incident_id}\.(\d+)"', tag.strip())
    return None if match is None else int(match[1])


@dataclass(frozen=True)
class Step:
    """One lifecycle step asked for: the new status, why, and (dispatch only) to whom."""

    status: Status
    note: str | None = None
    assignee: int | None = None


LOCK = text(
    "SELECT id, status, version, grid_code, assignee, merged_into FROM incidents "
    "WHERE id = :id FOR UPDATE"
)
# The step, its event row, its audit row and the new state in one statement (one round
# trip). It applies only while the incident is in one of ``from_any`` and, when ``version`` is
# given, at that version, and returns no row otherwise: a step that is legal from where the
# incident is expected to be needs no separate lock (``transition``'s first try).
APPLY = text(
    f"""
    WITH cur AS (
        SELECT id, status FROM incidents
        WHERE id = :id AND status = ANY(CAST(:from_any AS varchar[]))
          AND (CAST(:version AS bigint) IS NULL OR version = CAST(:version AS bigint))
        FOR UPDATE),
    upd AS (
        UPDATE incidents i
        SET status = :status, assignee = coalesce(CAST(:assignee AS bigint), i.assignee),
            version = i.version + 1, updated_at = :now,
            closed_at = CASE WHEN CAST(:status AS varchar) = 'closed' THEN :now
                             ELSE i.closed_at END,
            merged_into = coalesce(CAST(:merged_into AS bigint), i.merged_into)
        FROM cur WHERE i.id = cur.id
        RETURNING i.*, cur.status AS from_status),
    ev AS (
        INSERT INTO incident_events (incident_id, from_status, to_status, note, actor, at,
                                     actor_person, assignee)
        SELECT id, from_status, :status, :note, :actor, :now, :actor_person, assignee
        FROM upd),
    au AS ({
        audit.insert_for(
            "upd",
            entity_id="CAST(id AS text)",
            detail="jsonb_build_object('from', from_status, 'assignee', assignee)",
        )
    })
    SELECT {_RECORD}
    FROM upd
    """
)


LAST_EVENT = text(
    "SELECT from_status, to_status, actor, note, assignee FROM incident_events "
    "WHERE incident_id = :id ORDER BY id DESC LIMIT 1"
)


def _locked(session: Session, incident_id: int, if_match: str | None) -> dict[str, Any]:
    row = session.execute(LOCK, {"id": incident_id}).first()
    if row is None:
        raise NotFoundError(f"no incident {incident_id}")
    current = dict(row._mapping)
    if _stale(current, if_match):
        raise PreconditionFailedError(
            f"incident {incident_id} changed since that ETag; it is now {etag(current)}"
        )
    return current


def _stale(current: dict[str, Any], if_match: str | None) -> bool:
    return if_match is not None and if_match.strip() not in (etag(current), "*")


def _repeats_last_step(session: Session, current: dict[str, Any], step: Step, actor: str) -> bool:
    """Whether the incident's last event is ``step`` by ``actor``: same status (the current
    one), note and (when named) assignee, a legal step from where it started."""
    if current["status"] != step.status:
        return False
    last = session.execute(LAST_EVENT, {"id": current["id"]}).first()
    return (
        last is not None
        and last.to_status == step.status
        and last.actor == actor
        and (last.note or None) == (step.note or None)
        and step.assignee in (None, last.assignee)
        and last.from_status is not None
        and can_follow(last.from_status, step.status)
    )


def _assignee(session: Session, current: dict[str, Any], step: Step) -> int | None:
    if step.status != DISPATCHED:
        if step.assignee is not None:
            raise RuleError("only a dispatch names an assignee")
        return None if current["assignee"] is None else int(current["assignee"])
    if step.assignee is not None:
        if session.get(Person, step.assignee) is None:
            raise NotFoundError(f"no person {step.assignee}")
        return step.assignee
    worker = worker_of_grid(session=session, grid_code=current["grid_code"])
    if worker is None:
        raise ConflictError(
            f"grid {current['grid_code']} has no worker: name the assignee of this dispatch"
        )
    return worker


def _apply(
    session: Session,
    incident_id: int,
    *,
    from_any: Sequence[str],
    version: int | None,
    status: str,
    note: str | None,
    assignee: int | None,
    actor: str,
    actor_person: int | None,
    now: datetime,
    merged_into: int | None = None,
) -> dict[str, Any] | None:
    """Apply the step when the incident is in one of ``from_any`` (at ``version``, if given);
    the new record, or None when it is not (nothing written)."""
    values = {
        "id": incident_id,
        "from_any": list(from_any),
        "version": version,
        "status": status,
        "note": note,
        "assignee": assignee,
        "actor": actor,
        "actor_person": actor_person,
        "now": now,
        "merged_into": merged_into,
        **audit.values_for(
            action="merge" if merged_into is not None else "transition",
            entity="incident",
            detail={"to": status, "merged_into": merged_into},
        ),
    }
    applied = session.connection().execute(APPLY, values).first()
    return None if applied is None else dict(applied._mapping)


def _fast_step(
    session: Session, incident_id: int, step: Step, if_match: str | None, **who: Any
) -> dict[str, Any] | None:
    """The common case in one statement: a step (not a dispatch, which looks up a worker) from
    any status it may follow but its own (a repeat needs the retry rules), at the If-Match
    version. None when the incident is elsewhere: ``transition`` then locks it and says why."""
    if step.status == DISPATCHED or step.assignee is not None:
        return None
    version = None
    if if_match is not None and if_match.strip() != "*":
        version = version_in(if_match, incident_id)
        if version is None:
            return None
    from_any = [
        s
        for s in STATUSES
        if s != step.status
        and can_follow(s, step.status)
        and (step.note or (s, step.status) not in NEEDS_NOTE)
    ]
    return _apply(
        session,
        incident_id,
        from_any=from_any,
        version=version,
        status=step.status,
        note=step.note,
        assignee=None,
        **who,
    )


def transition(
    *,
    session: Session,
    incident_id: int,
    step: Step,
    actor: str,
    actor_person: int | None = None,
    if_match: str | None = None,
    now: datetime,
) -> dict[str, Any]:
    """Apply one legal step (data.lifecycle.TRANSITIONS) to the locked incident: 404 unknown,
    412 stale ``if_match``, 409 illegal, 422 a step that needs a note without one. A dispatch
    goes to the grid's worker unless ``step.assignee`` names another person.

    A retried step (its answer was lost) is applied once: sent with the ``if_match`` it was
    first sent with (the ETag one version back) and found to be the incident's last event
    (same status, actor, note and assignee), it is answered with the current record and
    nothing is written; sent without ``if_match``, the same repetition is 409 — also for a
    re-dispatch, which would otherwise be a second legal step."""
    who = {"actor": actor, "actor_person": actor_person, "now": now}
    fast = _fast_step(session, incident_id, step, if_match, **who)
    if fast is not None:
        return fast
    current = _locked(session, incident_id, None)
    repeat = _repeats_last_step(session, current, step, actor)
    if _stale(current, if_match):
        before = etag({**current, "version": current["version"] - 1})
        if repeat and if_match is not None and if_match.strip() == before:
            return get_incident(session=session, incident_id=incident_id)
        raise PreconditionFailedError(
            f"incident {incident_id} changed since that ETag; it is now {etag(current)}"
        )
    if repeat and (if_match is None or if_match.strip() == "*"):
        raise ConflictError(
            f"incident {incident_id} is {current['status']} by this same step already "
            f"(a retry? send If-Match with the ETag it started from to be answered 200)"
        )
    if not can_follow(current["status"], step.status):
        raise ConflictError(
            f"incident {incident_id} is {current['status']}: it cannot become {step.status}"
        )
    if (current["status"], step.status) in NEEDS_NOTE and not step.note:
        raise RuleError(f"{current['status']} → {step.status} needs a note saying why")
    return _locked_apply(
        session,
        current,
        status=step.status,
        note=step.note,
        assignee=_assignee(session, current, step),
        **who,
    )


def _locked_apply(session: Session, current: dict[str, Any], **step: Any) -> dict[str, Any]:
    """Apply a step to an incident this transaction has locked (so it cannot have moved)."""
    applied = _apply(
        session, current["id"], from_any=[current["status"]], version=current["version"], **step
    )
    assert applied is not None  # the row is locked by this transaction
    return applied


def merge(
    *,
    session: Session,
    incident_id: int,
    into: int,
    actor: str,
    actor_person: int | None = None,
    note: str | None = None,
    if_match: str | None = None,
    now: datetime,
) -> dict[str, Any]:
    """Close the open duplicate ``incident_id`` with a link to the original ``into``."""
    if into == incident_id:
        raise RuleError("an incident cannot be merged into itself")
    first, second = sorted((incident_id, into))  # lock in id order: no deadlock
    locked = {
        i: _locked(session, i, if_match if i == incident_id else None) for i in (first, second)
    }
    duplicate, original = locked[incident_id], locked[into]
    if duplicate["status"] not in OPEN:
        raise ConflictError(f"incident {incident_id} is {duplicate['status']}: not open")
    if original["merged_into"] is not None:
        raise ConflictError(
            f"incident {into} was itself merged into {original['merged_into']}: merge into that"
        )
    return _locked_apply(
        session,
        duplicate,
        status=CLOSED,
        note=note or f"duplicate of #{into}",
        assignee=duplicate["assignee"],
        actor=actor,
        actor_person=actor_person,
        now=now,
        merged_into=into,
    )


DUPLICATES = text(
    f"""
    SELECT id FROM incidents
    WHERE category = :category AND id <> :id AND merged_into IS NULL
      AND status IN ({sql_list(OPEN)})
      AND reported_at BETWEEN :since AND :until
      AND ST_DWithin(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :deg)
      AND ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography,
                     :radius)
    ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), id
    LIMIT 20
    """
)


def possible_duplicates(*, session: Session, incident: dict[str, Any]) -> list[int]:
    """Open reports of the same category within 50 m and 7 days of ``incident`` (nearest
    first, at most 20)."""
    lat = float(incident["lat"])
    # a degree box around the point that holds the 50 m circle, so the GiST index applies
    deg = DUPLICATE_RADIUS_M / (111_000.0 * max(math.cos(math.radians(lat)), 0.01)) * 1.05
    when = incident["reported_at"]
    return list(
        session.connection()
        .execute(  # Core, as in create_incident: on every filing
            DUPLICATES,
            {
                "category": incident["category"],
                "id": incident["id"],
                "since": when - DUPLICATE_WINDOW,
                "until": when + DUPLICATE_WINDOW,
                "lon": float(incident["lon"]),
                "lat": lat,
                "deg": deg,
                "radius": DUPLICATE_RADIUS_M,
            },
        )
        .scalars()
    )


def list_events(*, session: Session, incident_id: int) -> list[dict[str, Any]]:
    """An incident's steps, oldest first, with the acting and the assigned person's names."""
    get_incident(session=session, incident_id=incident_id)
    rows = session.execute(
        text(
            """
            SELECT e.id, e.from_status, e.to_status, e.note, e.actor, e.at,
                   e.actor_person, a.name AS actor_name, e.assignee, p.name AS assignee_name
            FROM incident_events e
            LEFT JOIN people a ON a.id = e.actor_person
            LEFT JOIN people p ON p.id = e.assignee
            WHERE e.incident_id = :id ORDER BY e.at, e.id
            """
        ),
        {"id": incident_id},
    )
    return [dict(r._mapping) for r in rows]


@dataclass(frozen=True)
class PastStep:
    """A lifecycle step that already happened (history import, the sample's year)."""

    status: Status
    at: datetime
    note: str | None = None
    assignee: int | None = None


def insert_history(
    *,
    session: Session,
    rows: Sequence[tuple[NewIncident, Sequence[PastStep]]],
    deadlines: dict[str, timedelta],
    actor: str | None,
    now: datetime,
) -> list[int]:
    """Store reports with the steps they already went through (each checked against
    data.lifecycle.TRANSITIONS and in time order): status, assignee and closed_at as the
    steps leave them, one event per step. Ids in input order."""
    if not rows:
        return []
    values = []
    for number, (new, steps) in enumerate(rows):
        value = _values(new, deadlines=deadlines, reporter=actor, now=now)
        status, at, assignee, closed_at = INITIAL, value["reported_at"], None, None
        for step in steps:
            if not can_follow(status, step.status) or step.at < at:
                raise RuleError(
                    f"record {number + 1}: {status} → {step.status} at {step.at:%Y-%m-%d %H:%M}"
                    " is no legal next step"
                )
            status, at = step.status, step.at
            assignee = step.assignee if step.assignee is not None else assignee
            closed_at = at if status == CLOSED else closed_at
        value.update(
            status=status,
            assignee=assignee,
            closed_at=closed_at,
            version=1 + len(steps),
            updated_at=at,
        )
        values.append(value)
    conn = session.connection()  # Core executemany: one batched statement per thousand rows
    table = Incident.__table__
    assert isinstance(table, Table)
    ids = list(
        conn.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), values
        ).scalars()
    )
    events = []
    for incident_id, value, (_, steps) in zip(ids, values, rows, strict=True):
        events.append(
            {
                "incident_id": incident_id,
                "from_status": None,
                "to_status": INITIAL,
                "actor": actor,
                "at": value["reported_at"],
                "note": None,
                "assignee": None,
            }
        )
        previous = INITIAL
        for step in steps:
            events.append(
                {
                    "incident_id": incident_id,
                    "from_status": previous,
                    "to_status": step.status,
                    "actor": actor,
                    "at": step.at,
                    "note": step.note,
                    "assignee": step.assignee,
                }
            )
            previous = step.status
    for start in range(0, len(events), 10_000):
        conn.execute(insert(IncidentEvent), events[start : start + 10_000])
    return ids


REQUESTS = """
    SELECT i.id, i.category, i.description, i.priority, i.status, i.grid_code, i.reported_at,
           i.updated_at, i.due_at, i.closed_at, i.merged_into, i.address, i.media_url,
           ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,
           coalesce(p.name, (SELECT q.name FROM person_grids g
                             JOIN people q ON q.id = g.person_id AND q.role = 'worker'
                             WHERE g.grid_code = i.grid_code ORDER BY q.id LIMIT 1)) AS agency,
           c.name_zh || ' ' || c.name_en AS service_name,
           (SELECT e.note FROM incident_events e WHERE e.incident_id = i.id
            ORDER BY e.at DESC, e.id DESC LIMIT 1) AS notes
    FROM incidents i
    LEFT JOIN people p ON p.id = i.assignee
    LEFT JOIN categories c ON c.code = i.category
    WHERE {where}
    ORDER BY i.reported_at DESC, i.id DESC
    LIMIT :limit
"""


def list_requests(
    *,
    session: Session,
    ids: Sequence[int] | None = None,
    codes: Sequence[str] | None = None,
    open_: bool | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Incidents as Open311 reads them (newest first): with the responsible person's name
    (the assignee, else the grid's worker), the category's names and the latest note.
    ``ids`` overrides every other filter."""
    clauses: list[str] = []
    values: dict[str, Any] = {"limit": limit}
    if ids is not None:
        clauses.append("i.id = ANY(:ids)")
        values["ids"] = list(ids)
    else:
        if codes:
            clauses.append("i.category = ANY(:codes)")
            values["codes"] = list(codes)
        if open_ is not None:
            clauses.append(f"i.status {'' if open_ else 'NOT '}IN ({sql_list(OPEN)})")
        if start is not None:
            clauses.append("i.reported_at >= :start")
            values["start"] = start
        if end is not None:
            clauses.append("i.reported_at <= :end")
            values["end"] = end
    where = " AND ".join(clauses) or "true"
    rows = session.execute(text(REQUESTS.format(where=where)), values)
    return [dict(r._mapping) for r in rows]


def id_of_client(*, session: Session, client_id: str) -> int | None:
    found = session.execute(select(Incident.id).where(Incident.client_id == client_id)).scalar()
    return None if found is None else int(found)
