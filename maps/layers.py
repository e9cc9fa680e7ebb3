"""Layers and controls shared by the map builders: packed polygon and point layers drawn by
gridmap.js, the grid and region layers built on them, choropleth classes, legends and notes."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any, Literal, NamedTuple

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from folium.elements import JSCSSMixin
from folium.plugins import Search
from folium.template import Template
from numpy.typing import NDArray

from maps.pack import (
    columns_of,
    pack_points,
    pack_polygons,
    script_data,
    simplified,
    text_html,
)

NO_DATA = "#cccccc"
LABELS = {
    "code": "编码 code",
    "name": "名称 name",
    "community": "社区 community",
    "worker_name": "网格员 worker",
    "households": "户数 households",
    "open_incidents": "未结事件 open incidents",
    "coverage_pct": "覆盖率 coverage %",
    "buildings": "建筑 buildings",
    "covered": "覆盖建筑 covered",
    "covered_households": "覆盖户数 covered households",
    "pct": "覆盖率 coverage %",
    "total": "事件 reports",
    "closed": "结案 closed",
    "open": "未结 open",
    "overdue": "超期 overdue",
    "closure_rate": "结案率 closure %",
    "on_time_rate": "按期率 on time %",
    "median_hours_to_close": "结案中位时长 median hours to close",
    "monthly": "逐月 by month: filed / closed",
}
PALETTES = {  # ColorBrewer, 5 classes
    "households": ("#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"),
    "open_incidents": ("#fef0d9", "#fdcc8a", "#fc8d59", "#e34a33", "#b30000"),
    "coverage_pct": ("#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850"),
}
COVERAGE_BREAKS = (50.0, 70.0, 85.0, 95.0)  # percent; fixed so maps compare across runs
GRID_COLUMNS = ("code", "name", "community", "households", "worker_name")
REGION_COLUMNS = ("code", "level", "name", "parent")

GRIDMAP_JS = [("gridmap.js", "gridmap/gridmap.js")]
GRIDMAP_CSS = [("gridmap.css", "gridmap/gridmap.css")]


def require(frame: pd.DataFrame, columns: Sequence[str], *, what: str) -> None:
    """Fail early, naming the missing columns, rather than deep inside folium."""
    if missing := [c for c in columns if c not in frame.columns]:
        raise ValueError(f"{what} lacks columns {missing}")


def located(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rows that have a geometry: the rest cannot be drawn."""
    geoms = frame.geometry
    return frame[geoms.notna() & ~geoms.is_empty]


class Fill(NamedTuple):
    """Choropleth classes: ``classes[i]`` indexes ``colours`` for row i."""

    classes: NDArray[np.int64]
    colours: list[str]
    legend: list[tuple[str, str]]  # (colour, label)


class PolygonLayer(JSCSSMixin, folium.map.Layer):
    """Polygons from packed data on the map's canvas (gridmap.polygons), simplified (as a
    ``partition`` when they are one); optional choropleth ``fill``; with ``columns``, popup
    tables of them, tooltips of the ``tooltip`` ones and hover highlight; with a ``search``
    placeholder, a search box finding polygons by ``code``; ``bars`` names columns drawn as
    small bar charts in the popup (with their category labels)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        var {{ this.get_name() }} = gridmap.polygons({{ this.data }}, {{ this.options|tojson }});
        {%- if this.search %}
        gridmap.search({{ this._parent.get_name() }}, {{ this.get_name() }},
            {{ this.search|tojson }});
        {%- endif %}
        {% endmacro %}"""
    )

    def __init__(
        self,
        frame: gpd.GeoDataFrame,
        *,
        name: str,
        style: dict[str, Any],
        partition: bool,
        columns: Sequence[str] = (),
        tooltip: Sequence[str] = (),
        fill: Fill | None = None,
        search: str | None = None,
        bars: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "PolygonLayer"
        packed = pack_polygons(simplified(frame, coverage=partition), list(columns))
        interactive = bool(columns)
        self.options: dict[str, Any] = {
            "style": {**style, "interactive": interactive},
            # a column in ``bars`` holds "a1,a2,…;b1,b2,…": drawn as paired bars, one pair per
            # label (e.g. months), in the popup
            "popup": [
                [c, LABELS.get(c, c), *([(bars or {})[c]] if c in (bars or {}) else [])]
                for c in columns
            ],
            "tooltip": [[c, LABELS.get(c, c)] for c in tooltip],
            "highlight": {"weight": style.get("weight", 1) + 2, "color": "#111111"},
        }
        if fill is not None:
            packed["cls"] = fill.classes.tolist()
            self.options["colors"] = fill.colours
        self.data = script_data(packed)
        self.search = {"property": "code", "placeholder": search} if search else None
        self.default_js = GRIDMAP_JS + (Search.default_js if search else [])
        self.default_css = GRIDMAP_CSS + (Search.default_css if search else [])


def add_grids(
    m: folium.Map,
    grids: gpd.GeoDataFrame,
    *,
    fill: Fill | None = None,
    popup_columns: Sequence[str] = GRID_COLUMNS,
) -> str:
    """The grid polygons with tooltips, a details popup and search by code; without ``fill``
    they are outlines over a faint fill, which still takes hovers and clicks. Returns the
    layer's JS name."""
    style = {"color": "#2b4c7e", "weight": 1, "fillColor": "#6a8fc7"}
    style["fillOpacity"] = 0.65 if fill is not None else 0.08
    layer = PolygonLayer(
        grids,
        name="网格 grids",
        style=style,
        partition=True,
        columns=list(dict.fromkeys([*GRID_COLUMNS, *popup_columns])),
        tooltip=GRID_COLUMNS,
        fill=fill,
        search="网格编码 grid code",
    )
    layer.add_to(m)
    return layer.get_name()


def add_regions(m: folium.Map, regions: gpd.GeoDataFrame) -> None:
    """Community and street outlines over the grids, letting clicks through to them."""
    require(regions, REGION_COLUMNS, what="regions")
    for level, name, weight in (
        ("community", "社区 communities", 2),
        ("street", "街道 streets", 3.5),
    ):
        part = located(regions[regions["level"] == level])
        if not part.empty:
            style = {"color": "#222222", "weight": weight, "fill": False}
            PolygonLayer(part, name=name, style=style, partition=True).add_to(m)


def classify(
    values: pd.Series, *, palette: Sequence[str], breaks: Sequence[float] | None = None
) -> Fill:
    """Choropleth classes of ``values``: by fixed ``breaks`` (lower bounds of the upper
    classes, e.g. coverage percentages) or, by default, by quintiles of the data rounded to
    integers; missing values get a grey class of their own."""
    numbers = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    side: Literal["left", "right"]
    known = numbers[~np.isnan(numbers)]
    if not len(known):
        return Fill(np.zeros(len(numbers), np.int64), [NO_DATA], [(NO_DATA, "无数据 no data")])
    if breaks is None:
        bounds = np.unique(np.round(np.quantile(known, [0.2, 0.4, 0.6, 0.8])))
        bounds = bounds[bounds < known.max()]
        labels = _class_labels(bounds, below="≤", above=">") if len(bounds) else [f"{known[0]:g}"]
        side = "left"  # classes are (b_i-1, b_i]
    else:
        bounds = np.asarray(breaks, dtype=np.float64)
        labels = _class_labels(bounds, below="<", above="≥")
        side = "right"  # classes are [b_i-1, b_i)
    n = len(bounds) + 1
    colours = [palette[round(i)] for i in np.linspace(0, len(palette) - 1, n)]
    classes = np.searchsorted(bounds, numbers, side=side).astype(np.int64)
    legend = list(zip(colours, labels, strict=True))
    if np.isnan(numbers).any():
        classes[np.isnan(numbers)] = n
        colours.append(NO_DATA)
        legend.append((NO_DATA, "无数据 no data"))
    return Fill(classes, colours, legend)


def _class_labels(bounds: NDArray[np.floating[Any]], *, below: str, above: str) -> list[str]:
    inner = [f"{a:g}–{b:g}" for a, b in pairwise(bounds)]
    return [f"{below} {bounds[0]:g}", *inner, f"{above} {bounds[-1]:g}"]


class PointLayer(JSCSSMixin, folium.map.Layer):
    """Many points painted on canvas tiles (gridmap.PointLayer), one colour per class; for
    tens of thousands of buildings, which as markers or GeoJSON would stall the page."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        var {{ this.get_name() }} = gridmap.pointLayer({{ this.data }},
            {{ this.options|tojson }});
        {% endmacro %}"""
    )
    default_js = GRIDMAP_JS
    default_css = GRIDMAP_CSS

    def __init__(
        self,
        points: gpd.GeoDataFrame,
        classes: NDArray[np.integer[Any]],
        *,
        colours: Sequence[str],
        name: str,
    ) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "PointLayer"
        order = np.argsort(points.geometry.x.to_numpy(), kind="stable")  # see gridmap.js
        classes = np.asarray(classes, dtype=np.int64)[order]
        packed = pack_points(points.iloc[order]) | {"cls": classes.tolist()}
        self.data = script_data(packed)
        self.options = {"colors": list(colours)}


class MarkerLayer(JSCSSMixin, folium.map.Layer):
    """Markers with Font Awesome icons (gridmap.markers), ``styles[style[i]]`` = (icon,
    awesome-markers colour) for point i; tooltips of ``title`` and the ``tooltip`` columns,
    popup tables of the ``popup`` columns. One element for hundreds of stations: folium would
    emit four each, and compiling their templates alone takes seconds."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        var {{ this.get_name() }} = gridmap.markers({{ this.data }}, {{ this.options|tojson }});
        {% endmacro %}"""
    )
    default_js = GRIDMAP_JS
    default_css = GRIDMAP_CSS

    def __init__(
        self,
        points: gpd.GeoDataFrame,
        style: NDArray[np.integer[Any]],
        *,
        styles: Sequence[tuple[str, str]],
        name: str,
        title: str | None = None,
        tooltip: Sequence[str] = (),
        popup: Sequence[str] = (),
    ) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "MarkerLayer"
        columns = list(dict.fromkeys([*tooltip, *popup]))
        packed = pack_points(points) | {
            "style": np.asarray(style, dtype=np.int64).tolist(),
            "props": columns_of(points, columns),
        }
        self.data = script_data(packed)
        self.options = {
            "styles": [{"icon": icon, "color": colour} for icon, colour in styles],
            "title": title,
            "tooltip": list(tooltip),
            "popup": [[c, LABELS.get(c, c)] for c in popup],
        }


class _Info(JSCSSMixin):
    """A box of trusted HTML in a map corner (gridmap.info)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        gridmap.info({{ this._parent.get_name() }}, {{ this.html|tojson }},
            {{ this.options|tojson }});
        {% endmacro %}"""
    )
    default_js = GRIDMAP_JS
    default_css = GRIDMAP_CSS

    def __init__(self, body: str, *, position: str, class_name: str) -> None:
        super().__init__()
        self._name = "Info"
        self.html = body
        self.options = {"position": position, "className": class_name}


class LegendSection(NamedTuple):
    title: str
    rows: Sequence[tuple[str, str]]  # (colour, label)
    points: bool = False  # round swatches, for point layers


def add_legend(m: folium.Map, sections: Sequence[LegendSection]) -> None:
    """One legend box for the map; labels are escaped here because they become HTML."""
    body = ""
    for section in sections:
        shape = "gridmap-swatch gridmap-round" if section.points else "gridmap-swatch"
        body += f"<h4>{text_html(section.title)}</h4>" + "".join(
            f'<div class="gridmap-legend-row"><span class="{shape}" '
            f'style="background:{text_html(colour)}"></span>{text_html(label)}</div>'
            for colour, label in section.rows
        )
    if body:
        _Info(body, position="bottomright", class_name="gridmap-legend").add_to(m)


def add_notes(m: folium.Map, notes: Sequence[str], *, position: str = "topright") -> None:
    """A visible note for each layer that has no data yet, so that an empty map is not taken
    for a broken one; ``position`` moves it out of the way of a tall layer list."""
    if notes:
        body = "".join(f"<p>{text_html(n)}</p>" for n in notes)
        _Info(body, position=position, class_name="gridmap-note").add_to(m)
