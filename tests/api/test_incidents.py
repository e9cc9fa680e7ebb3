"""Incident intake and listing on the real database."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from data.models import Incident, IncidentEvent

pytestmark = pytest.mark.postgis


def _centre(client: TestClient) -> tuple[float, float, str]:
    grid = client.get("/api/v1/grids", params={"limit": 1}).json()["features"][0]
    poly = grid["geometry"]["coordinates"][0][0]
    lon = sum(p[0] for p in poly[:-1]) / (len(poly) - 1)
    lat = sum(p[1] for p in poly[:-1]) / (len(poly) - 1)
    located = client.get("/api/v1/locate", params={"lon": lon, "lat": lat}).json()
    return lon, lat, located["grid"]["code"]


def _count(session: Session) -> int:
    return int(session.execute(select(func.count(Incident.id))).scalar_one())


def test_create_assigns_grid_and_deadline(
    client: TestClient, reporter_key: str, session: Session
) -> None:
    lon, lat, code = _centre(client)
    body = {
        "category": "垃圾",
        "description": "overflowing bin",
        "lon": lon,
        "lat": lat,
        "priority": "complex",
        "reported_at": "2026-11-01T08:00:00+08:00",
    }
    response = client.post("/api/v1/incidents", json=body, headers={"X-API-Key": reporter_key})
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["grid_code"] == code and record["status"] == "reported"
    due = datetime.fromisoformat(record["due_at"]) - datetime.fromisoformat(record["reported_at"])
    assert due == timedelta(days=5)
    events = (
        session.execute(
            select(IncidentEvent.to_status).where(IncidentEvent.incident_id == record["id"])
        )
        .scalars()
        .all()
    )
    assert events == ["reported"]


def test_same_client_id_returns_the_same_record(
    client: TestClient, reporter_key: str, session: Session
) -> None:
    lon, lat, _ = _centre(client)
    body = {"client_id": "app-123", "category": "路灯", "lon": lon, "lat": lat}
    headers = {"X-API-Key": reporter_key}
    first = client.post("/api/v1/incidents", json=body, headers=headers)
    before = _count(session)
    again = client.post("/api/v1/incidents", json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert _count(session) == before


def test_roles(client: TestClient, viewer_key: str) -> None:
    body = {"category": "x", "lon": 118.78, "lat": 32.05}
    assert client.post("/api/v1/incidents", json=body).status_code == 401
    forbidden = client.post("/api/v1/incidents", json=body, headers={"X-API-Key": viewer_key})
    assert forbidden.status_code == 403
    assert client.get("/api/v1/incidents").status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"category": "x", "lon": 200, "lat": 32},
        {"category": "x", "lon": 118, "lat": "north"},
        {"category": "x", "lon": 118},
        {"category": "", "lon": 118, "lat": 32},
        {"category": "x", "lon": 118, "lat": 32, "crs": "utm"},
        {"category": "x", "lon": 118, "lat": 32, "unknown": True},
        {"category": "x", "lon": 118, "lat": 32, "priority": "urgent"},
    ],
)
def test_bad_reports_store_nothing(
    client: TestClient, reporter_key: str, session: Session, body: dict[str, object]
) -> None:
    before = _count(session)
    response = client.post("/api/v1/incidents", json=body, headers={"X-API-Key": reporter_key})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"][0] == "body"
    assert _count(session) == before


def test_list_filters_and_keyset_paging(
    client: TestClient, reporter_key: str, viewer_key: str
) -> None:
    lon, lat, code = _centre(client)
    for i in range(5):
        client.post(
            "/api/v1/incidents",
            headers={"X-API-Key": reporter_key},
            json={"category": "paging-test", "lon": lon, "lat": lat, "client_id": f"p{i}"},
        )
    headers = {"X-API-Key": viewer_key}
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"category": "paging-test", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/incidents", params=params, headers=headers).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and seen == sorted(seen)
    by_grid = client.get(
        "/api/v1/incidents", params={"grid": code, "category": "paging-test"}, headers=headers
    ).json()
    assert len(by_grid["items"]) == 5
    assert (
        client.get("/api/v1/incidents", params={"cursor": "%%%"}, headers=headers).status_code
        == 422
    )
    assert (
        client.get("/api/v1/incidents", params={"status": "lost"}, headers=headers).status_code
        == 422
    )


def test_concurrent_retries_never_duplicate(engine: Engine, pg_url: str) -> None:
    """Real commits from parallel requests with one client_id: exactly one row."""
    from api.app import create_app
    from api.settings import Settings
    from data.db import transaction
    from data.keys import create_key

    with transaction(engine) as s:
        key = create_key(session=s, role="reporter")
    app = create_app(Settings(database_url=pg_url))
    body = {"client_id": "race-1", "category": "race", "lon": 118.78, "lat": 32.05}
    statuses: list[int] = []
    with TestClient(app) as c:

        def send() -> None:
            statuses.append(
                c.post("/api/v1/incidents", json=body, headers={"X-API-Key": key}).status_code
            )

        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    with engine.begin() as conn:
        n = conn.execute(text("SELECT count(*) FROM incidents WHERE client_id = 'race-1'")).scalar()
        conn.execute(
            text(
                "DELETE FROM incident_events WHERE incident_id IN "
                "(SELECT id FROM incidents WHERE client_id = 'race-1')"
            )
        )
        conn.execute(text("DELETE FROM incidents WHERE client_id = 'race-1'"))
    assert n == 1
    assert sorted(statuses) == [200] * 7 + [201]


# --- list filters: each with rows that match and rows that do not ------------------------

FILTERED = "filter-test"


def _add(
    session: Session,
    *,
    lon: float,
    lat: float,
    grid: str | None,
    status: str = "reported",
    reported_at: str = "2026-05-01T08:00:00+00:00",
) -> int:
    return int(
        session.execute(
            text(
                "INSERT INTO incidents (category, status, geom, grid_code, reported_at, due_at)"
                " VALUES (:category, :status, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326),"
                " :grid, :at, CAST(:at AS timestamptz) + interval '1 day') RETURNING id"
            ),
            {
                "category": FILTERED,
                "status": status,
                "lon": lon,
                "lat": lat,
                "grid": grid,
                "at": reported_at,
            },
        ).scalar_one()
    )


def _listed(client: TestClient, key: str, **params: object) -> set[int]:
    response = client.get(
        "/api/v1/incidents",
        params={"category": FILTERED, **params},
        headers={"X-API-Key": key},
    )
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def _two_communities(session: Session) -> list[tuple[str, str, float, float]]:
    """(community, grid code, lon, lat inside the grid) of one grid in each of two
    communities."""
    rows = session.execute(
        text(
            "SELECT DISTINCT ON (community) community, code,"
            " ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom))"
            " FROM grids WHERE valid_to IS NULL ORDER BY community, code LIMIT 2"
        )
    ).all()
    assert len(rows) == 2 and rows[0][0] != rows[1][0]
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def test_list_by_community(client: TestClient, session: Session, viewer_key: str) -> None:
    (ca, ga, xa, ya), (cb, gb, xb, yb) = _two_communities(session)
    in_a = [_add(session, lon=xa, lat=ya, grid=ga) for _ in range(2)]
    in_b = _add(session, lon=xb, lat=yb, grid=gb)
    nowhere = _add(session, lon=100.0, lat=30.0, grid=None)
    assert _listed(client, viewer_key, community=ca) == set(in_a)
    assert _listed(client, viewer_key, community=cb) == {in_b}
    assert _listed(client, viewer_key) == {*in_a, in_b, nowhere}
    assert _listed(client, viewer_key, community="no-such-community") == set()


def test_list_by_status(client: TestClient, session: Session, viewer_key: str) -> None:
    (_, code, lon, lat), _ = _two_communities(session)
    ids = {
        status: _add(session, lon=lon, lat=lat, grid=code, status=status)
        for status in ("reported", "accepted", "closed")
    }
    for status, incident in ids.items():
        assert _listed(client, viewer_key, status=status) == {incident}
    assert _listed(client, viewer_key, status="dispatched") == set()


def test_list_by_bbox(client: TestClient, session: Session, viewer_key: str) -> None:
    (_, ga, xa, ya), (_, gb, xb, yb) = _two_communities(session)
    a = _add(session, lon=xa, lat=ya, grid=ga)
    b = _add(session, lon=xb, lat=yb, grid=gb)
    around_a = f"{xa - 1e-4},{ya - 1e-4},{xa + 1e-4},{ya + 1e-4}"
    around_b = f"{xb - 1e-4},{yb - 1e-4},{xb + 1e-4},{yb + 1e-4}"
    both = f"{min(xa, xb)},{min(ya, yb)},{max(xa, xb)},{max(ya, yb)}"  # on its edges
    assert _listed(client, viewer_key, bbox=around_a) == {a}
    assert _listed(client, viewer_key, bbox=around_b) == {b}
    assert _listed(client, viewer_key, bbox=both) == {a, b}
    assert _listed(client, viewer_key, bbox="0,0,1,1") == set()
    bad = client.get(
        "/api/v1/incidents", params={"bbox": "1,2,3"}, headers={"X-API-Key": viewer_key}
    )
    assert bad.status_code == 422


def test_list_since(client: TestClient, session: Session, viewer_key: str) -> None:
    (_, code, lon, lat), _ = _two_communities(session)
    old = _add(session, lon=lon, lat=lat, grid=code, reported_at="2026-01-01T00:00:00+00:00")
    exact = _add(session, lon=lon, lat=lat, grid=code, reported_at="2026-03-01T00:00:00+00:00")
    new = _add(session, lon=lon, lat=lat, grid=code, reported_at="2026-04-01T00:00:00+00:00")
    assert _listed(client, viewer_key, since="2026-03-01T00:00:00Z") == {exact, new}
    assert _listed(client, viewer_key, since="2026-03-01T08:00:00+08:00") == {exact, new}
    assert _listed(client, viewer_key, since="2026-03-01T00:00:01Z") == {new}
    assert _listed(client, viewer_key, since="2025-12-31T00:00:00Z") == {old, exact, new}
    assert _listed(client, viewer_key, since="2027-01-01T00:00:00Z") == set()
