"""GridIndex against a line-by-line port of PostGIS 3.3's point-in-polygon, and the rule's cases.

``_postgis_pip`` transcribes ``point_in_ring_rtree`` / ``point_in_multipolygon_rtree`` from
postgis/lwgeom_functions_analytic.c (tag 3.3.2) in plain Python floats, which are the same
IEEE doubles, so it predicts PostGIS bit for bit on points on or next to edges.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon, box

from bench.synth import voronoi_grids
from geo.errors import InvalidCoordinatesError, InvalidGeometryError
from geo.locate import GridIndex, LocateResult, Match

FIXTURES = Path(__file__).parents[1] / "fixtures" / "boundaries"
REAL_SETS = {
    "sf": ("sf_block_groups.geojson", "GEO_ID"),
    "boston": ("boston_neighborhoods.geojson", "Name"),
    "cn": ("cn_districts.geojson", "gb"),
}


def load_real(name: str) -> tuple[NDArray[np.object_], NDArray[np.str_]]:
    """A real polygon set, with Boston's one self-intersecting ring repaired."""
    path, field = REAL_SETS[name]
    frame = gpd.read_file(FIXTURES / path)
    geoms = shapely.make_valid(frame.geometry.values, method="structure")
    return np.asarray(geoms, dtype=object), frame[field].astype(str).to_numpy()


# --- the PostGIS reference -------------------------------------------------------------


def _ring_state(coords: list[tuple[float, float]], px: float, py: float) -> int:
    """point_in_ring(): -1 outside, 0 on the ring, 1 inside."""
    wn = 0
    for (x1, y1), (x2, y2) in itertools.pairwise(coords):
        if x1 == x2 and y1 == y2:
            continue
        side = (x2 - x1) * (py - y1) - (px - x1) * (y2 - y1)
        if side == 0.0 and min(x1, x2) <= px <= max(x1, x2) and min(y1, y2) <= py <= max(y1, y2):
            return 0
        if y1 <= py < y2 and side > 0:
            wn += 1
        elif y2 <= py < y1 and side < 0:
            wn -= 1
    return -1 if wn == 0 else 1


def _postgis_pip(geom: Polygon | MultiPolygon, px: float, py: float) -> int:
    """point_in_multipolygon_rtree(): -1 outside, 0 boundary, 1 inside."""
    result = -1
    for part in getattr(geom, "geoms", [geom]):
        shell = _ring_state(list(part.exterior.coords), px, py)
        if shell == -1:
            continue
        if shell == 0:
            return 0
        result = 1
        for hole in part.interiors:
            state = _ring_state(list(hole.coords), px, py)
            if state == 1:
                result = -1
                break
            if state == 0:
                return 0
        if result != -1:
            return result
    return result


def reference_cover(
    geoms: NDArray[np.object_],
    codes: NDArray[np.str_],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
) -> tuple[NDArray[np.int32], NDArray[np.uint8]]:
    """ST_Covers winner (smallest code) and match per point, or (-1, NONE) when uncovered."""
    tree = shapely.STRtree(geoms)
    pt, cand = tree.query(shapely.points(x, y))  # bounding boxes only: no GEOS predicate
    code_index = np.full(x.size, -1, dtype=np.int32)
    match = np.zeros(x.size, dtype=np.uint8)
    for i, j in zip(pt.tolist(), cand.tolist(), strict=True):
        state = _postgis_pip(geoms[j], float(x[i]), float(y[i]))
        best = code_index[i]
        if state >= 0 and (best < 0 or codes[j] < codes[best]):
            code_index[i] = j
            match[i] = Match.INSIDE if state == 1 else Match.BOUNDARY
    return code_index, match


def special_points(geoms: NDArray[np.object_], *, limit: int, seed: int) -> NDArray[np.float64]:
    """Vertices, edge midpoints, points along edges and their float neighbours."""
    rng = np.random.default_rng(seed)
    coords = shapely.get_coordinates(shapely.get_rings(shapely.get_parts(geoms)))
    a, b = coords[:-1], coords[1:]
    t = rng.uniform(0.0, 1.0, (a.shape[0], 1))
    along = a + (b - a) * t
    nudged = np.nextafter(coords, coords + rng.choice([-1.0, 1.0], coords.shape))
    pts = np.vstack([coords, (a + b) / 2.0, along, nudged])
    return pts[rng.choice(pts.shape[0], min(limit, pts.shape[0]), replace=False)]


def assert_matches_reference(
    idx: GridIndex, geoms: NDArray[np.object_], codes: NDArray[np.str_], pts: NDArray[np.float64]
) -> LocateResult:
    x, y = pts[:, 0].copy(), pts[:, 1].copy()
    got = idx.locate(x, y)
    want_code, want_match = reference_cover(geoms, codes, x, y)
    covered = want_code >= 0
    np.testing.assert_array_equal(got.code_index[covered], want_code[covered])
    np.testing.assert_array_equal(got.match[covered], want_match[covered])
    assert set(np.unique(got.match[~covered])) <= {Match.NONE, Match.NEAREST}
    for i in range(0, x.size, max(1, x.size // 1500)):  # the scalar path gives the same
        code, match, dist = idx.locate_one(float(x[i]), float(y[i]))
        assert (code, match) == (got.code_index[i], got.match[i])
        assert dist == pytest.approx(got.distance_m[i], nan_ok=True)
    return got


# --- the rule on small hand-made layouts -----------------------------------------------

X0, Y0, D = 118.78, 32.04, 0.01  # a 2 x 2 block of ~1 km squares in Nanjing


def square(i: int, j: int) -> Polygon:
    return box(X0 + i * D, Y0 + j * D, X0 + (i + 1) * D, Y0 + (j + 1) * D)


@pytest.fixture(scope="module")
def block() -> GridIndex:
    geoms = [square(0, 0), square(1, 0), square(0, 1), square(1, 1)]
    return GridIndex(geoms, ["c", "a", "d", "b"])


def test_inside_points_get_their_square(block: GridIndex) -> None:
    r = block.locate([X0 + D / 2, X0 + 1.5 * D], [Y0 + D / 2, Y0 + 1.5 * D])
    assert block.codes[r.code_index].tolist() == ["c", "b"]
    assert r.match.tolist() == [Match.INSIDE, Match.INSIDE]
    assert r.distance_m.tolist() == [0.0, 0.0]


def test_shared_edges_and_the_centre_vertex_go_to_the_smallest_code(block: GridIndex) -> None:
    xs = [X0 + D, X0 + D / 2, X0 + D, X0]
    ys = [Y0 + D / 2, Y0 + D, Y0 + D, Y0]
    r = block.locate(xs, ys)
    # c|a edge -> a; c/d edge -> c; centre vertex of all four -> a; outer corner of c -> c
    assert block.codes[r.code_index].tolist() == ["a", "c", "a", "c"]
    assert (r.match == Match.BOUNDARY).all()


def test_nearest_within_tolerance_with_metres(block: GridIndex) -> None:
    geod = Geod(ellps="WGS84")
    lon, lat, _ = geod.fwd(X0 + D / 2, Y0, 180.0, 30.0)  # 30 m south of square c
    far_lon, far_lat, _ = geod.fwd(X0 + D / 2, Y0, 180.0, 80.0)
    r = block.locate([lon, far_lon], [lat, far_lat])
    assert block.codes[r.code_index[0]] == "c"
    assert r.match.tolist() == [Match.NEAREST, Match.NONE]
    assert r.distance_m[0] == pytest.approx(30.0, abs=0.002)
    assert r.code_index[1] == -1 and math.isnan(r.distance_m[1])


def test_nearest_tie_goes_to_the_smallest_code(block: GridIndex) -> None:
    geod = Geod(ellps="WGS84")
    lon, lat, _ = geod.fwd(X0 + D, Y0, 180.0, 10.0)  # below the c|a vertex: equally near both
    r = block.locate([lon], [lat])
    assert block.codes[r.code_index[0]] == "a"
    assert r.match[0] == Match.NEAREST


def test_bad_coordinates_match_nothing(block: GridIndex) -> None:
    r = block.locate([np.nan, np.inf, -np.inf, 500.0, X0 + D / 2], [Y0, Y0, Y0, Y0, np.nan])
    assert (r.code_index == -1).all() and (r.match == Match.NONE).all()
    assert block.locate_one(math.nan, Y0) == (-1, Match.NONE, pytest.approx(math.nan, nan_ok=True))
    with pytest.raises(InvalidCoordinatesError):
        block.locate([1.0, 2.0], [1.0])


def test_locate_keeps_the_input_shape(block: GridIndex) -> None:
    xs = np.full((2, 3), X0 + D / 2)
    r = block.locate(xs, np.full((2, 3), Y0 + D / 2))
    assert r.code_index.shape == r.match.shape == r.distance_m.shape == (2, 3)
    assert r.code_index.dtype == np.int32 and r.match.dtype == np.uint8


def test_holes_and_multipolygon_parts() -> None:
    donut = Polygon(
        [(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (3, 1), (3, 3), (1, 3)]]
    )  # lon/lat degrees near the equator
    island = MultiPolygon([box(1.5, 1.5, 2.5, 2.5), box(10, 10, 11, 11)])
    idx = GridIndex([donut, island], ["z-donut", "m-island"], tolerance_m=0.0)
    r = idx.locate([0.5, 1.2, 2.0, 10.5, 3.0, 1.5, 20.0], [0.5, 1.2, 2.0, 10.5, 2.0, 1.5, 20.0])
    assert [idx.codes[i] if i >= 0 else None for i in r.code_index] == [
        "z-donut", None, "m-island", "m-island", "z-donut", "m-island", None,
    ]  # fmt: skip
    assert r.match.tolist() == [1, 0, 1, 1, 2, 2, 0]


def test_overlapping_input_smallest_code_wins_and_is_inside() -> None:
    big, small = box(0, 0, 2, 2), box(1, 1, 3, 3)
    idx = GridIndex([big, small], ["b", "a"])
    r = idx.locate([0.5, 1.5, 2.5, 2.0, 1.0], [0.5, 1.5, 2.5, 1.5, 1.5])
    assert idx.codes[r.code_index].tolist() == ["b", "a", "a", "a", "a"]
    # (2, 1.5) is on b's edge but inside a: inside; (1, 1.5) is on a's edge: boundary
    assert r.match.tolist() == [1, 1, 1, 1, 2]


def test_locate_one_agrees_with_locate(block: GridIndex) -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(X0 - 0.001, X0 + 2 * D + 0.001, 3000)
    y = rng.uniform(Y0 - 0.001, Y0 + 2 * D + 0.001, 3000)
    x[:4], y[:4] = [X0 + D, X0, X0 + D / 2, X0 + 2 * D], [Y0 + D, Y0, Y0, Y0 + 2 * D]
    r = block.locate(x, y)
    for i in range(x.size):
        code, match, dist = block.locate_one(float(x[i]), float(y[i]))
        assert (code, match) == (r.code_index[i], r.match[i])
        assert dist == pytest.approx(r.distance_m[i], nan_ok=True)


# An edge across the Greenwich meridian and a point 1e-20 deg² off it (in exact arithmetic)
# whose side PostGIS computes as exactly 0.0: PostGIS says "on the edge", GEOS says not.
GREENWICH_EDGE = (
    (-0.007396710438466793, 51.49182695116515),
    (0.004023233535781401, 51.505187406614965),
)
GREENWICH_POINT = (-0.001223449540306962, 51.49904919125634)


def greenwich_pair() -> tuple[NDArray[np.object_], NDArray[np.str_]]:
    (x1, y1), (x2, y2) = GREENWICH_EDGE
    above = Polygon([(x1, y1), (x2, y2), (x1, y2)])
    below = Polygon([(x1, y1), (x2, y1), (x2, y2)])
    return np.array([above, below], dtype=object), np.array(["n", "s"])


def test_follows_postgis_float_side_test_where_geos_differs() -> None:
    geoms, codes = greenwich_pair()
    px, py = GREENWICH_POINT
    assert _postgis_pip(geoms[0], px, py) == 0  # PostGIS: on the shared edge
    assert not shapely.intersects(geoms[0].boundary, shapely.Point(px, py))  # GEOS: not
    got = assert_matches_reference(GridIndex(geoms, codes), geoms, codes, np.array([[px, py]]))
    assert (codes[got.code_index[0]], got.match[0]) == ("n", Match.BOUNDARY)


@pytest.mark.parametrize(
    ("geoms", "codes", "error"),
    [
        ([box(0, 0, 1, 1)], ["a", "b"], InvalidGeometryError),
        ([], [], InvalidGeometryError),
        ([Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])], ["bowtie"], InvalidGeometryError),
        ([shapely.Point(0, 0)], ["p"], InvalidGeometryError),
        ([Polygon()], ["empty"], InvalidGeometryError),
        ([box(500000, 0, 500100, 100)], ["metres"], InvalidGeometryError),
    ],
)
def test_rejects_unusable_input(
    geoms: list[shapely.Geometry], codes: list[str], error: type
) -> None:
    with pytest.raises(error):
        GridIndex(geoms, codes)


def test_repeated_codes_are_parts_of_one_grid() -> None:
    parts = [box(0, 0, 1, 1), box(3, 0, 4, 1), box(1, 0, 2, 1), box(1, 0, 2, 1)]
    index = GridIndex(parts, ["a", "a", "b", "c"])
    assert index.codes.tolist() == ["a", "b", "c"] and index.multipart == {"a": 2}
    got = index.locate(np.array([0.5, 3.5, 1.5, 5.0]), np.array([0.5, 0.5, 0.5, 0.5]))
    assert [index.codes[i] if i >= 0 else None for i in got.code_index] == ["a", "a", "b", None]


def test_invalid_grid_message_names_the_grid_and_the_fix() -> None:
    with pytest.raises(InvalidGeometryError, match=r"'bowtie'.*make_valid"):
        GridIndex([Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])], ["bowtie"])


# --- invariants on generated partitions (hypothesis) -----------------------------------


@st.composite
def rect_partitions(draw: st.DrawFn) -> tuple[NDArray[np.object_], NDArray[np.str_]]:
    """A random rectangular tiling around Nanjing with randomly ordered codes."""

    def cuts(origin: float) -> list[float]:
        steps = draw(st.lists(st.floats(1e-5, 5e-3), min_size=1, max_size=6))
        return np.cumsum([origin, *steps]).tolist()

    xs, ys = cuts(118.7), cuts(32.0)
    cells = [
        box(x0, y0, x1, y1)
        for x0, x1 in itertools.pairwise(xs)
        for y0, y1 in itertools.pairwise(ys)
    ]
    order = draw(st.permutations(range(len(cells))))
    return np.array(cells, dtype=object), np.array([f"g{k:03d}" for k in order])


@settings(max_examples=40, deadline=None)
@given(rect_partitions(), st.integers(0, 2**31))
def test_rectangular_partitions_equal_the_reference(
    part: tuple[NDArray[np.object_], NDArray[np.str_]], seed: int
) -> None:
    geoms, codes = part
    idx = GridIndex(geoms, codes)
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    inner = np.c_[rng.uniform(xmin, xmax, 300), rng.uniform(ymin, ymax, 300)]
    pts = np.vstack([inner, special_points(geoms, limit=600, seed=seed)])
    got = assert_matches_reference(idx, geoms, codes, pts)
    # A rectilinear partition has no float gaps: every point of it is covered exactly once.
    in_union = shapely.covers(shapely.union_all(geoms), shapely.points(pts))
    assert (got.match[in_union] != Match.NONE).all()
    assert np.isin(got.match[in_union], (Match.INSIDE, Match.BOUNDARY)).all()


@settings(max_examples=15, deadline=None)
@given(st.integers(3, 60), st.integers(0, 2**31))
def test_voronoi_partitions_equal_the_reference(n: int, seed: int) -> None:
    geoms, codes = voronoi_grids(n, 2.0, seed, vertices=12)
    idx = GridIndex(geoms, codes)
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    inner = np.c_[rng.uniform(xmin, xmax, 500), rng.uniform(ymin, ymax, 500)]
    pts = np.vstack([inner, special_points(geoms, limit=1500, seed=seed)])
    got = assert_matches_reference(idx, geoms, codes, pts)
    # Points of the partition either have a grid, or sit in a float gap of ~1e-16 degrees
    # along a shared slanted edge, where PostGIS's side test says "outside" for both grids.
    in_union = shapely.covers(shapely.union_all(geoms), shapely.points(pts))
    gap = in_union & (got.match == Match.NEAREST)
    assert (got.match[in_union] != Match.NONE).all()
    assert (got.distance_m[gap] < 1e-6).all()
    # Every vertex is on the boundary of all its grids: the smallest code wins.
    vx, vy = shapely.get_coordinates(geoms).T
    v = idx.locate(vx, vy)
    assert (v.match == Match.BOUNDARY).all()


# --- real polygon sets -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REAL_SETS))
def test_real_sets_equal_the_reference(name: str) -> None:
    geoms, codes = load_real(name)
    idx = GridIndex(geoms, codes)
    rng = np.random.default_rng(11)
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    inner = np.c_[rng.uniform(xmin, xmax, 4000), rng.uniform(ymin, ymax, 4000)]
    assert_matches_reference(
        idx, geoms, codes, np.vstack([inner, special_points(geoms, limit=6000, seed=5)])
    )
