"""Building the planners' maps from the database: shared by /maps/* and ``gridmap map``."""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from api.caches import Lru, network
from api.coverage_service import covered_run, default_candidates
from api.settings import Settings
from data import coverage as coverage_repo
from data.frames import (
    grids_frame,
    incident_count,
    incidents_frame,
    regions_frame,
    stations_frame,
)
from geo.coverage import LEVELS_MIN, coverage_by_group, isochrones, suggest_sites
from geo.network import WalkNetwork
from maps.basemap import Basemap
from maps.coverage import coverage_map
from maps.grids import Measure, grids_map
from maps.incidents import incidents_map

_BASEMAP_KINDS = ("osm", "tianditu", "amap", "none")


def basemap(settings: Settings, override: str | None = None) -> Basemap:
    """The configured basemap: a kind name, or any other value taken as a tile URL."""
    choice = override or settings.basemap
    if choice in _BASEMAP_KINDS:
        return Basemap(kind=choice, key=settings.tianditu_key)  # type: ignore[arg-type]
    return Basemap(kind="url", url=choice)


def grids_page(
    *,
    session: Session,
    settings: Settings,
    measure: Measure | None,
    tiles: Basemap,
    cache: Lru[WalkNetwork | None],
) -> folium.Map:
    grids = grids_frame(session=session)
    if measure == "coverage_pct":
        coverage = _coverage(session, settings, cache, minutes=15.0)
        per_grid = _per_grid(coverage)
        grids = grids.merge(per_grid[["code", "pct"]], on="code", how="left")
        grids["coverage_pct"] = grids["pct"].fillna(0.0)
    return grids_map(grids, regions=regions_frame(session=session), measure=measure, basemap=tiles)


def _coverage(
    session: Session, settings: Settings, cache: Lru[WalkNetwork | None], *, minutes: float
) -> tuple[coverage_repo.RunData, NDArray[np.bool_]] | None:
    """The current run and who it covers at ``minutes``; None without a walking network."""
    if network(cache, session=session) is None:
        return None
    return covered_run(cache, session, settings, kind=None, minutes=minutes)


def _per_grid(coverage: tuple[coverage_repo.RunData, NDArray[np.bool_]] | None) -> pd.DataFrame:
    columns = ["code", "buildings", "covered", "households", "covered_households", "pct"]
    if coverage is None:
        return pd.DataFrame(columns=columns)
    data, covered = coverage
    rows = coverage_by_group(covered, data.grid, households=data.households)
    return pd.DataFrame(
        [
            (
                g.key,
                g.buildings,
                g.covered_buildings,
                round(g.households),
                round(g.covered_households),
                round(g.pct_households or 0.0, 1),
            )
            for g in rows
            if g.key
        ],
        columns=columns,
    )


def coverage_page(
    *,
    session: Session,
    settings: Settings,
    minutes: float,
    suggest: int,
    tiles: Basemap,
    cache: Lru[WalkNetwork | None],
) -> folium.Map:
    """Isochrones at 5/10/15 minutes (and ``minutes``), buildings covered at ``minutes``,
    optionally ``suggest`` new sites; grids and stations only when no network is loaded."""
    speed = settings.walk_speed_m_per_min
    stations = stations_frame(session=session)
    station_xy = np.column_stack([stations.geometry.x, stations.geometry.y])
    levels = sorted({*LEVELS_MIN, minutes})
    walk = network(cache, session=session)
    coverage = None
    buildings = gpd.GeoDataFrame({"covered": []}, geometry=[], crs=4326)
    polygons = np.empty((0, len(levels)), dtype=object)
    sites = None
    if walk is not None:
        coverage = covered_run(cache, session, settings, kind=None, minutes=minutes)
        data, covered = coverage
        buildings = gpd.GeoDataFrame(
            {"covered": covered, "walk_m": data.walk_m},
            geometry=gpd.points_from_xy(data.buildings.lonlat[:, 0], data.buildings.lonlat[:, 1]),
            crs=4326,
        )
        if len(stations):
            polygons = isochrones(
                walk,
                station_xy,
                minutes=levels,
                speed_m_per_min=speed,
                max_access_m=settings.max_access_m,
            )
        if suggest > 0:
            sites = _sites(
                walk, station_xy, data, minutes=minutes, count=suggest, settings=settings
            )
    areas = gpd.GeoDataFrame(
        {
            "station": np.repeat(stations["name"].to_numpy(), len(levels)),
            "minutes": np.tile(levels, len(stations)),
        },
        geometry=polygons.reshape(-1),
        crs=4326,
    )
    return coverage_map(
        grids_frame(session=session),
        buildings=buildings,
        stations=stations,
        isochrones=areas[~areas.geometry.is_empty],
        suggestions=sites,
        per_grid=_per_grid(coverage) if coverage else None,
        basemap=tiles,
    )


def _sites(
    walk: WalkNetwork,
    station_xy: NDArray[np.float64],
    data: coverage_repo.RunData,
    *,
    minutes: float,
    count: int,
    settings: Settings,
) -> gpd.GeoDataFrame:
    """Greedy new sites among the network's nodes, with the households each adds."""
    candidates = default_candidates(walk)
    siting = suggest_sites(
        walk,
        station_xy,
        data.buildings.lonlat,
        data.households,
        candidates,
        minutes=minutes,
        count=count,
        speed_m_per_min=settings.walk_speed_m_per_min,
        max_access_m=settings.max_access_m,
    )
    chosen = candidates[siting.candidate]
    return gpd.GeoDataFrame(
        {
            "rank": np.arange(1, len(chosen) + 1),
            "households_added": np.round(siting.added_households).astype(int),
        },
        geometry=gpd.points_from_xy(chosen[:, 0], chosen[:, 1]),
        crs=4326,
    )


TILE_THRESHOLD = 20_000  # incidents a page embeds; beyond, it draws them from vector tiles


def incidents_page(*, session: Session, tiles: Basemap, tiles_url: str | None = None) -> folium.Map:
    """Incidents embedded in the page, or drawn from the vector tiles at ``tiles_url`` when
    there are more than ``TILE_THRESHOLD``; without ``tiles_url`` (a standalone file, no server
    to fetch tiles from) they are always embedded."""
    grids = grids_frame(session=session)
    if (
        tiles_url is not None
        and incident_count(session=session, up_to=TILE_THRESHOLD + 1) > TILE_THRESHOLD
    ):
        return incidents_map(grids, incidents=None, basemap=tiles, tiles_url=tiles_url)
    return incidents_map(grids, incidents=incidents_frame(session=session), basemap=tiles)
