"""Coverage figures over HTTP, recomputed independently: totals, grids and communities in SQL
from the stored per-building distances and households; gaps likewise; isochrones against
the nodes and buildings each station reaches; suggested sites against the walk distances
with the sites added (geo.coverage.walk_distances)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session

from data.network import load_network
from geo.coverage import walk_distances
from geo.network import WalkNetwork

pytestmark = pytest.mark.postgis

SPEED = 75.0
MAX_ACCESS_M = 300.0

# Every building with its run's distance (NULL: unreachable) and the community of its grid.
_BUILDINGS = """
    SELECT b.id, b.households, b.population, b.grid_code, g.community,
           ST_X(b.geom) AS lon, ST_Y(b.geom) AS lat, c.walk_m,
           coalesce(c.walk_m <= :reach, false) AS covered
    FROM buildings b
    LEFT JOIN coverage_results c ON c.run_id = :run AND c.building_id = b.id
    LEFT JOIN grids g ON g.valid_to IS NULL AND g.code = b.grid_code
"""
FIGURES = """
    WITH b AS ({buildings})
    SELECT {key} AS key, count(*) AS buildings,
           count(*) FILTER (WHERE covered) AS covered_buildings,
           sum(households) AS households,
           coalesce(sum(households) FILTER (WHERE covered), 0) AS covered_households,
           sum(population) AS population,
           coalesce(sum(population) FILTER (WHERE covered), 0) AS covered_population
    FROM b WHERE {key} IS NOT NULL GROUP BY {key} ORDER BY {key} COLLATE "C"
"""


def _pct(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def sql_figures(session: Session, run: int, reach: float, key: str) -> list[dict[str, Any]]:
    """Coverage figures per ``key`` (a column of the buildings query, or a constant for all)."""
    rows = session.execute(
        text(FIGURES.format(buildings=_BUILDINGS, key=key)), {"run": run, "reach": reach}
    ).all()
    out = []
    for r in rows:
        row = {
            "code": r.key,
            "buildings": r.buildings,
            "covered_buildings": r.covered_buildings,
            "households": r.households,
            "covered_households": r.covered_households,
            "population": r.population,
            "covered_population": r.covered_population,
            "pct_buildings": _pct(r.covered_buildings, r.buildings),
            "pct_households": _pct(r.covered_households, r.households),
            "pct_population": _pct(r.covered_population, r.population),
        }
        out.append(row)
    return out


@pytest.mark.parametrize(("minutes", "kind"), [(15, None), (7.5, None), (10, "hospital")])
def test_figures_equal_sql_over_the_stored_distances(
    client: TestClient, session: Session, minutes: float, kind: str | None
) -> None:
    params: dict[str, Any] = {"minutes": minutes} | ({"kind": kind} if kind else {})
    body = client.get("/api/v1/coverage", params=params).json()
    reach = minutes * SPEED
    assert (body["minutes"], body["kind"], body["speed_m_per_min"], body["distance_m"]) == (
        minutes,
        kind,
        SPEED,
        reach,
    )
    run = body["run"]
    stored = session.execute(
        text(
            "SELECT kind, count(*) FROM coverage_runs r JOIN coverage_results c ON c.run_id = r.id"
            " WHERE r.id = :run GROUP BY kind"
        ),
        {"run": run},
    ).one()
    buildings = session.execute(text("SELECT count(*) FROM buildings")).scalar_one()
    assert stored == (kind, buildings)  # one stored distance per building, for this kind

    (totals,) = sql_figures(session, run, reach, "'all'::text")
    totals.pop("code")
    assert body["totals"] == totals
    assert 0 < totals["covered_buildings"] < totals["buildings"]
    assert body["grids"] == sql_figures(session, run, reach, "grid_code")
    assert body["communities"] == sql_figures(session, run, reach, "community")
    assert len(body["grids"]) > 100 and len(body["communities"]) > 5


def test_kind_counts_only_stations_of_that_kind(client: TestClient, session: Session) -> None:
    """kind=hospital: the stored nearest station of every reached building is a hospital,
    each distance is the walk to the nearest hospital, and buildings that only another kind
    of station covers are not covered."""
    everything = client.get("/api/v1/coverage", params={"minutes": 10}).json()
    hospitals = client.get("/api/v1/coverage", params={"minutes": 10, "kind": "hospital"}).json()
    rows = session.execute(
        text(
            "SELECT c.building_id, c.walk_m, s.kind, ST_X(b.geom), ST_Y(b.geom)"
            " FROM coverage_results c JOIN buildings b ON b.id = c.building_id"
            " LEFT JOIN stations s ON s.id = c.station_id WHERE c.run_id = :run"
            " ORDER BY c.building_id"
        ),
        {"run": hospitals["run"]},
    ).all()
    assert {r.kind for r in rows if r.walk_m is not None} == {"hospital"}
    walk = load_network(session=session)
    assert walk is not None
    stations: NDArray[np.float64] = np.array(
        session.execute(
            text("SELECT ST_X(geom), ST_Y(geom) FROM stations WHERE kind = 'hospital'")
        ).all()
    )
    expected = walk_distances(
        walk, stations, np.array([(r[3], r[4]) for r in rows]), max_access_m=MAX_ACCESS_M
    )
    got = np.array([np.inf if r.walk_m is None else r.walk_m for r in rows])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    covered_all = everything["totals"]["covered_buildings"]
    covered_hospitals = hospitals["totals"]["covered_buildings"]
    assert 0 < covered_hospitals < covered_all


def test_gaps_equal_sql_over_the_stored_distances(client: TestClient, session: Session) -> None:
    minutes = 5
    gaps = client.get("/api/v1/coverage/gaps", params={"minutes": minutes}).json()
    run = client.get("/api/v1/coverage", params={"minutes": minutes}).json()["run"]
    rows = session.execute(
        text(f"WITH b AS ({_BUILDINGS}) SELECT * FROM b WHERE NOT covered ORDER BY id"),
        {"run": run, "reach": minutes * SPEED},
    ).all()
    assert gaps["uncovered_buildings"] == len(rows) > 0
    expected: dict[str | None, list[dict[str, Any]]] = {}
    for r in rows:
        expected.setdefault(r.grid_code, []).append(
            {
                "id": r.id,
                "households": r.households,
                "walk_m": None if r.walk_m is None else round(r.walk_m, 1),
                "lon": r.lon,
                "lat": r.lat,
            }
        )
    got = {
        g["code"]: [
            {k: b[k] for k in ("id", "households", "walk_m", "lon", "lat")} for b in g["buildings"]
        ]
        for g in gaps["grids"]
    }
    assert got == expected
    for g in gaps["grids"]:
        assert g["households"] == sum(b["households"] for b in expected[g["code"]])


def _stations(session: Session) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    rows = session.execute(
        text("SELECT id, ST_X(geom), ST_Y(geom) FROM stations ORDER BY id")
    ).all()
    return np.array([r[0] for r in rows]), np.array([(r[1], r[2]) for r in rows])


def _buildings(session: Session) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    rows = session.execute(
        text("SELECT ST_X(geom), ST_Y(geom), households FROM buildings ORDER BY id")
    ).all()
    return np.array([(r[0], r[1]) for r in rows]), np.array([r[2] for r in rows], dtype=float)


def _network(session: Session) -> WalkNetwork:
    walk = load_network(session=session)
    assert walk is not None
    return walk


def test_isochrones_hold_what_each_station_reaches(client: TestClient, session: Session) -> None:
    """Each station's polygon is valid and covers every network node it reaches within the
    time and the network point (projection) of every building it reaches; it reaches no
    farther than the walk plus the 50 m buffer and a raster cell or two."""
    minutes = 10
    reach = minutes * SPEED
    fc = client.get("/api/v1/coverage/isochrones", params={"minutes": minutes}).json()
    ids, lonlat = _stations(session)
    walk = _network(session)
    on_network = walk.snap(lonlat[:, 0], lonlat[:, 1], max_access_m=MAX_ACCESS_M).on_network
    assert sorted(f["properties"]["station_id"] for f in fc["features"]) == ids[on_network].tolist()
    blonlat, _ = _buildings(session)
    snap = walk.snap(blonlat[:, 0], blonlat[:, 1], max_access_m=MAX_ACCESS_M)
    projection = np.full_like(blonlat, np.nan)
    projection[snap.on_network] = walk.to_lonlat(np.column_stack([snap.x, snap.y])[snap.on_network])
    geod = Geod(ellps="WGS84")
    position = {int(i): xy for i, xy in zip(ids, lonlat, strict=True)}
    checked = 0
    for f in fc["features"]:
        poly = shapely.geometry.shape(f["geometry"])
        assert poly.geom_type in ("Polygon", "MultiPolygon") and poly.is_valid and not poly.is_empty
        station = position[f["properties"]["station_id"]][None, :]
        nodes = walk_distances(walk, station, walk.node_lonlat, max_access_m=MAX_ACCESS_M)
        reached = walk.node_lonlat[nodes <= reach]
        assert len(reached) > 0
        assert shapely.covers(poly, shapely.points(reached)).all()
        to_buildings = walk_distances(walk, station, blonlat, max_access_m=MAX_ACCESS_M)
        inside = projection[to_buildings <= reach]
        assert shapely.covers(poly, shapely.points(inside)).all()
        checked += len(reached) + len(inside)
        outline = shapely.get_coordinates(poly)
        n = len(outline)
        _, _, far = geod.inv(
            np.repeat(station[:, 0], n), np.repeat(station[:, 1], n), outline[:, 0], outline[:, 1]
        )
        assert far.max() <= reach + 50 + 60
    assert checked > 1000


def _covered_households(
    walk: WalkNetwork,
    sources: NDArray[np.float64],
    buildings: NDArray[np.float64],
    households: NDArray[np.float64],
    reach: float,
) -> float:
    d = walk_distances(walk, sources, buildings, max_access_m=MAX_ACCESS_M)
    return float(households[d <= reach].sum())


def test_suggested_sites_add_what_the_walk_distances_say(
    client: TestClient, session: Session, admin_key: str
) -> None:
    """Each site's households_added is the gain in covered households when it joins the
    stations and the sites before it, recomputed with walk_distances; the first site gains
    at least as much as any of 25 other candidate nodes would."""
    minutes = 5
    reach = minutes * SPEED
    result = client.post(
        "/api/v1/coverage/suggest",
        json={"minutes": minutes, "count": 3},
        headers={"X-API-Key": admin_key},
    ).json()
    walk = _network(session)
    _, stations = _stations(session)
    buildings, households = _buildings(session)
    before = _covered_households(walk, stations, buildings, households, reach)
    assert result["households_covered_before"] == before
    assert result["households_total"] == households.sum()
    sources = stations
    for site in result["sites"]:
        added = np.array([[site["lon"], site["lat"]]])
        after = _covered_households(walk, np.vstack([sources, added]), buildings, households, reach)
        assert site["households_added"] == after - _covered_households(
            walk, sources, buildings, households, reach
        )
        sources = np.vstack([sources, added])
    assert result["households_covered_after"] == _covered_households(
        walk, sources, buildings, households, reach
    )
    assert [s["rank"] for s in result["sites"]] == [1, 2, 3]
    first = result["sites"][0]["households_added"]
    rng = np.random.default_rng(5)
    for node in walk.node_lonlat[rng.choice(walk.n_nodes, 25, replace=False)]:
        gain = _covered_households(walk, np.vstack([stations, node]), buildings, households, reach)
        assert gain - before <= first


def test_suggest_picks_only_from_the_given_candidates(
    client: TestClient, session: Session, admin_key: str
) -> None:
    """Candidates given: the sites are among them (coordinates as sent); a candidate off the
    network or at a station (covering nobody new) is never picked, so fewer sites result."""
    default = client.post(
        "/api/v1/coverage/suggest",
        json={"minutes": 5, "count": 2},
        headers={"X-API-Key": admin_key},
    ).json()["sites"]
    _, stations = _stations(session)
    best = [default[0]["lon"], default[0]["lat"]]
    second = [default[1]["lon"], default[1]["lat"]]
    off_network = [118.5, 31.8]  # kilometres from any street
    at_a_station = stations[0].tolist()  # everybody near it is covered already
    candidates = [off_network, best, at_a_station, second]
    result = client.post(
        "/api/v1/coverage/suggest",
        json={"minutes": 5, "count": 4, "candidates": candidates},
        headers={"X-API-Key": admin_key},
    ).json()
    picked = [[s["lon"], s["lat"]] for s in result["sites"]]
    assert picked == [best, second]  # the other two add nothing: fewer sites than asked
    added = [s["households_added"] for s in result["sites"]]
    assert added == [s["households_added"] for s in default]
