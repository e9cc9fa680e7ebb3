"""The awkward files of tests/fixtures/awkward (see its SOURCE.txt), as cities send them:
each gives the right result or one clear line, and every refusal leaves every table as it
was (a checksum of every row)."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from data import grids as grid_repo
from data.errors import ImportFileError
from data.files.assign import assign_csv, load_index
from data.files.coverage import coverage_file
from data.files.importers import import_buildings, import_grids, import_stations
from data.files.incidents import import_incidents
from data.files.network import import_network
from geo.locate import GridIndex
from geo.region import Region
from tests.api.test_hostile import checksum

pytestmark = pytest.mark.postgis

HERE = Path(__file__).parents[2] / "fixtures"
AWKWARD = HERE / "awkward"
NANJING_PBF = HERE / "osm" / "nanjing_xuanwu.osm.pbf"
DEADLINES = dict.fromkeys(("routine", "complex", "major"), timedelta(days=1))


@contextmanager
def refused(session: Session, *needles: str) -> Iterator[None]:
    """The block raises one ImportFileError line holding ``needles``; no table changes."""
    before = checksum(session)
    with pytest.raises(ImportFileError) as info, session.begin_nested():
        yield
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    assert checksum(session) == before


def test_feet_without_prj_is_refused_then_taken_with_crs(session: Session) -> None:
    shp = AWKWARD / "sf_blocks_feet" / "sf_blocks_feet.shp"
    with refused(session, "not lon/lat degrees", "no CRS", "--crs"):
        import_grids(session=session, path=shp, code_field="GEO_ID")
    assert import_grids(session=session, path=shp, code_field="GEO_ID", crs="EPSG:2227") == 12
    original = gpd.read_file(HERE / "boundaries" / "sf_block_groups.geojson").set_index("GEO_ID")
    for grid in grid_repo.current_grids(session=session):
        if grid.code.startswith("1500000US"):
            want = original.geometry[grid.code]
            assert shapely.hausdorff_distance(grid.geom, want) < 1e-7


def test_utm_points_without_crs_are_refused_and_reimports_change_nothing(
    session: Session,
) -> None:
    utm = AWKWARD / "nanjing_buildings_utm.geojson"
    with refused(session, "not lon/lat degrees", "--crs EPSG:"):
        import_buildings(session=session, path=utm, key="source_id")
    with refused(session, "already holds", "--replace", "--key"):
        import_buildings(session=session, path=utm, crs="EPSG:32650")
    said: list[str] = []
    count = session.execute(text("SELECT count(*) FROM buildings")).scalar()
    written = import_buildings(
        session=session, path=utm, crs="EPSG:32650", key="source_id", report=said.append
    )
    assert written <= 40 and "0 new" in said[-1]  # the sample's buildings, moved < 1 cm
    assert session.execute(text("SELECT count(*) FROM buildings")).scalar() == count
    before = checksum(session)
    assert import_buildings(session=session, path=utm, crs="EPSG:32650", key="source_id") == 0
    assert checksum(session) == before


def test_points_outside_the_region_are_refused(session: Session, tmp_path: Path) -> None:
    far = gpd.GeoDataFrame({"name": ["Paris"]}, geometry=[shapely.Point(2.35, 48.86)], crs=4326)
    far.to_file(tmp_path / "far.geojson")
    with refused(session, "outside the region", "--crs"):
        import_stations(session=session, path=tmp_path / "far.geojson", replace=True)


def test_repeated_codes_are_parts_of_one_grid_like_postgis(session: Session) -> None:
    path = AWKWARD / "sf_tracts_multipart.geojson"
    said: list[str] = []
    import_grids(session=session, path=path, code_field="TRACT", replace=True, report=said.append)
    frame = gpd.read_file(path)
    parts = frame["TRACT"].value_counts()
    several = int((parts > 1).sum())
    assert said[0].startswith(f"{several} 'TRACT' value(s) had several features, merged")
    stored = grid_repo.current_grids(session=session)
    assert sorted(g.code for g in stored) == sorted(parts.index)
    index = load_index(path, code_field="TRACT")
    assert sorted(index.codes) == sorted(parts.index)
    rng = np.random.default_rng(10)
    xmin, ymin, xmax, ymax = frame.total_bounds
    lon, lat = rng.uniform(xmin, xmax, 400), rng.uniform(ymin, ymax, 400)
    got = index.locate(lon, lat)
    mine = [str(index.codes[i]) if m in (1, 2) else None for i, m in zip(*got[:2], strict=True)]
    postgis = session.execute(
        text("""
        SELECT (SELECT g.code FROM grids g
                WHERE g.valid_to IS NULL AND ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(x, y), 4326))
                ORDER BY g.code COLLATE "C" LIMIT 1)
        FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) WITH ORDINALITY AS p(x, y, n)
        ORDER BY n"""),
        {"x": lon.tolist(), "y": lat.tolist()},
    ).scalars()
    assert mine == list(postgis)


def test_gcj02_area_without_attributes(session: Session) -> None:
    path = AWKWARD / "610113.geojson"
    with refused(session, "no attributes", "--code VALUE", "--code-from-filename"):
        import_grids(session=session, path=path, crs="gcj02")
    with refused(session, "--code or --code-from-filename, not both"):
        import_grids(session=session, path=path, code="X", code_from_filename=True)
    assert import_grids(session=session, path=path, crs="GCJ02", code_from_filename=True) == 1
    grid = grid_repo.get_grid(session=session, code="610113")
    stored = shapely.from_geojson(grid.geometry)
    districts = gpd.read_file(HERE / "boundaries" / "cn_districts.geojson")
    yanta = districts[districts["gb"].astype(str) == "156610113"].geometry.iloc[0]
    assert shapely.hausdorff_distance(stored, shapely.simplify(yanta, 0.0005)) < 1e-6


def test_assign_converts_the_grid_file_with_grids_crs(tmp_path: Path) -> None:
    """The grids in GCJ-02, the points in WGS84: --grids-crs makes them agree."""
    grids = AWKWARD / "xian_districts_gcj02.geojson"
    districts = gpd.read_file(HERE / "boundaries" / "cn_districts.geojson")
    xian = districts[districts["city"] == "西安市"]
    truth = GridIndex(
        shapely.simplify(xian.geometry.values, 0.0005), xian["gb"].astype(str).to_numpy()
    )
    rng = np.random.default_rng(4)
    xmin, ymin, xmax, ymax = xian.total_bounds
    lon, lat = rng.uniform(xmin, xmax, 3000), rng.uniform(ymin, ymax, 3000)
    (tmp_path / "in.csv").write_text(
        "lon,lat\n"
        + "".join(f"{x!r},{y!r}\n" for x, y in zip(lon.tolist(), lat.tolist(), strict=True))
    )
    found = truth.locate(lon, lat)
    want = np.where(found.code_index >= 0, truth.codes[found.code_index], "")

    def codes(grids_crs: str | None = None) -> np.ndarray:
        assign_csv(
            tmp_path / "in.csv", tmp_path / "out.csv", grids_path=grids, code_field="gb",
            lon_col="lon", lat_col="lat", grids_crs=grids_crs,
        )  # fmt: skip
        return gpd.pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)[
            "grid_code"
        ].to_numpy()

    assert (codes(grids_crs="gcj02") == want).mean() > 0.999
    assert (codes() != want).mean() > 0.005  # without it, points land in the wrong district


def test_osm_xml_is_refused_everywhere(session: Session, tmp_path: Path) -> None:
    xml = AWKWARD / "nanjing_head.osm"
    for run in (import_buildings, import_stations, import_network):
        with refused(session, "OpenStreetMap XML is not read here", "osmium"):
            run(session=session, path=xml)
    with refused(session, "OpenStreetMap XML"):
        import_incidents(session=session, path=xml, deadlines=DEADLINES)
    with pytest.raises(ImportFileError, match="OpenStreetMap XML"):
        coverage_file(NANJING_PBF, xml, xml, tmp_path / "out.geojson")


def test_osm_pbf_is_recognised_by_content(session: Session, tmp_path: Path) -> None:
    renamed = tmp_path / "extract.dat"
    shutil.copy(NANJING_PBF, renamed)
    said: list[str] = []
    count = import_buildings(session=session, path=renamed, replace=True, report=said.append)
    assert said[0] == (
        f"{count} buildings (OSM ways and relations tagged building=*) from the "
        "OpenStreetMap extract extract.dat"
    )
    summary = coverage_file(NANJING_PBF, NANJING_PBF, renamed, tmp_path / "out.geojson")
    assert summary.buildings == count  # buildings, not the extract's tagged points


def _import_hotline(session: Session, tmp_path: Path, **options: object) -> int:
    return import_incidents(
        session=session,
        path=AWKWARD / "hotline_naive_times.csv",
        deadlines=DEADLINES,
        lon_col="经度",
        lat_col="纬度",
        category_col="类别",
        description_col="描述",
        time_col="受理时间",
        id_col="工单编号",
        rejects=tmp_path / "rejects.csv",
        **options,  # type: ignore[arg-type]
    )


def test_hotline_export_rejects_bad_rows_by_line(session: Session, tmp_path: Path) -> None:
    said: list[str] = []
    assert _import_hotline(session, tmp_path, report=said.append) == 36
    assert said == [
        "36 reports stored, 4 rejected (first: line 4: no usable coordinates) → "
        f"{tmp_path / 'rejects.csv'}"
    ]
    with (tmp_path / "rejects.csv").open(encoding="utf-8") as f:
        rejects = list(csv.DictReader(f))
    assert [r["where"] for r in rejects] == ["line 4", "line 8", "line 12", "line 16"]
    assert "outside the region" in rejects[2]["reason"] and rejects[1]["纬度"] == "abc"
    assert rejects[3]["reason"] == "unreadable 受理时间 '2023-13-45 25:00:00'"
    first = session.execute(
        text("SELECT reported_at, category FROM incidents WHERE client_id = 'BJ202300000'")
    ).one()
    assert first.reported_at == datetime(2023, 12, 10, 0, 0, tzinfo=UTC)  # 08:00 in Beijing
    assert first.category == "市容环境"
    before = checksum(session)
    said.clear()
    assert _import_hotline(session, tmp_path, report=said.append) == 0
    assert said[0].startswith("0 reports stored, 36 already stored (same 工单编号), 4 rejected")
    assert checksum(session) == before


def test_hotline_export_strict_is_all_or_nothing(session: Session, tmp_path: Path) -> None:
    with refused(session, "line 4: no usable coordinates", "--strict"):
        _import_hotline(session, tmp_path, strict=True)


def test_projected_incident_csv_is_refused_then_taken_with_crs(
    session: Session, tmp_path: Path
) -> None:
    feet = AWKWARD / "sf_vandalism_feet.csv"
    options = {"deadlines": DEADLINES, "lon_col": "X", "lat_col": "Y"}
    with refused(session, "20 of 20 rows", "not lon/lat degrees", "--crs EPSG:2227"):
        import_incidents(session=session, path=feet, **options)  # type: ignore[arg-type]
    sf = Region(-122.6, 37.6, -122.3, 37.9)
    stored = import_incidents(
        session=session,
        path=feet,
        crs="EPSG:2227",
        region=sf,
        **options,  # type: ignore[arg-type]
    )
    assert stored == 20
    got = session.execute(
        text("SELECT ST_X(geom), ST_Y(geom) FROM incidents ORDER BY id DESC LIMIT 20")
    ).all()
    want = gpd.pd.read_csv(HERE / "boundaries" / "sf_vandalism_sample.csv").head(20)
    np.testing.assert_allclose(np.array(got[::-1]), want[["X", "Y"]].to_numpy(), atol=2e-6)
    blocks = HERE / "boundaries" / "sf_block_groups.geojson"
    with pytest.raises(ImportFileError, match="not lon/lat degrees in wgs84; name their CRS"):
        assign_csv(feet, tmp_path / "o.csv", grids_path=blocks, code_field="GEO_ID",
                   lon_col="X", lat_col="Y")  # fmt: skip
    assert not (tmp_path / "o.csv").exists()
    counts = assign_csv(feet, tmp_path / "o.csv", grids_path=blocks, code_field="GEO_ID",
                        lon_col="X", lat_col="Y", crs="EPSG:2227")  # fmt: skip
    assert counts["inside"] + counts["boundary"] == 20


def test_point_files_import_and_assign(session: Session, tmp_path: Path) -> None:
    gpkg = AWKWARD / "hotline_points.gpkg"

    def count() -> int:
        query = text("SELECT count(*) FROM incidents WHERE category = '街面秩序'")
        return int(session.execute(query).scalar_one())

    before = count()
    assert import_incidents(session=session, path=gpkg, deadlines=DEADLINES, id_col="id") == 10
    assert import_incidents(session=session, path=gpkg, deadlines=DEADLINES, id_col="id") == 0
    assert count() == before + 10
    sample = Path(__file__).parents[3] / "data" / "sample" / "nanjing" / "grids.geojson"
    counts = assign_csv(
        gpkg, tmp_path / "out.csv", grids_path=sample, code_field="code", lon_col="lon",
        lat_col="lat",
    )  # fmt: skip
    assert counts["rows"] == 10 and counts["none"] == 0
    header = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "id,category,lon,lat,grid_code,match"


def test_identical_network_reimport_changes_nothing(session: Session) -> None:
    said: list[str] = []
    assert import_network(session=session, path=NANJING_PBF) > 1000
    before = checksum(session)
    assert import_network(session=session, path=NANJING_PBF, report=said.append) == 0
    assert checksum(session) == before
    assert said[0].startswith("walking network of nanjing_xuanwu.osm.pbf: ")
