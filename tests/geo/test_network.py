"""WalkNetwork: construction from lines and OSM, the routing graph, snapping vs brute force."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from scipy.sparse.csgraph import dijkstra

from geo.crs import utm_epsg
from geo.errors import InvalidCoordinatesError, InvalidGeometryError
from geo.network import WalkNetwork, _build

OSM = Path(__file__).parents[1] / "fixtures" / "osm"
NANJING = OSM / "nanjing_xuanwu.osm.pbf"
BEIJING = OSM / "beijing_cau_east.osm.pbf"
LON, LAT = 118.78, 32.05  # 1e-4 degree ≈ 9.4 m east, 11.1 m north here


def lines(*paths: Sequence[tuple[float, float]]) -> list[shapely.LineString]:
    """Lines from offsets in units of 1e-4 degree around (LON, LAT)."""
    return [shapely.LineString([(LON + x * 1e-4, LAT + y * 1e-4) for x, y in p]) for p in paths]


@pytest.fixture(scope="module")
def nanjing() -> WalkNetwork:
    return WalkNetwork.from_osm(NANJING)


def test_from_lines_joins_identical_vertices_only() -> None:
    net = WalkNetwork.from_lines(
        lines([(0, 0), (10, 0), (20, 0)], [(10, 0), (10, 10)], [(5, -5), (5, 5)])
    )
    assert net.n_nodes == 6 and net.n_edges == 4
    reach = dijkstra(net.graph, directed=True, indices=0)
    assert np.isfinite(reach).sum() == 4  # the crossing line shares no vertex: not joined


def test_edge_length_is_utm_length_of_the_geometry() -> None:
    line = lines([(0, 0), (30, 40), (30, 80)])[0]
    net = WalkNetwork.from_lines([line])
    epsg = utm_epsg(LON, LAT)
    assert net.epsg == epsg == 32650
    to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
    metric = shapely.transform(line, lambda xy: np.column_stack(to_utm.transform(*xy.T)))
    assert net.edge_length.sum() == pytest.approx(metric.length, abs=1e-9)


def test_repeated_vertices_and_bad_input() -> None:
    net = WalkNetwork.from_lines(lines([(0, 0), (0, 0), (10, 0)]))
    assert net.n_edges == 1
    with pytest.raises(InvalidGeometryError):
        WalkNetwork.from_lines([shapely.Point(LON, LAT)])
    with pytest.raises(InvalidGeometryError):
        WalkNetwork.from_lines(lines([(0, 0), (0, 0)]))
    with pytest.raises(InvalidCoordinatesError):
        WalkNetwork.from_lines([shapely.LineString([(LON, LAT), (LON, 95.0)])])


def test_parallel_edges_keep_the_shortest_and_zero_length_edges_route() -> None:
    # Nodes 0-1 joined by a straight edge and by a detour; nodes 1 and 2 coincide.
    node = np.array([[LON, LAT], [LON + 1e-3, LAT], [LON + 1e-3, LAT]])
    detour = [[LON, LAT], [LON + 5e-4, LAT + 5e-4], [LON + 1e-3, LAT]]
    vertices = np.array([*detour, node[0], node[1], node[1], node[2]])
    net = _build(node, np.array([0, 0, 1]), np.array([1, 1, 2]), vertices, np.array([0, 3, 5, 7]))
    straight, curved = net.edge_length[1], net.edge_length[0]
    assert curved > straight > 90
    assert net.graph[0, 1] == net.graph[1, 0] == straight
    assert net.edge_length[2] == 0
    assert dijkstra(net.graph, directed=True, indices=0)[2] == pytest.approx(straight)
    # A point beside the detour snaps onto it, the long edge, not onto the straight one.
    snap = net.snap([LON + 5e-4], [LAT + 4.8e-4])
    assert snap.edge[0] == 0 and snap.access_m[0] < 3


def test_from_osm_keeps_every_component(nanjing: WalkNetwork) -> None:
    # pyrosm simplifies nothing here; 3 segments drawn twice are kept once.
    assert (nanjing.n_nodes, nanjing.n_edges) == (1607, 1775 - 3)
    beijing = WalkNetwork.from_osm(BEIJING)
    assert (beijing.n_nodes, beijing.n_edges) == (1369, 1500)


def test_from_osm_equals_from_lines_on_the_same_geometry(nanjing: WalkNetwork) -> None:
    import pyrosm

    _, edges = pyrosm.OSM(str(NANJING)).get_network(network_type="walking", nodes=True)
    again = WalkNetwork.from_lines(edges.geometry.to_numpy())
    assert again.n_nodes == nanjing.n_nodes and again.n_edges == nanjing.n_edges
    assert again.epsg == nanjing.epsg
    np.testing.assert_allclose(np.sort(again.edge_length), np.sort(nanjing.edge_length))
    assert again.graph.nnz == nanjing.graph.nnz


def _brute_snap(net: WalkNetwork, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the nearest edge geometry and the nearest edge, by shapely, per point."""
    geoms = shapely.linestrings(
        net.vertex_xy, indices=np.repeat(np.arange(net.n_edges), np.diff(net.vertex_ptr))
    )
    d = shapely.distance(shapely.points(x, y)[:, None], geoms[None, :])
    return d.min(axis=1), d


def test_snap_matches_brute_force_on_osm(nanjing: WalkNetwork) -> None:
    rng = np.random.default_rng(7)
    lo, hi = nanjing.node_xy.min(axis=0) - 400, nanjing.node_xy.max(axis=0) + 400
    x, y = rng.uniform(lo[0], hi[0], 400), rng.uniform(lo[1], hi[1], 400)
    snap = nanjing.snap_xy(x, y, max_access_m=300)
    best, d = _brute_snap(nanjing, x, y)
    on = best <= 300
    assert 50 < on.sum() < 400  # both kinds present
    np.testing.assert_array_equal(snap.on_network, on)
    np.testing.assert_allclose(snap.access_m[on], best[on], atol=1e-6)
    assert np.isinf(snap.access_m[~on]).all() and (snap.edge[~on] == -1).all()
    # The chosen edge is a nearest one, the projection lies on it at from_u from u.
    np.testing.assert_allclose(d[on.nonzero()[0], snap.edge[on]], best[on], atol=1e-6)
    proj = np.hypot(snap.x - x, snap.y - y)
    np.testing.assert_allclose(proj[on], best[on], atol=1e-6)
    np.testing.assert_allclose((snap.from_u + snap.from_v)[on], nanjing.edge_length[snap.edge[on]])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=2, max_size=5),
        min_size=1,
        max_size=8,
    ),
    st.lists(st.tuples(st.floats(-3, 9), st.floats(-3, 9)), min_size=1, max_size=12),
    st.sampled_from([5.0, 40.0, 300.0]),
)
def test_snap_matches_brute_force_on_random_lines(
    paths: list[list[tuple[int, int]]], points: list[tuple[float, float]], max_access: float
) -> None:
    grid = [[(5 * x, 5 * y) for x, y in p] for p in paths]
    if all(len(set(p)) < 2 for p in grid):
        return
    net = WalkNetwork.from_lines(lines(*grid))
    lon = np.array([LON + 5e-4 * p[0] for p in points])
    lat = np.array([LAT + 5e-4 * p[1] for p in points])
    snap = net.snap(lon, lat, max_access_m=max_access)
    to_utm = Transformer.from_crs(4326, net.epsg, always_xy=True)
    px, py = to_utm.transform(lon, lat)
    best, _ = _brute_snap(net, np.asarray(px), np.asarray(py))
    on = best <= max_access
    np.testing.assert_array_equal(snap.on_network, on)
    np.testing.assert_allclose(snap.access_m[on], best[on], atol=1e-6)
