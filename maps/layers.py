"""Building blocks shared by the map builders: compact GeoJSON, the grid and region layers,
the canvas point layer, legends and notes.

Size is what decides whether a 6,500-grid city opens at all, so geometry is simplified in
metres and rounded to ``PRECISION`` decimals, features carry only the columns shown, and large
point sets travel as integer offsets drawn on canvas tiles (gridmap.js) rather than as one
GeoJSON feature and DOM node each.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any, NamedTuple

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.elements import JSCSSMixin
from folium.plugins import Search
from folium.template import Template
from numpy.typing import NDArray

from geo.crs import from_metric, to_metric, utm_epsg

PRECISION = 6  # decimal degrees kept: ~0.1 m, far below a screen pixel at any zoom
SIMPLIFY_M = 2.0  # metres: invisible at street zoom, and drops most of a boundary's vertices
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


def simplified(frame: gpd.GeoDataFrame, *, coverage: bool) -> gpd.GeoDataFrame:
    """``frame`` with its polygons simplified by ``SIMPLIFY_M`` in the local UTM zone.

    ``coverage=True`` for partitions (grids, communities, streets): edges shared by two
    neighbours are simplified once, so no slivers open between them.
    """
    if frame.empty:
        return frame
    minx, miny, maxx, maxy = frame.total_bounds
    epsg = utm_epsg((minx + maxx) / 2, (miny + maxy) / 2)

    def forward(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack(to_metric(xy[:, 0], xy[:, 1], epsg))

    def back(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack(from_metric(xy[:, 0], xy[:, 1], epsg))

    metric = shapely.transform(np.asarray(frame.geometry.values), forward)
    if coverage:
        metric = shapely.coverage_simplify(metric, SIMPLIFY_M)
    else:
        metric = shapely.simplify(metric, SIMPLIFY_M, preserve_topology=True)
    geoms = gpd.GeoSeries(shapely.transform(metric, back), index=frame.index, crs=4326)
    return frame.assign(**{frame.geometry.name: geoms})


def features(frame: gpd.GeoDataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """A FeatureCollection of ``frame`` keeping only ``columns``, coordinates rounded to
    ``PRECISION``, strings HTML-escaped (folium's tooltips and popups insert them as HTML),
    and ``code`` as the feature id when present (folium keys its per-feature styles on it)."""
    geoms = shapely.transform(np.asarray(frame.geometry.values), lambda xy: np.round(xy, PRECISION))
    texts = shapely.to_geojson(geoms)
    rows = _records(frame, columns)
    ids = frame["code"].astype(str).tolist() if "code" in frame.columns else None
    out = []
    for i, (text, props) in enumerate(zip(texts, rows, strict=True)):
        feature: dict[str, Any] = {"type": "Feature", "properties": props}
        if ids is not None:
            feature["id"] = ids[i]
        feature["geometry"] = json.loads(text)
        out.append(feature)
    return {"type": "FeatureCollection", "features": out}


def _records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    table = frame[list(columns)].astype(object)
    table = table.where(table.notna(), None)
    rows: list[dict[str, Any]] = table.to_dict("records")
    for row in rows:
        for key, value in row.items():
            if isinstance(value, str):
                row[key] = html.escape(value)
            elif isinstance(value, np.generic):
                row[key] = value.item()
    return rows


def add_grids(
    m: folium.Map,
    grids: gpd.GeoDataFrame,
    *,
    fill: pd.Series | None = None,
    popup_columns: Sequence[str] = GRID_COLUMNS,
    name: str = "网格 grids",
    search: bool = True,
) -> folium.GeoJson:
    """The grid polygons with tooltips, a details popup and search by code.

    ``fill`` holds a colour per grid (aligned with ``grids``); without it grids are outlines
    over a faint fill, which still takes clicks.
    """
    data = features(simplified(grids, coverage=True), list(dict.fromkeys(popup_columns)))
    colours = dict(zip(grids["code"].astype(str), fill, strict=True)) if fill is not None else {}

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        colour = colours.get(feature["id"])
        return {
            "color": "#2b4c7e",
            "weight": 1,
            "fillColor": colour or "#6a8fc7",
            "fillOpacity": 0.65 if colour else 0.08,
        }

    layer = folium.GeoJson(
        data,
        name=name,
        style_function=style,
        highlight_function=lambda _: {"weight": 3, "color": "#111111"},
        tooltip=folium.GeoJsonTooltip(
            fields=list(GRID_COLUMNS), aliases=[LABELS[c] for c in GRID_COLUMNS]
        ),
        popup=folium.GeoJsonPopup(
            fields=list(popup_columns), aliases=[LABELS.get(c, c) for c in popup_columns]
        ),
    ).add_to(m)
    if search and data["features"]:
        Search(
            layer=layer,
            search_label="code",
            geom_type="Polygon",
            placeholder="网格编码 grid code",
            collapsed=False,
            position="topleft",
        ).add_to(m)
    return layer


def add_regions(m: folium.Map, regions: gpd.GeoDataFrame) -> None:
    """Street and community outlines over the grids; they let clicks through to the grids."""
    require(regions, REGION_COLUMNS, what="regions")
    for level, name, weight in (
        ("community", "社区 communities", 2),
        ("street", "街道 streets", 3.5),
    ):
        part = located(regions[regions["level"] == level])
        if part.empty:
            continue
        folium.GeoJson(
            features(simplified(part, coverage=True), ["code", "name"]),
            name=name,
            style_function=lambda _, w=weight: {"color": "#222222", "weight": w, "fill": False},
            interactive=False,
        ).add_to(m)


def classify(
    values: pd.Series, *, palette: Sequence[str], breaks: Sequence[float] | None = None
) -> tuple[pd.Series, list[tuple[str, str]]]:
    """A colour per value and the legend rows for them.

    Fixed ``breaks`` (upper bounds, e.g. coverage percentages) or, by default, quintiles of
    the data rounded to integers; missing values are grey.
    """
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    known = numbers.dropna()
    if known.empty:
        return pd.Series(NO_DATA, index=values.index), [(NO_DATA, "无数据 no data")]
    if breaks is None:
        bounds = np.unique(np.round(np.quantile(known, [0.2, 0.4, 0.6, 0.8])))
        bounds = bounds[bounds < known.max()]
    else:
        bounds = np.asarray(breaks, dtype=float)
    n = len(bounds) + 1
    colours = [palette[round(i)] for i in np.linspace(0, len(palette) - 1, n)]
    index = np.searchsorted(bounds, numbers.to_numpy(), side="left" if breaks is None else "right")
    fill = pd.Series(
        [NO_DATA if np.isnan(v) else colours[i] for v, i in zip(numbers, index, strict=True)],
        index=values.index,
    )
    if n == 1:  # every value the same
        labels = [_number(known.iloc[0])]
    else:
        labels = _class_labels([float(b) for b in bounds], exclusive_upper=breaks is not None)
    legend = list(zip(colours, labels, strict=True))
    if numbers.isna().any():
        legend.append((NO_DATA, "无数据 no data"))
    return fill, legend


def _class_labels(bounds: list[float], *, exclusive_upper: bool) -> list[str]:
    lo, hi = ("<", "≥") if exclusive_upper else ("≤", ">")
    inner = [f"{_number(a)}–{_number(b)}" for a, b in zip(bounds, bounds[1:], strict=False)]
    return [f"{lo} {_number(bounds[0])}", *inner, f"{hi} {_number(bounds[-1])}"]


def _number(value: float) -> str:
    return f"{value:g}"


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
        body += f"<h4>{html.escape(section.title)}</h4>" + "".join(
            f'<div class="gridmap-legend-row"><span class="{shape}" '
            f'style="background:{html.escape(colour)}"></span>{html.escape(label)}</div>'
            for colour, label in section.rows
        )
    if body:
        _Info(body, position="bottomright", class_name="gridmap-legend").add_to(m)


def add_notes(m: folium.Map, notes: Sequence[str]) -> None:
    """A visible note for each layer that has no data yet, so an empty map is not mistaken for
    a broken one."""
    if notes:
        body = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
        _Info(body, position="topright", class_name="gridmap-note").add_to(m)


def script_json(value: Any) -> str:
    """Compact JSON safe to place inside a <script> element."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")


def pack_points(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """Point coordinates as integer offsets of 10^-PRECISION degrees from the south-west
    corner (gridmap.js ``unpack``): about half the size of GeoJSON coordinates."""
    q = 10.0**-PRECISION
    lon = frame.geometry.x.to_numpy()
    lat = frame.geometry.y.to_numpy()
    x0 = float(np.floor(lon.min() / q) * q) if len(lon) else 0.0
    y0 = float(np.floor(lat.min() / q) * q) if len(lat) else 0.0
    xy = np.empty(2 * len(lon), dtype=np.int64)
    xy[0::2] = np.rint((lon - x0) / q)
    xy[1::2] = np.rint((lat - y0) / q)
    return {"x0": x0, "y0": y0, "q": q, "xy": xy.tolist()}


class PointLayer(JSCSSMixin, folium.map.Layer):
    """Many points painted on canvas tiles (gridmap.PointLayer), one colour per class."""

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
        show: bool = True,
    ) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "PointLayer"
        packed = pack_points(points) | {"cls": np.asarray(classes, dtype=np.int64).tolist()}
        self.data = script_json(packed)
        self.options = {"colors": list(colours)}
