"""Mapbox Vector Tiles built by PostGIS (``ST_AsMVT``), for layers too large to send whole as
GeoJSON or to embed in a page: a city files ~20,000 incidents a day.

Tiles are XYZ tiles of web mercator (EPSG:3857) with the MVT defaults, 4096 units a side and
a 64-unit buffer. Rows are found through the GiST index on the stored EPSG:4326 geometry with
the tile's envelope widened by that buffer, so that a point just across a tile edge is in
both tiles and its dot is not cut in half.

Incidents are thinned to one feature per status in each cell of ``CELL_PX`` screen pixels:
the newest, with a ``count`` of the incidents it stands for. Dots of one status in one cell
would hide each other anyway, and this keeps a zoomed-out tile over 200,000 incidents at a
few thousand features (~100 kB) rather than 8 MB that a browser cannot draw smoothly.
"""

from __future__ import annotations

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from data.errors import NotFoundError
from data.grids import current_sql
from data.lifecycle import OPEN, sql_list

MAX_ZOOM = 22
EXTENT = 4096
BUFFER = 64
TILE_PX = 256  # the size Leaflet and most clients draw a tile at
CELL_PX = 4

_AREA = "ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4326)"


def _utc_iso(column: str) -> str:
    """SQL for a timestamptz column as ISO 8601 text in UTC: MVT values have no time type."""
    return f"""to_char(t.{column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS {column}"""


# A point's cell at the tile's zoom, by the slippy-map tile formula on lon/lat (:cells per
# world side): plain arithmetic, where ST_Transform on each row of a dense tile costs more
# than the rest of the query.
_CELL_X = "floor((ST_X(geom) + 180) / 360 * :cells)"
_CELL_Y = "floor((1 - asinh(tan(radians(ST_Y(geom)))) / pi()) / 2 * :cells)"

# Per layer: its properties and where its rows come from (alias t). Fixed SQL, no user input.
_SOURCES = {
    "grids": (
        "t.code, t.name, t.community, t.households",
        f"grids t WHERE {current_sql('t')} AND t.geom && {_AREA}",
    ),
    "buildings": ("t.id, t.households, t.grid_code", f"buildings t WHERE t.geom && {_AREA}"),
    "incidents": (
        "t.id, t.category, t.status, t.priority, t.grid_code, "
        f"{_utc_iso('reported_at')}, {_utc_iso('due_at')}, c.count",
        f"""(SELECT max(id) AS id, count(*) AS count FROM incidents WHERE geom && {_AREA}
             GROUP BY {_CELL_X}, {_CELL_Y}, status) c
            JOIN incidents t USING (id)
            ORDER BY t.status IN ({sql_list(OPEN)})""",  # open ones drawn on top
    ),
}


def _query(properties: str, source: str) -> TextClause:
    return text(
        f"""
        SELECT ST_AsMVT(features, :layer, :extent, 'geom')
        FROM (SELECT {properties}, ST_AsMVTGeom(ST_Transform(t.geom, 3857),
                         ST_TileEnvelope(:z, :x, :y), :extent, :buffer) AS geom
              FROM {source}) features
        """
    )


_QUERIES = {name: _query(*parts) for name, parts in _SOURCES.items()}
LAYERS = tuple(_QUERIES)


def tile(*, session: Session, layer: str, z: int, x: int, y: int) -> bytes:
    """Tile ``z/x/y`` of ``layer`` (one of ``LAYERS``, also the MVT layer's name), empty where
    it has no features. Unknown layers and tiles outside the pyramid are not found."""
    query = _QUERIES.get(layer)
    if query is None:
        raise NotFoundError(f"no tile layer {layer!r}; the layers are {', '.join(LAYERS)}")
    if not 0 <= z <= MAX_ZOOM:
        raise NotFoundError(f"no tile at zoom {z}; zoom levels are 0 to {MAX_ZOOM}")
    side = 1 << z
    if not (0 <= x < side and 0 <= y < side):
        raise NotFoundError(f"no tile {z}/{x}/{y}; x and y are 0 to {side - 1} at zoom {z}")
    # PostGIS costs its functions so high that PostgreSQL JIT-compiles every tile query, which
    # takes longer than running it; this transaction only.
    session.execute(text("SET LOCAL jit = off"))
    params = {
        "z": z,
        "x": x,
        "y": y,
        "margin": BUFFER / EXTENT,
        "extent": EXTENT,
        "buffer": BUFFER,
        "cells": side * TILE_PX // CELL_PX,
        "layer": layer,
    }
    return bytes(session.execute(query, params).scalar_one())
