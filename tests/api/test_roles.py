"""Every write, tried with each role: the role each needs is declared here once, and the
OpenAPI document must list exactly these writes, so a new write endpoint fails this test until
its role is declared. A refusal (401 without a key, 403 below the role) writes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.test_hostile import checksum

pytestmark = pytest.mark.postgis

ROLES = ("viewer", "reporter", "admin")
PUBLIC = None  # anyone may call it
WRITES: dict[tuple[str, str], str | None] = {
    ("PUT", "/api/v1/grids/{code}"): "admin",
    ("POST", "/api/v1/grids/validate"): "admin",
    ("POST", "/api/v1/grids/redraw"): "admin",
    ("POST", "/api/v1/locate/batch"): PUBLIC,  # a read that needs a body
    ("POST", "/api/v1/incidents"): "reporter",
    ("PATCH", "/api/v1/incidents/{incident_id}"): "reporter",
    ("POST", "/api/v1/incidents/{incident_id}/merge"): "reporter",
    ("POST", "/api/v1/coverage/suggest"): "admin",
    ("POST", "/maps/redraw"): "admin",
    ("POST", "/open311/v2/requests.{fmt}"): "reporter",
    ("POST", "/api/v1/editor/split"): "admin",  # computes only; admin like the redraw it feeds
    ("POST", "/api/v1/editor/merge"): "admin",
    ("POST", "/api/v1/editor/carve"): "admin",  # the key is a form field: GeoReport
}
PATH_VALUES = {"{code}": "320102001002001", "{incident_id}": "1", "{fmt}": "json"}


def concrete(path: str) -> str:
    for name, value in PATH_VALUES.items():
        path = path.replace(name, value)
    return path


def test_every_write_declares_its_role(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    writes = {
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if method in ("post", "put", "patch", "delete")
    }
    assert writes == set(WRITES)


@pytest.mark.parametrize(("method", "path"), [w for w, role in WRITES.items() if role])
def test_each_write_refuses_every_lower_role_and_writes_nothing(
    client: TestClient,
    session: Session,
    viewer_key: str,
    reporter_key: str,
    admin_key: str,
    method: str,
    path: str,
) -> None:
    needed = ROLES.index(WRITES[method, path] or "viewer")
    keys = dict(zip(ROLES, (viewer_key, reporter_key, admin_key), strict=True))
    before = checksum(session)
    url = concrete(path)
    tries: list[tuple[str | None, int]] = [(None, 401)]
    tries += [(keys[role], 403) for role in ROLES[:needed]]
    for key, status in tries:
        if path.startswith("/open311/"):  # GeoReport: the key is a form field, errors a list
            form = {"service_code": "E01", "lat": "32.04", "long": "118.78"}
            answer = client.post(url, data=form | ({"api_key": key} if key else {}))
            assert answer.status_code == 403, (key, answer.text)
            assert "code" in answer.json()[0]
            continue
        headers = {"X-API-Key": key} if key else {}
        answer = client.request(method, url, json={}, headers=headers)
        assert answer.status_code == status, (method, path, key, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    assert checksum(session) == before
    if not path.startswith("/open311/"):  # the role itself gets past the check
        own = client.request(method, url, json={}, headers={"X-API-Key": keys[ROLES[needed]]})
        assert own.status_code not in (401, 403), own.text
