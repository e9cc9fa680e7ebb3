"""The audit log records every write with its actor: filing (JSON API and Open311, once even
when resent), lifecycle steps and merges (from, to, assignee, the original); redraws are
checked in test_redraw.py, commands in test_cli*.py."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.test_loop import _file, _point, _step

pytestmark = pytest.mark.postgis


def _audit(session: Session, incident: int) -> list[tuple[str, str]]:
    rows = session.execute(
        text(
            "SELECT action, actor FROM audit_log WHERE entity = 'incident' AND entity_id = :i "
            "ORDER BY id"
        ),
        {"i": str(incident)},
    )
    return [(r.action, r.actor) for r in rows]


def test_every_write_is_audited_with_its_actor(
    client: TestClient, session: Session, reporter_key: str
) -> None:
    actor = f"key:{reporter_key[:10]}"
    lon, lat, _ = _point(client)
    first = _file(client, reporter_key, client_id="audit-1")["id"]
    body = {"client_id": "audit-1", "category": "E01", "description": "bin", "lon": lon, "lat": lat}
    resent = client.post("/api/v1/incidents", json=body, headers={"X-API-Key": reporter_key})
    assert resent.status_code == 200 and resent.json()["id"] == first
    assert _audit(session, first) == [("create", actor)]  # once, not per resend
    georeport = client.post(
        "/open311/v2/requests.json",
        data={"api_key": reporter_key, "service_code": "E01", "lat": str(lat), "long": str(lon)},
    )
    assert georeport.status_code == 201, georeport.text
    assert _audit(session, int(georeport.json()[0]["service_request_id"])) == [("create", actor)]
    second = _file(client, reporter_key)["id"]
    assert _step(client, reporter_key, first, "accepted").status_code == 200
    merged = client.post(
        f"/api/v1/incidents/{second}/merge",
        json={"into": first},
        headers={"X-API-Key": reporter_key},
    )
    assert merged.status_code == 200, merged.text
    assert _audit(session, first) == [("create", actor), ("transition", actor)]
    assert _audit(session, second) == [("create", actor), ("merge", actor)]
    details = session.execute(
        text(
            "SELECT entity_id, detail FROM audit_log WHERE action IN ('transition', 'merge') "
            "AND entity_id IN (:a, :b) ORDER BY id"
        ),
        {"a": str(first), "b": str(second)},
    )
    assert [tuple(r) for r in details] == [
        (str(first), {"from": "reported", "to": "accepted", "assignee": None, "merged_into": None}),
        (str(second), {"from": "reported", "to": "closed", "assignee": None, "merged_into": first}),
    ]
