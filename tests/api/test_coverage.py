"""Coverage endpoints on the sample city, checked against an independent networkx oracle."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from data.coverage import run_data
from data.network import load_network
from geo.walk import MAINLAND_MIN_NODES

pytestmark = pytest.mark.postgis


def test_totals_are_monotone_in_minutes(client: TestClient) -> None:
    previous = -1.0
    for minutes in (5, 10, 15, 30):
        body = client.get("/api/v1/coverage", params={"minutes": minutes}).json()
        assert body["distance_m"] == minutes * 75
        covered = body["totals"]["covered_households"]
        assert covered >= previous
        previous = covered
        grid_sum = sum(g["covered_households"] for g in body["grids"])
        assert abs(grid_sum - covered) <= len(body["grids"])  # rounding per grid
        assert body["communities"] and all(c["code"] for c in body["communities"])


def test_distances_equal_networkx_dijkstra(client: TestClient, session: Session) -> None:
    """Oracle: a networkx graph of the stored edges with each station joined at its
    projection on the nearest edge, each building on the nearest edge of the mainland (a
    component holding a station or of >= 50 nodes), shapely in the same UTM zone."""
    body = client.get("/api/v1/coverage", params={"minutes": 15}).json()
    walk = load_network(session=session)
    assert walk is not None
    data = run_data(session=session, run_id=body["run"])
    stations: np.ndarray = np.array(
        session.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM stations ORDER BY id")).all()
    )
    graph = nx.Graph()
    lines = []
    for e in range(walk.n_edges):
        xy = walk.vertex_xy[walk.vertex_ptr[e] : walk.vertex_ptr[e + 1]]
        lines.append(shapely.LineString(xy))
        u, v = int(walk.edge_u[e]), int(walk.edge_v[e])
        if u != v:
            w = lines[-1].length
            if not graph.has_edge(u, v) or graph[u][v]["weight"] > w:
                graph.add_edge(u, v, weight=w)
    from geo.crs import to_metric

    graph.add_nodes_from(range(walk.n_nodes))
    component: dict[int, tuple[int, int]] = {}
    for k, nodes in enumerate(nx.connected_components(graph)):
        component |= dict.fromkeys(nodes, (k, len(nodes)))
    mainland = {c for c in component.values() if c[1] >= MAINLAND_MIN_NODES}

    def attach(lonlat: np.ndarray, tag: str) -> list[str | None]:
        x, y = to_metric(lonlat[:, 0], lonlat[:, 1], walk.epsg)
        allowed = [
            e for e in range(walk.n_edges) if tag == "s" or component[walk.edge_u[e]] in mainland
        ]
        tree = shapely.STRtree([lines[e] for e in allowed])
        names: list[str | None] = []
        for i, p in enumerate(shapely.points(x, y)):
            e = allowed[int(tree.nearest(p))]
            line = lines[e]
            access = line.distance(p)
            if access > 300:
                names.append(None)
                continue
            along = line.project(p)
            if tag == "s":
                mainland.add(component[walk.edge_u[e]])
            name = f"{tag}{i}"
            graph.add_edge(name, int(walk.edge_u[e]), weight=along + access / 2)
            graph.add_edge(name, int(walk.edge_v[e]), weight=line.length - along + access / 2)
            graph.nodes[name]["access"] = access
            graph.nodes[name]["edge"] = (e, along)
            names.append(name)
        return names

    sample = np.arange(0, len(data.buildings.id), 7)
    s_names = attach(stations, "s")
    b_names = attach(data.buildings.lonlat[sample], "b")
    # weights above put half of each access leg on each side; correct it below
    for i, name in zip(sample, b_names, strict=True):
        expected = np.inf
        if name is not None:
            for s in s_names:
                if s is None:
                    continue
                try:
                    d = nx.dijkstra_path_length(graph, s, name)
                except nx.NetworkXNoPath:
                    continue
                (eb, ab), (es, as_) = graph.nodes[name]["edge"], graph.nodes[s]["edge"]
                direct = abs(ab - as_) + 0.0 if eb == es else np.inf
                d = min(d, direct + (graph.nodes[name]["access"] + graph.nodes[s]["access"]) / 2)
                d += (graph.nodes[name]["access"] + graph.nodes[s]["access"]) / 2
                expected = min(expected, d)
        assert data.walk_m[i] == pytest.approx(expected, abs=0.01) or (
            np.isinf(expected) and np.isinf(data.walk_m[i])
        )


def test_gaps_are_the_uncovered_buildings(client: TestClient) -> None:
    totals = client.get("/api/v1/coverage", params={"minutes": 5}).json()["totals"]
    gaps = client.get("/api/v1/coverage/gaps", params={"minutes": 5}).json()
    listed = sum(len(g["buildings"]) for g in gaps["grids"])
    assert (
        listed == gaps["uncovered_buildings"] == totals["buildings"] - totals["covered_buildings"]
    )
    assert all(
        b["walk_m"] is None or b["walk_m"] > 375 for g in gaps["grids"] for b in g["buildings"]
    )


def test_isochrones_are_polygons_per_station(client: TestClient) -> None:
    fc = client.get("/api/v1/coverage/isochrones", params={"minutes": 10}).json()
    assert fc["type"] == "FeatureCollection" and fc["features"]
    for f in fc["features"]:
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
        assert f["properties"]["minutes"] == 10
        assert shapely.geometry.shape(f["geometry"]).is_valid


def test_suggest_needs_admin_and_adds_coverage(
    client: TestClient, admin_key: str, viewer_key: str
) -> None:
    body = {"minutes": 5, "count": 2}
    assert client.post("/api/v1/coverage/suggest", json=body).status_code == 401
    denied = client.post("/api/v1/coverage/suggest", json=body, headers={"X-API-Key": viewer_key})
    assert denied.status_code == 403
    result = client.post(
        "/api/v1/coverage/suggest", json=body, headers={"X-API-Key": admin_key}
    ).json()
    assert len(result["sites"]) == 2
    added = [s["households_added"] for s in result["sites"]]
    assert added == sorted(added, reverse=True) and added[0] > 0
    assert result["households_covered_after"] >= result["households_covered_before"]
    bad = client.post(
        "/api/v1/coverage/suggest",
        json={"minutes": -1, "count": 2},
        headers={"X-API-Key": admin_key},
    )
    assert bad.status_code == 422


def test_a_new_station_invalidates_the_run(client: TestClient, session: Session) -> None:
    first = client.get("/api/v1/coverage", params={"minutes": 5}).json()
    gap = client.get("/api/v1/coverage/gaps", params={"minutes": 5}).json()["grids"][0][
        "buildings"
    ][0]
    session.execute(
        text(
            "INSERT INTO stations (geom, kind, name, level) VALUES "
            "(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 'community_service', 'new', 5)"
        ),
        {"lon": gap["lon"], "lat": gap["lat"]},
    )
    second = client.get("/api/v1/coverage", params={"minutes": 5}).json()
    assert second["run"] != first["run"]
    assert second["totals"]["covered_buildings"] > first["totals"]["covered_buildings"]


def test_bad_parameters(client: TestClient) -> None:
    assert client.get("/api/v1/coverage", params={"minutes": 0}).status_code == 422
    assert client.get("/api/v1/coverage", params={"minutes": "x"}).status_code == 422
    unknown = client.get("/api/v1/coverage", params={"kind": "no-such-kind"})
    assert unknown.status_code == 422 and "known kinds" in unknown.json()["detail"]
