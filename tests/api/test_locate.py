"""/api/v1/locate against the sample city, checked against PostGIS: ST_Covers + the tie
rule for covered points, the nearest grid within the tolerance for the others."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from pyproj import Geod, Proj
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.locator import Locator
from data import grids as grid_repo
from geo.crs import from_wgs84, utm_epsg

pytestmark = pytest.mark.postgis

ORACLE = text(
    """
    SELECT g.code FROM grids g
    WHERE g.valid_to IS NULL AND ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
    ORDER BY g.code LIMIT 1
    """
)


# Metres from a point to each current grid near it, by PostGIS in the city's UTM zone divided
# by the UTM scale factor at the point (UTM is conformal: metres on the ellipsoid), the grids
# segmentized every ~50 m so that PostGIS measures to the straight lon/lat edges ST_Covers
# uses. distance_m is measured on the tangent plane at the point; the two agree to a few
# millimetres within 50 m (geo/locate.py), hence EPSILON_M.
NEAREST = text(
    """
    WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS pt)
    SELECT g.code,
           ST_Distance(ST_Transform(ST_Segmentize(g.geom, 0.0005), :epsg),
                       ST_Transform(p.pt, :epsg)) / :k AS metres
    FROM grids g, p
    WHERE g.valid_to IS NULL AND ST_DWithin(g.geom::geography, p.pt::geography, :reach)
    ORDER BY metres, g.code COLLATE "C"
    """
)
TOLERANCE_M = 50.0
EPSILON_M = 0.01


def check_uncovered(client: TestClient, session: Session, points: NDArray[np.float64]) -> Any:
    """Points no grid covers: the nearest grid with match "nearest" and its distance within
    the tolerance, 404 beyond it; the batch gives the same codes. Returns the counts."""
    epsg = utm_epsg(float(points[0, 0]), float(points[0, 1]))
    factors = Proj(f"EPSG:{epsg}").get_factors(points[:, 0], points[:, 1])
    scale = np.asarray(factors.meridional_scale, dtype=np.float64).tolist()
    batch = client.post("/api/v1/locate/batch", json={"points": points.tolist()}).json()["codes"]
    counts = {"nearest": 0, "far": 0}
    for (lon, lat), k, in_batch in zip(points.tolist(), scale, batch, strict=True):
        rows = session.execute(
            NEAREST,
            {"lon": lon, "lat": lat, "epsg": epsg, "k": float(k), "reach": TOLERANCE_M + 10},
        ).all()
        response = client.get("/api/v1/locate", params={"lon": lon, "lat": lat})
        where = f"({lon!r}, {lat!r}): {response.text}, PostGIS {rows[:3]}"
        if rows and abs(rows[0].metres - TOLERANCE_M) <= EPSILON_M:
            continue  # either answer is right this close to the tolerance
        if not rows or rows[0].metres > TOLERANCE_M:
            assert response.status_code == 404, where
            assert response.headers["content-type"] == "application/problem+json"
            assert in_batch is None, where
            counts["far"] += 1
            continue
        assert response.status_code == 200, where
        body = response.json()
        tied = {r.code for r in rows if r.metres <= rows[0].metres + EPSILON_M}
        assert body["match"] == "nearest" and body["grid"]["code"] in tied, where
        assert body["distance_m"] == pytest.approx(rows[0].metres, abs=EPSILON_M), where
        assert in_batch == body["grid"]["code"], where
        counts["nearest"] += 1
    return counts


def _bounds(session: Session) -> tuple[float, float, float, float]:
    row = session.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom) AS e FROM grids WHERE valid_to IS NULL) s"
        )
    ).one()
    return float(row[0]), float(row[1]), float(row[2]), float(row[3])


def test_single_and_batch_equal_postgis(client: TestClient, session: Session) -> None:
    x0, y0, x1, y1 = _bounds(session)
    rng = np.random.default_rng(7)
    lon = rng.uniform(x0, x1, 300)
    lat = rng.uniform(y0, y1, 300)
    expected = [
        session.execute(ORACLE, {"lon": x, "lat": y}).scalar()
        for x, y in zip(lon, lat, strict=True)
    ]
    batch = client.post(
        "/api/v1/locate/batch", json={"points": np.column_stack([lon, lat]).tolist()}
    )
    assert batch.status_code == 200
    got = batch.json()["codes"]
    for e, g in zip(expected, got, strict=True):
        if e is not None:
            assert g == e
    for x, y, e in list(zip(lon, lat, expected, strict=True))[:50]:
        response = client.get("/api/v1/locate", params={"lon": x, "lat": y})
        if e is not None:
            assert response.status_code == 200
            body = response.json()
            assert body["grid"]["code"] == e and body["match"] in ("inside", "boundary")
            assert body["distance_m"] == 0
    outside = np.array([(x, y) for x, y, e in zip(lon, lat, expected, strict=True) if e is None])
    counts = check_uncovered(client, session, outside)
    assert counts["nearest"] + counts["far"] >= len(outside) - 2, counts


def test_points_near_the_outline_get_the_nearest_grid(client: TestClient, session: Session) -> None:
    """Points 0-150 m out from the city's outline: nearest within 50 m, 404 beyond."""
    geoms = [g.geom for g in grid_repo.current_grids(session=session)]
    outline = shapely.get_coordinates(shapely.union_all(geoms).exterior)
    rng = np.random.default_rng(21)
    base = outline[rng.choice(len(outline), 250)]
    lon, lat, _ = Geod(ellps="WGS84").fwd(
        base[:, 0], base[:, 1], rng.uniform(0, 360, 250), rng.uniform(0, 150, 250)
    )
    covered = shapely.covers(shapely.union_all(geoms), shapely.points(lon, lat))
    counts = check_uncovered(client, session, np.column_stack([lon, lat])[~covered])
    assert counts["nearest"] >= 50 and counts["far"] >= 30, counts


def test_gcj02_input_is_converted(client: TestClient, session: Session) -> None:
    x0, y0, x1, y1 = _bounds(session)
    lon, lat = (x0 + x1) / 2, (y0 + y1) / 2
    plain = client.get("/api/v1/locate", params={"lon": lon, "lat": lat}).json()
    glon, glat = from_wgs84(np.array([lon]), np.array([lat]), "gcj02")
    shifted = client.get(
        "/api/v1/locate", params={"lon": glon[0], "lat": glat[0], "crs": "gcj02"}
    ).json()
    assert shifted["grid"]["code"] == plain["grid"]["code"]


def test_outside_every_grid_is_404_outside_the_region_422(
    client: TestClient, locator: Locator
) -> None:
    index = locator.snapshot.index
    assert index is not None
    east = float(index._x0 + index._nx * index._dx) + 0.02  # ~2 km beyond the grids
    response = client.get("/api/v1/locate", params={"lon": east, "lat": 32.05})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    far = client.get("/api/v1/locate", params={"lon": 0.0, "lat": 0.0})
    assert far.status_code == 422 and "outside the region" in far.json()["detail"]


@pytest.mark.parametrize(
    "params",
    [
        {"lon": "abc", "lat": 32},
        {"lon": "nan", "lat": 32},
        {"lon": "inf", "lat": 32},
        {"lon": 181, "lat": 32},
        {"lon": 118, "lat": -91},
        {"lon": 118, "lat": 32, "crs": "epsg3857"},
        {"lat": 32},
    ],
)
def test_bad_points_are_422_naming_the_field(client: TestClient, params: dict[str, object]) -> None:
    response = client.get("/api/v1/locate", params=params)
    assert response.status_code == 422
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert body["errors"] and body["errors"][0]["loc"][0] == "query"


@pytest.mark.parametrize(
    "body",
    [
        {"points": [[118.0]]},
        {"points": [["118.0", 32.0]]},
        {"points": "nope"},
        {"points": [[118.0, 32.0]], "crs": "mars"},
        {"points": [[118.0, 32.0]], "extra": 1},
    ],
)
def test_bad_batches_are_422(client: TestClient, body: dict[str, object]) -> None:
    response = client.post("/api/v1/locate/batch", json=body)
    assert response.status_code == 422


def test_batch_answers_bad_points_one_by_one(client: TestClient) -> None:
    points = [[118.79, 32.05], [118.0, 91.0], [0.0, 0.0], [500000.0, 3500000.0]]
    response = client.post("/api/v1/locate/batch", json={"points": points})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["codes"][0] is not None and body["codes"][1:] == [None, None, None]
    assert [e["index"] for e in body["errors"]] == [1, 2, 3]
    assert "outside the region" in body["errors"][1]["msg"]
    assert "lat in [-90, 90]" in body["errors"][0]["msg"]
    clean = client.post("/api/v1/locate/batch", json={"points": points[:1]}).json()
    assert clean == {"codes": body["codes"][:1], "errors": []}


def test_batch_nan_and_malformed_json(client: TestClient) -> None:
    nan = client.post(
        "/api/v1/locate/batch",
        content=b'{"points": [[NaN, 32.0]]}',
        headers={"Content-Type": "application/json"},
    )
    assert nan.status_code == 422
    broken = client.post(
        "/api/v1/locate/batch",
        content=b'{"points": [[118',
        headers={"Content-Type": "application/json"},
    )
    assert broken.status_code == 422


def test_batch_size_limit(client: TestClient) -> None:
    points = [[118.78, 32.05]] * 100_001
    assert client.post("/api/v1/locate/batch", json={"points": points}).status_code in (413, 422)
    ok = client.post("/api/v1/locate/batch", json={"points": points[:100_000]})
    assert ok.status_code == 200 and len(ok.json()["codes"]) == 100_000


def test_locate_at_a_past_time(client: TestClient) -> None:
    grid = client.get("/api/v1/grids", params={"limit": 1}).json()["features"][0]
    ring = grid["geometry"]["coordinates"][0][0]
    lon = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
    lat = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
    now = client.get("/api/v1/locate", params={"lon": lon, "lat": lat})
    then = client.get(
        "/api/v1/locate", params={"lon": lon, "lat": lat, "at": "2100-01-01T00:00:00Z"}
    )
    assert now.status_code == then.status_code == 200
    assert then.json() == now.json()
    before = client.get(
        "/api/v1/locate", params={"lon": lon, "lat": lat, "at": "1990-01-01T00:00:00Z"}
    )
    assert before.status_code == 404
    assert before.headers["content-type"] == "application/problem+json"


def test_index_follows_a_grid_change(
    client: TestClient, session: Session, locator: Locator
) -> None:
    """A new grid version is picked up by refresh() (what the poller runs), requests
    meanwhile answered from the old snapshot."""
    from shapely.geometry import box

    old = locator.snapshot
    far = {"lon": 100.005, "lat": 30.005}
    assert client.get("/api/v1/locate", params=far).status_code == 422  # outside the region
    version = grid_repo.new_version(session=session, author="test", reason="new grid")
    grid_repo.insert_grids(
        session=session,
        version=version,
        rows=[
            {
                "code": "999000000000001",
                "name": "far",
                "community": None,
                "geom": box(100.0, 30.0, 100.01, 30.01),
                "households": 0,
            }
        ],
    )
    session.flush()
    assert client.get("/api/v1/locate", params=far).status_code == 422  # old snapshot
    fresh = locator.refresh()
    assert fresh is not old and fresh.state != old.state
    assert client.get("/api/v1/locate", params=far).json()["grid"]["code"] == "999000000000001"
