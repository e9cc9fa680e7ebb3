"""Headers that keep browsers safe, CORS off unless configured, write rate limits, /health
telling a failing index refresh, and logs that carry request ids."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.deps import get_locator, get_sessions
from api.locator import Locator
from api.logs import JsonFormatter
from api.settings import Settings
from tests.api.test_hostile import checksum

pytestmark = pytest.mark.postgis

POINT = {"lon": 118.79, "lat": 32.05, "category": "x"}


def test_pages_allow_only_local_assets(client: TestClient) -> None:
    page = client.get("/maps/grids")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-inline'" in csp and "connect-src 'self'" in csp
    assert "https://tile.openstreetmap.org" in csp and "default-src 'self'" in csp
    api = client.get("/api/v1/grids", params={"limit": 1})
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in api.headers
    assert client.get("/redoc").headers["content-security-policy"] == "img-src 'self' data:"


def test_cors_is_off_unless_configured(client: TestClient, pg_url: str) -> None:
    origin = {"Origin": "https://planner.example"}
    assert "access-control-allow-origin" not in client.get("/health", headers=origin).headers
    app = create_app(Settings(database_url=pg_url, cors_origins=["https://planner.example"]))
    with TestClient(app) as allowed:
        answer = allowed.get("/api/v1/grids", params={"limit": 1}, headers=origin)
        assert answer.headers["access-control-allow-origin"] == "https://planner.example"


@pytest.fixture()
def limited(
    pg_url: str,
    test_sessions: sessionmaker[Session],
    locator: Locator,
) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=pg_url, write_limit_per_key=2))
    app.dependency_overrides[get_sessions] = lambda: test_sessions
    app.dependency_overrides[get_locator] = lambda: locator
    with TestClient(app) as test_client:
        yield test_client


def test_writes_beyond_the_rate_get_429_and_write_nothing(
    limited: TestClient, reporter_key: str, session: Session
) -> None:
    key = {"X-API-Key": reporter_key}
    for _ in range(2):
        assert limited.post("/api/v1/incidents", json=POINT, headers=key).status_code == 201
    before = checksum(session)
    refused = limited.post("/api/v1/incidents", json=POINT, headers=key)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 30
    assert checksum(session) == before
    assert limited.get("/api/v1/incidents", headers=key).status_code == 200  # reads unlimited


def test_health_reports_the_index_and_a_failing_refresh(client: TestClient) -> None:
    fine = client.get("/health").json()
    assert fine["status"] == "ok" and fine["index"]["refresh_error"] is None
    assert fine["index"]["grids"] > 100
    dead = sessionmaker(bind=create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none"))
    broken = Locator(dead, tolerance_m=50.0, poll_s=3600)  # its first refresh fails
    client.app.dependency_overrides[get_locator] = lambda: broken  # type: ignore[attr-defined]
    answer = client.get("/health")
    assert answer.status_code == 503
    assert answer.json()["status"] == "degraded" and answer.json()["index"]["refresh_error"]


def test_each_request_is_logged_once_as_json_with_its_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gridmap.access"):
        client.get("/health", headers={"X-Request-ID": "req-42"})
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name == "gridmap.access"]
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["request_id"] == "req-42" and entry["status"] == 200
    assert entry["path"] == "/health" and entry["ms"] >= 0
