"""/health and the grid endpoints against the real PostGIS with the sample city."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.postgis


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["db"]) == ("ok", "ok")
    assert body["index"]["refresh_error"] is None


def test_health_503_when_database_is_down() -> None:
    from api.app import create_app
    from api.settings import Settings

    app = create_app(Settings(database_url="postgresql://nobody:x@127.0.0.1:1/none"))
    with TestClient(app) as down:
        response = down.get("/health")
    assert response.status_code == 503


def test_grids_collection(client: TestClient) -> None:
    response = client.get("/api/v1/grids", params={"limit": 100000})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection"
    codes = [f["properties"]["code"] for f in body["features"]]
    assert codes == sorted(codes) and len(codes) > 10
    first = body["features"][0]["properties"]
    assert {"code", "name", "community"} <= first.keys()
    one_community = first["community"]
    filtered = client.get("/api/v1/grids", params={"community": one_community}).json()
    assert {f["properties"]["community"] for f in filtered["features"]} == {one_community}


def test_grids_bbox_and_limit(client: TestClient) -> None:
    assert len(client.get("/api/v1/grids", params={"limit": 3}).json()["features"]) == 3
    far = client.get("/api/v1/grids", params={"bbox": "0,0,1,1"}).json()
    assert far["features"] == []
    bad = client.get("/api/v1/grids", params={"bbox": "1,2,3"})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["errors"][0]["loc"] == ["query", "bbox"]
    assert client.get("/api/v1/grids", params={"limit": 0}).status_code == 422


def test_one_grid_with_etag(client: TestClient) -> None:
    code = client.get("/api/v1/grids", params={"limit": 1}).json()["features"][0]["id"]
    response = client.get(f"/api/v1/grids/{code}")
    assert response.status_code == 200
    etag = response.headers["etag"]
    assert response.json()["properties"]["code"] == code
    head = client.head(f"/api/v1/grids/{code}")
    assert head.status_code == 200 and head.headers["etag"] == etag and head.content == b""
    cached = client.get(f"/api/v1/grids/{code}", headers={"If-None-Match": etag})
    assert cached.status_code == 304


def test_unknown_grid_is_problem_404(client: TestClient) -> None:
    response = client.get("/api/v1/grids/999999999999999")
    assert response.status_code == 404
    body = response.json()
    assert body["status"] == 404 and body["type"] and body["title"] and body["detail"]


def test_history_needs_a_viewer_key(client: TestClient, viewer_key: str) -> None:
    code = client.get("/api/v1/grids", params={"limit": 1}).json()["features"][0]["id"]
    assert client.get(f"/api/v1/grids/{code}/history").status_code == 401
    bad = client.get(f"/api/v1/grids/{code}/history", headers={"X-API-Key": "gm_nope"})
    assert bad.status_code == 401
    ok = client.get(f"/api/v1/grids/{code}/history", headers={"X-API-Key": viewer_key})
    assert ok.status_code == 200 and len(ok.json()["versions"]) >= 1


OVERSIZED = 9 * 1024 * 1024  # the limit is 8 MiB


def _oversized_chunks() -> Iterator[bytes]:
    """The body as a generator: httpx sends it chunked, with no Content-Length."""
    for _ in range(OVERSIZED // (1024 * 1024)):
        yield b" " * (1024 * 1024)


@pytest.mark.parametrize("path", ["/api/v1/incidents", "/api/v1/locate/batch"])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_oversized_body_is_413(client: TestClient, path: str, framing: str) -> None:
    """Refused as too large before any of it is parsed, however the body is framed."""
    body = b" " * OVERSIZED if framing == "content-length" else _oversized_chunks()
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    sent = response.request.headers
    assert ("transfer-encoding" in sent) == (framing == "chunked")
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert "/api/v1/grids" in client.get("/openapi.json").json()["paths"]
