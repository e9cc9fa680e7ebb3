"""The life-circle compliance map (GB 50180-2018): grids coloured by overall compliance or by
one facility kind (a selector on the map), homes coloured by the kinds they miss, stations by
kind, and in each grid's popup the per-kind table.

The grids and homes are drawn once; the selector recolours them from per-measure class
arrays embedded in the page (one polygon layer whatever the number of kinds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import MacroElement
from folium.template import Template

from maps.basemap import OSM, Basemap, for_display, new_map
from maps.coverage import add_stations
from maps.grids import NO_GRIDS
from maps.layers import (
    COVERAGE_BREAKS,
    GRID_COLUMNS,
    GRIDMAP_CSS,
    GRIDMAP_JS,
    PALETTES,
    LegendSection,
    PointLayer,
    PolygonLayer,
    add_grids,
    add_legend,
    add_notes,
    classify,
    located,
    require,
)

OVERALL = "overall"
OVERALL_LABEL = "总体达标率 overall compliance %"
HOME_COLOURS = ("#1a9850", "#fee08b", "#fc8d59", "#d73027")
HOME_LABELS = (
    "全部可达 reaches every kind (the selected kind)",
    "缺 1 类 misses 1 kind",
    "缺 2–3 类 misses 2–3 kinds",
    "缺 4 类以上 misses 4+ kinds (the selected kind)",
)
HOMES = "住宅 homes"
SCORE_LABEL = "平均达标类数 kinds reached (mean)"
WEAKEST_LABEL = "最弱类别 weakest kind"


@dataclass(frozen=True)
class KindInfo:
    """A facility kind as the map shows it."""

    kind: str
    name_zh: str
    name_en: str
    radius_m: float
    facilities: int

    @property
    def label(self) -> str:
        """Its row in a grid's popup: % of households within the circle."""
        return f"{self.name_zh} {self.kind} %"

    @property
    def option(self) -> str:
        """Its entry in the selector."""
        return f"{self.name_zh} {self.name_en} (≤ {self.radius_m:g} m)"


class _Selector(MacroElement):
    """A select box in a map corner choosing what colours the grids and homes: each option's
    class arrays and colours replace the layers' (gridmap.polygons / gridmap.PointLayer)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        (function () {
          var map = {{ this._parent.get_name() }}, grids = {{ this.grids }};
          var homes = {{ this.homes if this.homes else "null" }};
          var measures = {{ this.measures|tojson }};
          function show(key) {
            var m = measures[key], polys = grids.getLayers();
            for (var i = 0; i < polys.length; i++) {
              polys[i].setStyle({ fillColor: m.grid_colors[m.grid_cls[i]] });
            }
            if (homes) {
              homes._data.cls = m.home_cls;
              homes.redraw();
            }
          }
          var control = L.control({ position: "topleft" });
          control.onAdd = function () {
            var div = L.DomUtil.create("div", "gridmap-info gridmap-selector");
            var label = L.DomUtil.create("label", "", div);
            label.textContent = {{ this.title|tojson }} + " ";
            var select = L.DomUtil.create("select", "", label);
            {{ this.options|tojson }}.forEach(function (o) {
              var option = L.DomUtil.create("option", "", select);
              option.value = o[0];
              option.textContent = o[1];
            });
            select.value = {{ this.initial|tojson }};
            select.addEventListener("change", function () { show(select.value); });
            L.DomEvent.disableClickPropagation(div);
            return div;
          };
          control.addTo(map);
          show({{ this.initial|tojson }});
        })();
        {% endmacro %}"""
    )
    default_js = GRIDMAP_JS
    default_css = GRIDMAP_CSS

    def __init__(
        self,
        *,
        grids: str,
        homes: str | None,
        options: list[tuple[str, str]],
        measures: dict[str, dict[str, list[object]]],
        initial: str,
    ) -> None:
        super().__init__()
        self._name = "Selector"
        self.grids, self.homes = grids, homes
        self.options, self.measures, self.initial = options, measures, initial
        self.title = "着色 colour by"


def compliance_map(
    grids: gpd.GeoDataFrame,
    *,
    kinds: Sequence[KindInfo],
    per_grid: pd.DataFrame | None,
    homes: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    reach: gpd.GeoDataFrame | None = None,
    kind: str | None = None,
    notes: Sequence[str] = (),
    basemap: Basemap = OSM,
) -> folium.Map:
    """Compliance of the grids with the life circles.

    ``grids``: ``code, name, community, households, worker_name``; ``per_grid``: ``code``,
    ``overall`` (mean share of households within the kinds' circles, %), ``mean_score``,
    ``weakest_kind`` and one column per kind (its ``kind`` name: % of households within its
    circle, of buildings where a grid has none); ``homes``: points with a bool column per
    kind (within its circle); ``stations``: ``kind, name``; ``reach``: polygons with ``kind``
    (each facility kind's walking reach within its circle: one layer each, off until ticked);
    ``kind`` the measure first shown (default overall); ``notes`` shown as given (e.g. kinds
    without facilities).
    """
    require(grids, GRID_COLUMNS, what="grids")
    require(homes, [k.kind for k in kinds], what="homes")
    require(stations, ["kind", "name"], what="stations")
    if kind is not None and kind not in {k.kind for k in kinds}:
        raise ValueError(f"unknown facility kind {kind!r}")
    shown_grids = for_display(located(grids), basemap)
    shown_homes = for_display(located(homes), basemap)
    shown_stations = for_display(located(stations), basemap)
    m = new_map([shown_grids, shown_homes], basemap=basemap, title="生活圈达标 Compliance")
    legend: list[LegendSection] = []
    all_notes = list(notes)
    if shown_grids.empty:
        all_notes.append(NO_GRIDS)
    elif per_grid is None or not kinds:
        add_grids(m, shown_grids)
    else:
        grid_layer, measures = _add_compliance_grids(m, shown_grids, per_grid, kinds)
        legend.append(LegendSection("住户在圈内 % households within the circle", measures.legend))
        homes_layer = None
        if not shown_homes.empty:
            homes_layer = _add_homes(m, shown_homes, kinds, measures)
            rows = list(zip(HOME_COLOURS, HOME_LABELS, strict=True))
            legend.append(LegendSection(HOMES, rows, points=True))
        options = [(OVERALL, OVERALL_LABEL), *((k.kind, k.option) for k in kinds)]
        _Selector(
            grids=grid_layer,
            homes=homes_layer,
            options=options,
            measures=measures.by_key,
            initial=kind or OVERALL,
        ).add_to(m)
    if reach is not None:
        _add_reach(m, for_display(located(reach), basemap), kinds)
    if shown_stations.empty:
        all_notes.append("暂无服务设施 · no facilities yet")
    else:
        legend.append(add_stations(m, shown_stations))
    folium.LayerControl(collapsed=False).add_to(m)
    add_legend(m, legend)
    add_notes(m, all_notes, position="topleft")  # the right holds a kind's reach per kind
    return m


@dataclass
class _Measures:
    by_key: dict[str, dict[str, list[object]]]
    legend: list[tuple[str, str]]


def _add_compliance_grids(
    m: folium.Map, grids: gpd.GeoDataFrame, per_grid: pd.DataFrame, kinds: Sequence[KindInfo]
) -> tuple[str, _Measures]:
    """The grids with every measure in their popups, coloured by the overall share; returns
    the layer's JS name and each measure's classes (``_Selector``)."""
    require(per_grid, ["code", "overall", "mean_score", "weakest_kind"], what="per_grid")
    table = per_grid.assign(code=per_grid["code"].astype(str)).set_index("code")
    labels = {OVERALL: OVERALL_LABEL, **{k.kind: k.label for k in kinds}}
    table = table.rename(
        columns={**labels, "mean_score": SCORE_LABEL, "weakest_kind": WEAKEST_LABEL}
    )
    joined = grids.assign(code=grids["code"].astype(str)).join(table, on="code")
    measures: dict[str, dict[str, list[object]]] = {}
    legend: list[tuple[str, str]] = []
    for key, column in labels.items():
        fill = classify(joined[column], palette=PALETTES["coverage_pct"], breaks=COVERAGE_BREAKS)
        measures[key] = {"grid_cls": fill.classes.tolist(), "grid_colors": list(fill.colours)}
        if len(fill.legend) > len(legend):
            legend = list(fill.legend)
    overall = classify(
        joined[OVERALL_LABEL], palette=PALETTES["coverage_pct"], breaks=COVERAGE_BREAKS
    )
    popup = [*GRID_COLUMNS, OVERALL_LABEL, SCORE_LABEL, WEAKEST_LABEL, *(k.label for k in kinds)]
    return add_grids(m, joined, fill=overall, popup_columns=popup), _Measures(measures, legend)


def _add_homes(
    m: folium.Map, homes: gpd.GeoDataFrame, kinds: Sequence[KindInfo], measures: _Measures
) -> str:
    """Homes coloured by how many kinds (with facilities) they miss; per kind, whether they
    miss it. Adds each measure's home classes to ``measures``; returns the layer's JS name."""
    order = np.argsort(homes.geometry.x.to_numpy(), kind="stable")  # PointLayer's own order
    ordered = homes.iloc[order]
    within = np.column_stack([ordered[k.kind].to_numpy(dtype=bool) for k in kinds])
    present = np.array([k.facilities > 0 for k in kinds])
    missing = (~within[:, present]).sum(axis=1)
    overall = np.searchsorted([1, 2, 4], missing, side="right")
    measures.by_key[OVERALL]["home_cls"] = overall.tolist()
    for j, k in enumerate(kinds):
        measures.by_key[k.kind]["home_cls"] = np.where(within[:, j], 0, 3).tolist()
    layer = PointLayer(ordered, overall, colours=HOME_COLOURS, name=HOMES)
    layer.add_to(m)
    return layer.get_name()


REACH_COLOUR = "#2c7fb8"


def _add_reach(m: folium.Map, reach: gpd.GeoDataFrame, kinds: Sequence[KindInfo]) -> None:
    """One toggleable layer per facility kind: where its circle reaches, off at first."""
    require(reach, ["kind"], what="reach")
    names = {k.kind: k for k in kinds}
    style = {"color": REACH_COLOUR, "weight": 1, "fillColor": REACH_COLOUR, "fillOpacity": 0.2}
    for name, part in reach.groupby("kind", sort=False):
        info = names.get(str(name))
        label = f"可达 reach: {info.name_zh} ≤ {info.radius_m:g} m" if info else f"reach: {name}"
        layer = PolygonLayer(part, name=label, style=style, partition=False)
        layer.show = False
        layer.add_to(m)
