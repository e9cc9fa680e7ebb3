"""The grids map: grid boundaries coloured by a measure, under street and community outlines."""

from __future__ import annotations

from typing import Literal

import folium
import geopandas as gpd

from maps.basemap import OSM, Basemap, for_display, new_map
from maps.layers import (
    COVERAGE_BREAKS,
    GRID_COLUMNS,
    LABELS,
    PALETTES,
    LegendSection,
    add_grids,
    add_legend,
    add_notes,
    add_regions,
    classify,
    located,
    require,
)

Measure = Literal["households", "open_incidents", "coverage_pct"]

NO_GRIDS = "暂无网格数据 · no grids yet"


def grids_map(
    grids: gpd.GeoDataFrame,
    *,
    regions: gpd.GeoDataFrame | None = None,
    measure: Measure | None = "households",
    basemap: Basemap = OSM,
) -> folium.Map:
    """Grids (columns ``code, name, community, households, worker_name`` and ``measure``) as a
    choropleth of ``measure`` with a legend, tooltips, a details popup and search by code;
    ``regions`` (``code, level, name, parent``) adds street and community outlines."""
    require(grids, [*GRID_COLUMNS, *([measure] if measure else [])], what="grids")
    shown = for_display(located(grids), basemap)
    m = new_map([shown], basemap=basemap, title="网格 Grids")
    if shown.empty:
        add_notes(m, [NO_GRIDS])
        return m
    if measure is None:
        add_grids(m, shown)
    else:
        fill = classify(
            shown[measure],
            palette=PALETTES[measure],
            breaks=COVERAGE_BREAKS if measure == "coverage_pct" else None,
        )
        add_grids(m, shown, fill=fill, popup_columns=[*GRID_COLUMNS, measure])
        add_legend(m, [LegendSection(LABELS[measure], fill.legend)])
    if regions is not None:
        add_regions(m, for_display(located(regions), basemap))
    folium.LayerControl(collapsed=False).add_to(m)
    return m
