"""Tables as GeoDataFrames (EPSG:4326) for the map builders."""

from __future__ import annotations

import geopandas as gpd
from sqlalchemy import text
from sqlalchemy.orm import Session

from data.grids import current_sql
from data.lifecycle import OPEN, sql_list

_GRIDS = text(
    f"""
    SELECT g.code, g.name, g.community, g.households, g.worker_name, g.geom,
           (SELECT count(*) FROM incidents i
            WHERE i.grid_code = g.code AND i.status IN ({sql_list(OPEN)}))
               AS open_incidents
    FROM grids g WHERE {current_sql("g")} ORDER BY g.code
    """
)
_REGIONS = text("SELECT code, level, name, parent, geom FROM regions ORDER BY level, code")
_STATIONS = text("SELECT id, kind, name, level, geom FROM stations ORDER BY id")


def _drawable(column: str) -> str:
    """A time clamped to 1900–2200: pandas holds nanoseconds and ends in 2262, so a stored
    time beyond (an old import, a bug) is drawn at the edge instead of failing every map."""
    return f"LEAST(GREATEST({column}, '1900-01-01Z'), '2200-01-01Z') AS {column}"


_INCIDENTS = text(
    f"""
    SELECT id, category, status, priority, {_drawable("reported_at")}, {_drawable("due_at")},
           grid_code, geom
    FROM incidents ORDER BY id DESC LIMIT :limit
    """
)
_INCIDENT_COUNT = text("SELECT count(*) FROM (SELECT FROM incidents LIMIT :limit) i")


def _read(session: Session, query: object, **params: object) -> gpd.GeoDataFrame:
    frame = gpd.read_postgis(query, session.connection(), geom_col="geom", params=params)
    return frame.set_crs(4326, allow_override=True)


def grids_frame(*, session: Session) -> gpd.GeoDataFrame:
    """Current grids with households and their count of open incidents."""
    return _read(session, _GRIDS)


def regions_frame(*, session: Session) -> gpd.GeoDataFrame:
    return _read(session, _REGIONS)


def stations_frame(*, session: Session) -> gpd.GeoDataFrame:
    return _read(session, _STATIONS)


def incidents_frame(*, session: Session, limit: int = 100_000) -> gpd.GeoDataFrame:
    """The newest ``limit`` incidents."""
    return _read(session, _INCIDENTS, limit=limit)


def incident_count(*, session: Session, up_to: int | None = None) -> int:
    """How many incidents there are, counting no further than ``up_to``: telling whether a map
    can embed them all need not scan years of reports."""
    return int(session.execute(_INCIDENT_COUNT, {"limit": up_to}).scalar_one())
