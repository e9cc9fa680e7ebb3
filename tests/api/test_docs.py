"""/docs and /redoc offline: Swagger UI and ReDoc from the vendored copies, rendered in real
Chromium with every request outside the app refused. Screenshots go to test-output/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.docs import REDOC, STATIC_URL, SWAGGER_UI, static_dir
from api.settings import Settings
from bench.common import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import served
from tests.screenshots import shot

REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
ASSET = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.fixture(scope="module")
def offline_client() -> TestClient:
    """The app without its lifespan (never entered): pages and files, no database."""
    return TestClient(create_app(Settings(database_url="postgresql://unused@127.0.0.1:1/x")))


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_pages_link_only_vendored_files(offline_client: TestClient, path: str) -> None:
    response = offline_client.get(path)
    assert response.status_code == 200
    links = [u for u in ASSET.findall(response.text) if u != "data:,"]
    assert links and all(u.startswith(STATIC_URL + "/") for u in links), links
    assert "http://" not in response.text and "https://" not in response.text
    for url in links:
        served_file = offline_client.get(url)
        assert served_file.status_code == 200, url  # not shadowed by maps' /static
        rel = url.removeprefix(STATIC_URL + "/")
        assert served_file.content == (static_dir() / rel).read_bytes()


def test_vendored_files_have_licences_and_sources() -> None:
    sources = (static_dir() / "SOURCES.md").read_text(encoding="utf-8")
    for package in (SWAGGER_UI, REDOC):
        assert (static_dir() / package / "LICENSE").is_file(), package
        name, version = package.rsplit("-", 1)
        assert f"{name}@{version}" in sources
    assert (static_dir() / SWAGGER_UI / "NOTICE").is_file()  # Apache-2.0 §4(d)


def test_oauth2_redirect_and_schema(offline_client: TestClient) -> None:
    assert "swaggerUIRedirectOauth2" in offline_client.get("/docs/oauth2-redirect").text
    paths = offline_client.get("/openapi.json").json()["paths"]
    assert "/api/v1/locate" in paths
    assert not any(p.startswith(("/docs", "/redoc", "/static")) for p in paths)


@pytest.fixture(scope="module")
def server(engine: object, pg_url: str) -> Iterator[str]:
    with served(create_app(Settings(database_url=pg_url, basemap="none"))) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.mark.postgis
@pytest.mark.browser
@pytest.mark.parametrize(
    ("path", "operation"),
    [
        ("/docs", ".opblock"),  # Swagger UI: one block per operation, showing its path
        ("/redoc", "[data-section-id^='operation/'] h2"),  # ReDoc: one title per operation
    ],
)
def test_docs_render_with_no_internet(
    server: str, browser: Any, offline_client: TestClient, path: str, operation: str
) -> None:
    schema = offline_client.get("/openapi.json").json()
    operations = [op for item in schema["paths"].values() for op in item.values()]
    locate = schema["paths"]["/api/v1/locate"]["get"]["summary"]
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    outside: list[str] = []
    failed: list[str] = []
    errors: list[str] = []

    def only_local(route: Any) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    try:
        page.goto(server + path, wait_until="load")
        page.locator(operation, has_text=locate).first.wait_for(timeout=30_000)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=shot(f"api{path.replace('/', '_')}"))
        shown = page.locator(operation).count()
        text = page.locator("body").inner_text()
    finally:
        page.close()
    assert shown == len(operations)
    assert all(op["summary"] in text for op in operations)
    if path == "/docs":
        assert all(p in text for p in schema["paths"])  # every endpoint's path
    else:  # Redocly's logo: refused by the page's CSP, so never requested
        failed.remove(f"{REDOCLY_LOGO} csp")
        errors = [e for e in errors if REDOCLY_LOGO not in e]
    assert outside == [] and failed == [] and errors == []
