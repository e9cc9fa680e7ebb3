"""The offline assign job on real files: SF block groups and incidents, Boston neighbourhoods."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from data.errors import ImportFileError
from data.files.assign import assign_csv, assign_frame, load_index
from geo.crs import from_wgs84
from geo.errors import UnknownCRSError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "boundaries"
SF_GRIDS = FIXTURES / "sf_block_groups.geojson"
SF_POINTS = FIXTURES / "sf_vandalism_sample.csv"


def assign_sf(src: Path, out: Path, **options: Any) -> dict[str, int]:
    """assign_csv with the SF block groups and the incident sample's X/Y columns."""
    settings: dict[str, Any] = {"grids_path": SF_GRIDS, "code_field": "GEO_ID"}
    return assign_csv(src, out, **{**settings, "lon_col": "X", "lat_col": "Y", **options})


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def sjoin_codes(points: pd.DataFrame, lon: str, lat: str) -> pd.Series:
    """GeoPandas' answer (points are nowhere near an edge, so GEOS agrees with PostGIS)."""
    grids = gpd.read_file(SF_GRIDS)[["GEO_ID", "geometry"]]
    pts = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(points[lon].astype(float), points[lat].astype(float)),
        crs=4326,
    )
    joined = gpd.sjoin(pts, grids, predicate="covered_by", how="left")
    return joined.groupby(level=0)["GEO_ID"].min().reindex(pts.index).fillna("")


def test_sf_incidents_get_their_block_group(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    counts = assign_sf(SF_POINTS, out)
    src, got = read(SF_POINTS), read(out)
    assert list(got.columns) == [*src.columns, "grid_code", "match"]
    pd.testing.assert_frame_equal(got[src.columns], src)  # input columns untouched
    assert (got["grid_code"] == sjoin_codes(src, "X", "Y").to_numpy()).all()
    assert set(got["match"]) <= {"inside", "boundary", "nearest", ""}
    assert (
        counts["rows"]
        == len(src)
        == sum(counts[k] for k in ("inside", "boundary", "nearest", "none"))
    )
    assert counts["inside"] > 250


def test_chunks_and_progress_give_the_same_file(tmp_path: Path) -> None:
    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.csv"
    assign_sf(SF_POINTS, whole)
    steps: list[int] = []
    assign_sf(SF_POINTS, chunked, chunk_rows=37, progress=steps.append)
    assert whole.read_bytes() == chunked.read_bytes()
    assert sum(steps) == 300 and max(steps) == 37


def test_bad_coordinates_leave_the_row_unassigned(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    rows = [
        ("007", "-122.4194", "37.7749", 'text, with "quotes"'),
        ("008", "", "37.7749", "blank lon"),
        ("009", "abc", "37.7749", "junk"),
        ("010", "NaN", "37.7749", "nan"),
        ("011", "-122.4194", "95", "lat out of range"),
        ("012", " -122.4194 ", "37.7749", "spaces"),
        ("013", "-120.0", "37.7749", "far from SF"),
    ]
    with src.open("w", newline="") as f:
        csv.writer(f).writerows([("id", "X", "Y", "note"), *rows])
    counts = assign_sf(src, tmp_path / "out.csv")
    got = read(tmp_path / "out.csv")
    assert got["id"].tolist() == ["007", "008", "009", "010", "011", "012", "013"]
    assert got["note"][0] == 'text, with "quotes"'
    assert got["match"].tolist() == ["inside", "", "", "", "", "inside", ""]
    assert got["grid_code"][0] == got["grid_code"][5] != ""
    assert got["grid_code"][1:5].tolist() == ["", "", "", ""]
    assert counts["bad_coordinates"] == 4 and counts["none"] == 5


def test_gcj02_input_is_converted_first(tmp_path: Path) -> None:
    # Outside China nothing shifts, so move the question to Nanjing: a grid there, GCJ-02 input.
    grids = tmp_path / "nanjing.geojson"
    square = shapely.box(118.78, 32.04, 118.80, 32.06)
    gpd.GeoDataFrame({"code": ["NJ1"]}, geometry=[square], crs=4326).to_file(grids)
    lon = np.array([118.79, 118.7995, 118.7805])
    lat = np.array([32.05, 32.05, 32.05])
    glon, glat = from_wgs84(lon, lat, "gcj02")
    pd.DataFrame({"lon": glon, "lat": glat}).to_csv(tmp_path / "gcj.csv", index=False)
    options: dict[str, Any] = {"grids_path": grids, "code_field": "code"}
    options |= {"lon_col": "lon", "lat_col": "lat"}
    assign_csv(tmp_path / "gcj.csv", tmp_path / "a.csv", crs="gcj02", **options)
    assign_csv(tmp_path / "gcj.csv", tmp_path / "b.csv", **options)
    # GCJ-02 shifts Nanjing ~500 m: read as WGS84 the east points would fall outside.
    assert read(tmp_path / "a.csv")["grid_code"].tolist() == ["NJ1", "NJ1", "NJ1"]
    assert read(tmp_path / "b.csv")["grid_code"].tolist() != ["NJ1", "NJ1", "NJ1"]


def test_grid_file_in_another_crs_is_reprojected(tmp_path: Path) -> None:
    shapefile = tmp_path / "blocks_2227.shp"
    gpd.read_file(SF_GRIDS).to_crs(2227).to_file(shapefile)
    out = tmp_path / "out.csv"
    assign_sf(SF_POINTS, out, grids_path=shapefile)
    reference = tmp_path / "ref.csv"
    assign_sf(SF_POINTS, reference)
    # Round-tripping through feet moves vertices by ~1e-9 degrees; no incident is that close.
    assert read(out)["grid_code"].tolist() == read(reference)["grid_code"].tolist()


def test_boston_repairs_the_invalid_neighbourhood(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    counts = assign_csv(
        FIXTURES / "boston311_sample.csv",
        out,
        grids_path=FIXTURES / "boston_neighborhoods.geojson",
        code_field="Name",
        lon_col="longitude",
        lat_col="latitude",
    )
    got = read(out)
    assert counts["bad_coordinates"] == 1
    assert (got["grid_code"] != "").sum() >= 290
    assert "Hyde Park" in set(got["grid_code"])


def test_missing_column_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    with pytest.raises(ImportFileError, match=r"no column 'lon' \(columns: IncidntNum, Category"):
        assign_sf(SF_POINTS, out, lon_col="lon")
    assert not out.exists()
    with pytest.raises(ImportFileError, match="no field 'code'"):
        assign_sf(SF_POINTS, out, code_field="code")


def test_unusable_inputs(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    with pytest.raises(ImportFileError, match="no such file"):
        assign_sf(tmp_path / "missing.csv", out)
    with pytest.raises(ImportFileError, match="no such file"):
        assign_sf(SF_POINTS, out, grids_path=tmp_path / "missing.geojson")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ImportFileError, match="not a usable CSV"):
        assign_sf(tmp_path / "empty.csv", out)
    with pytest.raises(UnknownCRSError):
        assign_sf(SF_POINTS, out, crs="mars")


def test_header_only_csv_gives_header_only_output(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("id,X,Y\n")
    counts = assign_sf(tmp_path / "in.csv", tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text() == "id,X,Y,grid_code,match\n"
    assert counts["rows"] == 0


def test_grid_file_problems_name_the_feature(tmp_path: Path) -> None:
    frame = gpd.read_file(SF_GRIDS).head(3)[["GEO_ID", "geometry"]]
    dup = frame.assign(GEO_ID=["A", "B", "A"])
    dup.to_file(tmp_path / "dup.geojson")
    said: list[str] = []
    merged = load_index(tmp_path / "dup.geojson", code_field="GEO_ID", report=said.append)
    assert merged.codes.tolist() == ["A", "B"] and merged.multipart == {"A": 2}
    assert said == [
        "1 'GEO_ID' value(s) had several features, merged into one grid each: A (2 parts)"
    ]
    lines = frame.assign(geometry=frame.boundary)
    lines.to_file(tmp_path / "lines.geojson")
    with pytest.raises(ImportFileError, match=r"GEO_ID=1500000US.* not a polygon"):
        load_index(tmp_path / "lines.geojson", code_field="GEO_ID")


def test_assign_frame_for_dask_partitions() -> None:
    index = load_index(SF_GRIDS, code_field="GEO_ID")
    index = pickle.loads(pickle.dumps(index))  # what a distributed worker receives
    part = pd.read_csv(SF_POINTS).iloc[10:60]
    done = assign_frame(part, index, lon_col="X", lat_col="Y")
    assert done.index.equals(part.index)
    assert (
        done["grid_code"] == sjoin_codes(part.reset_index(drop=True), "X", "Y").to_numpy()
    ).all()
