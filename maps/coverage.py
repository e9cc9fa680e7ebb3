"""The 15-minute service-circle map: isochrones per walking time, buildings covered or not,
stations by kind, suggested sites, and per-grid coverage in each grid's popup."""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from maps.basemap import OSM, Basemap, for_display, new_map
from maps.grids import NO_GRIDS
from maps.layers import (
    COVERAGE_BREAKS,
    GRID_COLUMNS,
    LABELS,
    PALETTES,
    LegendSection,
    MarkerLayer,
    PointLayer,
    PolygonLayer,
    add_grids,
    add_legend,
    add_notes,
    classify,
    located,
    require,
)

PER_GRID_COLUMNS = ("code", "buildings", "covered", "households", "covered_households", "pct")
COVERED, UNCOVERED = "#1a9850", "#d73027"
ISOCHRONE_COLOURS = ("#006837", "#31a354", "#78c679", "#c2e699", "#ffffcc")  # nearest first

# Font Awesome icon and awesome-marker colour per station kind (the sample city's kinds).
STATION_STYLES = {
    "community_service": ("people-roof", "blue"),
    "elderly_care": ("person-cane", "purple"),
    "kindergarten": ("children", "pink"),
    "primary_school": ("school", "orange"),
    "secondary_school": ("graduation-cap", "darkred"),
    "health": ("user-doctor", "red"),
    "hospital": ("hospital", "darkred"),
    "market": ("basket-shopping", "green"),
    "post": ("envelope", "cadetblue"),
    "culture": ("book", "darkpurple"),
    "police": ("shield-halved", "darkblue"),
    "government": ("landmark", "gray"),
}
OTHER_STATION = ("location-dot", "lightgray")
SUGGESTED = "建议选址 suggested sites"
# awesome-markers colour names as CSS colours, for the legend swatches.
_MARKER_CSS = {
    "blue": "#38aadd",
    "purple": "#d252b9",
    "pink": "#ff8ee9",
    "orange": "#f69730",
    "darkred": "#a23336",
    "red": "#d63e2a",
    "green": "#72b026",
    "cadetblue": "#436978",
    "darkpurple": "#5b396b",
    "darkblue": "#0067a3",
    "gray": "#575757",
    "lightgray": "#a3a3a3",
}


def coverage_map(
    grids: gpd.GeoDataFrame,
    *,
    buildings: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    isochrones: gpd.GeoDataFrame,
    suggestions: gpd.GeoDataFrame | None = None,
    per_grid: pd.DataFrame | None = None,
    basemap: Basemap = OSM,
) -> folium.Map:
    """Coverage of one walking time.

    ``grids``: ``code, name, community, households, worker_name``; ``buildings``: points with
    ``covered`` (bool; ``walk_m`` is not drawn); ``stations``: points with ``kind`` and
    ``name``; ``isochrones``: polygons with ``minutes`` (one toggleable layer per value);
    ``suggestions``: proposed sites, every column shown in their popup; ``per_grid``:
    ``code, buildings, covered, households, covered_households, pct``, which colours the grids
    by ``pct`` and fills their popups (its households, counted over buildings, are shown).
    """
    require(grids, GRID_COLUMNS, what="grids")
    require(buildings, ["covered"], what="buildings")
    require(stations, ["kind", "name"], what="stations")
    require(isochrones, ["minutes"], what="isochrones")
    shown = {
        name: for_display(located(frame), basemap)
        for name, frame in (
            ("grids", grids),
            ("buildings", buildings),
            ("stations", stations),
            ("isochrones", isochrones),
        )
    }
    m = new_map(list(shown.values()), basemap=basemap, title="服务圈覆盖 Coverage")
    legend: list[LegendSection] = []
    notes: list[str] = []

    if shown["grids"].empty:
        notes.append(NO_GRIDS)
    elif per_grid is None:
        add_grids(m, shown["grids"])
    else:
        legend.append(_add_coverage_grids(m, shown["grids"], per_grid))
    if shown["isochrones"].empty:
        notes.append("暂无服务圈 · no isochrones yet")
    else:
        legend.append(_add_isochrones(m, shown["isochrones"]))
    if shown["buildings"].empty:
        notes.append("暂无建筑数据 · no buildings yet")
    else:
        legend.append(_add_buildings(m, shown["buildings"]))
    if shown["stations"].empty:
        notes.append("暂无服务站 · no stations yet")
    else:
        legend.append(add_stations(m, shown["stations"]))
    if suggestions is not None and not (sites := for_display(located(suggestions), basemap)).empty:
        _add_suggestions(m, sites)
        legend.append(LegendSection(SUGGESTED, [(_MARKER_CSS["purple"], SUGGESTED)], points=True))

    folium.LayerControl(collapsed=False).add_to(m)
    add_legend(m, legend)
    add_notes(m, notes)
    return m


def _add_coverage_grids(
    m: folium.Map, grids: gpd.GeoDataFrame, per_grid: pd.DataFrame
) -> LegendSection:
    """Grids coloured by coverage %, their popups carrying the per-grid coverage table."""
    require(per_grid, PER_GRID_COLUMNS, what="per_grid")
    table = per_grid.assign(code=per_grid["code"].astype(str)).set_index("code")
    joined = grids.assign(code=grids["code"].astype(str)).drop(columns="households")
    joined = joined.join(table[list(PER_GRID_COLUMNS[1:])], on="code")
    fill = classify(joined["pct"], palette=PALETTES["coverage_pct"], breaks=COVERAGE_BREAKS)
    add_grids(m, joined, fill=fill, popup_columns=[*GRID_COLUMNS, *PER_GRID_COLUMNS[1:]])
    return LegendSection(LABELS["pct"], fill.legend)


def _add_buildings(m: folium.Map, buildings: gpd.GeoDataFrame) -> LegendSection:
    covered = buildings["covered"].eq(True).to_numpy()  # missing counts as not covered
    colours = [COVERED, UNCOVERED]
    PointLayer(buildings, np.where(covered, 0, 1), colours=colours, name="建筑 buildings").add_to(m)
    rows = [
        (COVERED, f"已覆盖 covered ({covered.sum():,})"),
        (UNCOVERED, f"未覆盖 not covered ({(~covered).sum():,})"),
    ]
    return LegendSection("建筑 buildings", rows, points=True)


def _add_isochrones(m: folium.Map, isochrones: gpd.GeoDataFrame) -> LegendSection:
    """One layer per walking time over the grids, each the union of the stations' areas
    (overlapping translucent circles would darken into noise), the farthest drawn first."""
    levels = sorted(isochrones["minutes"].unique())
    rows = []
    for rank, minutes in reversed(list(enumerate(levels))):
        part = isochrones[isochrones["minutes"] == minutes]
        union = gpd.GeoDataFrame(geometry=[shapely.union_all(part.geometry.values)], crs=4326)
        colour = ISOCHRONE_COLOURS[min(rank, len(ISOCHRONE_COLOURS) - 1)]
        label = f"{minutes:g} 分钟 min walk"
        style = {"color": colour, "weight": 1, "fillColor": colour, "fillOpacity": 0.25}
        PolygonLayer(union, name=label, style=style, partition=False).add_to(m)
        rows.append((colour, label))
    return LegendSection("步行可达 walking reach", rows[::-1])


def add_stations(m: folium.Map, stations: gpd.GeoDataFrame) -> LegendSection:
    kinds = stations["kind"].astype(str)
    present = sorted(set(kinds))
    styles = [STATION_STYLES.get(k, OTHER_STATION) for k in present]
    MarkerLayer(
        stations.assign(kind=kinds),
        np.searchsorted(present, kinds),
        styles=styles,
        name="服务站 stations",
        tooltip=["name", "kind"],
    ).add_to(m)
    rows = [(_MARKER_CSS[colour], kind) for kind, (_, colour) in zip(present, styles, strict=True)]
    return LegendSection("服务站 stations", rows, points=True)


def _add_suggestions(m: folium.Map, sites: gpd.GeoDataFrame) -> None:
    """Proposed sites, each popup listing every column the caller gave (e.g. households added)."""
    columns = [c for c in sites.columns if c != sites.geometry.name]
    MarkerLayer(
        sites,
        np.zeros(len(sites), dtype=np.int64),
        styles=[("star", "purple")],
        name=SUGGESTED,
        title=SUGGESTED,
        popup=columns,
    ).add_to(m)
