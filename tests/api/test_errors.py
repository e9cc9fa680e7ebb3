"""Errors at one boundary: an unexpected exception is a 500 problem carrying the request id it
is logged under (once); a basemap the settings cannot draw is a 422 or a startup error."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.settings import Settings


def _boom() -> None:
    raise RuntimeError("a bug")


def test_unexpected_error_is_a_problem_logged_once(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    client.app.add_api_route("/boom", _boom)  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR):
        response = client.get("/boom", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["request_id"] == "abc-123" == response.headers["x-request-id"]
    assert body["type"] == "/problems/internal-error" and "a bug" not in body["detail"]
    logged = [r for r in caplog.records if "abc-123" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert len([r for r in caplog.records if r.exc_info]) == 1


def test_every_problem_and_answer_carries_a_request_id(client: TestClient) -> None:
    missing = client.get("/api/v1/grids/NOPE")
    assert missing.status_code == 404
    assert missing.json()["request_id"] == missing.headers["x-request-id"]
    assert len(missing.headers["x-request-id"]) == 32  # a fresh uuid4 hex
    ok = client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert ok.headers["x-request-id"] != "bad id with spaces"


def test_tianditu_without_key_is_a_422_not_a_500(client: TestClient) -> None:
    response = client.get("/maps/grids", params={"tiles": "tianditu"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "tiles"]
    assert "key" in response.json()["detail"]


def test_undrawable_basemap_setting_stops_at_startup() -> None:
    with pytest.raises(ValidationError, match="Tianditu basemap needs a key"):
        Settings(basemap="tianditu", tianditu_key=None)
    with pytest.raises(ValidationError, match="tile template"):
        Settings(basemap="https://tiles.example/no-placeholders.png")
    assert Settings(basemap="tianditu", tianditu_key="k").make_basemap().kind == "tianditu"


def test_batch_limit_is_the_setting(client: TestClient) -> None:
    from api.deps import get_settings

    client.app.dependency_overrides[get_settings] = lambda: Settings(batch_max_points=2)  # type: ignore[attr-defined]
    too_many = client.post("/api/v1/locate/batch", json={"points": [[118.8, 32.05]] * 3})
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["loc"] == ["body", "points"]
    assert client.post("/api/v1/locate/batch", json={"points": [[118.8, 32.05]] * 2}).is_success


def test_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked, 9 MiB > 8 MiB
        for _ in range(9):
            yield b" " * (1024 * 1024)

    response = client.post(
        "/api/v1/locate/batch", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
