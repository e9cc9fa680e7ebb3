"""A lifecycle step retried because its answer was lost is applied once. With the If-Match it
was first sent with, the retry is answered 200 with the state the step produced (same ETag)
and writes nothing; without If-Match the repetition is 409 — a re-dispatch included, which
would otherwise be a second legal step. Anything else stale stays 412."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

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
