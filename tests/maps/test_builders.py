"""Map structure without a browser: layers, legends, notes, packing, basemaps, the AMap shift."""

from __future__ import annotations

import json
import re
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from api.pages import LIFECYCLE
from geo.crs import from_wgs84
from maps import (
    Basemap,
    coverage_map,
    grids_map,
    incidents_map,
    redraw_preview_map,
    render_page,
)
from maps.incidents import pack_incidents
from maps.layers import NO_DATA, MarkerLayer, PointLayer, PolygonLayer, _Info, classify
from maps.pack import PRECISION, pack_polygons

from .conftest import CODES, X0, Y0


def children(m: folium.Map, kind: type) -> list[Any]:
    return [c for c in m._children.values() if isinstance(c, kind)]


def polygon_layers(m: folium.Map) -> dict[str, PolygonLayer]:
    return {layer.layer_name: layer for layer in children(m, PolygonLayer)}


def unpacked(layer: Any) -> Any:
    """The data a gridmap layer hands to the browser: JSON.parse('...') read back."""
    literal = layer.data.removeprefix("JSON.parse('").removesuffix("')")
    return json.loads(re.sub(r"\\(.)", r"\1", literal))


def unpack_polygons(data: dict[str, Any]) -> list[list[list[list[tuple[float, float]]]]]:
    """Python twin of gridmap.js unpackPolygons: features → parts → rings → (lon, lat)."""
    xy = iter(data["xy"])
    rings = iter(data["rings"])
    parts = iter(data["parts"])
    out = []
    for n_parts in data["feats"]:
        feature = []
        for _ in range(n_parts):
            part = []
            for _ in range(next(parts)):
                ring, x, y = [], 0, 0
                for k in range(next(rings)):
                    dx, dy = next(xy), next(xy)
                    x, y = (x + dx, y + dy) if k else (dx, dy)
                    ring.append((data["x0"] + x * data["q"], data["y0"] + y * data["q"]))
                part.append(ring)
            feature.append(part)
        out.append(feature)
    return out


def vertices(layer: PolygonLayer) -> np.ndarray:
    data = unpacked(layer)
    points = [p for f in unpack_polygons(data) for part in f for ring in part for p in ring]
    return np.array(points)


def test_grids_map_layers_legend_and_search(
    grids: gpd.GeoDataFrame, regions: gpd.GeoDataFrame
) -> None:
    m = grids_map(grids, regions=regions, measure="households")
    layers = polygon_layers(m)
    assert list(layers) == ["网格 grids", "社区 communities", "街道 streets"]
    grid_layer = layers["网格 grids"]
    data = unpacked(grid_layer)
    assert data["props"]["code"] == CODES
    assert len(set(data["cls"])) == 4  # 120 < 340 < 560 and 80: quintile classes
    assert grid_layer.search is not None
    assert [f for f, _ in grid_layer.options["tooltip"]] == [
        "code",
        "name",
        "community",
        "households",
        "worker_name",
    ]
    assert not layers["社区 communities"].options["style"]["interactive"]
    html = render_page(m)
    assert "gridmap.search(" in html
    assert " households\\u003c/h4\\u003e" in html  # the legend's title
    assert children(m, folium.LayerControl)


@pytest.mark.parametrize("measure", ["open_incidents", "coverage_pct", None])
def test_grids_map_measures(grids: gpd.GeoDataFrame, measure: str | None) -> None:
    layer = polygon_layers(grids_map(grids, measure=measure))["网格 grids"]  # type: ignore[arg-type]
    data = unpacked(layer)
    assert ("cls" in data) == (measure is not None)
    if measure:
        assert measure in data["props"]
        assert [f for f, _ in layer.options["popup"]][-1] == measure


def test_classify_fixed_breaks_and_missing() -> None:
    fill = classify(
        pd.Series([10.0, 50.0, 69.9, 99.0, None]),
        palette=["a", "b", "c", "d", "e"],
        breaks=[50, 70, 85, 95],
    )
    assert fill.classes.tolist() == [0, 1, 1, 4, 5]
    assert fill.colours == ["a", "b", "c", "d", "e", NO_DATA]
    assert [label for _, label in fill.legend] == [
        "< 50",
        "50–70",
        "70–85",
        "85–95",
        "≥ 95",
        "无数据 no data",
    ]


def test_classify_degenerate() -> None:
    same = classify(pd.Series([0, 0, 0]), palette=["a", "b", "c"])
    assert same.classes.tolist() == [0, 0, 0]
    assert same.legend == [("a", "0")]
    none = classify(pd.Series([None, None], dtype=float), palette=["a"])
    assert none.colours == [NO_DATA]


def test_pack_polygons_round_trip() -> None:
    holed = shapely.Polygon(
        [(118.8, 32.0), (118.9, 32.0), (118.9, 32.1), (118.8, 32.1)],
        [[(118.82, 32.02), (118.84, 32.02), (118.84, 32.04)]],
    )
    multi = shapely.MultiPolygon(
        [shapely.box(118.7, 32.0, 118.71, 32.01), shapely.box(118.72, 32.0, 118.73, 32.01)]
    )
    frame = gpd.GeoDataFrame(
        {"code": ["a", "b"], "n": [1, None]}, geometry=[holed, multi], crs=4326
    )
    data = pack_polygons(frame, ["code", "n"])
    assert data["props"] == {"code": ["a", "b"], "n": [1.0, None]}
    decoded = unpack_polygons(data)
    for geom, feature in zip(frame.geometry, decoded, strict=True):
        rebuilt = shapely.MultiPolygon([(part[0], part[1:]) for part in feature])
        assert shapely.equals_exact(
            shapely.normalize(rebuilt),
            shapely.normalize(shapely.MultiPolygon(shapely.get_parts(geom))),
            10**-PRECISION,
        )


def test_coverage_map_layers(
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    isochrones: gpd.GeoDataFrame,
    per_grid: pd.DataFrame,
    suggestions: gpd.GeoDataFrame,
) -> None:
    m = coverage_map(
        grids,
        buildings=buildings,
        stations=stations,
        isochrones=isochrones,
        suggestions=suggestions,
        per_grid=per_grid,
    )
    layers = polygon_layers(m)
    assert list(layers) == ["网格 grids", "15 分钟 min walk", "10 分钟 min walk", "5 分钟 min walk"]
    grid_data = unpacked(layers["网格 grids"])
    assert grid_data["props"]["pct"] == [100.0, 100.0, 0.0, 0.0]
    assert grid_data["props"]["households"] == [120, 120, 60, 60]  # per_grid's, over buildings
    assert {"buildings", "covered", "covered_households", "pct"} <= {
        f for f, _ in layers["网格 grids"].options["popup"]
    }
    (points,) = children(m, PointLayer)
    assert sorted(unpacked(points)["cls"]) == [0] * 8 + [1] * 4
    markers = {layer.layer_name: unpacked(layer) for layer in children(m, MarkerLayer)}
    stations_data = markers["服务站 stations"]
    assert stations_data["props"]["kind"] == ["community_service", "other"]
    assert stations_data["style"] == [0, 1]
    assert markers["建议选址 suggested sites"]["props"] == {"rank": [1], "added_households": [420]}
    html = render_page(m)
    assert " covered (8)" in html and " not covered (4)" in html
    assert '"<script>x<\\/script>"' in html  # a station name: inert data, escaped by gridmap.js
    assert '"people-roof"' in html and '"location-dot"' in html  # icons by kind


def test_empty_layers_get_notes(
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    isochrones: gpd.GeoDataFrame,
    incidents: gpd.GeoDataFrame,
) -> None:
    coverage = render_page(
        coverage_map(
            grids,
            buildings=buildings.iloc[:0],
            stations=stations.iloc[:0],
            isochrones=isochrones.iloc[:0],
        )
    )
    for note in ("no buildings yet", "no stations yet", "no isochrones yet"):
        assert note in coverage
    assert "gridmap.polygons(" in coverage  # the grids, drawn all the same
    assert "no incidents yet" in render_page(
        incidents_map(grids, incidents=incidents.iloc[:0], lifecycle=LIFECYCLE)
    )
    assert "no grids yet" in render_page(grids_map(grids.iloc[:0]))
    assert "no grids yet" in render_page(
        incidents_map(grids.iloc[:0], incidents=incidents, lifecycle=LIFECYCLE)
    )


def test_pack_incidents(incidents: gpd.GeoDataFrame) -> None:
    data = pack_incidents(incidents, LIFECYCLE)
    assert data["statuses"] == ["上报 reported", "立案 accepted", "派遣 dispatched", "结案 closed"]
    assert data["open"] == [True, True, True, False]
    assert data["st"] == [0, 2, 3, 1]
    assert data["categories"][data["cat"][3]] == "<i>邻里纠纷</i>"  # escaped by gridmap.js
    wall = pd.Timestamp("2024-05-01 09:00")  # Shanghai wall-clock time, as minutes since 1970
    assert data["t"][0] == (wall - pd.Timestamp(0)) // pd.Timedelta(minutes=1)
    assert data["due"][0] - data["t"][0] == 24 * 60
    assert data["grid"] == [CODES[0], CODES[1], CODES[2], None]


def test_redraw_preview(grids: gpd.GeoDataFrame) -> None:
    old = grids[["code", "name", "geometry"]]
    merged = shapely.union_all(grids.geometry.values[:2])
    new = gpd.GeoDataFrame({"code": [CODES[0]]}, geometry=[merged], crs=4326)
    moved = gpd.GeoDataFrame(
        {"id": [7], "from": [CODES[1]], "to": [CODES[0]]},
        geometry=[shapely.Point(X0 + 0.002, Y0 + 0.007)],
        crs=4326,
    )
    m = redraw_preview_map(old, new, buildings_moved=moved, incidents_moved=moved.iloc[:0])
    assert list(polygon_layers(m)) == ["原边界 old boundaries", "新边界 new boundaries"]
    names = [c.layer_name for c in children(m, folium.GeoJson)]
    assert names == ["建筑 buildings (1)"]
    assert "no open incidents move" in render_page(m)


def test_amap_shifts_every_overlay(
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    isochrones: gpd.GeoDataFrame,
) -> None:
    plain = coverage_map(grids, buildings=buildings, stations=stations, isochrones=isochrones)
    amap = coverage_map(
        grids,
        buildings=buildings,
        stations=stations,
        isochrones=isochrones,
        basemap=Basemap(kind="amap"),
    )
    for name in ("网格 grids", "15 分钟 min walk"):
        before = vertices(polygon_layers(plain)[name])
        after = vertices(polygon_layers(amap)[name])
        expected = np.column_stack(from_wgs84(before[:, 0], before[:, 1], "gcj02"))
        assert np.abs(after - expected).max() < 2e-6  # quantization only
        assert np.abs(after - before).max() > 1e-3  # GCJ-02 is hundreds of metres off here
    (points,) = children(amap, PointLayer)
    for layer, frame in ((points, buildings), (children(amap, MarkerLayer)[0], stations)):
        data = unpacked(layer)
        xy = np.array(data["xy"]).reshape(-1, 2) * data["q"] + [data["x0"], data["y0"]]
        expected = np.column_stack(from_wgs84(frame.geometry.x, frame.geometry.y, "gcj02"))
        assert np.abs(np.sort(xy, axis=0) - np.sort(expected, axis=0)).max() < 2e-6
    assert "autonavi.com" in render_page(amap)


def test_basemaps(grids: gpd.GeoDataFrame) -> None:
    tianditu = render_page(grids_map(grids, basemap=Basemap(kind="tianditu", key="K123")))
    assert "vec_w/wmts" in tianditu and "cva_w/wmts" in tianditu and "tk=K123" in tianditu
    local = render_page(grids_map(grids, basemap=Basemap(kind="url", url="/tiles/{z}/{x}/{y}.png")))
    assert '"/tiles/{z}/{x}/{y}.png"' in local
    assert "L.tileLayer" not in render_page(grids_map(grids, basemap=Basemap(kind="none")))
    assert "tile.openstreetmap.org" in render_page(grids_map(grids))
    with pytest.raises(ValueError, match="key"):
        Basemap(kind="tianditu")
    with pytest.raises(ValueError, match="template"):
        Basemap(kind="url", url="/tiles/tile.png")


def test_missing_columns_are_named(grids: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match=r"grids lacks columns \['worker_name'\]"):
        grids_map(grids.drop(columns="worker_name"))
    with pytest.raises(ValueError, match="open_incidents"):
        grids_map(grids.drop(columns="open_incidents"), measure="open_incidents")


def test_names_cannot_inject_templates(
    grids: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    isochrones: gpd.GeoDataFrame,
) -> None:
    """branca re-reads rendered scripts as Jinja templates: data must not be executed."""
    grids = grids.assign(name=["{{ 'ab' * 3 }}", "{% if 1 %}x{% endif %}", "{# c #}", "ok"])
    stations = stations.assign(kind=["{{ 'cd' * 3 }}", "other"])
    m = coverage_map(grids, buildings=buildings, stations=stations, isochrones=isochrones)
    html = render_page(m)
    assert "ababab" not in html and "cdcdcd" not in html
    assert unpacked(polygon_layers(m)["网格 grids"])["props"]["name"] == grids["name"].tolist()
    assert unpacked(children(m, MarkerLayer)[0])["props"]["kind"] == ["{{ 'cd' * 3 }}", "other"]
    (legend,) = children(m, _Info)  # it lists the station kinds
    assert "&#123;&#123; &#x27;cd&#x27; * 3 }}" in legend.html
