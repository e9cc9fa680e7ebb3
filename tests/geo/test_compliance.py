"""Life-circle compliance: per-kind distances equal an independent networkx Dijkstra to
0.01 m on a held-out city (Beijing, with its OSM amenities classified as on import); the
figures per group equal a plain count; compliance never falls when a circle grows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.facility_kinds import FACILITY_KIND_SEED
from data.files.osm import osm_stations
from geo.compliance import (
    circle_radii,
    compliance_by_group,
    nearest_by_kind,
    score,
    within_circles,
)
from geo.walk import walk_nearest

from .test_coverage import OSM, lattice_paths, lattice_points, lonlat, oracle, osm_case, random_case


def test_per_kind_distances_equal_networkx_on_a_held_out_city() -> None:
    net, raw, _, buildings = osm_case("beijing_cau_east.osm.pbf")
    stations = osm_stations(OSM / "beijing_cau_east.osm.pbf")
    xy = np.column_stack([stations.geometry.x, stations.geometry.y])
    kinds = stations["kind"].to_numpy()
    members = [np.flatnonzero(np.isin(kinds, k.station_kinds)) for k in FACILITY_KIND_SEED]
    assert sum(len(m) > 0 for m in members) >= 6 and any(len(m) == 0 for m in members)
    found = nearest_by_kind(net, xy, members, buildings)
    assert found.distance_m.shape == (len(members), len(buildings))
    for k, rows in enumerate(members):
        if len(rows) == 0:
            assert np.isinf(found.distance_m[k]).all() and (found.source[k] == -1).all()
            continue
        # buildings join the mainland of all stations; only this kind's are sources
        expected = oracle(raw, net.epsg, xy[rows], buildings, anchors=xy)
        assert np.isfinite(expected).mean() > 0.5
        np.testing.assert_allclose(found.distance_m[k], expected, atol=0.01, rtol=0)
        reached = found.source[k] >= 0
        assert np.isin(found.source[k][reached], rows).all()
    # with all stations as one kind it is the any-station coverage run
    everyone = nearest_by_kind(net, xy, [np.arange(len(xy))], buildings)
    any_station = walk_nearest(net, xy, buildings).distance_m
    np.testing.assert_array_equal(everyone.distance_m[0], any_station)


def test_figures_per_group_equal_a_plain_count() -> None:
    rng = np.random.default_rng(7)
    n, kinds = 400, 4
    distance = rng.uniform(0, 1500, (kinds, n))
    distance[rng.random((kinds, n)) < 0.1] = np.inf
    distance[3] = np.inf  # a kind with no facility
    radius = circle_radii([5, 10, 15, 5], [300, np.nan, 0, np.nan], speed_m_per_min=75)
    assert radius.tolist() == [300, 750, 1125, 375]
    within = within_circles(distance, radius)
    groups = rng.choice(np.array(["a", "b", "c", None], dtype=object), n)
    homes = rng.integers(0, 30, n).astype(float)
    homes[groups == "c"] = 0  # a group without households
    people = homes * 2.6
    table = compliance_by_group(within, groups, households=homes, population=people)
    assert table.keys == ["a", "b", "c", None]
    for g, key in enumerate(table.keys):
        mine = np.array([x is key for x in groups])
        assert table.buildings[g] == mine.sum()
        assert table.households[g] == pytest.approx(homes[mine].sum())
        for k in range(kinds):
            inside = mine & (distance[k] <= radius[k])
            assert table.within_buildings[k, g] == inside.sum()
            assert table.within_households[k, g] == pytest.approx(homes[inside].sum())
            assert table.within_population[k, g] == pytest.approx(people[inside].sum())
        points = score(within)[mine]
        expected = (
            (points * homes[mine]).sum() / homes[mine].sum() if homes[mine].sum() else points.mean()
        )
        assert table.mean_score[g] == pytest.approx(expected)
    weakest = table.weakest()
    assert (weakest == 3).all()  # the kind without facilities
    assert np.isnan(table.share("households")[:, 2]).all()  # no households: no share
    single = compliance_by_group(within)
    assert single.keys == [None] and single.buildings[0] == n


@settings(max_examples=40, deadline=None)
@given(
    lattice_paths,
    lattice_points,
    lattice_points,
    st.lists(st.sampled_from([5, 10, 15]), min_size=2, max_size=2),
    st.integers(0, 3),
)
def test_compliance_is_monotone_in_circle_minutes(
    paths: list, stations: list, buildings: list, minutes: list[int], member_bits: int
) -> None:
    case = random_case(paths)
    if case is None:
        return
    net, _ = case
    src, dst = lonlat(stations), lonlat(buildings)
    members = [np.flatnonzero((np.arange(len(src)) + member_bits) % 2 == 0), np.arange(len(src))]
    found = nearest_by_kind(net, src, members, dst)
    homes = np.arange(1, len(dst) + 1, dtype=float)
    small, large = sorted(minutes)
    shares = []
    for m in (small, large):
        radius = circle_radii([m, m], [np.nan, np.nan], speed_m_per_min=75.0)
        table = compliance_by_group(within_circles(found.distance_m, radius), households=homes)
        shares.append(table.within_households[:, 0])
    assert (shares[1] >= shares[0]).all()
    # a kind counting more stations never has a smaller share
    assert (shares[0][1] >= shares[0][0]) and (shares[1][1] >= shares[1][0])
