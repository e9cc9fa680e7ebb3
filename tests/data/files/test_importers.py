"""Importers against the real PostGIS: third-party files, CRS handling, broken files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from data import grids as grid_repo
from data.errors import ImportFileError
from data.files.importers import grid_region, import_grids, import_stations
from data.models import Station

pytestmark = pytest.mark.postgis

FIXTURES = Path(__file__).parents[2] / "fixtures" / "boundaries"


def _square(x: float, y: float, d: float = 0.01) -> list[list[list[float]]]:
    return [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]


def _write(path: Path, features: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _poly(props: dict[str, object], rings: list[list[list[float]]]) -> dict[str, object]:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Polygon", "coordinates": rings},
    }


def _state(session: Session) -> tuple[object, ...]:
    """Everything an import may touch: row counts, newest ids, change counter."""
    counts = session.execute(
        text(
            "SELECT (SELECT count(*) FROM grids), (SELECT max(id) FROM grids), "
            "(SELECT count(*) FROM grid_versions), (SELECT count(*) FROM buildings)"
        )
    ).one()
    return (*counts, grid_repo.grid_state(session=session))


def test_third_party_file_with_its_own_code_field(session: Session) -> None:
    count = import_grids(
        session=session,
        path=FIXTURES / "sf_block_groups.geojson",
        code_field="GEO_ID",
        name_field="NAME",
        replace=True,
    )
    assert count == 579
    grids = grid_repo.current_grids(session=session)
    assert len(grids) == 579 and grids[0].code.startswith("1500000US")
    assert all(g.geom.is_valid for g in grids)


def _stored_vertices(session: Session) -> dict[str, np.ndarray]:
    """Every current grid's vertices as stored, exactly (WKB, not rounded GeoJSON)."""
    return {
        g.code: shapely.get_coordinates(g.geom) for g in grid_repo.current_grids(session=session)
    }


def _file_vertices(geometry: dict[str, Any]) -> np.ndarray:
    polygons = geometry["coordinates"]
    if geometry["type"] == "Polygon":
        polygons = [polygons]
    return np.array([xy[:2] for poly in polygons for ring in poly for xy in ring], dtype=float)


def test_cgcs2000_file_is_taken_as_wgs84(session: Session) -> None:
    """EPSG:4490 coordinates are stored as WGS84 unchanged: every vertex to 1e-9 degrees."""
    path = FIXTURES / "cn_districts.geojson"
    raw = json.loads(path.read_text())
    assert "4490" in raw["crs"]["properties"]["name"]
    import_grids(session=session, path=path, code_field="gb", replace=True)
    stored = _stored_vertices(session)
    assert sorted(stored) == sorted(f["properties"]["gb"] for f in raw["features"])
    for feature in raw["features"]:
        expected = _file_vertices(feature["geometry"])
        got = stored[feature["properties"]["gb"]]
        assert got.shape == expected.shape, feature["properties"]["gb"]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def _shoelace(ring: list[list[float]]) -> float:
    """A ring's planar area, about its first vertex (no cancellation of big products)."""
    x = np.array([p[0] for p in ring]) - ring[0][0]
    y = np.array([p[1] for p in ring]) - ring[0][1]
    return float(abs(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])) / 2)


def _valid_and_area(session: Session, code: str) -> tuple[bool, float, str]:
    row = session.execute(
        text(
            "SELECT ST_IsValid(geom), ST_Area(geom), ST_IsValidReason(geom) FROM grids"
            " WHERE code = :code AND valid_to IS NULL"
        ),
        {"code": code},
    ).one()
    return bool(row[0]), float(row[1]), str(row[2])


def test_invalid_polygon_is_repaired(session: Session, tmp_path: Path) -> None:
    """A bow-tie becomes its two triangles: valid in PostGIS, area 2 × 0.25 square degrees."""
    bowtie = [[[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]]
    path = _write(tmp_path / "bow.geojson", [_poly({"code": "BOW"}, bowtie)])
    import_grids(session=session, path=path)
    valid, area, reason = _valid_and_area(session, "BOW")
    assert valid, reason
    assert area == pytest.approx(0.5, rel=1e-12)
    parts = session.execute(
        text("SELECT ST_NumGeometries(geom) FROM grids WHERE code = 'BOW' AND valid_to IS NULL")
    ).scalar_one()
    assert parts == 2


def test_self_touching_ring_is_repaired_keeping_its_area(session: Session) -> None:
    """Boston's Hyde Park ring touches itself: stored valid, with the ring's own area."""
    path = FIXTURES / "boston_neighborhoods.geojson"
    raw = json.loads(path.read_text())
    import_grids(session=session, path=path, code_field="Name", replace=True)
    invalid = session.execute(
        text("SELECT count(*) FROM grids WHERE valid_to IS NULL AND NOT ST_IsValid(geom)")
    ).scalar_one()
    assert invalid == 0
    (hyde,) = [f for f in raw["features"] if f["properties"]["Name"] == "Hyde Park"]
    rings = hyde["geometry"]["coordinates"]
    rings = rings if hyde["geometry"]["type"] == "Polygon" else rings[0]
    assert len(rings) == 1  # one shell, no holes
    valid, area, reason = _valid_and_area(session, "Hyde Park")
    assert valid, reason
    assert area == pytest.approx(_shoelace(rings[0]), rel=1e-9)


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ([_poly({"name": "x"}, _square(0, 0))], "no field 'code'"),
        (
            [
                {
                    "type": "Feature",
                    "properties": {"code": "P"},
                    "geometry": {"type": "Point", "coordinates": [0, 0]},
                }
            ],
            "feature code=P is a Point",
        ),
        (
            [_poly({"code": "L"}, [[[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]])],
            "feature code=L",
        ),
    ],
)
def test_broken_file_is_one_readable_error_and_changes_nothing(
    session: Session, tmp_path: Path, features: list[dict[str, object]], message: str
) -> None:
    before = _state(session)
    path = _write(tmp_path / "bad.geojson", features)
    with pytest.raises(ImportFileError, match=message) as info, session.begin_nested():
        import_grids(session=session, path=path)
    assert "\n" not in str(info.value)
    assert _state(session) == before


def test_unreadable_file(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "junk.geojson"
    path.write_text("{ this is not json")
    with pytest.raises(ImportFileError, match="not a readable vector file"):
        import_grids(session=session, path=path)
    with pytest.raises(ImportFileError, match="no such file"):
        import_grids(session=session, path=tmp_path / "missing.gpkg")


def test_reimport_supersedes_and_keeps_history(session: Session, tmp_path: Path) -> None:
    path = _write(tmp_path / "g.geojson", [_poly({"code": "Z1"}, _square(10, 10))])
    assert import_grids(session=session, path=path) == 1
    assert import_grids(session=session, path=path) == 0  # identical: nothing written
    assert len(grid_repo.grid_history(session=session, code="Z1")) == 1
    _write(path, [_poly({"code": "Z1"}, _square(10, 10, 0.02))])
    assert import_grids(session=session, path=path) == 1
    history = grid_repo.grid_history(session=session, code="Z1")
    assert len(history) == 2
    assert history[0][0].valid_to is not None and history[1][0].valid_to is None


def test_gcj02_stations_are_unshifted(session: Session, tmp_path: Path) -> None:
    from geo.crs import from_wgs84

    lon, lat = from_wgs84([118.78], [32.05], "gcj02")
    path = tmp_path / "s.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "站", "kind": "health", "level": 10},
                        "geometry": {
                            "type": "Point",
                            "coordinates": [float(lon[0]), float(lat[0])],
                        },
                    }
                ],
            }
        )
    )
    import_stations(session=session, path=path, crs="gcj02", replace=True)
    x, y = session.execute(
        select(func.ST_X(Station.geom), func.ST_Y(Station.geom)).where(Station.name == "站")
    ).one()
    assert abs(x - 118.78) < 1e-7 and abs(y - 32.05) < 1e-7


def test_sample_city_grids_partition_the_communities(session: Session) -> None:
    """In PostGIS: each community equals the union of its grids; grids never overlap."""
    worst_gap = session.execute(
        text("""
        SELECT max(ST_Area(ST_SymDifference(r.geom, u.geom)::geography))
        FROM regions r
        JOIN (SELECT community, ST_Union(geom) AS geom FROM grids
              WHERE valid_to IS NULL GROUP BY community) u ON u.community = r.code
        WHERE r.level = 'community'""")
    ).scalar()
    overlap = session.execute(
        text("""
        SELECT coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0)
        FROM grids a JOIN grids b ON a.code < b.code AND ST_Intersects(a.geom, b.geom)
        WHERE a.valid_to IS NULL AND b.valid_to IS NULL""")
    ).scalar()
    assert worst_gap is not None and worst_gap < 1.0
    assert overlap is not None and overlap < 1.0


def test_stored_network_round_trips(session: Session) -> None:
    """The network loaded back from PostGIS gives the same walk distances as the file."""
    import numpy as np

    from data.files.network import import_network, read_network
    from data.network import load_network
    from geo.walk import walk_distances

    source = Path(__file__).parents[2] / "fixtures" / "osm" / "nanjing_xuanwu.osm.pbf"
    import_network(session=session, path=source)
    stored = load_network(session=session)
    original = read_network(source)
    assert stored is not None
    rng = np.random.default_rng(3)
    lo, hi = original.node_lonlat.min(axis=0), original.node_lonlat.max(axis=0)
    sources, targets = rng.uniform(lo, hi, (5, 2)), rng.uniform(lo, hi, (200, 2))
    np.testing.assert_allclose(
        walk_distances(stored, sources, targets),
        walk_distances(original, sources, targets),
        atol=0.01,
    )


def test_import_incidents_assigns_grids_like_postgis(session: Session, tmp_path: Path) -> None:
    from datetime import timedelta

    from data.files.importers import import_incidents

    rows = session.execute(
        text("SELECT ST_X(geom), ST_Y(geom) FROM buildings ORDER BY id LIMIT 200")
    ).all()
    path = tmp_path / "reports.csv"
    lines = ["lng,lat,category,description"]
    lines += [f"{x!r},{y!r},垃圾,row {i}" for i, (x, y) in enumerate(rows)]
    lines.append("10.0,10.0,far,nowhere")
    path.write_text("\n".join(lines) + "\n")
    deadlines = dict.fromkeys(("routine", "complex", "major"), timedelta(days=1))
    said: list[str] = []
    count = import_incidents(
        session=session,
        path=path,
        deadlines=deadlines,
        lon_col="lng",
        lat_col="lat",
        report=said.append,
    )
    assert count == 200
    assert said == [
        "200 reports stored, 1 rejected (first: line 202: [10, 10] lies outside the region "
        f"{grid_region(session=session)})"
    ]
    mismatches = session.execute(
        text("""
        SELECT count(*) FROM incidents i
        WHERE i.reporter = 'import' AND i.grid_code IS DISTINCT FROM (
            SELECT g.code FROM grids g
            WHERE g.valid_to IS NULL AND ST_Covers(g.geom, i.geom) ORDER BY g.code LIMIT 1)
    """)
    ).scalar()
    assert mismatches == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("lng,lat\n118.78,32.05\nnan,32.05\n")
    before = session.execute(text("SELECT count(*) FROM incidents")).scalar()
    strict = pytest.raises(ImportFileError, match="line 3: no usable coordinates")
    with strict, session.begin_nested():
        import_incidents(
            session=session,
            path=bad,
            deadlines=deadlines,
            lon_col="lng",
            lat_col="lat",
            strict=True,
        )
    assert session.execute(text("SELECT count(*) FROM incidents")).scalar() == before


def test_overlapping_grids_are_reported(session: Session, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "overlap.geojson",
        [
            _poly({"code": "O1"}, _square(20.0, 20.0)),
            _poly({"code": "O2"}, _square(20.005, 20.0)),  # half of O1
            _poly({"code": "O3"}, _square(20.015, 20.0)),  # touches O2 along an edge only
        ],
    )
    said: list[str] = []
    assert import_grids(session=session, path=path, report=said.append) == 3
    overlap = next(line for line in said if "overlap" in line)
    assert overlap.startswith("1 pairs of grids overlap (") and "worst: O1/O2 " in overlap
    area = float(overlap.split("worst: O1/O2 ")[1].split(" m²")[0].replace(",", ""))
    assert 540_000 < area < 600_000  # 0.005° × 0.01° at 20°N ≈ 0.52 km × 1.1 km
