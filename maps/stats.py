"""The statistics map: grids coloured by closure rate or overdue count over the period, each
popup with the grid's figures and a bar chart of reports filed and closed per month."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import folium
import geopandas as gpd

from maps.basemap import OSM, Basemap, for_display, new_map
from maps.grids import NO_GRIDS
from maps.layers import (
    GRID_COLUMNS,
    LABELS,
    PALETTES,
    LegendSection,
    PolygonLayer,
    add_legend,
    add_notes,
    add_regions,
    classify,
    located,
    require,
)

StatsMeasure = Literal["closure_rate", "overdue"]
STATS_COLUMNS = ("total", "closed", "open", "overdue", "closure_rate", "on_time_rate",
                 "median_hours_to_close", "monthly")  # fmt: skip
CLOSURE_BREAKS = (80.0, 90.0, 95.0, 98.0)  # percent closed; fixed so months compare
NO_REPORTS = "暂无事件数据 · no reports in this period yet"


def stats_map(
    grids: gpd.GeoDataFrame,
    *,
    measure: StatsMeasure = "closure_rate",
    months: Sequence[str] = (),
    period: str = "",
    regions: gpd.GeoDataFrame | None = None,
    basemap: Basemap = OSM,
) -> folium.Map:
    """Grids (``GRID_COLUMNS`` plus ``STATS_COLUMNS``: closure and on-time rates in percent,
    ``monthly`` as ``"r1,r2,…;c1,c2,…"`` — reports filed and closed in each of ``months``)
    as a choropleth of ``measure``; ``period`` names the time span in the legend."""
    require(grids, [*GRID_COLUMNS, *STATS_COLUMNS], what="grids")
    shown = for_display(located(grids), basemap)
    m = new_map([shown], basemap=basemap, title="事件统计 Incident statistics")
    if shown.empty:
        add_notes(m, [NO_GRIDS])
        return m
    if measure == "closure_rate":
        fill = classify(shown["closure_rate"], palette=PALETTES["coverage_pct"],
                        breaks=CLOSURE_BREAKS)  # fmt: skip
    else:
        fill = classify(shown["overdue"], palette=PALETTES["open_incidents"])
    popup = [*GRID_COLUMNS, *STATS_COLUMNS]
    PolygonLayer(
        shown,
        name="网格 grids",
        style={"color": "#2b4c7e", "weight": 1, "fillColor": "#6a8fc7", "fillOpacity": 0.65},
        partition=True,
        columns=popup,
        tooltip=["code", "name", measure],
        fill=fill,
        search="网格编码 grid code",
        bars={"monthly": [str(m) for m in months]},
    ).add_to(m)
    add_legend(m, [LegendSection(f"{LABELS[measure]} {period}".strip(), fill.legend)])
    if int(shown["total"].fillna(0).sum()) == 0:
        add_notes(m, [NO_REPORTS])
    if regions is not None:
        add_regions(m, for_display(located(regions), basemap))
    folium.LayerControl(collapsed=False).add_to(m)
    return m
