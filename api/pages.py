"""The planners' map pages built from the database: shared by the /maps/* routes and
``gridmap map``. Each takes a session and the coverage service and returns a folium.Map."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from api.compliance import NO_FACILITY, Circles
from api.coverage_service import Coverage, CoverageService
from data.frames import (
    grids_frame,
    incident_count,
    incidents_frame,
    regions_frame,
    stations_frame,
)
from data.lifecycle import OPEN, PRIORITY_LABELS, STATUS_LABELS
from data.redraw import Moved, Plan
from data.stats import incident_stats, monthly_by_grid
from geo.walk import LEVELS_MIN
from maps.basemap import Basemap
from maps.compliance import KindInfo, compliance_map
from maps.coverage import coverage_map
from maps.grids import Measure, grids_map
from maps.incidents import Lifecycle, incidents_map
from maps.layers import add_notes
from maps.redraw import redraw_preview_map
from maps.stats import StatsMeasure, stats_map

TILE_PATH = "/tiles/{layer}/{z}/{x}/{y}.pbf"  # served by api/routes/tiles.py
TILE_THRESHOLD = 20_000  # incidents a page embeds; beyond, it draws them from vector tiles
LIFECYCLE = Lifecycle(statuses=STATUS_LABELS, open=OPEN, priorities=PRIORITY_LABELS)


def tile_url(layer: str) -> str:
    """The XYZ URL template of ``layer``'s vector tiles, as Leaflet takes it."""
    return TILE_PATH.replace("{layer}", layer)


def grids_page(
    *, session: Session, coverage: CoverageService, measure: Measure | None, tiles: Basemap
) -> folium.Map:
    grids = grids_frame(session=session)
    if measure == "coverage_pct":
        covered = _covered(session, coverage, minutes=15.0)
        per_grid = _per_grid(covered)
        grids = grids.merge(per_grid[["code", "pct"]], on="code", how="left")
        grids["coverage_pct"] = grids["pct"].fillna(0.0)
    return grids_map(grids, regions=regions_frame(session=session), measure=measure, basemap=tiles)


def _covered(session: Session, coverage: CoverageService, *, minutes: float) -> Coverage | None:
    """The current run and who it covers at ``minutes``; None without a walking network."""
    if coverage.network(session) is None:
        return None
    return coverage.covered(session, kind=None, minutes=minutes)


def _per_grid(covered: Coverage | None) -> pd.DataFrame:
    columns = ["code", "buildings", "covered", "households", "covered_households", "pct"]
    rows = [] if covered is None else covered.by(covered.data.grid)
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
        ],
        columns=columns,
    )


def coverage_page(
    *,
    session: Session,
    coverage: CoverageService,
    minutes: float,
    suggest: int,
    tiles: Basemap,
) -> folium.Map:
    """Isochrones at 5/10/15 minutes (and ``minutes``), buildings covered at ``minutes``,
    optionally ``suggest`` new sites; grids and stations only when no network is loaded."""
    levels = tuple(sorted({*LEVELS_MIN, minutes}))
    covered = _covered(session, coverage, minutes=minutes)
    stations = stations_frame(session=session)
    buildings = gpd.GeoDataFrame({"covered": []}, geometry=[], crs=4326)
    areas = gpd.GeoDataFrame({"station": [], "minutes": []}, geometry=[], crs=4326)
    sites = None
    if covered is not None:
        data = covered.data
        buildings = gpd.GeoDataFrame(
            {"covered": covered.covered, "walk_m": data.walk_m},
            geometry=gpd.points_from_xy(data.buildings.lonlat[:, 0], data.buildings.lonlat[:, 1]),
            crs=4326,
        )
        _, polygons = coverage.isochrones(session, kind=None, levels=levels)  # id order, as ours
        areas = gpd.GeoDataFrame(
            {
                "station": np.repeat(stations["name"].to_numpy(), len(levels)),
                "minutes": np.tile(levels, len(stations)),
            },
            geometry=polygons.reshape(-1),
            crs=4326,
        )
        if suggest > 0:
            sites = _sites(session, coverage, minutes=minutes, count=suggest)
    return coverage_map(
        grids_frame(session=session),
        buildings=buildings,
        stations=stations,
        isochrones=areas[~areas.geometry.is_empty],
        suggestions=sites,
        per_grid=_per_grid(covered) if covered else None,
        basemap=tiles,
    )


def _sites(
    session: Session, coverage: CoverageService, *, minutes: float, count: int
) -> gpd.GeoDataFrame:
    """Greedy new sites among the network's nodes, with the households each adds."""
    suggestion = coverage.suggest(session, kind=None, minutes=minutes, count=count)
    chosen = suggestion.lonlat
    return gpd.GeoDataFrame(
        {
            "rank": np.arange(1, len(chosen) + 1),
            "households_added": np.round(suggestion.added_households).astype(int),
        },
        geometry=gpd.points_from_xy(chosen[:, 0], chosen[:, 1]),
        crs=4326,
    )


def compliance_page(
    *, session: Session, coverage: CoverageService, tiles: Basemap, kind: str | None = None
) -> folium.Map:
    """Grids by life-circle compliance (overall, or ``kind`` first; a selector on the page
    switches), homes by the facility kinds they miss, facilities by kind; grids and
    facilities only, with a note, before a walking network is imported."""
    grids = grids_frame(session=session)
    stations = stations_frame(session=session)
    homes = gpd.GeoDataFrame(geometry=[], crs=4326)
    if coverage.network(session) is None:
        notes = ["暂无步行网络 · no walking network yet: gridmap import network FILE"]
        return compliance_map(
            grids,
            kinds=[],
            per_grid=None,
            homes=homes,
            stations=stations,
            notes=notes,
            basemap=tiles,
        )
    coverage.check_facility_kind(session, kind)
    data = coverage.compliance(session)
    circles = Circles.of(data, speed_m_per_min=coverage.settings.walk_speed_m_per_min)
    table = circles.groups("grid")
    kinds = [
        KindInfo(
            kind=k.kind,
            name_zh=k.name_zh,
            name_en=k.name_en,
            radius_m=float(circles.radius_m[i]),
            facilities=data.facilities.get(k.kind, 0),
        )
        for i, k in enumerate(data.kinds)
    ]
    # % of households within each circle, of buildings where a grid has no households
    shares = 100.0 * np.where(
        table.households > 0, table.share("households"), table.share("buildings")
    )
    weakest = table.weakest()
    per_grid = pd.DataFrame(
        {
            "code": table.keys,
            "overall": np.round(shares.mean(axis=0), 1) if kinds else np.nan,
            "mean_score": np.round(table.mean_score, 2),
            "weakest_kind": [data.kinds[w].name_zh if w >= 0 else None for w in weakest],
            **{k.kind: np.round(shares[i], 1) for i, k in enumerate(kinds)},
        }
    )
    home = data.households > 0
    homes = gpd.GeoDataFrame(
        {k.kind: circles.within[i][home] for i, k in enumerate(kinds)},
        geometry=gpd.points_from_xy(data.buildings.lonlat[home, 0], data.buildings.lonlat[home, 1]),
        crs=4326,
    )
    none = [f"{k.name_zh} {k.kind}" for k in kinds if not k.facilities]
    notes = [f"{NO_FACILITY}: {', '.join(none)}"] if none else []
    traced = coverage.kind_reach(session, data)
    reach = gpd.GeoDataFrame(
        {"kind": [data.kinds[k].kind for k, _ in traced]},
        geometry=[area for _, area in traced],
        crs=4326,
    )
    return compliance_map(
        grids,
        kinds=kinds,
        per_grid=per_grid[per_grid["code"].astype(bool)],
        homes=homes,
        stations=stations,
        reach=reach[~reach.geometry.is_empty],
        kind=kind,
        notes=notes,
        basemap=tiles,
    )


def incidents_page(*, session: Session, tiles: Basemap, tiles_url: str | None = None) -> folium.Map:
    """Incidents embedded in the page, or drawn from the vector tiles at ``tiles_url`` when
    there are more than ``TILE_THRESHOLD``; without ``tiles_url`` (a standalone file, no server
    to fetch tiles from) they are always embedded."""
    grids = grids_frame(session=session)
    if (
        tiles_url is not None
        and incident_count(session=session, up_to=TILE_THRESHOLD + 1) > TILE_THRESHOLD
    ):
        return incidents_map(
            grids, incidents=None, lifecycle=LIFECYCLE, basemap=tiles, tiles_url=tiles_url
        )
    incidents = incidents_frame(session=session)
    return incidents_map(grids, incidents=incidents, lifecycle=LIFECYCLE, basemap=tiles)


def _moved_frame(moved: list[Moved]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": [m.id for m in moved],
            "from": [m.from_ for m in moved],
            "to": [m.to for m in moved],
        },
        geometry=gpd.points_from_xy([m.lon for m in moved], [m.lat for m in moved]),
        crs=4326,
    )


def redraw_page(*, result: Plan | None, session: Session, tiles: Basemap) -> folium.Map:
    """The preview of a validated change set: old and new boundaries, problems in red, the
    buildings and open incidents that change grid. Without one (``GET /maps/redraw``) the
    current grids, with a note on how to ask for a preview."""
    if result is None:
        grids = grids_frame(session=session)
        grids = grids[["code", "name", grids.geometry.name]]
        m = redraw_preview_map(
            grids,
            grids.iloc[:0],
            buildings_moved=_moved_frame([]),
            incidents_moved=_moved_frame([]),
            basemap=tiles,
        )
        add_notes(m, [REDRAW_HOWTO])
        return m
    old = gpd.GeoDataFrame(
        {"code": [g.code for g in result.closed], "name": [g.name for g in result.closed]},
        geometry=[g.geom for g in result.closed],
        crs=4326,
    )
    new = gpd.GeoDataFrame(
        {"code": [r.code for r in result.rows], "name": [r.name for r in result.rows]},
        geometry=[r.geom for r in result.rows],
        crs=4326,
    )
    problems = gpd.GeoDataFrame(
        {
            "kind": [p.kind for p in result.problems],
            "codes": [", ".join(p.codes) for p in result.problems],
            "area_m2": [round(p.area_m2, 1) for p in result.problems],
        },
        geometry=[p.where for p in result.problems],
        crs=4326,
    )
    return redraw_preview_map(
        old,
        new,
        buildings_moved=_moved_frame(result.buildings_moved),
        incidents_moved=_moved_frame(result.incidents_moved),
        problems=problems,
        basemap=tiles,
    )


REDRAW_HOWTO = (
    "预览: POST 变更集到 /maps/redraw · preview: POST a change set (the body of "
    "/api/v1/grids/validate) to /maps/redraw with an admin X-API-Key"
)


def stats_page(
    *, session: Session, measure: StatsMeasure, tiles: Basemap, timezone: str, now: datetime
) -> folium.Map:
    """Grids by closure rate or overdue count over the twelve months up to ``now`` (this one
    included, in ``timezone``), each with its monthly chart."""
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz)
    index = local.year * 12 + local.month - 1  # months since year 0, this one last
    months = [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - 11, index + 1)]
    start = datetime(int(months[0][:4]), int(months[0][5:]), 1, tzinfo=tz)
    rows = {
        r["key"]: r
        for r in incident_stats(session=session, by="grid", start=start, end=now, now=now)
    }
    monthly = monthly_by_grid(session=session, start=start, end=now, tz=timezone, months=months)
    grids = grids_frame(session=session)
    empty = {"total": 0, "closed": 0, "open": 0, "overdue": 0}

    def figure(code: str, name: str, scale: float = 1.0) -> Any:
        value = rows.get(code, empty).get(name)
        return None if value is None else round(value * scale, 1)

    for name in ("total", "closed", "open", "overdue"):
        grids[name] = [int(rows.get(c, empty)[name]) for c in grids["code"]]
    for name in ("closure_rate", "on_time_rate"):
        grids[name] = [figure(c, name, 100.0) for c in grids["code"]]
    grids["median_hours_to_close"] = [figure(c, "median_hours_to_close") for c in grids["code"]]
    grids["monthly"] = [
        ";".join(",".join(map(str, s)) for s in monthly[c]) if c in monthly else None
        for c in grids["code"]
    ]
    return stats_map(
        grids,
        measure=measure,
        months=months,
        period=f"{months[0]} – {months[-1]}",
        regions=regions_frame(session=session),
        basemap=tiles,
    )
