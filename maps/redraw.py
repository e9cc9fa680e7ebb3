"""The redraw preview: a grid redraw's old and new boundaries as two toggleable layers, the
problems it would leave (gaps, overlaps, …) in red, and the buildings and open incidents that
would change grid."""

from __future__ import annotations

import folium
import geopandas as gpd

from maps.basemap import OSM, Basemap, for_display, new_map
from maps.layers import LegendSection, PolygonLayer, add_legend, add_notes, located, require
from maps.pack import features

MOVED_COLUMNS = ("id", "from", "to")
OLD, NEW = "#7f7f7f", "#1f5fbf"
BUILDING, INCIDENT = "#7b3294", "#d7191c"
PROBLEM = "#e41a1c"
PROBLEM_COLUMNS = ("kind", "codes", "area_m2")


def redraw_preview_map(
    old: gpd.GeoDataFrame,
    new: gpd.GeoDataFrame,
    *,
    buildings_moved: gpd.GeoDataFrame,
    incidents_moved: gpd.GeoDataFrame,
    problems: gpd.GeoDataFrame | None = None,
    basemap: Basemap = OSM,
) -> folium.Map:
    """``old`` and ``new`` grids (``code``, and ``name`` when present; retired grids only in
    ``old``, created ones only in ``new``), points with ``id, from, to`` for the buildings
    and incidents whose grid changes, and ``problems`` (``kind, codes, area_m2`` with where
    they are) drawn in red."""
    for what, frame in (("old", old), ("new", new)):
        require(frame, ["code"], what=what)
    for what, frame in (("buildings_moved", buildings_moved), ("incidents_moved", incidents_moved)):
        require(frame, MOVED_COLUMNS, what=what)
    before, after = (for_display(located(f), basemap) for f in (old, new))
    buildings, incidents = (
        for_display(located(f), basemap) for f in (buildings_moved, incidents_moved)
    )
    m = new_map([before, after, buildings, incidents], basemap=basemap, title="网格调整预览 Redraw")
    notes = []
    layers = (
        (
            before,
            "原边界 old boundaries",
            {"color": OLD, "weight": 2, "dashArray": "6 4", "fillOpacity": 0.05},
        ),
        (after, "新边界 new boundaries", {"color": NEW, "weight": 2.5, "fillOpacity": 0.12}),
    )
    for frame, name, style in layers:
        if frame.empty:
            notes.append(f"{name}: 无 none")
            continue
        columns = [c for c in ("code", "name") if c in frame.columns]
        PolygonLayer(
            frame, name=name, style=style, partition=True, columns=columns, tooltip=columns
        ).add_to(m)
    points = (
        (buildings, "建筑 buildings", BUILDING, "无建筑变更网格 · no buildings move"),
        (incidents, "事件 open incidents", INCIDENT, "无事件变更网格 · no open incidents move"),
    )
    for frame, name, colour, none in points:
        if frame.empty:
            notes.append(none)
            continue
        folium.GeoJson(
            features(frame, list(MOVED_COLUMNS)),
            name=f"{name} ({len(frame):,})",
            marker=folium.CircleMarker(
                radius=5, color="#ffffff", weight=1, fill_color=colour, fill_opacity=0.9
            ),
            tooltip=folium.GeoJsonTooltip(
                fields=list(MOVED_COLUMNS), aliases=["id", "原 from", "新 to"]
            ),
        ).add_to(m)
    if problems is not None and not problems.empty:
        require(problems, PROBLEM_COLUMNS, what="problems")
        shown = for_display(located(problems), basemap)
        folium.GeoJson(
            features(shown, list(PROBLEM_COLUMNS)),
            name=f"问题 problems ({len(shown):,})",
            style_function=lambda _: {
                "color": PROBLEM,
                "weight": 3,
                "fillColor": PROBLEM,
                "fillOpacity": 0.5,
            },
            marker=folium.CircleMarker(radius=7, color=PROBLEM, fill_color=PROBLEM),
            tooltip=folium.GeoJsonTooltip(
                fields=list(PROBLEM_COLUMNS), aliases=["问题 kind", "网格 codes", "m²"]
            ),
        ).add_to(m)
    elif problems is not None:
        notes.append("无拓扑问题 · no gaps or overlaps")
    add_legend(
        m,
        [
            LegendSection(
                "边界 boundaries",
                [(OLD, layers[0][1]), (NEW, layers[1][1]), (PROBLEM, "问题 problems")],
            ),
            LegendSection(
                "变更网格 changing grid",
                [(BUILDING, points[0][1]), (INCIDENT, points[1][1])],
                points=True,
            ),
        ],
    )
    folium.LayerControl(collapsed=False).add_to(m)
    add_notes(m, notes)
    return m
