"""People: grid workers and other handlers, and the grids they look after.

A grid has one worker by default (``person_grids``); dispatch goes to that worker unless the
handler names another assignee. The sample city and grid imports name each grid's worker on
the grid row (``worker_name``, ``worker_phone``); ``sync_grid_workers`` turns those names into
people once, so re-running it changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import CursorResult, insert, select, text
from sqlalchemy.orm import Session

from data.errors import UnknownValueError
from data.lifecycle import PERSON_ROLES
from data.models import Person, PersonGrid


def create_person(
    *,
    session: Session,
    name: str,
    role: str = "worker",
    phone: str | None = None,
    grids: Iterable[str] = (),
) -> int:
    """A new person looking after ``grids`` (grid codes); returns the id."""
    if role not in PERSON_ROLES:
        raise UnknownValueError(f"role must be one of {', '.join(PERSON_ROLES)}")
    person_id = session.execute(
        insert(Person).values(name=name, phone=phone, role=role).returning(Person.id)
    ).scalar_one()
    codes = sorted(set(grids))
    if codes:
        session.execute(
            insert(PersonGrid), [{"person_id": person_id, "grid_code": c} for c in codes]
        )
    return int(person_id)


def list_people(*, session: Session) -> list[dict[str, Any]]:
    """Everyone, by id, with the grids they look after."""
    rows = session.execute(
        text(
            """
            SELECT p.id, p.name, p.phone, p.role,
                   coalesce(array_agg(g.grid_code ORDER BY g.grid_code)
                            FILTER (WHERE g.grid_code IS NOT NULL), '{}') AS grids
            FROM people p LEFT JOIN person_grids g ON g.person_id = p.id
            GROUP BY p.id ORDER BY p.id
            """
        )
    )
    return [dict(r._mapping) for r in rows]


def worker_of_grid(*, session: Session, grid_code: str | None) -> int | None:
    """The worker who looks after ``grid_code`` (the lowest id when several), or None."""
    if grid_code is None:
        return None
    found = session.execute(
        select(Person.id)
        .join(PersonGrid, PersonGrid.person_id == Person.id)
        .where(PersonGrid.grid_code == grid_code, Person.role == "worker")
        .order_by(Person.id)
        .limit(1)
    ).scalar()
    return None if found is None else int(found)


def workers_by_grid(*, session: Session) -> dict[str, int]:
    """Every grid's worker (the lowest id when several), by grid code."""
    rows = session.execute(
        text(
            "SELECT DISTINCT ON (g.grid_code) g.grid_code, p.id FROM person_grids g "
            "JOIN people p ON p.id = g.person_id AND p.role = 'worker' "
            "ORDER BY g.grid_code, p.id"
        )
    )
    return {str(code): int(person) for code, person in rows}


SYNC_PEOPLE = text(
    """
    INSERT INTO people (name, phone, role)
    SELECT DISTINCT g.worker_name, g.worker_phone, 'worker' FROM grids g
    WHERE g.valid_to IS NULL AND g.worker_name IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM people p WHERE p.role = 'worker'
                      AND p.name = g.worker_name
                      AND p.phone IS NOT DISTINCT FROM g.worker_phone)
    ORDER BY 1, 2
    """
)
SYNC_GRIDS = text(
    """
    INSERT INTO person_grids (person_id, grid_code)
    SELECT DISTINCT ON (g.code) p.id, g.code FROM grids g
    JOIN people p ON p.role = 'worker' AND p.name = g.worker_name
                 AND p.phone IS NOT DISTINCT FROM g.worker_phone
    WHERE g.valid_to IS NULL
      AND NOT EXISTS (SELECT 1 FROM person_grids pg JOIN people q ON q.id = pg.person_id
                      WHERE pg.grid_code = g.code AND q.role = 'worker')
    ORDER BY g.code, p.id
    """
)


def sync_grid_workers(*, session: Session) -> int:
    """Make a person of every worker named on a current grid that has no worker yet;
    returns how many grids got one."""
    session.execute(SYNC_PEOPLE)
    result: CursorResult[Any] = session.connection().execute(SYNC_GRIDS)
    return int(result.rowcount)
