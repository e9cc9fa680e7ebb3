"""Redraws through the API on the sample city: shared-boundary moves, stale and missing ETags,
gaps and overlaps refused with the database unchanged, history, locate before and after."""

from __future__ import annotations

from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import LineString, mapping, shape
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.locator import Locator
from geo.topology import move_boundary, polygonal_boundary, split
from tests.api.test_hostile import checksum

pytestmark = pytest.mark.postgis

# Two neighbours in the sample city whose boundary, straightened, moves five buildings.
A, B = "320102001002006", "320102001002008"


def grid(client: TestClient, code: str) -> tuple[Any, str]:
    response = client.get(f"/api/v1/grids/{code}")
    assert response.status_code == 200
    return shape(response.json()["geometry"]), response.headers["etag"]


def straightened(client: TestClient) -> tuple[dict[str, Any], Any, Any, Any, Any]:
    """A body moving A|B's shared boundary onto the straight line between its ends."""
    (a, etag_a), (b, etag_b) = grid(client, A), grid(client, B)
    shared = shapely.line_merge(polygonal_boundary(a, b))
    new_a, new_b = move_boundary(a, b, LineString([shared.coords[0], shared.coords[-1]]))
    body = {
        "changes": [
            {"code": A, "etag": etag_a, "geometry": mapping(new_a)},
            {"code": B, "etag": etag_b, "geometry": mapping(new_b)},
        ],
        "reason": "straighten the lane between 6 and 8",
    }
    return body, a, b, new_a, new_b


def strip_point(a: Any, new_a: Any) -> Any:
    """A point that moves from A to B (or B to A) under the redraw."""
    strip = a.symmetric_difference(new_a)
    return max(shapely.get_parts(strip), key=lambda p: p.area).representative_point()


def test_boundary_move_validated_then_committed(
    client: TestClient, session: Session, admin_key: str, viewer_key: str, locator: Locator
) -> None:
    admin = {"X-API-Key": admin_key}
    body, a, _, new_a, _ = straightened(client)
    point = strip_point(a, new_a)
    before_locate = client.get("/api/v1/locate", params={"lon": point.x, "lat": point.y}).json()
    before = checksum(session)
    dry = client.post("/api/v1/grids/validate", json=body, headers=admin)
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert report["ok"] and report["problems"] == [] and report["version"] is None
    moved = report["impact"]["buildings_moved"]
    assert moved and all({m["from"], m["to"]} == {A, B} for m in moved)
    loads = {g["code"]: g for g in report["impact"]["grids"]}
    assert set(loads) == {A, B}
    assert checksum(session) == before  # a dry run writes nothing

    done = client.post("/api/v1/grids/redraw", json=body, headers=admin)
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["ok"] and result["version"] and result["impact"] == report["impact"]
    stored: dict[int, str] = dict(
        session.execute(
            text("SELECT id, grid_code FROM buildings WHERE id = ANY(:ids)"),
            {"ids": [m["id"] for m in moved]},
        ).all()
    )
    assert stored == {m["id"]: m["to"] for m in moved}
    households: dict[str, int] = dict(
        session.execute(
            text("SELECT code, households FROM grids WHERE code IN (:a, :b) AND valid_to IS NULL"),
            {"a": A, "b": B},
        ).all()
    )
    assert households == {c: loads[c]["households_after"] for c in (A, B)}
    # The committing worker's index switched at once: the strip's point changed grid.
    after_locate = client.get("/api/v1/locate", params={"lon": point.x, "lat": point.y}).json()
    assert {before_locate["grid"]["code"], after_locate["grid"]["code"]} == {A, B}
    assert shape(client.get(f"/api/v1/grids/{A}").json()["geometry"]).equals(new_a)

    history = client.get(f"/api/v1/grids/{A}/history", headers={"X-API-Key": viewer_key}).json()
    last, previous = history["versions"][-1], history["versions"][-2]
    assert last["reason"] == body["reason"] and last["author"].startswith("key:")
    assert previous["valid_to"] == last["valid_from"] and last["valid_to"] is None
    audit = session.execute(
        text("SELECT actor, detail FROM audit_log WHERE action = 'grids.redraw' ORDER BY id DESC")
    ).first()
    assert audit is not None and audit.detail["changed"] == [A, B]

    written = checksum(session)
    stale = client.post("/api/v1/grids/redraw", json=body, headers=admin)
    assert stale.status_code == 412 and checksum(session) == written
    assert stale.headers["content-type"] == "application/problem+json"


def test_missing_etag_428_and_roles(
    client: TestClient, session: Session, admin_key: str, reporter_key: str
) -> None:
    body, *_ = straightened(client)
    before = checksum(session)
    del body["changes"][0]["etag"]
    missing = client.post("/api/v1/grids/redraw", json=body, headers={"X-API-Key": admin_key})
    assert missing.status_code == 428
    low = client.post("/api/v1/grids/redraw", json=body, headers={"X-API-Key": reporter_key})
    assert low.status_code == 403
    assert checksum(session) == before


@pytest.mark.parametrize("kind", ["gap", "overlap"])
def test_gap_or_overlap_is_422_and_writes_nothing(
    client: TestClient, session: Session, admin_key: str, kind: str
) -> None:
    body, a, b, new_a, _ = straightened(client)
    if kind == "gap":  # the grid that shrinks takes its new shape, the other keeps its old one
        shrinking = A if new_a.area < a.area else B
        body["changes"] = [c for c in body["changes"] if c["code"] == shrinking]
    else:  # A grows into B
        grown = shapely.union(a, b.buffer(-0.0002))
        body["changes"] = [dict(body["changes"][0], geometry=mapping(grown))]
    before = checksum(session)
    response = client.post("/api/v1/grids/redraw", json=body, headers={"X-API-Key": admin_key})
    assert response.status_code == 422, response.text
    report = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert not report["ok"] and {p["kind"] for p in report["problems"]} == {kind}
    problem = report["problems"][0]
    assert problem["area_m2"] > 1 and shape(problem["where"]).area > 0
    assert set(problem["codes"]) & {A, B}
    assert checksum(session) == before
    dry = client.post("/api/v1/grids/validate", json=body, headers={"X-API-Key": admin_key})
    assert dry.status_code == 200 and dry.json()["problems"] == report["problems"]


def test_put_one_grid_and_new_codes(client: TestClient, session: Session, admin_key: str) -> None:
    admin = {"X-API-Key": admin_key}
    _, etag = grid(client, A)
    no_match = client.put(f"/api/v1/grids/{A}", json={"properties": {"name": "x"}}, headers=admin)
    assert no_match.status_code == 428
    renamed = client.put(
        f"/api/v1/grids/{A}",
        json={"properties": {"worker_name": "赵六"}, "reason": "new worker"},
        headers={**admin, "If-Match": etag},
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.headers["etag"] != etag
    feature = client.get(f"/api/v1/grids/{A}").json()
    assert feature["properties"]["worker_name"] == "赵六"
    again = client.put(
        f"/api/v1/grids/{A}",
        json={"properties": {"worker_name": "x"}},
        headers={**admin, "If-Match": etag},
    )
    assert again.status_code == 412
    body, *_ = straightened(client)  # A's new shape alone: a gap or an overlap with B
    before = checksum(session)
    alone = client.put(
        f"/api/v1/grids/{A}",
        json={"geometry": body["changes"][0]["geometry"], "reason": "only A"},
        headers={**admin, "If-Match": body["changes"][0]["etag"]},
    )
    assert alone.status_code == 422 and alone.json()["problems"], alone.text
    assert checksum(session) == before

    # Split B in two: B is retired, two new grids get the community's next codes, west first.
    b, etag_b = grid(client, B)
    x0, y0, x1, y1 = b.bounds
    cut = LineString([((x0 + x1) / 2, y0 - 0.01), ((x0 + x1) / 2, y1 + 0.01)])
    west, east = split(b, cut)
    community = B[:12]
    body = {
        "changes": [
            {"code": B, "etag": etag_b, "retire": True},
            {"code": None, "community": community, "geometry": mapping(east)},
            {"code": None, "community": community, "geometry": mapping(west)},
        ],
        "reason": "split 8",
    }
    top = session.execute(
        text("SELECT max(code) FROM grids WHERE starts_with(code, :c)"), {"c": community}
    ).scalar_one()
    done = client.post("/api/v1/grids/redraw", json=body, headers=admin)
    assert done.status_code == 200, done.text
    nxt = int(top[12:]) + 1
    assert done.json()["codes"] == [B, f"{community}{nxt + 1:03d}", f"{community}{nxt:03d}"]
    assert client.get(f"/api/v1/grids/{B}").status_code == 404


def test_preview_map_of_a_change_set(client: TestClient, session: Session, admin_key: str) -> None:
    body, a, _, new_a, _ = straightened(client)
    assert client.post("/maps/redraw", json=body).status_code == 401
    before = checksum(session)
    page = client.post("/maps/redraw", json=body, headers={"X-API-Key": admin_key})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "new boundaries" in page.text and "buildings (" in page.text
    assert "no gaps or overlaps" in page.text
    shrinking = A if new_a.area < a.area else B
    body["changes"] = [c for c in body["changes"] if c["code"] == shrinking]
    gap = client.post("/maps/redraw", json=body, headers={"X-API-Key": admin_key})
    assert gap.status_code == 200 and "problems (1)" in gap.text
    assert checksum(session) == before
    assert "POST a change set" in client.get("/maps/redraw").text
