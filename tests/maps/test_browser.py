"""The maps in headless Chromium, from a file and served with /static: no console errors, no
failed or outside requests, the layers drawn, popups, search, filters. Screenshots go to
test-output/screenshots/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from playwright.sync_api import expect

from api.pages import LIFECYCLE
from geo.isochrones import isochrones as isochrone_polygons
from geo.network import WalkNetwork
from geo.walk import walk_distances
from maps import (
    Basemap,
    coverage_map,
    grids_map,
    incidents_map,
    redraw_preview_map,
    render_file,
    render_page,
)
from tests.screenshots import shot

from .conftest import CODES, STEP, X0, Y0, Site

pytestmark = pytest.mark.browser

NONE = Basemap(kind="none")
LOCAL_TILES = Basemap(kind="url", url="/tiles/{z}/{x}/{y}.png", attribution="test tiles")
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "nanjing"
MAP = "window[document.querySelector('.folium-map').id]"


@dataclass
class Loaded:
    page: Any
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def js(self, body: str, arg: Any = None) -> Any:
        """Evaluate ``body`` with ``map`` bound to the page's Leaflet map."""
        return self.page.evaluate(f"(arg) => {{ const map = {MAP}; {body} }}", arg)

    def count(self, kind: str) -> int:
        return int(
            self.js(f"return Object.values(map._layers).filter(l => l instanceof {kind}).length;")
        )

    def layer(self, kind: str, expression: str) -> Any:
        """Evaluate ``expression`` with ``layer`` bound to the map's first layer of ``kind``."""
        return self.js(
            f"const layer = Object.values(map._layers).find(l => l instanceof {kind});"
            f"return {expression};"
        )

    def click(self, lon: float, lat: float) -> str:
        """Click the map at (lon, lat) and return the popup's text."""
        x, y = self.js(
            "const p = map.latLngToContainerPoint([arg[1], arg[0]]);"
            "const r = map.getContainer().getBoundingClientRect();"
            "return [r.left + p.x, r.top + p.y];",
            [lon, lat],
        )
        self.page.mouse.click(x, y)
        return str(self.page.locator(".leaflet-popup-content").inner_text())

    def screenshot(self, name: str) -> None:
        self.page.screenshot(path=shot(name))

    def assert_clean(self, *, origin: str) -> None:
        """No console errors, no failed request, nothing fetched from outside ``origin``."""
        assert not self.failed, self.failed
        assert not self.errors, self.errors
        outside = [u for u in self.requests if not u.startswith((origin, "data:"))]
        assert not outside, outside


@pytest.fixture
def open_map(browser: Any) -> Iterator[Callable[[str], Loaded]]:
    pages: list[Any] = []

    def load(url: str) -> Loaded:
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        pages.append(page)
        loaded = Loaded(page)
        page.on("console", lambda m: loaded.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: loaded.errors.append(str(e)))
        page.on("requestfailed", lambda r: loaded.failed.append(r.url))
        page.on("response", lambda r: loaded.failed.append(r.url) if r.status >= 400 else None)
        page.on("request", lambda r: loaded.requests.append(r.url))
        page.goto(url, wait_until="load")
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        return loaded

    yield load
    for page in pages:
        page.close()


def to_file(tmp_path: Path, name: str, html: str) -> str:
    path = tmp_path / f"{name}.html"
    path.write_text(html, encoding="utf-8")
    return path.as_uri()


def test_grids_map_file_popup_tooltip_search(
    open_map: Callable[[str], Loaded],
    tmp_path: Path,
    grids: gpd.GeoDataFrame,
    regions: gpd.GeoDataFrame,
) -> None:
    html = render_file(grids_map(grids, regions=regions, measure="households", basemap=NONE))
    loaded = open_map(to_file(tmp_path, "grids", html))
    loaded.assert_clean(origin="file://")
    assert loaded.count("L.Polygon") == 4 + 2 + 1  # grids, communities, street
    popup = loaded.click(X0 + 1.5 * STEP, Y0 + 1.5 * STEP)
    assert CODES[3] in popup and "第<b>2</b>网格" in popup  # names are text, never markup
    loaded.page.mouse.move(
        *loaded.js(
            "const p = map.latLngToContainerPoint(arg); return [p.x + 5, p.y + 5];",
            [Y0 + 0.3 * STEP, X0 + 0.3 * STEP],
        )
    )
    assert CODES[0] in loaded.page.locator(".leaflet-tooltip").inner_text()
    fonts = loaded.page.eval_on_selector_all(
        ".leaflet-popup-content, .leaflet-tooltip, .gridmap-info, .leaflet-control-layers",
        "els => els.map(e => getComputedStyle(e).fontFamily)",
    )
    assert len(fonts) >= 4 and all('"Noto Sans CJK SC"' in f for f in fonts), fonts
    loaded.screenshot("grids_map")

    loaded.page.locator("input.search-input").press_sequentially(
        CODES[1][:12]
    )  # a community's prefix
    tips = loaded.page.locator(".search-tip")
    expect(tips).to_have_count(2)  # after leaflet-search's typing delay
    tips.filter(has_text=CODES[1]).click()
    assert CODES[1] in loaded.page.locator(".leaflet-popup-content").inner_text()
    loaded.assert_clean(origin="file://")


def test_coverage_map_served_from_static(
    open_map: Callable[[str], Loaded],
    site: Site,
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
        basemap=LOCAL_TILES,
    )
    loaded = open_map(site.publish("coverage.html", render_page(m)))
    loaded.assert_clean(origin=site.url)
    assert any("/static/vendor/leaflet-1.9.4/lib/leaflet.js" in u for u in loaded.requests)
    assert any("/tiles/" in u for u in loaded.requests)
    assert loaded.count("L.Polygon") == 4 + 3  # grids and one area per walking time
    assert loaded.layer("gridmap.PointLayer", "layer.count()") == len(buildings)
    assert loaded.page.locator(".leaflet-gridmapPoints-pane canvas").count() >= 1
    assert (
        loaded.page.locator(".leaflet-marker-pane .awesome-marker").count() == 3
    )  # two stations, one site
    popup = loaded.click(X0 + 1.5 * STEP, Y0 + 0.5 * STEP)
    assert CODES[2] in popup and "coverage %" in popup and "covered households" in popup
    loaded.screenshot("coverage_map")

    loaded.page.get_by_label("5 分钟 min walk", exact=True).uncheck()
    assert loaded.count("L.Polygon") == 4 + 2


def test_incidents_map_filters_and_popups(
    open_map: Callable[[str], Loaded],
    tmp_path: Path,
    grids: gpd.GeoDataFrame,
    incidents: gpd.GeoDataFrame,
) -> None:
    loaded = open_map(
        to_file(
            tmp_path,
            "incidents",
            render_file(
                incidents_map(grids, incidents=incidents, lifecycle=LIFECYCLE, basemap=NONE)
            ),
        )
    )
    loaded.assert_clean(origin="file://")

    def shown() -> list[int]:
        return [
            loaded.layer("L.MarkerClusterGroup", "layer.getLayers().length"),
            loaded.layer("L.HeatLayer", "layer._latlngs.length"),
        ]

    assert shown() == [4, 4]
    loaded.screenshot("incidents_map")
    loaded.page.get_by_label("结案 closed", exact=True).uncheck()
    assert shown() == [3, 3]
    loaded.page.eval_on_selector(
        ".gridmap-slider", "el => { el.value = 0; el.dispatchEvent(new Event('input')); }"
    )
    assert shown() == [2, 2]  # reported on 1 May: 101 and 102
    assert "2024-05-01" in loaded.page.locator(".gridmap-filter").inner_text()

    popup = loaded.js(
        "const cluster = Object.values(map._layers).find(l => l instanceof L.MarkerClusterGroup);"
        "const marker = cluster.getLayers()[0];"
        "return new Promise(done => cluster.zoomToShowLayer(marker, () => {"
        "  marker.openPopup(); done(marker.getPopup().getElement().innerText); }));"
    )
    assert "101" in popup and "2024-05-02 09:00" in popup and "overdue" in popup
    loaded.assert_clean(origin="file://")


def test_redraw_preview(
    open_map: Callable[[str], Loaded], tmp_path: Path, grids: gpd.GeoDataFrame
) -> None:
    old = grids[["code", "name", "geometry"]]
    new = gpd.GeoDataFrame(
        {"code": [CODES[0], CODES[2], CODES[3]]},
        geometry=[shapely.union_all(grids.geometry.values[:2]), *grids.geometry.values[2:]],
        crs=4326,
    )
    moved = gpd.GeoDataFrame(
        {"id": [7, 8], "from": [CODES[1], CODES[1]], "to": [CODES[0], CODES[0]]},
        geometry=[shapely.Point(X0 + 0.002, Y0 + 0.007), shapely.Point(X0 + 0.004, Y0 + 0.009)],
        crs=4326,
    )
    m = redraw_preview_map(
        old, new, buildings_moved=moved, incidents_moved=moved.iloc[:0], basemap=NONE
    )
    loaded = open_map(to_file(tmp_path, "redraw", render_file(m)))
    loaded.assert_clean(origin="file://")
    assert loaded.count("L.Polygon") == 4 + 3
    assert loaded.count("L.CircleMarker") == 2
    assert "no open incidents move" in loaded.page.locator(".gridmap-note").inner_text()
    loaded.screenshot("redraw_preview")


def test_empty_layers_show_notes(
    open_map: Callable[[str], Loaded],
    tmp_path: Path,
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    isochrones: gpd.GeoDataFrame,
) -> None:
    m = coverage_map(
        grids,
        buildings=buildings.iloc[:0],
        stations=stations.iloc[:0],
        isochrones=isochrones.iloc[:0],
        basemap=NONE,
    )
    loaded = open_map(to_file(tmp_path, "empty", render_file(m)))
    loaded.assert_clean(origin="file://")
    note = loaded.page.locator(".gridmap-note")
    assert note.is_visible()
    assert all(n in note.inner_text() for n in ("no buildings", "no stations", "no isochrones"))
    assert loaded.count("L.Polygon") == 4
    loaded.screenshot("coverage_map_empty")


def test_sample_city(open_map: Callable[[str], Loaded], tmp_path: Path) -> None:
    """The bundled Nanjing sample city, coverage computed by geo: opens clean; screenshots."""
    grids, regions, buildings, stations = (
        gpd.read_file(SAMPLE / f"{name}.geojson")
        for name in ("grids", "regions", "buildings", "stations")
    )
    network = WalkNetwork.from_lines(gpd.read_file(SAMPLE / "network.geojson").geometry.values)
    buildings = buildings.set_geometry(buildings.geometry.representative_point())
    station_xy = shapely.get_coordinates(stations.geometry.values)
    walk = walk_distances(network, station_xy, shapely.get_coordinates(buildings.geometry.values))
    buildings["walk_m"] = np.where(np.isfinite(walk), walk, np.nan)
    buildings["covered"] = walk <= 15 * 75.0
    areas = isochrone_polygons(network, station_xy)
    isochrones = gpd.GeoDataFrame(
        {"minutes": np.tile([5, 10, 15], len(stations))}, geometry=areas.ravel(), crs=4326
    )
    pages = {
        "sample_grids": grids_map(grids, regions=regions, basemap=NONE),
        "sample_coverage": coverage_map(
            grids, buildings=buildings, stations=stations, isochrones=isochrones, basemap=NONE
        ),
    }
    for name, m in pages.items():
        loaded = open_map(to_file(tmp_path, name, render_file(m)))
        loaded.assert_clean(origin="file://")
        assert loaded.count("L.Polygon") >= len(grids)
        loaded.screenshot(name)
