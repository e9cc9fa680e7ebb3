"""Map pages served by the API: offline assets, every layer present, real Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from bench.common import CHROMIUM, CHROMIUM_ARGS
from data.db import make_engine, migrate, transaction
from data.sample_loader import load_sample
from tests.conftest import own_database, served
from tests.data.test_tiles import add_incidents
from tests.screenshots import shot

pytestmark = pytest.mark.postgis

PAGES = [
    "/maps/grids",
    "/maps/grids?measure=coverage_pct",
    "/maps/coverage?minutes=10&suggest=2",
    "/maps/incidents",
    "/maps/redraw",
    "/maps/stats",
    "/maps/stats?measure=overdue",
    "/maps/coverage",  # the compliance view by default
    "/maps/compliance?kind=primary_school",
]
MAP = "window[document.querySelector('.folium-map').id]"


@pytest.mark.parametrize("path", PAGES)
def test_pages_use_only_local_assets(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    html = response.text
    assert response.headers["content-type"].startswith("text/html")
    scripts = re.findall(r'<script src="([^"]+)"', html) + re.findall(r'href="([^"]+\.css)"', html)
    assert scripts and all(s.startswith("/static/") for s in scripts)
    for asset in scripts:
        assert client.get(asset).status_code == 200, asset


def test_bad_map_parameters(client: TestClient) -> None:
    assert client.get("/maps/coverage", params={"minutes": -5}).status_code == 422
    assert client.get("/maps/grids", params={"measure": "nope"}).status_code == 422
    assert client.get("/maps/grids", params={"tiles": "google"}).status_code == 422
    assert client.get("/maps/stats", params={"measure": "nope"}).status_code == 422


# One incident apart from the others (inside the sample city), and a few clustered ones.
ISOLATED = (118.7705, 32.0395, "dispatched")
CLUSTERED = [(118.786 + 0.0004 * i, 32.047, "reported") for i in range(5)]


@pytest.fixture(scope="module")
def city(pg_url: str) -> tuple[str, list[int]]:
    """The sample city and six incidents, committed in a database of their own (the
    app's own connections see them); returns its URL and the incident ids."""
    url = own_database(pg_url, "gridmap_maps_api")
    migrate(url)
    engine = make_engine(url, pool_size=1)
    try:
        with transaction(engine) as session:
            load_sample(session=session)
            ids = add_incidents(session, [ISOLATED, *CLUSTERED], category="路灯")
    finally:
        engine.dispose()
    return url, ids


@pytest.fixture(scope="module")
def server(city: tuple[str, list[int]]) -> Iterator[str]:
    """The real app over HTTP on that city (tiles off: no network here)."""
    with served(create_app(Settings(database_url=city[0], basemap="none"))) as url:
        yield url


def _rows(popup: str) -> dict[str, str]:
    """A popup table's text as {label: value}."""
    return dict(line.split("\t", 1) for line in popup.splitlines() if "\t" in line)


def _click_centre(page: Any) -> tuple[float, float]:
    """Click the middle of the map; returns the (lon, lat) clicked."""
    box = page.locator(".folium-map").bounding_box()
    assert box is not None
    # the centre before the click: a wide popup pans the map
    lat, lon = page.evaluate(f"() => {{ const c = {MAP}.getCenter(); return [c.lat, c.lng]; }}")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    return lon, lat


def _click_isolated_incident(page: Any) -> None:
    """Zoom the cluster open to the isolated incident's marker and click its icon."""
    box = page.evaluate(
        f"""([lon, lat]) => new Promise(done => {{
            const map = {MAP};
            const cluster = Object.values(map._layers).find(l => l instanceof L.MarkerClusterGroup);
            const near = (m) => Math.abs(m.getLatLng().lng - lon) < 1e-6
                && Math.abs(m.getLatLng().lat - lat) < 1e-6;
            const marker = cluster.getLayers().find(near);
            cluster.zoomToShowLayer(marker, () => {{
                const r = marker.getElement().getBoundingClientRect();
                done([r.left + r.width / 2, r.top + r.height / 2]);
            }});
        }})""",
        [ISOLATED[0], ISOLATED[1]],
    )
    page.mouse.click(*box)


@pytest.mark.browser
@pytest.mark.parametrize("path", PAGES)
def test_pages_render_in_chromium(server: str, city: tuple[str, list[int]], path: str) -> None:
    """Each page loads with no console error, no failed request and no HTTP error
    response; a click opens the popup of what is under it: the grid /locate names there,
    or on the incidents page the incident clicked."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        errors: list[str] = []
        failed: list[str] = []
        responses: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
        page.on(
            "response", lambda r: failed.append(f"{r.url} {r.status}") if r.status >= 400 else None
        )
        page.on("response", lambda r: responses.append(r.url))
        page.goto(server + path, wait_until="load")
        page.wait_for_function(f"{MAP} !== undefined", timeout=15_000)
        page.wait_for_timeout(500)
        layers = page.evaluate(f"Object.keys({MAP}._layers).length")
        if "incidents" in path:
            assert page.evaluate(
                f"Object.values({MAP}._layers).find(l => l instanceof L.MarkerClusterGroup)"
                ".getLayers().length"
            ) == len(city[1])
            _click_isolated_incident(page)
            popup = page.locator(".leaflet-popup-content").first
            popup.wait_for(timeout=5_000)
            rows = _rows(popup.inner_text())
            assert rows["编号 id"] == str(city[1][0]) and rows["类别 category"] == "路灯", rows
            assert rows["状态 status"] == "派遣 dispatched", rows
        else:  # the middle of the city is inside some grid
            lon, lat = _click_centre(page)
            popup = page.locator(".leaflet-popup-content").first
            popup.wait_for(timeout=5_000)
            rows = _rows(popup.inner_text())
            located = httpx.get(f"{server}/api/v1/locate", params={"lon": lon, "lat": lat})
            code = located.json()["grid"]["code"]
            assert rows["编码 code"] == code, rows
            if "/maps/coverage?" in path:  # the grid's figures are the API's
                figures = httpx.get(f"{server}/api/v1/coverage", params={"minutes": 10}).json()
                (grid,) = [g for g in figures["grids"] if g["code"] == code]
                assert rows["覆盖户数 covered households"] == str(grid["covered_households"])
                assert rows["建筑 buildings"] == str(grid["buildings"])
            if "compliance" in path or path == "/maps/coverage":  # the API's figures too
                report = httpx.get(f"{server}/api/v1/coverage/compliance?by=grid").json()
                (row,) = [r for r in report["rows"] if r["key"] == code]
                for kind in report["kinds"]:
                    label = f"{kind['name_zh']} {kind['kind']} %"
                    figures = row["kinds"][kind["kind"]]
                    pct = (
                        figures["pct_households"] if row["households"] else figures["pct_buildings"]
                    )
                    assert float(rows[label].replace(",", "")) == pytest.approx(pct, abs=0.06)
        page.screenshot(path=shot(f"api{re.sub(r'[/?&=]', '_', path)}"))
        browser.close()
    assert errors == [] and failed == []
    assert any(u.startswith(f"{server}/static/") for u in responses)
    assert layers > 3
