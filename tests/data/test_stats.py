"""Statistics in SQL against an independent recomputation in Python, on a synthetic year of
reports replayed through the real intake and lifecycle steps (transition by transition)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from data import grids as grid_repo
from data import incidents as repo
from data.lifecycle import DEFAULT_DEADLINE_HOURS, OPEN
from data.people import workers_by_grid
from data.sample.history import HistoricIncident, synthetic_year
from data.stats import BY, incident_stats, worker_evaluation

pytestmark = pytest.mark.postgis

TZ = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 11, 1, tzinfo=TZ)
NOW = END + timedelta(days=3)
DEADLINES: dict[str, timedelta] = {p: timedelta(hours=h) for p, h in DEFAULT_DEADLINE_HOURS.items()}


@pytest.fixture()
def replayed(session: Session) -> list[HistoricIncident]:
    places = session.execute(
        text(
            "SELECT ST_X(geom), ST_Y(geom), grid_code FROM buildings "
            "WHERE grid_code IS NOT NULL ORDER BY id"
        )
    ).all()
    lons, lats, codes = zip(*places, strict=True)
    year = synthetic_year(
        lons=lons, lats=lats, grid_codes=codes, end=END, count=200, deadlines=DEADLINES, seed=7
    )
    state = grid_repo.grid_state(session=session)  # as the API files: with an index this fresh
    for r in year:
        new = repo.NewIncident(
            category=r.category,
            description=r.description,
            lon=r.lon,
            lat=r.lat,
            grid_code=r.grid_code,
            priority=r.priority,
            reported_at=r.reported_at,
        )
        record, _ = repo.create_incident(
            session=session,
            new=new,
            deadlines=DEADLINES,
            reporter="test",
            now=r.reported_at,
            index_state=state,
        )
        for status, at, note in r.steps:
            repo.transition(
                session=session,
                incident_id=record["id"],
                step=repo.Step(status, note),
                actor="test",
                now=at,
            )
    session.commit()
    return year


def _maps(session: Session) -> tuple[dict[str, int], dict[str, str], dict[str, str]]:
    workers = workers_by_grid(session=session)
    community: dict[str, str] = dict(
        session.execute(text("SELECT code, community FROM grids WHERE valid_to IS NULL")).all()
    )
    street: dict[str, str] = dict(
        session.execute(text("SELECT code, parent FROM regions WHERE level = 'community'")).all()
    )
    return workers, community, street


def _closed_at(r: HistoricIncident) -> datetime | None:
    return r.steps[-1][1] if r.status == "closed" else None


def _expected(
    year: list[HistoricIncident],
    key: Callable[[HistoricIncident], str | None],
    start: datetime,
    end: datetime,
) -> dict[str | None, dict[str, Any]]:
    groups: dict[str | None, list[HistoricIncident]] = defaultdict(list)
    for r in year:
        if start <= r.reported_at < end:
            groups[key(r)].append(r)
    out = {}
    for k, rs in groups.items():
        closed = [r for r in rs if r.status == "closed"]
        rejected = sum(r.status == "rejected" for r in rs)
        due = {id(r): r.reported_at + DEADLINES[r.priority] for r in rs}
        on_time = [r for r in closed if _closed_at(r) <= due[id(r)]]  # type: ignore[operator]
        hours = [(_closed_at(r) - r.reported_at).total_seconds() / 3600 for r in closed]  # type: ignore[operator]
        out[k] = {
            "total": len(rs),
            "open": sum(r.status in OPEN for r in rs),
            "closed": len(closed),
            "rejected": rejected,
            "closure_rate": len(closed) / (len(rs) - rejected) if len(rs) > rejected else None,
            "overdue": sum(r.status in OPEN and due[id(r)] < NOW for r in rs),
            "on_time_rate": len(on_time) / len(closed) if closed else None,
            "median_hours_to_close": statistics.median(hours) if hours else None,
        }
    return out


def _same(got: dict[str, Any], want: dict[str, Any]) -> None:
    for name, value in want.items():
        if value is None or isinstance(value, int):
            assert got[name] == value, name
        else:
            assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-6), name


def test_statistics_of_a_replayed_year_equal_an_independent_recomputation(
    session: Session, client: TestClient, viewer_key: str, replayed: list[HistoricIncident]
) -> None:
    """One replay (the slow part) checked three ways: stats, the evaluation, the endpoint."""
    for start, end in (
        (END - timedelta(days=365), END),
        (datetime(2026, 7, 1, tzinfo=TZ), END - timedelta(days=92)),
    ):
        _check_stats(session, replayed, start, end)
    _check_evaluation(session, replayed)
    _check_endpoint(client, viewer_key, replayed)


def _check_stats(
    session: Session, replayed: list[HistoricIncident], start: datetime, end: datetime
) -> None:
    workers, community, street = _maps(session)

    def worker_key(r: HistoricIncident) -> str | None:
        dispatched = any(s == "dispatched" for s, _, _ in r.steps)
        return str(workers[r.grid_code]) if dispatched else None

    keys: dict[str, Callable[[HistoricIncident], str | None]] = {
        "grid": lambda r: r.grid_code,
        "community": lambda r: community[r.grid_code],
        "street": lambda r: street[community[r.grid_code]],
        "category": lambda r: r.category,
        "worker": worker_key,
    }
    assert set(keys) == set(BY)
    statuses = {r.status for r in replayed}
    assert {"closed", "rejected", "dispatched"} <= statuses  # the replay exercises the loop
    for by, key in keys.items():
        want = _expected(replayed, key, start, end)
        got = {
            r["key"]: r
            for r in incident_stats(session=session, by=by, start=start, end=end, now=NOW)
        }
        assert set(got) == set(want), by
        for k in want:
            _same(got[k], want[k])


def _check_evaluation(session: Session, replayed: list[HistoricIncident]) -> None:
    workers, _, _ = _maps(session)
    start, end = datetime(2026, 8, 1, tzinfo=TZ), datetime(2026, 9, 1, tzinfo=TZ)
    per: dict[int, list[tuple[HistoricIncident, datetime]]] = defaultdict(list)
    for r in replayed:
        times = [at for s, at, _ in r.steps if s == "dispatched" and start <= at < end]
        if times:
            per[workers[r.grid_code]].append((r, min(times)))
    got = {
        row["person_id"]: row for row in worker_evaluation(session=session, start=start, end=end)
    }
    assert per and set(per) <= set(got)
    for person, row in got.items():
        handled = per.get(person, [])
        assert row["handled"] == len(handled)
        if not handled:
            assert row["on_time_closure_rate"] is None and row["reopen_rate"] is None
            continue
        on_time = sum(
            r.status == "closed" and _closed_at(r) <= r.reported_at + DEADLINES[r.priority]  # type: ignore[operator]
            for r, _ in handled
        )
        reopened = sum(
            any(
                a[0] == "resolved" and b[0] == "dispatched"
                for a, b in zip(r.steps, r.steps[1:], strict=False)
            )
            for r, _ in handled
        )
        response = [
            (min(at for s, at, _ in r.steps if s == "resolved" and at >= t) - t).total_seconds()
            / 3600
            for r, t in handled
            if any(s == "resolved" and at >= t for s, at, _ in r.steps)
        ]
        assert row["on_time_closure_rate"] == pytest.approx(on_time / len(handled))
        assert row["reopen_rate"] == pytest.approx(reopened / len(handled))
        if response:
            assert row["median_response_hours"] == pytest.approx(statistics.median(response))
        else:
            assert row["median_response_hours"] is None


def _check_endpoint(client: TestClient, viewer_key: str, replayed: list[HistoricIncident]) -> None:
    headers = {"X-API-Key": viewer_key}
    response = client.get(
        "/api/v1/stats/incidents",
        params={"by": "category", "from": "2025-11-01T00:00:00", "to": "2026-11-01T00:00:00"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["by"] == "category" and body["from"].startswith("2025-11-01T00:00:00+08:00")
    total = sum(r["total"] for r in body["rows"])
    assert total == len(replayed)
    assert {r["key"] for r in body["rows"]} == {r.category for r in replayed}
    assert client.get("/api/v1/stats/incidents").status_code == 401
    for bad in ({"by": "planet"}, {"from": "yesterday"}, {"to": "9999-01-01T00:00:00Z"}):
        assert client.get("/api/v1/stats/incidents", params=bad, headers=headers).status_code == 422
    now = datetime.now(UTC)
    assert all(r["overdue"] <= r["open"] for r in body["rows"]) and now > END
