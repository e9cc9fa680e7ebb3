"""Offline pages: every asset vendored with its licence, no CDN left in rendered HTML."""

from __future__ import annotations

import re

import folium
import geopandas as gpd
import pandas as pd
import pytest
from folium.plugins import Draw, HeatMap, MarkerCluster, Search

from api.pages import LIFECYCLE
from maps import (
    Basemap,
    coverage_map,
    grids_map,
    incidents_map,
    render_file,
    render_page,
    static_dir,
)
from maps.assets import _UNUSED, _VENDORED, UnvendoredAssetError

NONE = Basemap(kind="none")
CDN_HOSTS = ("jsdelivr", "cdnjs", "unpkg", "code.jquery", "bootstrapcdn", "googleapis")
TAG_URL = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="(?!data:)([^"]*)"')


@pytest.fixture
def pages(
    grids: gpd.GeoDataFrame,
    regions: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    isochrones: gpd.GeoDataFrame,
    per_grid: pd.DataFrame,
    incidents: gpd.GeoDataFrame,
) -> list[folium.Map]:
    return [
        grids_map(grids, regions=regions, basemap=NONE),
        coverage_map(
            grids,
            buildings=buildings,
            stations=stations,
            isochrones=isochrones,
            per_grid=per_grid,
            basemap=NONE,
        ),
        incidents_map(grids, incidents=incidents, lifecycle=LIFECYCLE, basemap=NONE),
    ]


def test_every_folium_asset_gridmap_uses_is_vendored() -> None:
    links = [
        *folium.folium._default_js,
        *folium.folium._default_css,
        *(link for plugin in (MarkerCluster, HeatMap, Search) for link in plugin.default_js),
        *(link for plugin in (MarkerCluster, HeatMap, Search) for link in plugin.default_css),
    ]
    for _, url in links:
        assert url in _VENDORED or url in _UNUSED, url


def test_vendored_files_exist_with_licences_and_sources() -> None:
    sources = (static_dir() / "SOURCES.md").read_text(encoding="utf-8")
    packages = {path.split("/")[1] for files in _VENDORED.values() for path in files}
    for files in _VENDORED.values():
        for path in files:
            assert (static_dir() / path).is_file(), path
    for package in packages:
        folder = static_dir() / "vendor" / package
        assert any("licen" in p.name.lower() for p in folder.iterdir()), package
        name, version = package.rsplit("-", 1)
        assert f"{name}@{version}" in sources, package


def test_served_pages_link_only_static(pages: list[folium.Map]) -> None:
    for m in pages:
        html = render_page(m, static_url="/maps/static/")
        urls = TAG_URL.findall(html)
        assert urls and all(u.startswith("/maps/static/") for u in urls), urls
        assert "/maps/static/vendor/leaflet-1.9.4/lib/leaflet.js" in urls
        assert "/maps/static/gridmap/gridmap.js" in urls
        assert len(urls) == len(set(urls))  # jQuery and friends once
        assert not any(host in html for host in CDN_HOSTS)
        for url in urls:
            assert (static_dir() / url.removeprefix("/maps/static/")).is_file()


def test_files_inline_everything(pages: list[folium.Map]) -> None:
    for m in pages:
        html = render_file(m)
        assert not TAG_URL.findall(html)
        assert not any(host in html for host in CDN_HOSTS)
        styles = "".join(re.findall(r"<style>(.*?)</style>", html, flags=re.DOTALL))
        css_urls = re.findall(r"url\(([^)]*)\)", styles)
        assert any(u.startswith("data:font/woff2") for u in css_urls)
        assert all(u.strip("'\"").startswith(("data:", "#")) for u in css_urls)
        assert "Leaflet 1.9.4" in html and "window.gridmap" in html
        assert len(html) < 2_000_000  # a four-grid city: ~1 MB of inlined libraries


def test_unvendored_plugin_is_refused(grids: gpd.GeoDataFrame) -> None:
    m = grids_map(grids, basemap=NONE)
    Draw().add_to(m)
    with pytest.raises(UnvendoredAssetError, match=r"leaflet\.draw"):
        render_page(m)
