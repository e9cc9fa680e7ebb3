"""Hostile input found by probing (schemathesis, hand-made requests): each answered 4xx
problem+json with every table unchanged, or survived by the paths that read it back."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.locator import Locator
from geo.region import Region

pytestmark = pytest.mark.postgis

POINT = {"lon": 118.79, "lat": 32.05}


def checksum(session: Session) -> dict[str, str]:
    """An md5 of every row of every gridmap table."""
    tables = session.execute(
        text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'spatial_ref_sys' ORDER BY tablename"
        )
    ).scalars()
    return {
        t: session.execute(
            text(
                "SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), ''))"
                f' FROM "{t}" x'
            )
        ).scalar_one()
        for t in tables
    }


@pytest.fixture()
def refused(client: TestClient, session: Session) -> Callable[[Response, int], None]:
    before = checksum(session)

    def check(response: Response, status: int) -> None:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert checksum(session) == before

    return check


def test_unknown_coverage_kinds_are_refused_and_write_nothing(
    client: TestClient, refused: Callable[[Response, int], None]
) -> None:
    for path in ("/api/v1/coverage", "/api/v1/coverage/gaps", "/api/v1/coverage/isochrones"):
        response = client.get(path, params={"kind": "no-such-kind"})
        refused(response, 422)
        assert "known kinds" in response.json()["detail"]


def test_a_known_kind_is_computed_once(client: TestClient, session: Session) -> None:
    kind = session.execute(text("SELECT kind FROM stations LIMIT 1")).scalar_one()
    first = client.get("/api/v1/coverage", params={"kind": kind}).json()["run"]
    again = client.get("/api/v1/coverage", params={"kind": kind}).json()["run"]
    assert first == again
    runs = session.execute(
        text("SELECT count(*) FROM coverage_runs WHERE kind = :k"), {"k": kind}
    ).scalar_one()
    assert runs == 1


@pytest.mark.parametrize(
    "reported_at",
    [
        "2300-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00+14:00",
        "1999-12-31T00:00:00Z",
    ],
)
def test_implausible_report_times_are_refused(
    client: TestClient,
    reporter_key: str,
    refused: Callable[[Response, int], None],
    reported_at: str,
) -> None:
    body = {**POINT, "category": "x", "reported_at": reported_at}
    refused(client.post("/api/v1/incidents", json=body, headers={"X-API-Key": reporter_key}), 422)


def test_a_naive_time_is_local_time(client: TestClient, reporter_key: str) -> None:
    """2023-12-10T12:00 from a Beijing hotline export is 04:00 UTC."""
    body = {**POINT, "category": "x", "reported_at": "2023-12-10T12:00:00"}
    made = client.post("/api/v1/incidents", json=body, headers={"X-API-Key": reporter_key})
    assert made.status_code == 201
    stored = datetime.fromisoformat(made.json()["reported_at"])
    assert stored == datetime(2023, 12, 10, 4, 0, tzinfo=UTC)
    assert datetime.fromisoformat(made.json()["due_at"]) - stored == timedelta(days=1)


def test_maps_survive_times_pandas_cannot_hold(
    client: TestClient, session: Session, reporter_key: str
) -> None:
    made = client.post(
        "/api/v1/incidents", json={**POINT, "category": "x"}, headers={"X-API-Key": reporter_key}
    ).json()
    session.execute(  # as an old import or a direct write could have left it
        text(
            "UPDATE incidents SET reported_at = '2300-01-01Z', due_at = '2300-01-02Z' WHERE id = :i"
        ),
        {"i": made["id"]},
    )
    assert client.get("/maps/incidents").status_code == 200


def test_subnormal_coordinates_are_stored_as_zero_and_tiles_survive(
    client: TestClient, reporter_key: str, locator: Locator
) -> None:
    locator.snapshot = replace(locator.snapshot, region=Region(-180.0, -90.0, 180.0, 90.0))
    body = {"lon": 118.79, "lat": 5e-324, "category": "x"}
    made = client.post("/api/v1/incidents", json=body, headers={"X-API-Key": reporter_key})
    assert made.status_code == 201 and made.json()["lat"] == 0.0
    tile = client.get("/tiles/incidents/0/0/0.pbf")
    assert tile.status_code == 200


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800"])
def test_nul_and_lone_surrogates_are_422_everywhere(
    client: TestClient,
    reporter_key: str,
    admin_key: str,
    viewer_key: str,
    refused: Callable[[Response, int], None],
    bad: str,
) -> None:
    queries = (
        ("/api/v1/grids", "community"),
        ("/api/v1/coverage", "kind"),
        ("/api/v1/coverage/gaps", "kind"),
        ("/api/v1/incidents", "grid"),
        ("/api/v1/incidents", "community"),
        ("/api/v1/incidents", "category"),
    )
    if "\x00" in bad:  # a surrogate cannot be sent in a URL (not UTF-8); a NUL can
        for path, param in queries:
            key = {"X-API-Key": viewer_key}
            refused(client.get(path, params={param: bad}, headers=key), 422)
        refused(client.get("/api/v1/grids/a%00b"), 422)
        refused(client.get("/api/v1/grids/a%00b/history", headers={"X-API-Key": viewer_key}), 422)
    for field in ("category", "description", "client_id"):
        body = {**POINT, "category": "x", field: bad}
        raw = _json_with_escapes(body)
        refused(
            client.post(
                "/api/v1/incidents",
                content=raw,
                headers={"X-API-Key": reporter_key, "Content-Type": "application/json"},
            ),
            422,
        )
    refused(
        client.post(
            "/api/v1/coverage/suggest",
            content=_json_with_escapes({"kind": bad}),
            headers={"X-API-Key": admin_key, "Content-Type": "application/json"},
        ),
        422,
    )


def _json_with_escapes(body: dict[str, object]) -> bytes:
    return json.dumps(body).encode()  # ensure_ascii: \u0000 and \ud800 as JSON escapes


def test_strings_longer_than_their_columns_are_422(
    client: TestClient, reporter_key: str, refused: Callable[[Response, int], None]
) -> None:
    refused(client.get("/api/v1/coverage", params={"kind": "k" * 65}), 422)
    refused(client.get("/api/v1/grids/" + "9" * 65), 422)
    body = {**POINT, "category": "c" * 129}
    refused(client.post("/api/v1/incidents", json=body, headers={"X-API-Key": reporter_key}), 422)


def test_times_and_cursors_beyond_range_are_422(
    client: TestClient, viewer_key: str, refused: Callable[[Response, int], None]
) -> None:
    key = {"X-API-Key": viewer_key}
    refused(
        client.get("/api/v1/incidents", params={"since": "0001-01-01T00:00:00+14:00"}, headers=key),
        422,
    )
    refused(client.get("/api/v1/locate", params={**POINT, "at": "9999-12-31T23:59:59-10:00"}), 422)
    huge = base64.urlsafe_b64encode(str(2**70).encode()).decode()
    refused(client.get("/api/v1/incidents", params={"cursor": huge}, headers=key), 422)


def test_same_client_id_with_another_body_is_409(
    client: TestClient, reporter_key: str, session: Session
) -> None:
    key = {"X-API-Key": reporter_key}
    body = {**POINT, "category": "x", "client_id": "phone-1"}
    assert client.post("/api/v1/incidents", json=body, headers=key).status_code == 201
    assert client.post("/api/v1/incidents", json=body, headers=key).status_code == 200
    before = checksum(session)
    other = client.post("/api/v1/incidents", json={**body, "category": "y"}, headers=key)
    assert other.status_code == 409 and checksum(session) == before


def test_405_lists_every_method_of_the_path(client: TestClient) -> None:
    response = client.delete("/api/v1/incidents")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST"}
    grid = client.delete("/api/v1/grids/x")
    assert {"GET", "HEAD"} <= set(grid.headers["allow"].split(", "))


def test_suggest_takes_numbers_not_booleans(
    client: TestClient, admin_key: str, refused: Callable[[Response, int], None]
) -> None:
    key = {"X-API-Key": admin_key}
    refused(client.post("/api/v1/coverage/suggest", json={"count": True}, headers=key), 422)
    refused(client.post("/api/v1/coverage/suggest", json={"minutes": True}, headers=key), 422)


def test_points_outside_the_region_are_422_and_write_nothing(
    client: TestClient, reporter_key: str, refused: Callable[[Response, int], None]
) -> None:
    for body in ({"lon": 0.0, "lat": 0.0}, {"lon": 2.35, "lat": 48.86}):
        response = client.post(
            "/api/v1/incidents", json={**body, "category": "x"}, headers={"X-API-Key": reporter_key}
        )
        refused(response, 422)
        assert "outside the region" in response.json()["detail"]
    refused(client.get("/api/v1/locate", params={"lon": 0.0, "lat": 0.0}), 422)


def test_crs_names_are_case_insensitive(client: TestClient, session: Session) -> None:
    x, y = session.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM buildings LIMIT 1")).one()
    point = {"lon": x, "lat": y}
    lower = client.get("/api/v1/locate", params={**point, "crs": "gcj02"})
    assert lower.status_code == 200
    for name in ("GCJ02", "Gcj02", " gcj02 "):
        assert client.get("/api/v1/locate", params={**point, "crs": name}).json() == lower.json()
    batch = client.post("/api/v1/locate/batch", json={"points": [[118.79, 32.05]], "crs": "BD09"})
    assert batch.status_code == 200


def test_suggest_survives_candidates_far_from_the_network(
    client: TestClient, admin_key: str
) -> None:
    """Found by schemathesis: candidates on the other side of the world (outside the metric
    CRS's zone, or subnormal) were a 500; they are simply off-network."""
    far = [[0.0, -15.8], [-2.2250738585e-313, 4.4e-61], [179.9, 89.9], [-179.9, -89.9]]
    answer = client.post(
        "/api/v1/coverage/suggest",
        json={"candidates": far, "count": 2},
        headers={"X-API-Key": admin_key},
    )
    assert answer.status_code == 200, answer.text
    assert all(site["households_added"] == 0 for site in answer.json()["sites"])


def test_times_are_text_not_numbers(
    client: TestClient, reporter_key: str, refused: Callable[[Response, int], None]
) -> None:
    """Found by schemathesis: ?at=-5.96e-08 was taken for seconds since 1970."""
    for at in ("-5.960464477539063e-08", "1700000000"):
        refused(client.get("/api/v1/grids", params={"at": at}), 422)
    body = {**POINT, "category": "x", "reported_at": 1700000000}
    refused(client.post("/api/v1/incidents", json=body, headers={"X-API-Key": reporter_key}), 422)
