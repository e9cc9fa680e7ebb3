"""Partition checks and edits on small synthetic layouts, with hypothesis invariants: a split's
parts partition the original, a shared-boundary move keeps the union and opens no gap or
overlap, snapping lands on the neighbours' vertices bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Polygon, box

from geo.codes import CodeSpaceError, next_codes
from geo.errors import InvalidGeometryError
from geo.topology import (
    Metric,
    check_partition,
    merge,
    move_boundary,
    polygonal_boundary,
    snap,
    split,
)

X0, Y0, STEP = 118.78, 32.04, 0.004  # ~380 x 440 m cells in Nanjing
FEW = settings(max_examples=40, deadline=None)


def cells(nx: int = 3, ny: int = 2) -> tuple[list[Polygon], list[str], Polygon]:
    """A block of nx × ny rectangles sharing their corners exactly, and the block itself."""
    xs = [X0 + i * STEP for i in range(nx + 1)]
    ys = [Y0 + j * STEP for j in range(ny + 1)]
    grids = [box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for j in range(ny) for i in range(nx)]
    codes = [f"320102001001{k + 1:03d}" for k in range(len(grids))]
    return grids, codes, box(xs[0], ys[0], xs[-1], ys[-1])


def test_a_clean_partition_has_no_problems() -> None:
    grids, codes, territory = cells()
    assert check_partition(grids, codes, territory=territory) == []


def test_a_missing_grid_is_a_gap_of_its_area() -> None:
    grids, codes, territory = cells()
    problems = check_partition(grids[1:], codes[1:], territory=territory)
    assert [p.kind for p in problems] == ["gap"]
    expected = Metric(X0, Y0).area(grids[0])
    assert problems[0].area_m2 == pytest.approx(expected, rel=1e-9)
    assert problems[0].where.equals(grids[0])
    assert set(problems[0].codes) == {codes[1], codes[3], codes[4]}  # its neighbours


def test_overlap_outside_and_invalid() -> None:
    grids, codes, territory = cells()
    grown = list(grids)
    grown[0] = grids[0].buffer(0.0005, join_style="mitre")
    kinds = sorted(p.kind for p in check_partition(grown, codes, territory=territory))
    assert kinds == ["outside_community", "overlap", "overlap", "overlap"]
    bowtie = Polygon([(X0, Y0), (X0 + STEP, Y0 + STEP), (X0 + STEP, Y0), (X0, Y0 + STEP)])
    broken = [bowtie, *grids[1:]]
    problems = check_partition(broken, codes, territory=territory)
    invalid = [p for p in problems if p.kind == "invalid"]
    assert len(invalid) == 1 and invalid[0].codes == (codes[0],)
    assert invalid[0].where.geom_type == "Point"  # where it self-intersects
    assert any(p.kind == "gap" for p in problems)  # the invalid grid covers nothing


def test_slivers_below_the_tolerance_are_ignored() -> None:
    grids, codes, territory = cells()
    nudged = list(grids)
    x1, y1 = grids[0].bounds[2:]
    nudged[0] = box(X0, Y0, x1 - 1e-8, y1)  # a 1 mm wide sliver of gap
    assert check_partition(nudged, codes, territory=territory) == []
    assert check_partition(nudged, codes, territory=territory, tolerance_m2=0.0)


def test_a_region_limits_the_check() -> None:
    grids, codes, territory = cells()
    problems = check_partition(
        grids[1:], codes[1:], territory=territory, region=grids[5], changed=[False] * 5
    )
    assert problems == []  # the gap at grid 0 is not where anything changed


@FEW
@given(
    pair=st.sampled_from([(0, 1), (1, 2), (0, 3), (4, 5), (2, 5)]),
    along=st.lists(st.floats(0.05, 0.95), min_size=1, max_size=4, unique=True),
    across=st.lists(st.floats(-0.9, 0.9), min_size=4, max_size=4),
)
def test_moving_a_shared_boundary_keeps_the_partition(
    pair: tuple[int, int], along: list[float], across: list[float]
) -> None:
    grids, codes, territory = cells()
    i, j = pair
    shared = shapely.line_merge(polygonal_boundary(grids[i], grids[j]))
    (sx, sy), (ex, ey) = shared.coords[0], shared.coords[-1]
    # Interior vertices in order along the old edge, pushed sideways into either grid.
    nx, ny = -(ey - sy) / STEP, (ex - sx) / STEP
    inner = [
        (sx + (ex - sx) * t + nx * d * STEP, sy + (ey - sy) * t + ny * d * STEP)
        for t, d in zip(sorted(along), across, strict=False)
    ]
    new_i, new_j = move_boundary(grids[i], grids[j], LineString([(sx, sy), *inner, (ex, ey)]))
    before = shapely.union(grids[i], grids[j])
    assert shapely.union(new_i, new_j).symmetric_difference(before).area < 1e-18
    assert shapely.intersection(new_i, new_j).area < 1e-18
    moved = list(grids)
    moved[i], moved[j] = new_i, new_j
    assert check_partition(moved, codes, territory=territory, tolerance_m2=1e-6) == []
    # vertex for vertex: every vertex of the new edge is a vertex of both grids
    edge = {tuple(c) for c in shapely.get_coordinates(polygonal_boundary(new_i, new_j))}
    assert edge <= {tuple(c) for c in shapely.get_coordinates(new_i)}
    assert edge <= {tuple(c) for c in shapely.get_coordinates(new_j)}


def test_move_boundary_refuses_edges_that_leave_the_pair() -> None:
    grids, _, _ = cells()
    shared = shapely.line_merge(polygonal_boundary(grids[0], grids[1]))
    (sx, sy), (ex, ey) = shared.coords[0], shared.coords[-1]
    far = LineString([(sx, sy), (sx + 5 * STEP, (sy + ey) / 2), (ex, ey)])
    with pytest.raises(InvalidGeometryError):
        move_boundary(grids[0], grids[1], far)
    with pytest.raises(InvalidGeometryError):
        move_boundary(grids[0], grids[5], far)  # no shared boundary


@FEW
@given(x=st.floats(0.05, 0.95), tilt=st.floats(-0.5, 0.5), bend=st.floats(-0.04, 0.04))
def test_a_split_partitions_the_grid(x: float, tilt: float, bend: float) -> None:
    grid = box(X0, Y0, X0 + STEP, Y0 + STEP)
    cx = X0 + x * STEP
    cut = LineString(
        [
            (cx - tilt * STEP * 0.1, Y0 - STEP),
            (cx + bend * STEP, Y0 + STEP / 2),
            (cx + tilt * STEP * 0.1, Y0 + 2 * STEP),
        ]
    )
    parts = split(grid, cut)
    assert len(parts) == 2
    assert shapely.union_all(parts).symmetric_difference(grid).area < 1e-18
    assert shapely.intersection(parts[0], parts[1]).area < 1e-18
    assert parts[0].representative_point().x <= parts[1].representative_point().x
    assert check_partition(parts, ["a", "b"], territory=grid, tolerance_m2=1e-6) == []


def test_split_needs_a_crossing_line_and_merge_adjacent_grids() -> None:
    grids, _, _ = cells()
    with pytest.raises(InvalidGeometryError):
        split(grids[0], LineString([(X0 - 1, Y0 - 1), (X0 - 0.5, Y0 - 0.5)]))
    merged = merge([grids[0], grids[1]])
    assert merged.area == pytest.approx(grids[0].area + grids[1].area)
    with pytest.raises(InvalidGeometryError):
        merge([grids[0], grids[5]])  # not touching


@FEW
@given(noise=st.lists(st.floats(-0.8, 0.8), min_size=8, max_size=8))
def test_snap_lands_on_neighbour_vertices(noise: list[float]) -> None:
    grids, codes, territory = cells()
    metres = 1 / 111_000  # about a metre in degrees
    exact = np.asarray(grids[4].exterior.coords)
    jitter = np.array(noise).reshape(4, 2) * metres
    drawn = Polygon(exact[:-1] + jitter)  # the hand-drawn grid 4, within ~1 m
    snapped = snap(drawn, [g for k, g in enumerate(grids) if k != 4], tolerance_m=2.0)
    assert {tuple(c) for c in snapped.exterior.coords} == {tuple(c) for c in exact}
    redrawn = [*grids[:4], snapped, grids[5]]
    assert check_partition(redrawn, codes, territory=territory, tolerance_m2=0.0) == []


def test_next_codes_go_west_to_east_after_every_used_code() -> None:
    grids, _, _ = cells()
    used = ["320102001001001", "320102001001007", "320102001002009"]  # 007 retired
    codes = next_codes("320102001001", used, [grids[2], grids[0], grids[1]])
    assert codes == ["320102001001010", "320102001001008", "320102001001009"]
    column = next_codes("320102001001", [], [grids[0], grids[3]])  # same x: north first
    assert column == ["320102001001002", "320102001001001"]
    with pytest.raises(CodeSpaceError):
        next_codes("3201", [], [grids[0]])
    with pytest.raises(CodeSpaceError):
        next_codes("320102001001", ["320102001001999"], [grids[0]])
