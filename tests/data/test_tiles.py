"""Vector tiles from PostGIS, decoded with mapbox-vector-tile: properties, positions, the
buffer, incident thinning, the GiST index and tiles outside the pyramid."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import mapbox_vector_tile
import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from data.errors import NotFoundError
from data.models import Incident
from data.tiles import BUFFER, CELL_PX, EXTENT, LAYERS, TILE_PX, tile

pytestmark = pytest.mark.postgis

CENTRE = (118.78, 32.045)  # inside the sample city
Z = 14
REPORTED = datetime(2024, 5, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The XYZ tile holding (lon, lat) at zoom ``z``."""
    x, y = _world(lon, lat, z)
    return int(x), int(y)


def _world(lon: float, lat: float, z: int) -> tuple[float, float]:
    """(lon, lat) in tile units at zoom ``z`` (web mercator, y down)."""
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return (lon + 180) / 360 * n, y


def _unworld(x: float, y: float, z: int) -> tuple[float, float]:
    n = 2**z
    return x / n * 360 - 180, math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))


def cell_centre(lon: float, lat: float, z: int) -> tuple[float, float]:
    """The centre of the thinning cell holding (lon, lat) at zoom ``z``."""
    per_tile = TILE_PX // CELL_PX
    x, y = _world(lon, lat, z)
    return _unworld(
        (math.floor(x * per_tile) + 0.5) / per_tile, (math.floor(y * per_tile) + 0.5) / per_tile, z
    )


def decode(data: bytes) -> dict[str, Any]:
    return dict(mapbox_vector_tile.decode(data, default_options={"y_coord_down": True}))


def features(data: bytes, layer: str) -> list[dict[str, Any]]:
    decoded = decode(data)
    assert set(decoded) == {layer}
    assert decoded[layer]["extent"] == EXTENT
    return list(decoded[layer]["features"])


def lonlat(feature: dict[str, Any], z: int, x: int, y: int) -> tuple[float, float]:
    """A decoded point feature's position."""
    px, py = feature["geometry"]["coordinates"]
    return _unworld(x + px / EXTENT, y + py / EXTENT, z)


def add_incidents(
    session: Session, points: Sequence[tuple[float, float, str]], *, category: str = "环境卫生"
) -> list[int]:
    """Incidents at (lon, lat, status), reported at ``REPORTED``; their ids in order."""
    rows = [
        Incident(
            category=category,
            status=status,
            priority="routine",
            geom=f"SRID=4326;POINT({lon!r} {lat!r})",
            grid_code="320102001001001",
            reported_at=REPORTED,
            due_at=REPORTED + timedelta(days=1),
        )
        for lon, lat, status in points
    ]
    session.add_all(rows)
    session.flush()
    return [row.id for row in rows]


def _codes_in(session: Session, z: int, x: int, y: int, *, margin: float) -> set[str]:
    found = session.execute(
        text(
            "SELECT code FROM grids WHERE valid_to IS NULL AND ST_Intersects(geom, "
            "ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4326))"
        ),
        {"z": z, "x": x, "y": y, "margin": margin},
    )
    return set(found.scalars())


def test_grid_tile_over_the_sample_city(session: Session) -> None:
    x, y = tile_of(*CENTRE, Z)
    found = features(tile(session=session, layer="grids", z=Z, x=x, y=y), "grids")
    codes = {f["properties"]["code"] for f in found}
    # every grid touching the tile, and at most those reaching into its buffer
    assert _codes_in(session, Z, x, y, margin=0) <= codes
    assert codes <= _codes_in(session, Z, x, y, margin=BUFFER / EXTENT)
    assert {k for f in found for k in f["properties"]} == {
        "code",
        "name",
        "community",
        "households",
    }
    assert {f["geometry"]["type"] for f in found} <= {"Polygon", "MultiPolygon"}


def test_building_tile(session: Session) -> None:
    x, y = tile_of(*CENTRE, 16)
    found = features(tile(session=session, layer="buildings", z=16, x=x, y=y), "buildings")
    assert found
    assert {k for f in found for k in f["properties"]} <= {"id", "households", "grid_code"}
    assert all(isinstance(f["properties"]["id"], int) for f in found)


def test_incident_properties_and_position(session: Session) -> None:
    lon, lat = cell_centre(*CENTRE, Z)
    (incident,) = add_incidents(session, [(lon, lat, "dispatched")])
    x, y = tile_of(lon, lat, Z)
    (found,) = features(tile(session=session, layer="incidents", z=Z, x=x, y=y), "incidents")
    assert found["properties"] == {
        "id": incident,
        "category": "环境卫生",
        "status": "dispatched",
        "priority": "routine",
        "grid_code": "320102001001001",
        "reported_at": "2024-05-01T01:00:00Z",
        "due_at": "2024-05-02T01:00:00Z",
        "count": 1,
    }
    got = lonlat(found, Z, x, y)
    metres_per_unit = 40_075_016.7 / 2**Z / EXTENT
    assert math.dist(_world(*got, Z), _world(lon, lat, Z)) * EXTENT * metres_per_unit < 1.0


def test_incidents_thinned_to_one_per_cell_and_status(session: Session) -> None:
    lon, lat = cell_centre(*CENTRE, Z)
    step = 3e-6  # ~0.3 m: one cell at zoom 14, apart at 22
    ids = add_incidents(
        session,
        [
            (lon, lat, "reported"),
            (lon + step, lat, "reported"),
            (lon, lat + step, "closed"),
            (*cell_centre(lon + 0.002, lat, Z), "reported"),  # ~190 m east: another cell
        ],
    )
    x, y = tile_of(lon, lat, Z)
    found = features(tile(session=session, layer="incidents", z=Z, x=x, y=y), "incidents")
    got = [
        (f["properties"]["id"], f["properties"]["status"], f["properties"]["count"]) for f in found
    ]
    assert sorted(got) == sorted(
        [(ids[1], "reported", 2), (ids[2], "closed", 1), (ids[3], "reported", 1)]
    )
    assert got[0][1] == "closed"  # closed and rejected first: open ones are drawn on top
    # far enough in, every incident is its own feature again
    z = 22
    x, y = tile_of(lon + step / 2, lat + step / 2, z)
    found = features(tile(session=session, layer="incidents", z=z, x=x, y=y), "incidents")
    assert sorted((f["properties"]["id"], f["properties"]["count"]) for f in found) == [
        (i, 1) for i in ids[:3]
    ]


def test_points_across_an_edge_are_in_both_tiles(session: Session) -> None:
    x, y = tile_of(*CENTRE, Z)
    # ten units east of the tile's east edge: inside its buffer
    lon, lat = _unworld(x + 1 + 10 / EXTENT, y + 0.5, Z)
    (incident,) = add_incidents(session, [(lon, lat, "reported")])
    own = features(tile(session=session, layer="incidents", z=Z, x=x + 1, y=y), "incidents")
    west = features(tile(session=session, layer="incidents", z=Z, x=x, y=y), "incidents")
    assert [f["properties"]["id"] for f in own] == [incident]
    assert [f["properties"]["id"] for f in west] == [incident]
    assert west[0]["geometry"]["coordinates"][0] == EXTENT + 10


@pytest.mark.parametrize("layer", LAYERS)
def test_ocean_tile_is_empty(session: Session, layer: str) -> None:
    add_incidents(session, [(*CENTRE, "reported")])
    x, y = tile_of(-150.0, 0.0, Z)
    assert tile(session=session, layer=layer, z=Z, x=x, y=y) == b""


@pytest.mark.parametrize(
    ("layer", "z", "x", "y"),
    [
        ("roads", 14, 0, 0),
        ("grids", -1, 0, 0),
        ("grids", 23, 0, 0),
        ("grids", 3, 8, 0),
        ("grids", 3, 0, 8),
        ("grids", 3, -1, 0),
    ],
)
def test_tiles_outside_the_pyramid_are_not_found(
    session: Session, layer: str, z: int, x: int, y: int
) -> None:
    with pytest.raises(NotFoundError):
        tile(session=session, layer=layer, z=z, x=x, y=y)


@pytest.mark.parametrize("layer", LAYERS)
def test_rows_are_found_through_the_gist_index(session: Session, layer: str) -> None:
    """The tile's own SQL, explained with sequential scans priced out: the index serves it."""
    issued: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "ST_AsMVT" in statement:
            issued.append((statement, parameters))

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", capture)
    try:
        x, y = tile_of(*CENTRE, Z)
        tile(session=session, layer=layer, z=Z, x=x, y=y)
    finally:
        event.remove(connection, "before_cursor_execute", capture)
    ((statement, parameters),) = issued
    session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(
        row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters)
    )
    assert f"ix_{layer}_geom" in plan, plan
