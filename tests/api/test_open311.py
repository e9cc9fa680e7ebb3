"""Open311 GeoReport v2 over real HTTP, read by a third-party client library (``georeport``
from PyPI, JSON and XML) and written with form posts as GeoReport clients send them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from fastapi.testclient import TestClient
from georeport import GeoReport
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.deps import get_locator, get_sessions
from api.locator import Locator
from api.settings import Settings
from data.lifecycle import CATEGORY_SEED
from tests.api.test_hostile import checksum
from tests.conftest import served

pytestmark = pytest.mark.postgis

# GeoReport v2's documented fields (wiki.open311.org/GeoReport_v2)
SERVICE_FIELDS = {
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
}
REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat",
    "long", "media_url",
}  # fmt: skip


@pytest.fixture()
def root(pg_url: str, test_sessions: sessionmaker[Session], locator: Locator) -> Iterator[str]:
    """The app over HTTP on the test transaction (everything rolled back after)."""
    app = create_app(Settings(database_url=pg_url))
    app.dependency_overrides[get_sessions] = lambda: test_sessions
    app.dependency_overrides[get_locator] = lambda: locator
    with served(app) as url:
        yield f"{url}/open311/v2"


def _centre(client: TestClient) -> tuple[float, float]:
    grid = client.get("/api/v1/grids", params={"limit": 1}).json()["features"][0]
    ring = grid["geometry"]["coordinates"][0][0][:-1]
    return sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring)


def _post(root: str, fmt: str, **form: Any) -> httpx.Response:
    return httpx.post(f"{root}/requests.{fmt}", data=form, timeout=30)


def _as_list(value: Any) -> list[dict[str, Any]]:
    return value if isinstance(value, list) else [value]  # xmltodict: one element → a dict


def test_a_georeport_client_reads_what_a_form_post_filed(
    root: str, client: TestClient, reporter_key: str, session: Session
) -> None:
    lon, lat = _centre(client)
    filed = _post(
        root,
        "json",
        api_key=reporter_key,
        service_code="E01",
        lat=str(lat),
        long=str(lon),
        address_string="汉中路 1 号",
        description="垃圾满溢 overflowing bin",
        media_url="https://example.org/p.jpg",
        email="resident@example.org",
    )
    assert filed.status_code == 201, filed.text
    [answer] = filed.json()
    request_id, token = answer["service_request_id"], answer["token"]
    grid_worker = session.execute(
        text(
            "SELECT p.name FROM incidents i JOIN person_grids g ON g.grid_code = i.grid_code "
            "JOIN people p ON p.id = g.person_id WHERE i.id = :i ORDER BY p.id LIMIT 1"
        ),
        {"i": int(request_id)},
    ).scalar_one()
    assert "due" in answer["service_notice"]
    xml = _post(root, "xml", api_key=reporter_key, service_code="E01", lat=str(lat), long=str(lon))
    assert xml.status_code == 201 and xml.headers["content-type"].startswith("text/xml")
    second = ET.fromstring(xml.content).find("request/service_request_id")
    assert second is not None and second.text and second.text.isdigit()
    assert f"possible duplicate of {request_id}" in xml.text

    for fmt in ("json", "xml"):
        api = GeoReport(root, output_format=fmt)
        services = api.get_service_list()
        assert [s["service_code"] for s in services] == sorted(c[0] for c in CATEGORY_SEED)
        assert set(services[0]) >= SERVICE_FIELDS
        assert api.get_service_definition("E01")["service_code"] == "E01"
        one = api.get_service_request(request_id)
        assert set(one) >= REQUEST_FIELDS
        assert one["status"] == "open" and one["service_code"] == "E01"
        assert one["address"] == "汉中路 1 号" and one["media_url"] == "https://example.org/p.jpg"
        assert one["agency_responsible"] == grid_worker  # not dispatched yet: the grid's
        assert float(one["lat"]) == pytest.approx(lat) and float(one["long"]) == pytest.approx(lon)
        listed = _as_list(api.get_service_requests(service_code="E01,C01", status="open"))
        assert request_id in {r["service_request_id"] for r in listed}
        closed = httpx.get(f"{root}/requests.{fmt}", params={"status": "closed"}, timeout=30)
        assert closed.text.endswith("<service_requests />") if fmt == "xml" else closed.json() == []
        tokens = httpx.get(f"{root}/tokens/{token}.{fmt}", timeout=30)
        assert tokens.status_code == 200 and request_id in tokens.text

    # dispatch and close it through the JSON API: Open311 shows the worker and "closed"
    headers = {"X-API-Key": reporter_key}
    for status in ("accepted", "dispatched", "resolved", "closed"):
        step = client.patch(
            f"/api/v1/incidents/{request_id}", json={"status": status}, headers=headers
        )
        assert step.status_code == 200, step.text
    worker = session.execute(
        text("SELECT p.name FROM incidents i JOIN people p ON p.id = i.assignee WHERE i.id = :i"),
        {"i": int(request_id)},
    ).scalar_one()
    closed = GeoReport(root).get_service_request(request_id)
    assert closed["status"] == "closed" and closed["agency_responsible"] == worker
    listed = _as_list(GeoReport(root, output_format="xml").get_service_requests(status="closed"))
    assert [r["service_request_id"] for r in listed] == [request_id]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_errors_in_georeport_shape_write_nothing(
    root: str, reporter_key: str, viewer_key: str, session: Session, fmt: str
) -> None:
    before = checksum(session)
    cases: list[tuple[httpx.Response, int]] = [
        (_post(root, fmt, api_key="gm_nope", service_code="E01", lat="32", long="118"), 403),
        (_post(root, fmt, api_key=viewer_key, service_code="E01", lat="32", long="118"), 403),
        (_post(root, fmt, service_code="E01", lat="32", long="118"), 403),
        (_post(root, fmt, api_key=reporter_key, service_code="X99", lat="32", long="118"), 400),
        (_post(root, fmt, api_key=reporter_key, service_code="E01", address_string="a"), 400),
        (_post(root, fmt, api_key=reporter_key, service_code="E01", lat="nan", long="118"), 400),
        (_post(root, fmt, api_key=reporter_key, service_code="E01", lat="32", long="118",
               description="a\x00b"), 400),
        (httpx.get(f"{root}/requests/999999999.{fmt}"), 404),
        (httpx.get(f"{root}/requests/abc.{fmt}"), 404),
        (httpx.get(f"{root}/services/X99.{fmt}"), 404),
        (httpx.get(f"{root}/tokens/nope.{fmt}"), 404),
        (httpx.get(f"{root}/requests.{fmt}", params={"status": "lost"}), 400),
        (httpx.get(f"{root}/requests.{fmt}", params={"start_date": "yesterday"}), 400),
        (httpx.get(f"{root}/requests.{fmt}",
                   params={"start_date": "2026-01-01", "end_date": "2026-06-01"}), 400),
    ]  # fmt: skip
    for response, code in cases:
        assert response.status_code == code, (response.request.url, response.text)
        if fmt == "json":
            assert response.json() == [
                {"code": code, "description": response.json()[0]["description"]}
            ]
        else:
            error = ET.fromstring(response.content)
            assert error.tag == "errors" and error.findtext("error/code") == str(code)
            assert error.findtext("error/description")
    assert checksum(session) == before
    other = httpx.get(f"{root}/services.csv")
    assert other.status_code == 404 and other.json()[0]["code"] == 404
