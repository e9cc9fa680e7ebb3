"""Buildings and stations from an OSM extract: the readers alone, then imported into PostGIS."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.errors import ImportFileError
from data.files.importers import import_buildings, import_stations
from data.files.osm import STATION_AMENITIES, osm_buildings, osm_stations
from data.models import Building, Station

NANJING = Path(__file__).parents[2] / "fixtures" / "osm" / "nanjing_xuanwu.osm.pbf"
RESIDENTIAL = ("residential", "apartments", "house")


@pytest.fixture(scope="module")
def buildings() -> gpd.GeoDataFrame:
    return osm_buildings(NANJING)


@pytest.fixture(scope="module")
def stations() -> gpd.GeoDataFrame:
    return osm_stations(NANJING)


def test_buildings_are_points_with_household_estimates(buildings: gpd.GeoDataFrame) -> None:
    assert len(buildings) == 1278 and buildings.crs.to_epsg() == 4326
    assert list(buildings.columns) == [
        "source_id",
        "name",
        "building",
        "levels",
        "footprint_m2",
        "households",
        "population",
        "geometry",
    ]
    assert (buildings.geom_type == "Point").all() and buildings["source_id"].is_unique
    homes = buildings[buildings["building"].isin(RESIDENTIAL) & (buildings["footprint_m2"] >= 30)]
    assert len(homes) > 50 and (homes["households"] > 0).all()
    assert (buildings.loc[buildings["building"] == "school", "households"] == 0).all()
    assert (buildings["population"] >= buildings["households"]).all()
    assert (buildings["levels"] > 0).all()


def test_stations_have_a_kind_and_a_life_circle_level(stations: gpd.GeoDataFrame) -> None:
    assert len(stations) == 46 and stations.crs.to_epsg() == 4326
    assert list(stations.columns) == ["source_id", "name", "kind", "level", "geometry"]
    assert (stations.geom_type == "Point").all() and stations["name"].notna().all()
    assert set(stations["level"]) <= {5, 10, 15}
    assert {"hospital", "health", "primary_school"} <= set(stations["kind"])
    # life-circle facilities from other keys: leisure=sports_centre etc., shop=supermarket
    assert (stations["kind"] == "sports").sum() == 8 and (stations["kind"] == "market").sum() == 10
    assert set(stations.loc[stations["kind"] == "sports", "level"]) == {15}


def test_amenities_restrict_the_stations(stations: gpd.GeoDataFrame) -> None:
    hospitals = osm_stations(NANJING, amenities=["hospital"])
    assert len(hospitals) == (stations["kind"] == "hospital").sum() == 4
    assert set(hospitals["level"]) == {15}
    no_schools = osm_stations(NANJING, amenities=[a for a in STATION_AMENITIES if a != "school"])
    assert "primary_school" not in set(no_schools["kind"])
    with pytest.warns(UserWarning, match="Could not find any POIs"):  # pyrosm's notice
        empty = osm_stations(NANJING, amenities=[])
    assert empty.empty and list(empty.columns) == list(stations.columns)
    with pytest.raises(ValueError, match="not station amenities: cafe"):
        osm_stations(NANJING, amenities=["cafe", "hospital"])


@pytest.mark.postgis
def test_import_buildings_from_pbf(session: Session, buildings: gpd.GeoDataFrame) -> None:
    first_new = session.scalar(select(func.max(Building.id))) or 0
    assert import_buildings(session=session, path=NANJING, replace=True) == len(buildings)
    new = Building.id > first_new
    households = session.scalar(select(func.sum(Building.households)).where(new))
    assert households == buildings["households"].sum() > 0
    located = session.scalar(select(func.count()).where(new, Building.grid_code.is_not(None)))
    assert located is not None and located > 1000  # the sample grids cover the district


@pytest.mark.postgis
def test_import_stations_from_pbf(session: Session) -> None:
    first_new = session.scalar(select(func.max(Station.id))) or 0
    count = import_stations(
        session=session, path=NANJING, amenities=["hospital", "school"], replace=True
    )
    rows = session.execute(
        select(Station.kind, Station.level, Station.source_id).where(Station.id > first_new)
    ).all()
    assert count == len(rows) > 4
    assert {kind for kind, _, _ in rows} >= {"hospital", "primary_school"}
    assert all(level in (5, 10, 15) and source for _, level, source in rows)


@pytest.mark.postgis
@pytest.mark.parametrize(
    ("junk", "message"),
    [(b"\x00\x01 not a protocol buffer", "cannot import from the OSM extract"), (None, "no such")],
)
def test_corrupt_or_missing_extract_is_one_readable_error(
    session: Session, tmp_path: Path, junk: bytes | None, message: str
) -> None:
    path = tmp_path / "x.osm.pbf"
    if junk is not None:
        path.write_bytes(junk)
    for run in (import_buildings, import_stations):
        with pytest.raises(ImportFileError, match=message) as info:
            run(session=session, path=path)
        assert "\n" not in str(info.value) and str(info.value).startswith(str(path))


@pytest.mark.postgis
def test_unknown_amenity_is_refused(session: Session) -> None:
    with pytest.raises(ImportFileError, match="not station amenities: cafe"):
        import_stations(session=session, path=NANJING, amenities=["cafe", "hospital"])
