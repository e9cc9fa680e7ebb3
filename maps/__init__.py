"""Folium map builders: functions taking GeoDataFrames (EPSG:4326) and returning folium.Map,
and the renderers that make the pages work without a CDN."""

from maps.assets import render_file, render_page, static_dir
from maps.basemap import OSM, Basemap
from maps.compliance import compliance_map
from maps.coverage import coverage_map
from maps.grids import grids_map
from maps.incidents import Lifecycle, incidents_map
from maps.redraw import redraw_preview_map
from maps.stats import stats_map

__all__ = [
    "OSM",
    "Basemap",
    "Lifecycle",
    "compliance_map",
    "coverage_map",
    "grids_map",
    "incidents_map",
    "redraw_preview_map",
    "render_file",
    "render_page",
    "static_dir",
    "stats_map",
]
