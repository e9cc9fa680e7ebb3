"""Map pages served by the API: offline assets, every layer present, real Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from bench.common import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import served

pytestmark = pytest.mark.postgis

PAGES = [
    "/maps/grids",
    "/maps/grids?measure=coverage_pct",
    "/maps/coverage?minutes=10&suggest=2",
    "/maps/incidents",
    "/maps/stats",
    "/maps/stats?measure=overdue",
]
SHOTS = Path(__file__).parents[2] / "test-output" / "screenshots"
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


@pytest.fixture(scope="module")
def server(engine: object, pg_url: str) -> Iterator[str]:
    """The real app over HTTP on the committed sample city (tiles off: no network here)."""
    with served(create_app(Settings(database_url=pg_url, basemap="none"))) as url:
        yield url


@pytest.mark.browser
@pytest.mark.parametrize("path", PAGES)
def test_pages_render_in_chromium(server: str, path: str) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        errors: list[str] = []
        failed: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(server + path, wait_until="load")
        page.wait_for_function(f"{MAP} !== undefined", timeout=15_000)
        page.wait_for_timeout(500)
        layers = page.evaluate(f"Object.keys({MAP}._layers).length")
        page.screenshot(path=str(SHOTS / f"api{re.sub(r'[/?&=]', '_', path)}.png"))
        if "incidents" not in path:  # the middle of the city is inside some grid
            box = page.locator(".folium-map").bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.locator(".leaflet-popup-content").first.wait_for(timeout=5_000)
        browser.close()
    assert errors == [] and failed == []
    assert layers > 3
