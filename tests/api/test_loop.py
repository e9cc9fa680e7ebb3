"""The closed loop over HTTP on the real database: lifecycle steps, ETags, dispatch to the
grid's worker, people behind keys, overdue listing, duplicates and merging."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from data.keys import create_key
from data.lifecycle import DEFAULT_DEADLINE_HOURS, STATUSES, TRANSITIONS
from data.people import create_person, worker_of_grid
from data.sample_loader import load_sample_history
from tests.api.test_hostile import checksum

pytestmark = pytest.mark.postgis

Refused = Callable[[Callable[[], Response], int], None]


@pytest.fixture()
def refused(client: TestClient, session: Session) -> Refused:
    """``refused(lambda: request, status)``: answered ``status`` as a problem, nothing written."""

    def check(call: Callable[[], Response], status: int) -> None:
        before = checksum(session)
        response = call()
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert checksum(session) == before

    return check


def _point(client: TestClient) -> tuple[float, float, str]:
    grid = client.get("/api/v1/grids", params={"limit": 1}).json()["features"][0]
    ring = grid["geometry"]["coordinates"][0][0][:-1]
    lon = sum(p[0] for p in ring) / len(ring)
    lat = sum(p[1] for p in ring) / len(ring)
    return lon, lat, grid["properties"]["code"]


def _file(client: TestClient, key: str, **extra: Any) -> dict[str, Any]:
    lon, lat, _ = _point(client)
    body = {"category": "E01", "description": "bin", "lon": lon, "lat": lat, **extra}
    response = client.post("/api/v1/incidents", json=body, headers={"X-API-Key": key})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _step(client: TestClient, key: str, incident_id: int, status: str, **extra: Any) -> Response:
    headers = {"X-API-Key": key, **extra.pop("headers", {})}
    return client.patch(
        f"/api/v1/incidents/{incident_id}", json={"status": status, **extra}, headers=headers
    )


def test_the_whole_loop_names_people_and_the_grid_worker(
    client: TestClient, session: Session
) -> None:
    handler = create_person(session=session, name="李四", role="handler", phone="139")
    key = create_key(session=session, role="reporter", person_id=handler)
    *_, code = _point(client)
    worker = worker_of_grid(session=session, grid_code=code)
    assert worker is not None  # the sample city's grid workers are people
    record = _file(client, key)
    incident = record["id"]
    assert _step(client, key, incident, "accepted").status_code == 200
    dispatched = _step(client, key, incident, "dispatched", note="去看看")
    assert dispatched.status_code == 200, dispatched.text
    assert dispatched.json()["assignee"] == worker
    assert _step(client, key, incident, "resolved").status_code == 200
    reopened = _step(client, key, incident, "dispatched", note="复核未通过")
    assert reopened.status_code == 200 and reopened.json()["assignee"] == worker
    assert _step(client, key, incident, "resolved").status_code == 200
    closed = _step(client, key, incident, "closed")
    assert closed.status_code == 200 and closed.json()["closed_at"] is not None
    events = client.get(f"/api/v1/incidents/{incident}/events", headers={"X-API-Key": key})
    steps = [(e["from_status"], e["to_status"]) for e in events.json()]
    assert steps == [
        (None, "reported"),
        ("reported", "accepted"),
        ("accepted", "dispatched"),
        ("dispatched", "resolved"),
        ("resolved", "dispatched"),
        ("dispatched", "resolved"),
        ("resolved", "closed"),
    ]
    later = events.json()[1:]
    assert {e["actor"] for e in later} == {f"person:{handler}"}
    assert {e["actor_name"] for e in later} == {"李四"}
    assert events.json()[2]["assignee"] == worker
    audit = session.execute(
        text("SELECT DISTINCT actor FROM audit_log WHERE entity = 'incident' AND entity_id = :i"),
        {"i": str(incident)},
    ).scalars()
    assert list(audit) == [f"person:{handler}"]


def test_dispatch_to_a_named_person_escalates_with_a_reason(
    client: TestClient, session: Session, reporter_key: str, refused: Refused
) -> None:
    street = create_person(session=session, name="石鼓路街道办", role="street")
    incident = _file(client, reporter_key)["id"]
    _step(client, reporter_key, incident, "accepted")
    _step(client, reporter_key, incident, "dispatched")
    refused(
        lambda: _step(client, reporter_key, incident, "dispatched", assignee=street), 422
    )  # no note
    refused(
        lambda: _step(client, reporter_key, incident, "dispatched", assignee=999_999, note="x"), 404
    )
    refused(lambda: _step(client, reporter_key, incident, "resolved", assignee=street), 422)
    escalated = _step(client, reporter_key, incident, "dispatched", assignee=street, note="升级")
    assert escalated.status_code == 200 and escalated.json()["assignee"] == street
    assert escalated.headers["ETag"] == f'"{incident}.4"'


@pytest.mark.parametrize("current", STATUSES)
def test_every_illegal_step_is_409_and_writes_nothing(
    client: TestClient, session: Session, reporter_key: str, current: str
) -> None:
    incident = _file(client, reporter_key)["id"]
    session.execute(
        text("UPDATE incidents SET status = :s WHERE id = :i"), {"s": current, "i": incident}
    )
    session.commit()
    before = checksum(session)
    for new in STATUSES:
        if new in TRANSITIONS[current]:  # type: ignore[index]
            continue
        response = _step(client, reporter_key, incident, new, note="n")
        assert response.status_code == 409, (current, new, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert checksum(session) == before


def test_if_match_stale_is_412_and_current_applies(
    client: TestClient, reporter_key: str, refused: Refused
) -> None:
    incident = _file(client, reporter_key)["id"]
    got = client.get(f"/api/v1/incidents/{incident}", headers={"X-API-Key": reporter_key})
    etag = got.headers["ETag"]
    assert etag == f'"{incident}.1"'
    ok = _step(client, reporter_key, incident, "accepted", headers={"If-Match": etag})
    assert ok.status_code == 200 and ok.headers["ETag"] == f'"{incident}.2"'
    refused(
        lambda: _step(client, reporter_key, incident, "dispatched", headers={"If-Match": etag}), 412
    )
    refused(lambda: _step(client, reporter_key, 10**12, "accepted"), 404)
    refused(lambda: _step(client, reporter_key, incident, "closed"), 409)
    # rejecting needs a note
    refused(lambda: _step(client, reporter_key, incident, "rejected"), 422)


def test_roles_on_every_loop_write(
    client: TestClient, reporter_key: str, viewer_key: str, refused: Refused
) -> None:
    incident = _file(client, reporter_key)["id"]
    url = f"/api/v1/incidents/{incident}"
    for headers in ({}, {"X-API-Key": viewer_key}, {"X-API-Key": "gm_nope"}):
        status = 403 if headers.get("X-API-Key") == viewer_key else 401
        refused(partial(client.patch, url, json={"status": "accepted"}, headers=headers), status)
        refused(partial(client.post, f"{url}/merge", json={"into": 1}, headers=headers), status)
    refused(lambda: client.patch(f"/api/v1/incidents/{incident}", json={"status": "lost"}), 401)
    refused(
        lambda: client.patch(
            f"/api/v1/incidents/{incident}",
            json={"status": "lost"},
            headers={"X-API-Key": reporter_key},
        ),
        422,
    )


def test_overdue_and_assignee_filters(
    client: TestClient, session: Session, reporter_key: str
) -> None:
    late = _file(client, reporter_key, reported_at="2026-01-01T08:00:00+08:00")["id"]
    fresh = _file(client, reporter_key)["id"]
    _step(client, reporter_key, late, "accepted")
    worker = _step(client, reporter_key, late, "dispatched").json()["assignee"]
    headers = {"X-API-Key": reporter_key}
    overdue = client.get(
        "/api/v1/incidents", params={"overdue": "true", "limit": 1000}, headers=headers
    )
    ids = {i["id"] for i in overdue.json()["items"]}
    assert late in ids and fresh not in ids
    mine = client.get("/api/v1/incidents", params={"assignee": worker}, headers=headers).json()
    assert [i["id"] for i in mine["items"]] == [late]
    not_late = client.get(
        "/api/v1/incidents", params={"overdue": "false", "limit": 1000}, headers=headers
    )
    assert fresh in {i["id"] for i in not_late.json()["items"]}


def test_possible_duplicates_and_merge(
    client: TestClient, session: Session, reporter_key: str, refused: Refused
) -> None:
    first = _file(client, reporter_key)
    assert first["possible_duplicates"] == []
    second = _file(client, reporter_key)
    assert second["possible_duplicates"] == [first["id"]]
    other = _file(client, reporter_key, category="G01")
    assert other["possible_duplicates"] == []
    far = _file(client, reporter_key, reported_at="2026-01-01T08:00:00+08:00")
    assert far["possible_duplicates"] == []
    headers = {"X-API-Key": reporter_key}
    url = f"/api/v1/incidents/{second['id']}/merge"
    refused(lambda: client.post(url, json={"into": second["id"]}, headers=headers), 422)
    refused(lambda: client.post(url, json={"into": 10**12}, headers=headers), 404)
    merged = client.post(url, json={"into": first["id"]}, headers=headers)
    assert merged.status_code == 200, merged.text
    assert merged.json()["status"] == "closed" and merged.json()["merged_into"] == first["id"]
    refused(lambda: client.post(url, json={"into": first["id"]}, headers=headers), 409)  # not open
    third = _file(client, reporter_key)
    assert third["possible_duplicates"] == [first["id"]]  # the merged one is no candidate
    refused(
        lambda: client.post(
            f"/api/v1/incidents/{third['id']}/merge", json={"into": second["id"]}, headers=headers
        ),
        409,  # second was itself merged: merge into its original
    )


def test_concurrent_steps_exactly_one_wins(engine: Engine, pg_url: str) -> None:
    """Real commits from parallel handlers resolving one incident: one 200, the rest 409."""
    from api.app import create_app
    from api.settings import Settings
    from data.db import transaction

    with transaction(engine) as s:
        key = create_key(session=s, role="reporter")
        incident = s.execute(
            text(
                "INSERT INTO incidents (category, status, geom, due_at, grid_code) VALUES "
                "('race-step', 'dispatched', ST_GeomFromText('POINT(118.78 32.05)', 4326), "
                "now() + interval '1 day', (SELECT min(code) FROM grids)) RETURNING id"
            )
        ).scalar_one()
    app = create_app(Settings(database_url=pg_url))
    statuses: list[int] = []
    try:
        with TestClient(app) as c:

            def send() -> None:
                statuses.append(
                    c.patch(
                        f"/api/v1/incidents/{incident}",
                        json={"status": "resolved"},
                        headers={"X-API-Key": key},
                    ).status_code
                )

            threads = [threading.Thread(target=send) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        with engine.connect() as conn:
            events = conn.execute(
                text("SELECT count(*) FROM incident_events WHERE incident_id = :i"),
                {"i": incident},
            ).scalar()
            version = conn.execute(
                text("SELECT version FROM incidents WHERE id = :i"), {"i": incident}
            ).scalar()
    finally:
        with engine.begin() as conn:
            conn.execute(
                text("DELETE FROM incident_events WHERE incident_id = :i"), {"i": incident}
            )
            conn.execute(text("DELETE FROM audit_log WHERE entity_id = :i"), {"i": str(incident)})
            conn.execute(text("DELETE FROM incidents WHERE id = :i"), {"i": incident})
    assert sorted(statuses) == [200] + [409] * 7
    assert events == 1 and version == 2


def test_stats_page_charts_the_sample_year(client: TestClient, session: Session) -> None:
    deadlines: dict[str, timedelta] = {
        p: timedelta(hours=h) for p, h in DEFAULT_DEADLINE_HOURS.items()
    }
    load_sample_history(session=session, end=datetime.now(UTC), deadlines=deadlines, count=300)
    session.commit()
    for measure in ("closure_rate", "overdue"):
        page = client.get("/maps/stats", params={"measure": measure, "tiles": "none"})
        assert page.status_code == 200
        assert '"monthly":["' in page.text  # some grid carries its monthly series
