"""Coverage: walk distances equal an independent networkx oracle to 0.01 m; coverage figures,
isochrones and siting keep their promises."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import numpy as np
import pyrosm
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from geo.groups import coverage_by_group, gaps_by_group
from geo.isochrones import isochrones
from geo.network import WalkNetwork, _build
from geo.siting import suggest_sites
from geo.walk import (
    MAINLAND_MIN_NODES,
    coverage_level,
    covered_within,
    snap_lonlat,
    snap_targets,
    walk_distances,
    walk_nearest,
)

OSM = Path(__file__).parents[1] / "fixtures" / "osm"
LON, LAT = 118.78, 32.05
STATION_TAGS = {"amenity": ["community_centre", "townhall", "social_facility", "clinic", "police"]}


# --- the oracle ------------------------------------------------------------------------


def oracle(
    edges: Sequence[tuple[object, object, shapely.LineString]],
    epsg: int,
    sources: np.ndarray,
    targets: np.ndarray,
    max_access: float = 300.0,
    min_nodes: int = MAINLAND_MIN_NODES,
    anchors: np.ndarray | None = None,
) -> np.ndarray:
    """Walk distances by networkx on explicitly split edges, from WGS84 edge geometries
    keyed by their end nodes: shapely snapping, one graph node per projection. Sources join
    their nearest edge, targets the nearest edge of a component holding a source (or one of
    ``anchors``: stations that are no source) or having at least ``min_nodes`` nodes (the
    mainland rule)."""
    to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
    geoms = [
        shapely.transform(g, lambda xy: np.column_stack(to_utm.transform(*xy.T)))
        for _, _, g in edges
    ]
    base = nx.Graph([(u, v) for u, v, _ in edges])
    component: dict[object, tuple[int, int]] = {}
    for k, nodes in enumerate(nx.connected_components(base)):
        component |= dict.fromkeys(nodes, (k, len(nodes)))
    edge_component = [component[u] for u, _, _ in edges]
    tree = shapely.STRtree(geoms)
    points: dict[tuple[str, int], float] = {}
    on_edge: dict[int, list[tuple[float, tuple[str, int]]]] = defaultdict(list)
    mainland = {c for c in edge_component if c[1] >= min_nodes}
    others = np.empty((0, 2)) if anchors is None else anchors
    for kind, lonlat in (("a", others), ("s", sources), ("t", targets)):
        xy = np.column_stack(to_utm.transform(lonlat[:, 0], lonlat[:, 1]))
        if kind == "t":
            allowed = [e for e, c in enumerate(edge_component) if c in mainland]
            tree = shapely.STRtree([geoms[e] for e in allowed])
        for i, p in enumerate(shapely.points(xy)):
            if kind == "t" and not allowed:
                break
            e = int(tree.query_nearest(p)[0])
            e = allowed[e] if kind == "t" else e
            access = geoms[e].distance(p)
            if kind == "a":
                if access <= max_access:
                    mainland.add(edge_component[e])
                continue
            if access <= max_access:
                points[(kind, i)] = access
                on_edge[e].append((geoms[e].project(p), (kind, i)))
                if kind == "s":
                    mainland.add(edge_component[e])
    graph = nx.MultiGraph()
    for e, (u, v, _) in enumerate(edges):
        chain: list[tuple[float, tuple[object, ...]]] = [(0.0, ("node", u))]
        chain += sorted(((at, ("at", *key)) for at, key in on_edge[e]), key=lambda c: c[0])
        chain += [(geoms[e].length, ("node", v))]
        for (a, na), (b, nb) in itertools.pairwise(chain):
            graph.add_edge(na, nb, w=b - a)
    for key, access in points.items():
        graph.add_edge(key, ("at", *key), w=access)
    starts = [k for k in points if k[0] == "s"]
    dist = nx.multi_source_dijkstra_path_length(graph, starts, weight="w") if starts else {}
    return np.array([dist.get(("t", i), np.inf) for i in range(len(targets))])


# --- real data -------------------------------------------------------------------------


def osm_case(name: str) -> tuple[WalkNetwork, list, np.ndarray, np.ndarray]:
    path = OSM / name
    osm = pyrosm.OSM(str(path))
    _, edges = osm.get_network(network_type="walking", nodes=True)
    twins = {frozenset(uv): uv for uv in zip(edges["u"], edges["v"], strict=True)}
    raw = [
        (u, v, g)
        for u, v, g in zip(edges["u"], edges["v"], edges.geometry, strict=True)
        if twins[frozenset((u, v))] == (u, v)
    ]  # a segment drawn twice is one street
    points = osm.get_buildings().geometry.representative_point()
    buildings = np.column_stack([points.x, points.y])
    pois = osm.get_pois(custom_filter=STATION_TAGS).geometry.representative_point()
    stations = np.column_stack([pois.x, pois.y])
    return WalkNetwork.from_osm(path), raw, stations, buildings


@pytest.fixture(scope="module")
def nanjing() -> tuple[WalkNetwork, list, np.ndarray, np.ndarray]:
    return osm_case("nanjing_xuanwu.osm.pbf")


@pytest.mark.parametrize("name", ["nanjing_xuanwu.osm.pbf", "beijing_cau_east.osm.pbf"])
def test_distances_equal_networkx_on_osm(name: str) -> None:
    net, raw, stations, buildings = osm_case(name)
    assert len(stations) >= 2 and len(buildings) > 200
    ours = walk_nearest(net, stations, buildings)
    expected = oracle(raw, net.epsg, stations, buildings)
    assert np.isfinite(expected).mean() > 0.5
    assert ours.moved_off_islands > 0  # islands exist, and buildings beside them join the mainland
    np.testing.assert_allclose(ours.distance_m, expected, atol=0.01, rtol=0)


def test_nearest_source_and_limit(nanjing: tuple) -> None:
    net, _, stations, buildings = nanjing
    full = walk_nearest(net, stations, buildings)
    for j in np.flatnonzero(np.isfinite(full.distance_m))[::25]:
        alone = walk_distances(net, stations[[full.source[j]]], buildings[[j]])
        assert alone[0] == pytest.approx(full.distance_m[j], abs=1e-6)
    assert (full.source[np.isinf(full.distance_m)] == -1).all()
    bounded = walk_nearest(net, stations, buildings, limit=600.0)
    inside = full.distance_m <= 600
    np.testing.assert_allclose(bounded.distance_m[inside], full.distance_m[inside], atol=1e-9)
    assert np.isinf(bounded.distance_m[~inside]).all() and (bounded.source[~inside] == -1).all()


# --- random graphs ---------------------------------------------------------------------


def random_case(
    paths: Sequence[Sequence[tuple[float, float]]],
) -> tuple[WalkNetwork, list] | None:
    """Lines on a lattice of 5e-4 degree (~50 m): shared vertices, repeats, parallels."""
    geoms = [[(LON + 5e-4 * x, LAT + 5e-4 * y) for x, y in p] for p in paths if len(set(p)) > 1]
    if not geoms:
        return None
    segments = {frozenset(ab) for g in geoms for ab in itertools.pairwise(g) if len(set(ab)) == 2}
    raw = [(a, b, shapely.LineString([a, b])) for a, b in segments]  # twins are one street
    return WalkNetwork.from_lines([shapely.LineString(g) for g in geoms]), raw


def network(paths: Sequence[Sequence[tuple[float, float]]]) -> WalkNetwork:
    case = random_case(paths)
    assert case is not None
    return case[0]


lattice_paths = st.lists(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=2, max_size=5),
    min_size=1,
    max_size=10,
)
lattice_points = st.lists(st.tuples(st.floats(-1, 6), st.floats(-1, 6)), min_size=1, max_size=8)


def lonlat(points: list[tuple[float, float]]) -> np.ndarray:
    return np.array([(LON + 5e-4 * x, LAT + 5e-4 * y) for x, y in points])


@settings(max_examples=120, deadline=None)
@given(lattice_paths, lattice_points, lattice_points, st.sampled_from([30.0, 300.0]))
def test_distances_equal_networkx_on_random_graphs(
    paths: list, sources: list, targets: list, max_access: float
) -> None:
    case = random_case(paths)
    if case is None:
        return
    net, raw = case
    src, dst = lonlat(sources), lonlat(targets)
    ours = walk_distances(net, src, dst, max_access_m=max_access)
    np.testing.assert_allclose(ours, oracle(raw, net.epsg, src, dst, max_access), atol=0.01)


@settings(max_examples=60, deadline=None)
@given(lattice_paths, lattice_points, lattice_points, st.tuples(st.floats(-1, 6), st.floats(-1, 6)))
def test_more_minutes_or_stations_never_cover_less(
    paths: list, sources: list, targets: list, extra: tuple[float, float]
) -> None:
    case = random_case(paths)
    if case is None:
        return
    net, _ = case
    src, dst = lonlat(sources), lonlat(targets)
    before = walk_distances(net, src, dst)
    after = walk_distances(net, np.vstack([src, lonlat([extra])]), dst)
    assert (after <= before + 1e-9).all()
    for m in (1.0, 2.0, 5.0, 15.0):
        assert (covered_within(before, m) <= covered_within(before, m + 1)).all()
        assert (covered_within(before, m) <= covered_within(after, m)).all()


def test_island_building_is_uncovered_not_an_error() -> None:
    main = [(0, 0), (4, 0), (4, 4)]
    island = [(0, 10), (3, 10)]
    net = network([main, island])
    d = walk_distances(net, lonlat([(1, 0.2)]), lonlat([(2, 0.1), (1, 10.1), (50, 50)]))
    assert np.isfinite(d[0]) and np.isinf(d[1:]).all()
    assert covered_within(d, 15).tolist() == [True, False, False]
    assert np.isinf(walk_distances(net, np.zeros((0, 2)), lonlat([(1, 0)]))).all()


def test_a_footpath_fragment_does_not_capture_a_building() -> None:
    """A building nearer a six-node fragment than the street with the station joins the
    street (it was counted unreachable before)."""
    main = [(0.0, 0.0), (8.0, 0.0)]
    fragment = [(2, 1.5), (3, 1.5), (4, 1.5), (4, 2.5), (3, 2.5), (2, 2.5)]
    net = network([main, fragment])
    building = lonlat([(3, 1.2)])  # ~17 m from the fragment, ~66 m from the street
    near = walk_nearest(net, lonlat([(0, 0.1)]), building)
    assert near.moved_off_islands == 1 and np.isfinite(near.distance_m[0])
    raw = [
        (a, b, shapely.LineString([a, b]))
        for a, b in itertools.pairwise([(LON + 5e-4 * x, LAT + 5e-4 * y) for x, y in fragment])
    ] + [(tuple(lonlat(main)[0]), tuple(lonlat(main)[1]), shapely.LineString(lonlat(main)))]
    expected = oracle(raw, net.epsg, lonlat([(0, 0.1)]), building)
    np.testing.assert_allclose(near.distance_m, expected, atol=0.01)
    alone = walk_nearest(net, lonlat([(0, 0.1)]), building, mainland_min_nodes=6)
    assert alone.moved_off_islands == 0 and np.isinf(alone.distance_m[0])  # fragment is "big"


def test_same_edge_goes_straight_along_it() -> None:
    net = network([[(0, 0), (4, 0)]])
    d = walk_distances(net, lonlat([(1, 0)]), lonlat([(3, 0), (1, 0)]))
    assert d == pytest.approx([94.4, 0.0], abs=0.1)  # 5e-4 degree of longitude ≈ 47.2 m


# --- coverage figures ------------------------------------------------------------------


def test_levels_groups_and_gaps() -> None:
    d = np.array([100.0, 400.0, 800.0, 1200.0, np.inf])
    assert coverage_level(d).tolist() == [5, 10, 15, 0, 0]
    assert coverage_level(d, levels_min=(10,), speed_m_per_min=100).tolist() == [10, 10, 10, 0, 0]
    covered = covered_within(d, 15)
    rows = coverage_by_group(covered, ["a", "a", "b", "b", "b"], households=[1, 2, 3, 4, 5])
    assert [(r.key, r.buildings, r.covered_buildings, r.covered_households) for r in rows] == [
        ("a", 2, 2, 3.0),
        ("b", 3, 1, 3.0),
    ]
    assert rows[1].pct_households == pytest.approx(25.0)
    assert rows[0].pct_population is None
    (total,) = coverage_by_group(covered, population=[10, 0, 0, 0, 10])
    assert total.key is None and total.pct_buildings == 60.0 and total.pct_population == 50.0
    gaps = gaps_by_group(covered, np.array([7, 7, 8, 8, 9]))
    assert {k: v.tolist() for k, v in gaps.items()} == {8: [3], 9: [4]}
    # Buildings in no grid form their own group, listed last.
    rows = coverage_by_group(covered, ["g2", None, "g1", None, "g1"])
    assert [(r.key, r.buildings, r.covered_buildings) for r in rows] == [
        ("g1", 2, 1),
        ("g2", 1, 1),
        (None, 2, 1),
    ]
    gaps = gaps_by_group(covered, ["g2", None, "g1", None, "g1"])
    assert {k: v.tolist() for k, v in gaps.items()} == {None: [3], "g1": [4]}
    assert gaps_by_group(np.ones(3, dtype=bool), ["a", "b", None]) == {}  # all covered


# --- isochrones ------------------------------------------------------------------------


def test_isochrones_hold_every_reached_building(nanjing: tuple) -> None:
    net, _, stations, buildings = nanjing
    polys = isochrones(net, stations)
    assert polys.shape == (len(stations), 3)
    assert shapely.is_valid(polys).all()
    areas = shapely.area(polys)
    for i, station in enumerate(stations):
        one = snap_lonlat(net, station[None, :], 300.0)
        snaps, _ = snap_targets(net, one, buildings, 300.0)  # buildings join the mainland
        where = shapely.points(net.to_lonlat(np.column_stack([snaps.x, snaps.y])))
        d = walk_distances(net, station[None, :], buildings)
        if np.isfinite(d).any():
            assert (np.diff(areas[i]) > 0).all()  # 5 < 10 < 15 minutes
        for level, minutes in enumerate((5, 10, 15)):
            reached = d <= minutes * 75
            assert shapely.contains(polys[i, level], where[reached]).all()
    # A station off the network gets empty polygons.
    far = isochrones(net, np.array([[LON + 1, LAT]]))
    assert shapely.is_empty(far).all()


def test_isochrone_is_the_buffered_network_not_a_hull() -> None:
    # An L of two 500 m streets: the 15-minute area is the two buffered arms, not a triangle.
    net = network([[(0, 0), (10.6, 0), (10.6, 9)]])
    (poly,) = isochrones(net, lonlat([(0, 0)]), minutes=(15,))[:, 0]
    assert poly.contains(shapely.Point(*lonlat([(10.6, 4)])[0]))
    assert not poly.contains(shapely.Point(*lonlat([(5, 4)])[0]))
    to_utm = Transformer.from_crs(4326, net.epsg, always_xy=True)
    metric = shapely.transform(poly, lambda xy: np.column_stack(to_utm.transform(*xy.T)))
    assert metric.area == pytest.approx(1000 * 100 + np.pi * 50**2, rel=0.15)


# --- siting ----------------------------------------------------------------------------


def test_siting_adds_what_it_claims(nanjing: tuple) -> None:
    net, _, stations, buildings = nanjing
    rng = np.random.default_rng(3)
    households = rng.integers(1, 40, len(buildings)).astype(float)
    candidates = buildings[rng.choice(len(buildings), 150, replace=False)]
    few = stations[:2]
    result = suggest_sites(net, few, buildings, households, candidates, minutes=5, count=4)
    assert len(result.candidate) == 4 and (np.diff(result.added_households) <= 0).all()

    def covered(points: np.ndarray) -> float:
        return float(households[walk_distances(net, points, buildings) <= 375].sum())

    base = covered(few)
    assert (
        covered(np.vstack([few, candidates[result.candidate]]))
        >= base + result.added_households.sum() - 1e-6
    )
    # The first pick is the best single site.
    gains = [covered(np.vstack([few, c[None, :]])) - base for c in candidates]
    assert result.added_households[0] == pytest.approx(max(gains))


def test_curved_edges_and_loops_equal_networkx() -> None:
    # Polyline edges (as OSM ways can be), a loop back to its own node, a dead end.
    node = np.array([[LON, LAT], [LON + 2e-3, LAT], [LON + 2e-3, LAT + 2e-3]])
    curve = [(LON, LAT), (LON + 5e-4, LAT + 6e-4), (LON + 1.5e-3, LAT + 6e-4), (LON + 2e-3, LAT)]
    loop = [(LON + 2e-3, LAT), (LON + 3e-3, LAT), (LON + 3e-3, LAT + 1e-3), (LON + 2e-3, LAT)]
    spur = [(LON + 2e-3, LAT), (LON + 2.2e-3, LAT + 1e-3), (LON + 2e-3, LAT + 2e-3)]
    shapes = [curve, loop, spur]
    u, v = np.array([0, 1, 1]), np.array([1, 1, 2])
    net = _build(
        node,
        u,
        v,
        np.array([p for s in shapes for p in s]),
        np.cumsum([0, *map(len, shapes)]),
    )
    raw = [(a, b, shapely.LineString(s)) for a, b, s in zip(u, v, shapes, strict=True)]
    rng = np.random.default_rng(5)
    points = np.column_stack(
        [rng.uniform(LON - 2e-4, LON + 3.2e-3, 60), rng.uniform(LAT - 2e-4, LAT + 2.2e-3, 60)]
    )
    sources, targets = points[:3], points[3:]
    ours = walk_distances(net, sources, targets, max_access_m=120)
    np.testing.assert_allclose(ours, oracle(raw, net.epsg, sources, targets, 120), atol=0.01)
    assert np.isfinite(ours).sum() > 20
    # Isochrones sample along the polylines: every reached target's snap point is inside.
    snaps = net.snap(targets[:, 0], targets[:, 1], max_access_m=120)
    assert set(snaps.edge[snaps.on_network].tolist()) == {0, 1, 2}
    where = shapely.points(net.to_lonlat(np.column_stack([snaps.x, snaps.y])))
    polys = isochrones(net, sources, minutes=(2, 4), max_access_m=120)
    for i, station in enumerate(sources):
        d = walk_distances(net, station[None, :], targets, max_access_m=120)
        for level, minutes in enumerate((2, 4)):
            assert shapely.contains(polys[i, level], where[d <= minutes * 75]).all()
    empty = walk_nearest(net, sources, np.zeros((0, 2)))
    assert empty.distance_m.shape == empty.source.shape == (0,)


def test_walk_distances_keeps_its_stable_import_path() -> None:
    from geo.coverage import walk_distances as stable  # docs/design.md: stays when modules split

    assert stable is walk_distances
