"""The rollups against the reference: hypothesis-generated lifecycle histories — intake, steps
(reopens and re-dispatches included), merges, history imports, a redraw moving open incidents
between grids, removals — and then every grouping over random periods (part-days, whole days,
whole months, open ends) from the rollups equals the straightforward SQL over the incidents,
and the rollups equal a recount from scratch."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from data import grids as grid_repo
from data import incidents as repo
from data.db import make_engine, migrate
from data.lifecycle import (
    DEFAULT_DEADLINE_HOURS,
    NEEDS_NOTE,
    OPEN,
    PRIORITIES,
    TRANSITIONS,
    Status,
)
from data.lifecycle import sql_list as _sql_list
from data.removals import delete_incident
from data.stats import BY, direct_incident_stats, incident_stats, split_period
from tests.conftest import own_database

pytestmark = pytest.mark.postgis

BASE = datetime(2026, 3, 31, 22, 0, tzinfo=UTC)  # near a day's and a month's end
DEADLINES: dict[str, timedelta] = {p: timedelta(hours=h) for p, h in DEFAULT_DEADLINE_HOURS.items()}
CATEGORIES = ("E01", "C02", "G03")

moment = st.integers(min_value=-50 * 24 * 60, max_value=50 * 24 * 60).map(
    lambda m: BASE + timedelta(minutes=m)
)
create = st.tuples(
    st.just("create"), moment, st.integers(0, 3), st.integers(0, 2), st.integers(0, 2)
)
step = st.tuples(st.just("step"), st.integers(0, 99), st.integers(0, 3), st.integers(1, 2000))
history = st.tuples(
    st.just("history"),
    st.lists(
        st.tuples(moment, st.integers(0, 3), st.integers(0, 5), st.integers(1, 900)), max_size=4
    ),
)
merge = st.tuples(st.just("merge"), st.integers(0, 99), st.integers(0, 99))
move = st.tuples(st.just("move"), st.integers(0, 3), st.integers(0, 3))
remove = st.tuples(st.just("remove"), st.integers(0, 99))
operation = st.one_of(create, create, step, step, step, history, merge, move, remove)
bound = st.one_of(
    st.none(),
    moment,
    moment.map(lambda t: t.replace(hour=0, minute=0)),
    moment.map(lambda t: t.replace(day=1, hour=0, minute=0)),
)

COUNTED = text(
    f"""
    SELECT * FROM (
        SELECT span, bucket, dim, key, sum(total) AS total, sum(open) AS open,
               sum(closed) AS closed, sum(rejected) AS rejected,
               sum(closed_on_time) AS closed_on_time
        FROM incident_rollups GROUP BY 1, 2, 3, 4) r
    WHERE total <> 0 OR open <> 0 OR closed <> 0 OR rejected <> 0 OR closed_on_time <> 0
    EXCEPT
    SELECT s.span, s.bucket, s.dim, s.key, count(*),
           count(*) FILTER (WHERE status IN ({_sql_list(OPEN)})),
           count(*) FILTER (WHERE status = 'closed'), count(*) FILTER (WHERE status = 'rejected'),
           count(*) FILTER (WHERE status = 'closed' AND closed_at <= due_at)
    FROM incidents i, LATERAL (
        SELECT (i.reported_at AT TIME ZONE 'UTC')::date AS day) d,
        LATERAL (VALUES ('d', d.day, 'g', i.grid_code), ('d', d.day, 'c', i.category::text),
                        ('d', d.day, 'w', i.assignee::text),
                        ('m', date_trunc('month', d.day)::date, 'g', i.grid_code),
                        ('m', date_trunc('month', d.day)::date, 'c', i.category::text),
                        ('m', date_trunc('month', d.day)::date, 'w', i.assignee::text))
            s(span, bucket, dim, key)
    GROUP BY 1, 2, 3, 4
    """
)


@pytest.fixture()
def places(session: Session) -> list[tuple[float, float, str | None]]:
    """Three buildings in three grids, and a point outside every grid."""
    rows = session.execute(
        text(
            "SELECT DISTINCT ON (grid_code) ST_X(geom), ST_Y(geom), grid_code FROM buildings "
            "WHERE grid_code IS NOT NULL ORDER BY grid_code, id LIMIT 3"
        )
    ).all()
    assert len(rows) == 3
    return [(x, y, code) for x, y, code in rows] + [(0.0, 0.0, None)]


def _new(
    place: tuple[float, float, str | None], category: int, priority: int, at: datetime
) -> repo.NewIncident:
    lon, lat, code = place
    return repo.NewIncident(
        category=CATEGORIES[category],
        description="",
        lon=lon,
        lat=lat,
        grid_code=code,
        priority=PRIORITIES[priority],
        reported_at=at,
    )


def _path(length: int, choices: int, start: datetime, hours: int) -> list[repo.PastStep]:
    """A legal walk of ``length`` steps from reported, ``choices`` picking the branches."""
    status: Status = "reported"
    at, steps = start, []
    for n in range(length):
        options = sorted(TRANSITIONS[status])
        if not options:
            break
        status = options[(choices + n) % len(options)]
        at += timedelta(hours=hours / (n + 1))
        steps.append(repo.PastStep(status, at, "why"))
    return steps


def _run(session: Session, ops: list[Any], places: list[Any], people: list[int]) -> None:
    state = grid_repo.grid_state(session=session)
    ids: list[int] = []
    for op in ops:
        kind = op[0]
        if kind == "create":
            _, at, place, category, priority = op
            record, _ = repo.create_incident(
                session=session,
                new=_new(places[place], category, priority, at),
                deadlines=DEADLINES,
                reporter="t",
                now=at,
                index_state=state,
            )
            ids.append(record["id"])
        elif kind == "history":
            rows = [
                (_new(places[p], n % 3, n % 3, at), _path(n, p, at, hours))
                for at, p, n, hours in op[1]
            ]
            ids += repo.insert_history(
                session=session, rows=rows, deadlines=DEADLINES, actor="t", now=BASE
            )
        elif not ids:
            continue
        elif kind == "step":
            _, ref, choice, minutes = op
            current = repo.get_incident(session=session, incident_id=ids[ref % len(ids)])
            options = sorted(TRANSITIONS[current["status"]])
            if not options:
                continue
            new = options[choice % len(options)]
            repo.transition(
                session=session,
                incident_id=current["id"],
                step=repo.Step(
                    new,
                    "why" if (current["status"], new) in NEEDS_NOTE else None,
                    people[choice % len(people)] if new == "dispatched" else None,
                ),
                actor="t",
                now=current["reported_at"] + timedelta(minutes=minutes),
            )
        elif kind == "merge":
            a, b = ids[op[1] % len(ids)], ids[op[2] % len(ids)]
            duplicate = repo.get_incident(session=session, incident_id=a)
            original = repo.get_incident(session=session, incident_id=b)
            if a == b or duplicate["status"] not in OPEN or original["merged_into"] is not None:
                continue
            repo.merge(
                session=session,
                incident_id=a,
                into=b,
                actor="t",
                now=duplicate["reported_at"] + timedelta(hours=3),
            )
        elif kind == "move":  # what a redraw does to the open incidents of a retired grid
            session.execute(
                text(
                    f"UPDATE incidents SET grid_code = :to WHERE grid_code IS NOT DISTINCT FROM "
                    f":from AND status IN ({_sql_list(OPEN)})"
                ),
                {"from": places[op[1]][2], "to": places[op[2]][2]},
            )
        elif kind == "remove":
            incident_id = ids.pop(op[1] % len(ids))
            session.execute(
                text("UPDATE incidents SET merged_into = NULL WHERE merged_into = :i"),
                {"i": incident_id},
            )
            delete_incident(session=session, incident_id=incident_id)


def _same(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert [r["key"] for r in got] == [r["key"] for r in want]
    for a, b in zip(got, want, strict=True):
        for name, value in b.items():
            if isinstance(value, float):
                assert a[name] == pytest.approx(value, rel=1e-12, abs=1e-12), (a["key"], name)
            else:
                assert a[name] == value, (a["key"], name)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=st.lists(operation, min_size=1, max_size=14),
    periods=st.lists(st.tuples(bound, bound), min_size=1, max_size=3),
    now=moment,
)
def test_rollup_statistics_equal_the_straightforward_sql(
    session: Session,
    places: list[Any],
    ops: list[Any],
    periods: list[tuple[datetime | None, datetime | None]],
    now: datetime,
) -> None:
    people = list(session.execute(text("SELECT id FROM people ORDER BY id LIMIT 3")).scalars())
    assert people
    savepoint = session.begin_nested()
    try:
        _run(session, ops, places, people)
        session.flush()
        assert session.execute(COUNTED).all() == []
        for start, end in [*periods, (None, None)]:
            for by in BY:
                want = direct_incident_stats(session=session, by=by, start=start, end=end, now=now)
                got = incident_stats(session=session, by=by, start=start, end=end, now=now)
                _same(got, want)
    finally:
        savepoint.rollback()


@pytest.mark.parametrize(
    ("start", "end", "months", "days", "raw"),
    [
        # a local (UTC+8) month: part-days at both ends, whole days, no whole month
        ("2026-09-30T16:00Z", "2026-10-31T16:00Z", [], [("2026-10-01", "2026-10-31")], 2),
        # whole UTC months only
        ("2026-01-01T00:00Z", "2026-11-01T00:00Z", [("2026-01-01", "2026-11-01")], [], 0),
        # within one day
        ("2026-05-03T01:00Z", "2026-05-03T05:00Z", [], [], 1),
        # open start: every month up to the end's, its days, its part-day
        (None, "2026-05-03T05:00Z", [(None, "2026-05-01")], [("2026-05-01", "2026-05-03")], 1),
    ],
)
def test_a_period_splits_into_months_days_and_part_days(
    start: str | None, end: str | None, months: list[Any], days: list[Any], raw: int
) -> None:
    def moment_of(s: str | None) -> datetime | None:
        return None if s is None else datetime.fromisoformat(s.replace("Z", "+00:00"))

    def day(s: str | None) -> Any:
        return None if s is None else datetime.fromisoformat(s).date()

    split = split_period(moment_of(start), moment_of(end))
    nonempty = [(a, b) for a, b in split.months if a is None or b is None or a < b]
    assert nonempty == [(day(a), day(b)) for a, b in months]
    assert [(a, b) for a, b in split.days if a is None or b is None or a < b] == [
        (day(a), day(b)) for a, b in days
    ]
    assert len([r for r in split.raw if r[0] is None or r[1] is None or r[0] < r[1]]) == raw


def test_concurrent_writers_keep_the_rollups_exact(pg_url: str) -> None:
    """Eight connections filing and stepping reports of the same grid, category and day at
    once (the rows every one of them adds to): no lost update, no deadlock, the rollups equal
    a recount and the statistics equal the straightforward SQL."""
    url = own_database(pg_url, "gridmap_rollup_race")
    migrate(url)
    engine = make_engine(url, pool_size=8)
    at = BASE + timedelta(hours=1)
    try:
        with Session(engine) as session:
            state = grid_repo.grid_state(session=session)

        def file(session: Session) -> int:
            record, _ = repo.create_incident(
                session=session,
                new=_new((118.8, 32.0, "G1"), 0, 0, at),
                deadlines=DEADLINES,
                reporter="t",
                now=at,
                index_state=state,
            )
            return int(record["id"])

        with Session(engine) as session:
            ids = [file(session) for _ in range(64)]
            session.commit()

        def work(worker: int) -> None:
            with Session(engine) as session:
                for n, incident_id in enumerate(ids[worker::8]):
                    status: Status = "rejected" if n % 2 else "accepted"
                    repo.transition(
                        session=session,
                        incident_id=incident_id,
                        step=repo.Step(status, "why"),
                        actor="t",
                        now=at + timedelta(minutes=n),
                    )
                    file(session)
                    session.commit()

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(work, range(8)))
        with Session(engine) as session:
            assert session.execute(COUNTED).all() == []
            assert session.execute(text("SELECT count(*) FROM incidents")).scalar_one() == 128
            assert session.execute(  # the filing day's rows of "no grid" saw every writer
                text(
                    "SELECT key, sum(total), sum(rejected) FROM incident_rollups "
                    "WHERE dim = 'g' AND span = 'd' GROUP BY key"
                )
            ).all() == [(None, 128, 32)]
            for by in BY:
                _same(
                    incident_stats(session=session, by=by, start=None, end=None, now=at),
                    direct_incident_stats(session=session, by=by, start=None, end=None, now=at),
                )
    finally:
        engine.dispose()
