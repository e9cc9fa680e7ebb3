"""No secret is logged: API keys sent as a header, an Open311 form field or a query parameter
(some GeoReport clients send ``api_key`` on reads too) appear in no log line, not even in an
unexpected error's traceback; the database URL's password neither."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from api.logs import JsonFormatter

pytestmark = pytest.mark.postgis


def _boom() -> None:
    raise RuntimeError("a bug")


def test_keys_and_passwords_are_never_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture, reporter_key: str, pg_url: str
) -> None:
    client.app.add_api_route("/boom", _boom)  # type: ignore[attr-defined]
    unknown = "gm_" + "s" * 43
    with caplog.at_level(logging.DEBUG):
        for key in (reporter_key, unknown):
            client.get("/api/v1/incidents", headers={"X-API-Key": key})
            client.get("/open311/v2/requests.json", params={"api_key": key})
            client.post("/open311/v2/requests.json", data={"api_key": key, "lat": "x"})
            client.get("/boom", headers={"X-API-Key": key}, params={"api_key": key})
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    lines = "\n".join(JsonFormatter().format(r) for r in server)  # not the test's client
    assert "a bug" in lines  # the traceback was logged
    for secret in (reporter_key, unknown, reporter_key[10:]):
        assert secret not in lines
    password = pg_url.split("@")[0].rsplit(":", 1)[-1] if "@" in pg_url else ""
    if len(password) > 3:
        assert password not in lines
