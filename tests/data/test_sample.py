"""The bundled sample city as shipped (package data, no database): an exact partition.

Everything is read back through pyogrio, as the importers read it, so these tests also
prove that the partition survives writing and reading the GeoJSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.resources import as_file

import geopandas as gpd
import numpy as np
import pytest
import shapely
from numpy.typing import NDArray

from data.sample import SAMPLE_FILES, sample_dir
from geo.crs import to_metric, utm_epsg

DISTRICT = "320102"


@pytest.fixture(scope="module")
def layers() -> Iterator[dict[str, gpd.GeoDataFrame]]:
    with as_file(sample_dir()) as folder:
        yield {
            role: gpd.read_file(folder / name)
            for role, name in SAMPLE_FILES.items()
            if name.endswith(".geojson")
        }


@pytest.fixture(scope="module")
def regions(layers: dict[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    frame = layers["regions"]
    return {level: frame[frame["level"] == level] for level in ("district", "street", "community")}


def _metric(frame: gpd.GeoDataFrame) -> NDArray[np.object_]:
    """Geometries in metres (the local UTM zone), for areas."""
    epsg = utm_epsg(*shapely.centroid(shapely.box(*frame.total_bounds)).coords[0])
    return shapely.transform(
        frame.geometry.to_numpy(), lambda xy: np.column_stack(to_metric(xy[:, 0], xy[:, 1], epsg))
    )


def _gap_m2(whole: gpd.GeoDataFrame, parts: gpd.GeoDataFrame) -> float:
    """Area in m² of the symmetric difference between ``whole`` and the union of ``parts``."""
    (shape,) = _metric(whole)
    return float(
        shapely.area(shapely.symmetric_difference(shape, shapely.union_all(_metric(parts))))
    )


def test_files_are_package_data_small_and_attributed() -> None:
    folder = sample_dir()
    sizes = [len(folder.joinpath(name).read_bytes()) for name in SAMPLE_FILES.values()]
    assert all(sizes) and sum(sizes) < 3_000_000
    attribution = folder.joinpath(SAMPLE_FILES["attribution"]).read_text(encoding="utf-8")
    assert "© OpenStreetMap contributors" in attribution and "ODbL" in attribution


def test_layers_read_with_their_fields(layers: dict[str, gpd.GeoDataFrame]) -> None:
    fields = {
        "regions": {"code", "level", "name", "parent"},
        "grids": {"code", "name", "community", "households", "worker_name", "worker_phone"},
        "buildings": {"source_id", "name", "levels", "footprint_m2", "households", "population"},
        "stations": {"source_id", "name", "kind", "level"},
        "network": {"source_id", "highway"},
    }
    kinds = {"regions": "Polygon", "grids": "Polygon", "network": "LineString"}
    for role, frame in layers.items():
        assert len(frame) and frame.crs.to_epsg() == 4326
        assert fields[role] <= set(frame.columns)
        assert (frame.geom_type == kinds.get(role, "Point")).all()
        assert frame.is_valid.all()


def test_codes_nest_and_are_unique(
    layers: dict[str, gpd.GeoDataFrame], regions: dict[str, gpd.GeoDataFrame]
) -> None:
    district, streets, communities = regions.values()
    grids = layers["grids"]
    assert district["code"].tolist() == [DISTRICT] and district["parent"].isna().all()
    assert 2 <= len(streets) <= 4 and 8 <= len(communities) <= 20
    for frame, digits, parents in (
        (streets, 9, district),
        (communities, 12, streets),
        (grids, 15, communities),
    ):
        parent = frame["parent"] if "parent" in frame else frame["community"]
        assert frame["code"].str.fullmatch(rf"\d{{{digits}}}").all()
        assert frame["code"].is_unique and frame["name"].is_unique
        assert (frame["code"].str[: digits - 3] == parent).all()
        assert parent.isin(parents["code"]).all()
    assert grids["worker_phone"].str.fullmatch(r"138-0000-\d{4}").all()


def test_grids_partition_each_community_exactly(
    layers: dict[str, gpd.GeoDataFrame], regions: dict[str, gpd.GeoDataFrame]
) -> None:
    grids = layers["grids"]
    for code in regions["community"]["code"]:
        community = regions["community"][regions["community"]["code"] == code]
        assert _gap_m2(community, grids[grids["community"] == code]) < 1.0
    # shared edges are vertex-for-vertex identical, which is what makes the above exact
    assert shapely.coverage_is_valid(grids.geometry.to_numpy())


def test_regions_partition_their_parents(regions: dict[str, gpd.GeoDataFrame]) -> None:
    for level, parent_level in (("street", "district"), ("community", "street")):
        children = regions[level]
        for code in regions[parent_level]["code"]:
            parent = regions[parent_level][regions[parent_level]["code"] == code]
            assert _gap_m2(parent, children[children["parent"] == code]) < 1.0


def test_grids_do_not_overlap(layers: dict[str, gpd.GeoDataFrame]) -> None:
    grids = _metric(layers["grids"])
    left, right = shapely.STRtree(grids).query(grids, predicate="intersects")
    pairs = left < right
    overlap = shapely.area(shapely.intersection(grids[left[pairs]], grids[right[pairs]]))
    assert overlap.max() < 0.01


def test_every_building_lies_in_a_grid_whose_households_it_counts(
    layers: dict[str, gpd.GeoDataFrame],
) -> None:
    grids, buildings = layers["grids"], layers["buildings"]
    points, owner = shapely.STRtree(grids.geometry.to_numpy()).query(
        buildings.geometry.to_numpy(), predicate="covered_by"
    )
    assert set(points) == set(range(len(buildings)))
    assert len(points) == len(buildings)  # none on a shared edge, so sums are unambiguous
    counted = np.bincount(
        owner, weights=buildings["households"].to_numpy()[points], minlength=len(grids)
    )
    assert (counted == grids["households"].to_numpy()).all()


def test_households_per_grid_in_range(layers: dict[str, gpd.GeoDataFrame]) -> None:
    households = layers["grids"]["households"]
    assert households.between(200, 400).mean() >= 0.8
    assert households.between(150, 800).all()


def test_buildings_and_stations(layers: dict[str, gpd.GeoDataFrame]) -> None:
    buildings, stations = layers["buildings"], layers["stations"]
    osm_id = re.compile(r"(node|way|relation)/\d+")
    for frame in (buildings, stations, layers["network"]):
        assert frame["source_id"].map(osm_id.fullmatch).all()
    assert (buildings["levels"] >= 1).all() and (buildings["footprint_m2"] > 0).all()
    residential = buildings["households"] > 0
    assert 0.5 < residential.mean() < 1.0
    assert (buildings.loc[~residential, "population"] == 0).all()
    assert stations["level"].isin([5, 10, 15]).all() and stations["kind"].notna().all()
    assert set(stations["level"]) == {5, 10, 15}
