"""The offline coverage job: files in, one GeoJSON point per building out."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyrosm
import pytest
import shapely

from data.errors import ImportFileError
from data.files.coverage import STAGES, coverage_file, station_labels
from geo.network import WalkNetwork
from geo.walk import walk_distances

NANJING = Path(__file__).parents[2] / "fixtures" / "osm" / "nanjing_xuanwu.osm.pbf"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("coverage")
    osm = pyrosm.OSM(str(NANJING))
    buildings = osm.get_buildings()[["id", "building", "name", "geometry"]].iloc[:400]
    buildings.to_file(tmp / "buildings.gpkg", engine="pyogrio")
    rng = np.random.default_rng(1)
    spots = buildings.geometry.representative_point().iloc[rng.choice(400, 6, replace=False)]
    stations = gpd.GeoDataFrame(
        {
            "name": ["甲站", None, None, "丁站", None, None],
            "osm_id": [None, 42, None, 7, None, None],
        },
        geometry=spots.to_numpy(),
        crs=4326,
    )
    stations.to_file(tmp / "stations.geojson", engine="pyogrio")
    _, edges = osm.get_network(network_type="walking", nodes=True)
    edges[["highway", "geometry"]].to_file(tmp / "walk.gpkg", engine="pyogrio")
    return {
        "buildings": tmp / "buildings.gpkg",
        "stations": tmp / "stations.geojson",
        "lines": tmp / "walk.gpkg",
        "out": tmp / "out.geojson",
    }


def test_writes_one_point_per_building(files: dict[str, Path]) -> None:
    seen: list[str] = []
    summary = coverage_file(
        NANJING,
        files["stations"],
        files["buildings"],
        files["out"],
        minutes=5,
        progress=seen.append,
    )
    assert seen == list(STAGES)
    out = json.loads(files["out"].read_text())["features"]
    buildings = gpd.read_file(files["buildings"])
    stations = gpd.read_file(files["stations"])
    assert len(out) == len(buildings) == summary.buildings == 400
    assert {f["geometry"]["type"] for f in out} == {"Point"}
    props = [f["properties"] for f in out]
    assert [p["id"] for p in props] == buildings["id"].tolist()
    where = buildings.geometry.representative_point()
    expected = walk_distances(
        WalkNetwork.from_osm(NANJING),
        np.column_stack([stations.geometry.x, stations.geometry.y]),
        np.column_stack([where.x, where.y]),
    )
    walk = np.array([np.inf if p["walk_m"] is None else p["walk_m"] for p in props])
    np.testing.assert_allclose(walk, expected, atol=1e-6)
    assert [p["covered"] for p in props] == (expected <= 375).tolist()
    assert summary.covered == int((expected <= 375).sum())
    assert summary.unreachable == int(np.isinf(expected).sum())
    labels = {p["nearest_station"] for p in props}
    assert labels <= {"甲站", "42", "2", "丁站", "4", "5", None}
    assert all((p["nearest_station"] is None) == (p["walk_m"] is None) for p in props)
    assert shapely.Point(out[0]["geometry"]["coordinates"]).distance(where.iloc[0]) < 1e-9


def test_network_from_lines_matches_the_extract(files: dict[str, Path], tmp_path: Path) -> None:
    coverage_file(files["lines"], files["stations"], files["buildings"], tmp_path / "a.geojson")
    coverage_file(NANJING, files["stations"], files["buildings"], tmp_path / "b.geojson")
    a, b = (gpd.read_file(tmp_path / n) for n in ("a.geojson", "b.geojson"))
    np.testing.assert_allclose(a["walk_m"].fillna(-1), b["walk_m"].fillna(-1), atol=1e-6)


def test_station_labels_fall_back_in_order() -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["a", None, " ", None], "id": [None, 5.0, None, None], "osm_id": [1, 2, 3, None]},
        geometry=[shapely.Point(0, 0)] * 4,
    )
    assert station_labels(frame) == ["a", "5", "3", "3"]
    assert station_labels(frame[["geometry"]]) == ["0", "1", "2", "3"]


def test_bad_files_raise_one_readable_error(files: dict[str, Path], tmp_path: Path) -> None:
    bad_pbf = tmp_path / "bad.osm.pbf"
    bad_pbf.write_bytes(b"not a pbf")
    xml = tmp_path / "city.osm"
    xml.write_text("<osm/>")
    junk = tmp_path / "junk.geojson"
    junk.write_text("{not json")
    out = tmp_path / "out.geojson"
    cases = [
        (tmp_path / "missing.osm.pbf", files["stations"], files["buildings"], "no such file"),
        (
            bad_pbf,
            files["stations"],
            files["buildings"],
            "bad.osm.pbf: cannot read the walk network",
        ),
        (xml, files["stations"], files["buildings"], "city.osm: OpenStreetMap XML is not read"),
        (files["stations"], files["stations"], files["buildings"], "must be LineStrings"),
        (NANJING, junk, files["buildings"], "junk.geojson"),
        (NANJING, files["stations"], tmp_path / "none.gpkg", "no such file"),
    ]
    for network, stations, buildings, message in cases:
        with pytest.raises(ImportFileError, match=message) as info:
            coverage_file(network, stations, buildings, out)
        assert "\n" not in str(info.value)
    with pytest.raises(ImportFileError, match="cannot write"):
        coverage_file(NANJING, files["stations"], files["buildings"], tmp_path / "no" / "o.geojson")
