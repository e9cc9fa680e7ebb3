"""Open311 answers every error in GeoReport's shape, also those that arise before a route
runs (the corpus in tests/bad_input/open311.json covers the routes' own): a body over the
limit, an unexpected failure, a method the path does not take."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings

pytestmark = pytest.mark.postgis


def _boom() -> None:
    raise RuntimeError("a bug")


def test_a_body_over_the_limit_is_a_georeport_413(pg_url: str) -> None:
    with TestClient(create_app(Settings(database_url=pg_url, max_body_bytes=1000))) as client:
        for fmt in ("json", "xml"):
            answer = client.post(f"/open311/v2/requests.{fmt}", data={"description": "x" * 2000})
            assert answer.status_code == 413
            if fmt == "json":
                assert answer.json() == [
                    {"code": 413, "description": answer.json()[0]["description"]}
                ]
            else:
                error = ET.fromstring(answer.content).find("error")
                assert error is not None and error.findtext("code") == "413"
        problem = client.post("/api/v1/incidents", content=b"x" * 2000)
        assert problem.headers["content-type"] == "application/problem+json"


def test_an_unexpected_error_is_a_georeport_500_with_the_request_id(client: TestClient) -> None:
    client.app.add_api_route("/open311/v2/boom.xml", _boom)  # type: ignore[attr-defined]
    answer = client.get("/open311/v2/boom.xml", headers={"X-Request-ID": "o311-1"})
    assert answer.status_code == 500 and answer.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(answer.content)
    assert root.tag == "errors" and root.findtext("error/code") == "500"
    assert "o311-1" in (root.findtext("error/description") or "")
    assert "a bug" not in answer.text


def test_a_method_the_path_does_not_take_is_a_georeport_405(client: TestClient) -> None:
    answer = client.put("/open311/v2/services.json")
    assert answer.status_code == 405 and "GET" in answer.headers["allow"]
    assert answer.json()[0]["code"] == 405
