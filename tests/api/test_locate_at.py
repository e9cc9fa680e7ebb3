"""/api/v1/locate?at=: the point→grid rule evaluated by PostGIS on the grids valid then
(data.grids.locate_at), held to the same answers as the in-memory index.

The index is the rule's reference (tests/geo/test_locate_postgis.py holds it to PostGIS's own
ST_Covers and to metric distances), so for every point — grid vertices shared by two or
more grids, edge midpoints, points along edges, points just outside the city — ``at=now``
must give what ``/locate`` without ``at`` gives: status, code, match and distance.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
import pytest
import shapely
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from psycopg import sql
from pyproj import Geod
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.orm import Session

from data import grids as grid_repo
from data.db import make_engine, migrate
from geo.locate import GridIndex, Match
from tests.geo.test_locate import special_points

pytestmark = pytest.mark.postgis

MATCH_NAMES = {Match.INSIDE: "inside", Match.BOUNDARY: "boundary", Match.NEAREST: "nearest"}


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


def _answer(client: TestClient, lon: float, lat: float, at: datetime | None = None) -> Any:
    """(status, code, match, distance) of one /locate call; None for a 404."""
    params: dict[str, Any] = {"lon": lon, "lat": lat}
    if at is not None:
        params["at"] = _iso(at)
    response = client.get("/api/v1/locate", params=params)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    body = response.json()
    return body["grid"]["code"], body["match"], body["distance_m"]


def _index_answer(index: GridIndex, lon: float, lat: float) -> Any:
    """What /locate answers from an index over the same grids."""
    code, match, distance = index.locate_one(lon, lat)
    if code < 0:
        return None
    return str(index.codes[code]), MATCH_NAMES[Match(match)], round(distance, 3)


def _outside_points(geoms: NDArray[np.object_], n: int, seed: int) -> NDArray[np.float64]:
    """Points 0-120 m from the city's outline vertices: nearest-grid cases and 404s."""
    rng = np.random.default_rng(seed)
    outline = shapely.get_coordinates(shapely.union_all(geoms).exterior)
    base = outline[rng.choice(len(outline), n)]
    lon, lat, _ = Geod(ellps="WGS84").fwd(
        base[:, 0], base[:, 1], rng.uniform(0, 360, n), rng.uniform(0, 120, n)
    )
    return np.column_stack([lon, lat])


def test_at_now_gives_the_index_answer_for_boundary_and_nearest_points(
    client: TestClient, session: Session
) -> None:
    grids = grid_repo.current_grids(session=session)
    geoms = np.array([g.geom for g in grids], dtype=object)
    points = np.vstack(
        [special_points(geoms, limit=300, seed=11), _outside_points(geoms, 200, seed=12)]
    )
    now = datetime.now(UTC)
    kinds: dict[str | None, int] = {}
    differ = []
    for lon, lat in points.tolist():
        memory = _answer(client, lon, lat)
        history = _answer(client, lon, lat, at=now)
        kinds[memory and memory[1]] = kinds.get(memory and memory[1], 0) + 1
        if memory != history:
            differ.append(((lon, lat), memory, history))
    assert not differ, f"{len(differ)} of {len(points)} points differ, e.g. {differ[:5]}"
    # the points exercise every kind of answer
    assert all(kinds.get(k, 0) >= 20 for k in ("inside", "boundary", "nearest", None)), kinds


def _neighbours(
    session: Session,
) -> tuple[grid_repo.GridShape, grid_repo.GridShape, tuple[float, float]]:
    """Two current grids sharing an edge, smaller code first, and a vertex of that edge
    which is inside their union (not where the edge meets the outline)."""
    grids = grid_repo.current_grids(session=session)
    for a in grids:
        for b in grids:
            if a.code < b.code and a.geom.intersection(b.geom).length > 0:
                outline = shapely.union_all([a.geom, b.geom]).boundary
                for x, y in shapely.get_coordinates(a.geom.intersection(b.geom)).tolist():
                    if outline.distance(shapely.Point(x, y)) > 1e-6:
                        return a, b, (x, y)
    raise AssertionError("no two sample grids share an edge of three vertices")


def test_superseded_grid_is_answered_by_time(client: TestClient, session: Session) -> None:
    """Grid b is redrawn to take over its neighbour a (a retired): a time between the
    versions gets the old grids, now gets the new one; at=now agrees with an index over
    the grids valid now."""
    a, b, on_edge = _neighbours(session)
    loaded = session.execute(
        text("SELECT valid_from FROM grids WHERE code = :c AND valid_to IS NULL"), {"c": a.code}
    ).scalar_one()
    version = grid_repo.new_version(session=session, author="test", reason="merge a into b")
    grid_repo.retire(session=session, codes=[a.code, b.code])
    merged = shapely.union_all([a.geom, b.geom])
    grid_repo.insert_grids(
        session=session,
        version=version,
        rows=[{"code": b.code, "name": b.name, "community": b.community, "geom": merged}],
    )
    session.commit()  # a savepoint of the test transaction
    changed = session.execute(
        text("SELECT valid_from FROM grids WHERE code = :c AND valid_to IS NULL"), {"c": b.code}
    ).scalar_one()
    assert loaded < changed
    between = loaded + (changed - loaded) / 2
    now = datetime.now(UTC)

    inside_a = a.geom.representative_point()
    for (lon, lat), then, later in [
        ((inside_a.x, inside_a.y), (a.code, "inside"), (b.code, "inside")),
        (on_edge, (a.code, "boundary"), (b.code, "inside")),  # a is the smaller code
    ]:
        assert _answer(client, lon, lat, at=between)[:2] == then
        assert _answer(client, lon, lat, at=now)[:2] == later
    history = grid_repo.grid_history(session=session, code=b.code)
    assert [h.valid_to is None for h, _, _ in history] == [False, True]

    index = GridIndex(
        [g.geom for g in grid_repo.current_grids(session=session)],
        [g.code for g in grid_repo.current_grids(session=session)],
    )
    geoms = np.array([merged], dtype=object)
    points = np.vstack(
        [special_points(geoms, limit=60, seed=3), _outside_points(geoms, 20, seed=4)]
    )
    for lon, lat in points.tolist():
        assert _answer(client, lon, lat, at=now) == _index_answer(index, lon, lat), (lon, lat)


# --- a server whose default collation is not C ------------------------------------------


@pytest.fixture(scope="module")
def icu_url(pg_url: str) -> Iterator[str]:
    """A migrated database collating text by ICU's en-US rules (as most servers initialised
    with an en_US locale do): "a1" sorts before "B1" there, after it in code-point order."""
    name = "gridmap_icu"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(
            sql.SQL(
                "CREATE DATABASE {} TEMPLATE template0 LOCALE 'C.UTF-8'"
                " LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
            ).format(sql.Identifier(name))
        )
    url = f"{pg_url.rsplit('/', 1)[0]}/{name}"
    migrate(url)
    yield url


def test_ties_go_to_the_smallest_code_in_code_point_order(icu_url: str) -> None:
    """Two squares sharing a meridian edge, codes "a1" (west) and "B1" (east): a point on
    the edge belongs to "B1" (B < a in code-point order, PostgreSQL's "C" collation), whatever
    the database's own collation says."""
    west, east = box(118.0, 32.0, 118.01, 32.01), box(118.01, 32.0, 118.02, 32.01)
    on_edge = (118.01, 32.005)
    engine = make_engine(icu_url, pool_size=1)
    try:
        with engine.connect() as conn:
            outer = conn.begin()
            session = Session(bind=conn, join_transaction_mode="create_savepoint")
            order = session.execute(text("SELECT 'a1' < 'B1'")).scalar_one()
            assert order, "this database must not collate in code-point order"
            version = grid_repo.new_version(session=session, author="test", reason="ties")
            grid_repo.insert_grids(
                session=session,
                version=version,
                rows=[
                    {"code": "a1", "name": "west", "community": None, "geom": west},
                    {"code": "B1", "name": "east", "community": None, "geom": east},
                ],
            )
            session.execute(
                text(
                    "INSERT INTO buildings (geom, households) VALUES"
                    " (ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 1)"
                ),
                {"lon": on_edge[0], "lat": on_edge[1]},
            )
            index = GridIndex([west, east], ["a1", "B1"])
            assert index.codes[index.locate_one(*on_edge)[0]] == "B1"  # the rule
            hit = grid_repo.locate_at(
                session=session,
                lon=on_edge[0],
                lat=on_edge[1],
                at=datetime.now(UTC),
                tolerance_m=50.0,
            )
            assert hit is not None and (hit[0].code, hit[1]) == ("B1", "boundary")
            grid_repo.reassign_buildings(session=session)
            assigned = session.execute(text("SELECT grid_code FROM buildings")).scalar_one()
            assert assigned == "B1"
            session.close()
            outer.rollback()
    finally:
        engine.dispose()
