"""The incidents map drawn from vector tiles: Leaflet.VectorGrid vendored, the page built without
heat, clusters or filters, and in Chromium over the real app serving tiles from PostGIS."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import pytest
from fastapi.responses import HTMLResponse
from folium.plugins import HeatMap, MarkerCluster, VectorGridProtobuf
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from api.app import create_app
from api.pages import LIFECYCLE, tile_url
from api.routes.tiles import MEDIA_TYPE
from api.settings import Settings
from data.db import make_engine, migrate, transaction
from data.frames import grids_frame
from data.lifecycle import STATUS_LABELS, STATUSES
from data.sample_loader import load_sample
from maps import Basemap, incidents_map, render_file, render_page
from maps.assets import _VENDORED
from maps.incidents import TILED, TILED_UNSHIFTED
from tests.conftest import own_database, served
from tests.data.test_tiles import add_incidents
from tests.screenshots import shot

NONE = Basemap(kind="none")
URL = "/tiles/incidents/{z}/{x}/{y}.pbf"
MAP = "window[document.querySelector('.folium-map').id]"
TILES = f"Object.values({MAP}._layers).find(l => l instanceof L.VectorGrid)"


def tiled(grids: gpd.GeoDataFrame, basemap: Basemap = NONE) -> folium.Map:
    return incidents_map(grids, incidents=None, lifecycle=LIFECYCLE, basemap=basemap, tiles_url=URL)


def test_vectorgrid_is_vendored() -> None:
    for _, url in VectorGridProtobuf.default_js:
        assert url in _VENDORED, url


def test_tiled_map_has_no_heat_clusters_or_filters(grids: gpd.GeoDataFrame) -> None:
    m = tiled(grids)
    children = list(m._children.values())
    assert any(isinstance(c, VectorGridProtobuf) for c in children)
    assert not any(isinstance(c, HeatMap | MarkerCluster) for c in children)
    html = render_page(m)
    assert "gridmap.incidentTiles(" in html and "gridmap.incidents(" not in html
    assert "/static/vendor/leaflet.vectorgrid-1.3.0/lib/Leaflet.VectorGrid.bundled.min.js" in html
    assert TILED.split(" · ")[1] in html
    for label in STATUS_LABELS.values():  # tiles may hold any status: the legend lists all
        assert label in html


def test_tiled_map_inlines_vectorgrid(grids: gpd.GeoDataFrame) -> None:
    html = render_file(tiled(grids))
    assert "unpkg.com" not in html and "L.vectorGrid" in html


def test_tiled_map_on_amap_warns_of_the_offset(grids: gpd.GeoDataFrame) -> None:
    assert "GCJ-02" in TILED_UNSHIFTED
    assert "GCJ-02" in render_page(tiled(grids, Basemap(kind="amap")))
    assert "GCJ-02" not in render_page(tiled(grids, Basemap(kind="osm")))


def test_incidents_or_tiles_are_needed(grids: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match="tiles_url"):
        incidents_map(grids, incidents=None, lifecycle=LIFECYCLE)


# --- in Chromium, over the real app ------------------------------------------------------

ISOLATED = (118.7705, 32.0395, "dispatched")  # inside the sample city, away from the others


@dataclass(frozen=True)
class City:
    url: str
    incidents: list[int]
    grids: gpd.GeoDataFrame


@pytest.fixture(scope="module")
def city(pg_url: str) -> Iterator[City]:
    """The sample city and 301 incidents in a database of its own: committed, where the app's
    own connections see them, and clear of other tests' data."""
    url = own_database(pg_url, "gridmap_tiles")
    migrate(url)
    rng = random.Random(7)
    points = [
        (118.785 + rng.uniform(0, 0.01), 32.046 + rng.uniform(0, 0.006), rng.choice(STATUSES))
        for _ in range(300)
    ]
    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            load_sample(session=session)
            ids = add_incidents(session, [ISOLATED, *points], category="市政设施")
        with Session(engine) as session:
            grids = grids_frame(session=session)
    finally:
        engine.dispose()
    yield City(url, ids, grids)


@pytest.fixture(scope="module")
def tiled_page(city: City) -> Iterator[str]:
    """The app over HTTP with one more page, the city's incidents map drawn from the app's own
    /tiles; returns the page's URL."""
    html = render_page(
        incidents_map(
            city.grids,
            incidents=None,
            lifecycle=LIFECYCLE,
            basemap=NONE,
            tiles_url=tile_url("incidents"),
        )
    )
    app = create_app(Settings(database_url=city.url, basemap="none"))
    app.get("/test/incidents-tiled", response_class=HTMLResponse)(lambda: HTMLResponse(html))
    with served(app) as url:
        yield f"{url}/test/incidents-tiled"


@pytest.mark.postgis
@pytest.mark.browser
def test_tiles_load_and_dots_open_popups(browser: Any, tiled_page: str, city: City) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    errors: list[str] = []
    failed: list[str] = []
    tiles: list[tuple[int, str]] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.on(
        "response",
        lambda r: (
            tiles.append((r.status, r.headers["content-type"])) if "/tiles/" in r.url else None
        ),
    )
    try:
        page.goto(tiled_page, wait_until="load")
        # Polled from here: wait_for_function evaluates strings in the page, which the
        # served page's Content-Security-Policy (no 'unsafe-eval') rightly refuses.
        loaded = (
            f"(() => {{ const l = {TILES}; "
            "return !!l && Object.keys(l._tiles).length > 0 && !l.isLoading(); })()"
        )
        deadline = time.monotonic() + 15
        while not page.evaluate(loaded):
            assert time.monotonic() < deadline, "the incident tiles did not load"
            page.wait_for_timeout(100)
        drawn = page.evaluate(
            f"Object.values({TILES}._vectorTiles)"
            ".flatMap(t => Object.keys(t._features).map(Number))"
        )
        page.screenshot(path=shot("incidents_tiles"))
        assert tiles and all(t == (200, MEDIA_TYPE) for t in tiles)
        assert city.incidents[0] in drawn and set(drawn) <= set(city.incidents)

        def at(lon: float, lat: float) -> tuple[float, float]:
            x, y = page.evaluate(
                f"([lon, lat]) => {{ const map = {MAP}; "
                "const p = map.latLngToContainerPoint([lat, lon]); "
                "const r = map.getContainer().getBoundingClientRect(); "
                "return [r.left + p.x, r.top + p.y]; }",
                [lon, lat],
            )
            return x, y

        def click(lon: float, lat: float) -> str:
            page.mouse.click(*at(lon, lat))
            popups = page.locator(".leaflet-popup-content")
            expect(popups).to_have_count(1)  # the one closed before fades out first
            return str(popups.inner_text())

        incident = str(city.incidents[0])
        page.mouse.move(*at(ISOLATED[0], ISOLATED[1]))
        tooltips = page.locator(".leaflet-tooltip")
        expect(tooltips).to_have_count(1)  # the dot's, not the grid's under it
        assert tooltips.inner_text() == f"{incident} · 市政设施 · 派遣 dispatched"
        popup = click(ISOLATED[0], ISOLATED[1])
        assert incident in popup and "市政设施" in popup and "派遣 dispatched" in popup
        page.wait_for_timeout(300)  # the popup's fade-in
        page.screenshot(path=shot("incidents_tiles_popup"))
        # off the dots, a click reaches the grid under them
        assert "网格员 worker" in click(ISOLATED[0] + 0.0015, ISOLATED[1])
    finally:
        page.close()
    assert errors == [] and failed == []
