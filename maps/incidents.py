"""The incidents map: heat and clustered markers over the grids, filtered in the page by status,
category and a reported-by day slider (gridmap.incidents), each popup with its deadline; or,
when there are more than a page can hold, status dots drawn from vector tiles."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
from folium.elements import JSCSSMixin
from folium.plugins import HeatMap, MarkerCluster, VectorGridProtobuf
from folium.template import Template

from maps.basemap import OSM, Basemap, for_display, new_map
from maps.grids import NO_GRIDS
from maps.layers import (
    GRID_COLUMNS,
    GRIDMAP_CSS,
    GRIDMAP_JS,
    LegendSection,
    add_grids,
    add_legend,
    add_notes,
    located,
    require,
)
from maps.pack import columns_of, pack_points, script_data

INCIDENT_COLUMNS = ("id", "category", "status", "priority", "reported_at", "due_at", "grid_code")
TIMEZONE = "Asia/Shanghai"  # times are shown as wall-clock time here
UTC_OFFSET_MIN = 480


@dataclass(frozen=True, kw_only=True)
class Lifecycle:
    """The incident vocabulary a map draws: the caller passes data.lifecycle's (maps import
    nothing of data/). ``statuses``: status → label in lifecycle order; ``open``: the statuses
    whose passed deadline means overdue; ``priorities``: priority → label."""

    statuses: Mapping[str, str]
    open: Collection[str]
    priorities: Mapping[str, str]

    def colour(self, status: str) -> str:
        """Dot colour by lifecycle position; statuses outside it in grey."""
        order = list(self.statuses)
        return _STATUS_COLOURS[order.index(status)] if status in order else _OTHER_STATUS


_STATUS_COLOURS = ("#e6550d", "#fd8d3c", "#3182bd", "#31a354", "#969696", "#d9d9d9", "#756bb1")
_OTHER_STATUS = "#bdbdbd"
_LABELS = {
    "id": "编号 id",
    "category": "类别 category",
    "status": "状态 status",
    "priority": "优先级 priority",
    "grid": "网格 grid",
    "reported": "上报时间 reported",
    "due": "办理期限 due",
    "overdue": "已逾期 overdue",
    "until": "截至 until",
    "count": "此处同状态事件 incidents here with this status",
}
TILE_LAYER = "incidents"  # the layer name inside the incident tiles (data/tiles.py)
TILED = (
    "事件较多，以矢量瓦片显示，无热力图、聚合与筛选；点击圆点查看详情 · many incidents: drawn "
    "from vector tiles, without heat map, clusters or filters; click a dot for details"
)
TILED_UNSHIFTED = (
    "瓦片中的事件未偏移至高德坐标（GCJ-02），可能偏离数百米 · tiled incidents are not shifted "
    "to AMap's GCJ-02 and may sit a few hundred metres off"
)


def incidents_map(
    grids: gpd.GeoDataFrame,
    *,
    incidents: gpd.GeoDataFrame | None,
    lifecycle: Lifecycle,
    basemap: Basemap = OSM,
    tiles_url: str | None = None,
) -> folium.Map:
    """Grids (``code, name, community, households, worker_name``) under incidents (points with
    ``id, category, status, priority, reported_at, due_at, grid_code``) as heat, clusters and
    filters; or, with ``tiles_url`` (an XYZ template of the incident vector tiles served by the
    API, e.g. ``/tiles/incidents/{z}/{x}/{y}.pbf``), as dots drawn from those tiles, for more
    incidents than a page can embed. ``incidents`` is not drawn then, and may be None."""
    require(grids, GRID_COLUMNS, what="grids")
    shown = for_display(located(grids), basemap)
    source: str | gpd.GeoDataFrame  # the tiles' URL or the points themselves
    if tiles_url is not None:
        source = tiles_url
    elif incidents is not None:
        require(incidents, INCIDENT_COLUMNS, what="incidents")
        source = for_display(located(incidents), basemap)
    else:
        raise ValueError("incidents_map needs incidents or a tiles_url to draw them from")
    frames = [shown] if isinstance(source, str) else [shown, source]
    m = new_map(frames, basemap=basemap, title="事件 Incidents")
    notes = []
    if shown.empty:
        notes.append(NO_GRIDS)
    else:
        add_grids(m, shown)
    statuses: list[str] = []
    if isinstance(source, str):
        _IncidentTiles(source, lifecycle).add_to(m)
        statuses = list(lifecycle.statuses)
        notes.append(TILED)
        if basemap.gcj02:
            notes.append(TILED_UNSHIFTED)
    elif source.empty:
        notes.append("暂无事件 · no incidents yet")
    else:
        heat = HeatMap([], name="热力 heat", radius=20, blur=15, min_opacity=0.35)
        cluster = MarkerCluster(name="事件 incidents", options={"chunkedLoading": True})
        packed = pack_incidents(source, lifecycle)
        for element in (heat, cluster, _IncidentFilter(heat, cluster, packed)):
            element.add_to(m)
        statuses = _ordered(source["status"], lifecycle.statuses)
    if statuses:
        entries = [(lifecycle.colour(s), lifecycle.statuses.get(s, s)) for s in statuses]
        add_legend(m, [LegendSection("状态 status", entries, points=True)])
    folium.LayerControl(collapsed=False).add_to(m)
    add_notes(m, notes)
    return m


def pack_incidents(points: gpd.GeoDataFrame, lifecycle: Lifecycle) -> dict[str, Any]:
    """Incidents as the column arrays gridmap.incidents reads: coded categories, statuses and
    priorities, and times as wall-clock minutes since 1970 in ``TIMEZONE``."""
    statuses = _ordered(points["status"], lifecycle.statuses)
    priorities = _ordered(points["priority"], lifecycle.priorities)
    categories = sorted(points["category"].astype(str).unique())
    return pack_points(points) | {
        "id": points["id"].tolist(),
        "grid": columns_of(points, ["grid_code"])["grid_code"],
        "categories": categories,
        "cat": _codes(points["category"], categories),
        "statuses": [lifecycle.statuses.get(s, s) for s in statuses],
        "statusColors": [lifecycle.colour(s) for s in statuses],
        "open": [s in lifecycle.open for s in statuses],
        "st": _codes(points["status"], statuses),
        "priorities": [lifecycle.priorities.get(p, p) for p in priorities],
        "pr": _codes(points["priority"], priorities),
        "t": _wall_minutes(points["reported_at"]),
        "due": _wall_minutes(points["due_at"]),
        "utcOffset": UTC_OFFSET_MIN,
    }


def _ordered(values: pd.Series, known: Mapping[str, Any]) -> list[str]:
    """The distinct values, those in ``known`` first in its order."""
    present = set(values.astype(str))
    return [k for k in known if k in present] + sorted(present - known.keys())


def _codes(values: pd.Series, names: list[str]) -> list[int]:
    return pd.Categorical(values.astype(str), categories=names).codes.tolist()


def _wall_minutes(values: pd.Series) -> list[int | None]:
    times = pd.to_datetime(values)
    if times.dt.tz is not None:
        times = times.dt.tz_convert(TIMEZONE).dt.tz_localize(None)
    minutes = (times - pd.Timestamp(0)) // pd.Timedelta(minutes=1)
    return [None if pd.isna(v) else int(v) for v in minutes]


class _IncidentFilter(JSCSSMixin):
    """Status/category checkboxes and the day slider driving the heat and cluster layers."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        gridmap.incidents({{ this._parent.get_name() }}, {{ this.heat.get_name() }},
            {{ this.cluster.get_name() }}, {{ this.data }}, {{ this.labels|tojson }});
        {% endmacro %}"""
    )
    default_js = GRIDMAP_JS
    default_css = GRIDMAP_CSS

    def __init__(self, heat: HeatMap, cluster: MarkerCluster, data: dict[str, Any]) -> None:
        super().__init__()
        self._name = "IncidentFilter"
        self.heat = heat
        self.cluster = cluster
        self.data = script_data(data)
        self.labels = _LABELS


class _IncidentTiles(VectorGridProtobuf):
    """Incidents from vector tiles (gridmap.incidentTiles): dots in the legend's status colours
    and a popup per dot. folium's VectorGridProtobuf for its link to Leaflet.VectorGrid, which
    maps/assets.py replaces with the vendored copy; gridmap.js builds the layer."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        var {{ this.get_name() }} = gridmap.incidentTiles({{ this._parent.get_name() }},
            {{ this.url|tojson }}, {{ this.data }}, {{ this.labels|tojson }});
        {% endmacro %}"""
    )
    default_js = VectorGridProtobuf.default_js + GRIDMAP_JS
    default_css = GRIDMAP_CSS

    def __init__(self, url: str, lifecycle: Lifecycle) -> None:
        super().__init__(url, name="事件 incidents")
        self._name = "IncidentTiles"
        self.data = script_data(
            {
                "layer": TILE_LAYER,
                "statuses": dict(lifecycle.statuses),
                "colors": {s: lifecycle.colour(s) for s in lifecycle.statuses},
                "other": _OTHER_STATUS,
                "openStatuses": sorted(lifecycle.open),
                "priorities": dict(lifecycle.priorities),
                "utcOffset": UTC_OFFSET_MIN,
            }
        )
        self.labels = _LABELS
