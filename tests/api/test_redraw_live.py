"""Redraws with real commits, served over HTTP by two app instances (two API workers) on a
database of their own: concurrent redraws, incidents filed in a tight loop while redraws
commit, and a future-dated redraw taking effect without a restart."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import shapely
from shapely.geometry import LineString, mapping, shape
from sqlalchemy import Engine, text

from api.app import create_app
from api.settings import Settings
from data.db import make_engine, migrate, transaction
from data.keys import create_key
from geo.topology import move_boundary, polygonal_boundary
from tests.conftest import own_database, served

pytestmark = pytest.mark.postgis

A, B = "320102001002006", "320102001002008"


class Live:
    def __init__(self, engine: Engine, a: str, b: str, admin: str, reporter: str) -> None:
        self.engine, self.a, self.b = engine, a, b
        self.admin = {"X-API-Key": admin}
        self.reporter = {"X-API-Key": reporter}


def sample_database(pg_url: str, name: str) -> str:
    """A database of its own with the sample city loaded (commits here are real)."""
    from data.sample_loader import load_sample

    url = own_database(pg_url, name)
    migrate(url)
    engine = make_engine(url)
    with transaction(engine) as session:
        load_sample(session=session)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def live(pg_url: str) -> Iterator[Live]:
    url = sample_database(pg_url, "gridmap_redraw_live")
    engine = make_engine(url)
    with transaction(engine) as session:
        admin = create_key(session=session, role="admin")
        reporter = create_key(session=session, role="reporter")
    settings = Settings(database_url=url, index_refresh_s=2.0)
    with served(create_app(settings)) as a, served(create_app(settings)) as b:
        yield Live(engine, a, b, admin, reporter)
    engine.dispose()


def moved_body(base: str, *, back: bool = False) -> tuple[dict[str, Any], Any]:
    """A body straightening A|B's boundary (or, ``back``, nothing: the current shapes with
    fresh etags), and a point of the strip that changes grid."""
    features = {c: httpx.get(f"{base}/api/v1/grids/{c}") for c in (A, B)}
    a, b = (shape(features[c].json()["geometry"]) for c in (A, B))
    shared = shapely.line_merge(polygonal_boundary(a, b))
    new_a, new_b = move_boundary(a, b, LineString([shared.coords[0], shared.coords[-1]]))
    strip = max(shapely.get_parts(a.symmetric_difference(new_a)), key=lambda p: p.area)
    body = {
        "changes": [
            {"code": c, "etag": features[c].headers["etag"], "geometry": mapping(g)}
            for c, g in ((A, new_a), (B, new_b))
        ],
        "reason": "live test",
    }
    return body, strip.representative_point()


def test_concurrent_redraws_of_the_same_grids_one_wins(live: Live) -> None:
    body, _ = moved_body(live.a)
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def post(base: str) -> None:
        barrier.wait()
        r = httpx.post(f"{base}/api/v1/grids/redraw", json=body, headers=live.admin, timeout=30)
        statuses.append(r.status_code)

    threads = [threading.Thread(target=post, args=(u,)) for u in (live.a, live.b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 412]
    back = httpx.post(f"{live.a}/api/v1/grids/redraw", json=_original(live), headers=live.admin)
    assert back.status_code == 200, back.text


def _original(live: Live) -> dict[str, Any]:
    """A body putting A and B back to their first shapes (from their history)."""
    body: dict[str, Any] = {"changes": [], "reason": "back"}
    for code in (A, B):
        with live.engine.connect() as conn:
            geometry = conn.execute(
                text("SELECT ST_AsGeoJSON(geom) FROM grids WHERE code = :c ORDER BY id LIMIT 1"),
                {"c": code},
            ).scalar_one()
        etag = httpx.get(f"{live.a}/api/v1/grids/{code}").headers["etag"]
        body["changes"].append({"code": code, "etag": etag, "geometry": json.loads(geometry)})
    return body


def test_incidents_filed_while_redraws_commit_get_current_grids(live: Live) -> None:
    _, point = moved_body(live.a)
    stop = threading.Event()
    filed: list[int] = []
    errors: list[str] = []

    def file_incidents() -> None:
        with httpx.Client(base_url=live.b, headers=live.reporter, timeout=30) as client:
            while not stop.is_set():
                try:
                    r = client.post(
                        "/api/v1/incidents",
                        json={"category": "市容环境", "lon": point.x, "lat": point.y},
                    )
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                    continue
                if r.status_code != 201:
                    errors.append(r.text)
                else:
                    filed.append(r.json()["id"])

    worker = threading.Thread(target=file_incidents)
    worker.start()
    try:
        for step in range(4):
            time.sleep(0.3)
            body = _original(live) if step % 2 else moved_body(live.a)[0]
            r = httpx.post(
                f"{live.a}/api/v1/grids/redraw", json=body, headers=live.admin, timeout=30
            )
            assert r.status_code == 200, r.text
        time.sleep(0.5)  # worker B's index is still the old one for up to 2 s
    finally:
        stop.set()
        worker.join()
    assert not errors and len(filed) > 20
    with live.engine.connect() as conn:
        wrong = conn.execute(
            text(
                """
                SELECT i.id, i.grid_code, (
                    SELECT g.code FROM grids g
                    WHERE g.valid_from <= now() AND (g.valid_to IS NULL OR g.valid_to > now())
                      AND ST_Covers(g.geom, i.geom) ORDER BY g.code LIMIT 1) AS truth
                FROM incidents i WHERE i.id = ANY(:ids)
                """
            ),
            {"ids": filed},
        ).all()
    assert [r for r in wrong if r.grid_code != r.truth] == []


def test_future_dated_redraw_takes_effect_at_its_time(live: Live) -> None:
    body, point = moved_body(live.a)
    where = {"lon": point.x, "lat": point.y}
    old = httpx.get(f"{live.a}/api/v1/locate", params=where).json()["grid"]["code"]
    deadline = time.monotonic() + 5  # worker B polls every 2 s: let it see the last redraw
    while httpx.get(f"{live.b}/api/v1/locate", params=where).json()["grid"]["code"] != old:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    when = datetime.now(UTC) + timedelta(seconds=6)
    body["valid_from"] = when.isoformat()
    r = httpx.post(f"{live.a}/api/v1/grids/redraw", json=body, headers=live.admin, timeout=30)
    assert r.status_code == 200, r.text
    later = (when + timedelta(seconds=60)).isoformat()
    answers = [
        httpx.get(f"{base}/api/v1/locate", params=where).json()["grid"]["code"]
        for base in (live.a, live.b)
    ]
    listed = httpx.get(f"{live.a}/api/v1/grids/{A}").json()
    if datetime.now(UTC) < when:  # a loaded machine may have taken the 6 s already
        assert answers == [old, old]
        assert not shape(listed["geometry"]).equals(shape(body["changes"][0]["geometry"]))
    at_later = httpx.get(f"{live.a}/api/v1/locate", params={**where, "at": later}).json()
    new = at_later["grid"]["code"]
    assert new != old
    time.sleep(max((when - datetime.now(UTC)).total_seconds(), 0) + 0.05)
    for base in (live.a, live.b):
        assert httpx.get(f"{base}/api/v1/locate", params=where).json()["grid"]["code"] == new
    listed = httpx.get(f"{live.b}/api/v1/grids/{A}").json()
    assert shape(listed["geometry"]).equals(shape(body["changes"][0]["geometry"]))
    deadline = time.monotonic() + 5
    with live.engine.connect() as conn:
        while time.monotonic() < deadline:
            applied = conn.execute(
                text("SELECT applied_at FROM grid_versions ORDER BY id DESC LIMIT 1")
            ).scalar()
            conn.rollback()
            if applied is not None:
                break
            time.sleep(0.1)
    assert applied is not None  # buildings and open incidents reassigned when it fell due


def test_locate_under_load_while_the_index_is_swapped(live: Live) -> None:
    """Threads hammer locate on both workers while a redraw commits on A (which refreshes at
    once) and B's poller rebuilds and swaps its index (within its 2 s poll): every answer is
    a 200 naming the old or the new grid, and a request started after a worker first
    answered with the new grid never gets the old one."""
    first = httpx.post(f"{live.a}/api/v1/grids/redraw", json=_original(live), headers=live.admin)
    assert first.status_code == 200, first.text  # from wherever the tests before left A and B
    time.sleep(2.5)  # B's poll
    body, point = moved_body(live.a)
    where = {"lon": point.x, "lat": point.y}
    old = httpx.get(f"{live.a}/api/v1/locate", params=where).json()["grid"]["code"]
    answers: dict[str, list[tuple[float, float, str]]] = {live.a: [], live.b: []}
    errors: list[str] = []
    stop = threading.Event()

    def hammer(base: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    r = client.get("/api/v1/locate", params=where)
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                    continue
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                else:
                    answers[base].append((started, time.monotonic(), r.json()["grid"]["code"]))

    threads = [threading.Thread(target=hammer, args=(b,)) for b in (live.a, live.b) * 3]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        r = httpx.post(f"{live.a}/api/v1/grids/redraw", json=body, headers=live.admin, timeout=30)
        assert r.status_code == 200, r.text
        committed = time.monotonic()
        deadline = committed + 10
        while not any(c != old for *_, c in answers[live.b][-5:]):
            assert time.monotonic() < deadline, "worker B never swapped its index"
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:5]
    new = {c for base in answers for *_, c in answers[base]} - {old}
    assert len(new) == 1
    for base, seen in answers.items():
        swapped = min(end for _, end, c in seen if c != old)
        stale = [(s, c) for s, _, c in seen if s > swapped and c == old]
        assert stale == [], (base, len(stale))
        assert len(seen) > 20
    first_on_a = min(end for _, end, c in answers[live.a] if c != old)
    assert first_on_a <= committed + 0.5  # the worker that redrew answers anew at once
    back = httpx.post(f"{live.a}/api/v1/grids/redraw", json=_original(live), headers=live.admin)
    assert back.status_code == 200, back.text
