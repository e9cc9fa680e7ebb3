"""A lifecycle step retried because its answer was lost is applied once. With the If-Match it
was first sent with, the retry is answered 200 with the state the step produced (same ETag)
and writes nothing; without If-Match the repetition is 409 — a re-dispatch included, which
would otherwise be a second legal step. Anything else stale stays 412."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from api.settings import Settings
from data.db import transaction
from data.keys import create_key
from tests.api.test_hostile import checksum
from tests.api.test_loop import _file, _step

pytestmark = pytest.mark.postgis


def _events(client: TestClient, key: str, incident: int) -> list[tuple[Any, ...]]:
    answer = client.get(f"/api/v1/incidents/{incident}/events", headers={"X-API-Key": key})
    return [(e["from_status"], e["to_status"], e["note"]) for e in answer.json()]


def test_a_retried_step_is_applied_once(
    client: TestClient, session: Session, reporter_key: str
) -> None:
    incident = _file(client, reporter_key)["id"]
    etag = f'"{incident}.1"'

    def step(status: str, if_match: str | None, **extra: Any) -> Response:
        headers = {} if if_match is None else {"If-Match": if_match}
        return _step(client, reporter_key, incident, status, headers=headers, **extra)

    accepted = step("accepted", etag)
    assert accepted.status_code == 200 and accepted.headers["ETag"] == f'"{incident}.2"'
    before = checksum(session)
    again = step("accepted", etag)  # the answer was lost: the client sends it again
    assert again.status_code == 200 and again.headers["ETag"] == f'"{incident}.2"'
    assert again.json()["status"] == "accepted" and checksum(session) == before
    blind = step("accepted", None)
    assert blind.status_code == 409 and "this same step already" in blind.json()["detail"]
    assert checksum(session) == before

    assert step("dispatched", f'"{incident}.2"').status_code == 200
    handed = step("dispatched", f'"{incident}.3"', note="to the street office")
    assert handed.status_code == 200 and handed.headers["ETag"] == f'"{incident}.4"'
    before = checksum(session)
    for retry, status in (
        (step("dispatched", f'"{incident}.3"', note="to the street office"), 200),
        (step("dispatched", None, note="to the street office"), 409),  # not a second hand-over
        (step("dispatched", f'"{incident}.2"', note="to the street office"), 412),  # two back
        (step("dispatched", f'"{incident}.3"', note="another reason"), 412),  # not that step
    ):
        assert retry.status_code == status, retry.text
        assert checksum(session) == before
    other = create_key(session=session, role="reporter")
    by_other = _step(
        client,
        other,
        incident,
        "dispatched",
        note="to the street office",
        headers={"If-Match": f'"{incident}.3"'},
    )
    assert by_other.status_code == 412  # someone else's identical step is no retry of theirs
    assert step("dispatched", None, note="to a department").status_code == 200  # a new one
    assert _events(client, reporter_key, incident) == [
        (None, "reported", None),
        ("reported", "accepted", None),
        ("accepted", "dispatched", None),
        ("dispatched", "dispatched", "to the street office"),
        ("dispatched", "dispatched", "to a department"),
    ]


def test_concurrent_steps_with_if_match_one_applies(engine: Engine, pg_url: str) -> None:
    """Real commits: eight handlers (keys) send the same step with the same If-Match at once;
    one applies, the rest get 412. The same step sent eight times at once with one key (a
    client's retries racing) applies once and every answer is that step's 200."""
    with transaction(engine) as s:
        keys = [create_key(session=s, role="reporter") for _ in range(8)]
        incidents = (
            s.execute(
                text(
                    "INSERT INTO incidents (category, status, geom, due_at, grid_code) "
                    "SELECT 'race-if-match', 'reported', "
                    "ST_GeomFromText('POINT(118.78 32.05)', 4326), now() + interval '1 day', "
                    "(SELECT min(code) FROM grids) "
                    "FROM generate_series(1, 2) RETURNING id"
                )
            )
            .scalars()
            .all()
        )
    results: dict[int, list[tuple[int, str | None]]] = {i: [] for i in incidents}
    try:
        with TestClient(create_app(Settings(database_url=pg_url))) as client:

            def send(incident: int, key: str) -> None:
                answer = _step(
                    client, key, incident, "accepted", headers={"If-Match": f'"{incident}.1"'}
                )
                results[incident].append((answer.status_code, answer.headers.get("ETag")))

            threads = [threading.Thread(target=send, args=(incidents[0], k)) for k in keys]
            threads += [
                threading.Thread(target=send, args=(incidents[1], keys[0])) for _ in range(8)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        with engine.connect() as conn:
            events: dict[int, int] = dict(
                conn.execute(
                    text(
                        "SELECT incident_id, count(*) FROM incident_events "
                        "WHERE incident_id = ANY(:ids) GROUP BY incident_id"
                    ),
                    {"ids": incidents},
                ).all()
            )
    finally:
        with engine.begin() as conn:
            ids = {"ids": incidents}
            conn.execute(text("DELETE FROM incident_events WHERE incident_id = ANY(:ids)"), ids)
            conn.execute(
                text("DELETE FROM audit_log WHERE entity = 'incident' AND entity_id = ANY(:s)"),
                {"s": [str(i) for i in incidents]},
            )
            conn.execute(text("DELETE FROM incidents WHERE id = ANY(:ids)"), ids)
            conn.execute(
                text("DELETE FROM api_keys WHERE prefix = ANY(:p)"), {"p": [k[:10] for k in keys]}
            )
    racing, retrying = incidents
    assert sorted(s for s, _ in results[racing]) == [200] + [412] * 7
    assert results[retrying] == [(200, f'"{retrying}.2"')] * 8
    assert events == {racing: 1, retrying: 1}  # no first event here: inserted directly
