"""The compliance map: its structure, and in headless Chromium the selector recolouring the
grids and the homes, the per-kind table in a grid's popup, no console error."""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from maps import compliance_map, render_page
from maps.compliance import KindInfo

from . import test_browser
from .conftest import CODES, STEP, X0, Y0, Site
from .test_browser import LOCAL_TILES, Loaded

open_map = test_browser.open_map  # the fixture: a page in headless Chromium
KINDS = [
    KindInfo("kindergarten", "幼儿园", "Kindergarten", 300.0, 2),
    KindInfo("market", "菜市场或生鲜超市", "Market", 500.0, 1),
    KindInfo("elderly_day_care", "老年人日间照料中心", "Elderly day care", 300.0, 0),
]


@pytest.fixture
def per_grid() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "code": CODES,
            "overall": [66.7, 33.3, 0.0, 50.0],
            "mean_score": [2.0, 1.0, 0.0, 1.5],
            "weakest_kind": ["老年人日间照料中心"] * 4,
            "kindergarten": [100.0, 100.0, 0.0, 75.0],
            "market": [100.0, 0.0, 0.0, 75.0],
            "elderly_day_care": [0.0, 0.0, 0.0, 0.0],
        }
    )


@pytest.fixture
def homes(buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    east = (buildings.geometry.x > X0 + STEP).to_numpy()
    return gpd.GeoDataFrame(
        {"kindergarten": ~east, "market": np.zeros(len(east), bool), "elderly_day_care": False},
        geometry=buildings.geometry.to_numpy(),
        crs=4326,
    )


def test_structure(
    grids: gpd.GeoDataFrame,
    per_grid: pd.DataFrame,
    homes: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
) -> None:
    html = render_page(
        compliance_map(
            grids, kinds=KINDS, per_grid=per_grid, homes=homes, stations=stations, notes=["n1"]
        )
    )
    assert "gridmap.polygons" in html and "gridmap.pointLayer" in html
    assert "幼儿园 kindergarten %" in html and "Kindergarten (\\u2264 300 m)" in html
    assert "n1" in html
    with pytest.raises(ValueError, match="unknown facility kind"):
        compliance_map(
            grids, kinds=KINDS, per_grid=per_grid, homes=homes, stations=stations, kind="x"
        )
    bare = render_page(
        compliance_map(grids, kinds=[], per_grid=None, homes=homes.iloc[:0], stations=stations)
    )
    assert "gridmap.polygons" in bare and "gridmap-selector" not in bare


@pytest.mark.browser
def test_selector_recolours_grids_and_homes(
    open_map: Callable[[str], Loaded],
    site: Site,
    grids: gpd.GeoDataFrame,
    per_grid: pd.DataFrame,
    homes: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
) -> None:
    reach = gpd.GeoDataFrame(
        {"kind": ["kindergarten", "market"]},
        geometry=[stations.geometry.iloc[0].buffer(0.002), stations.geometry.iloc[1].buffer(0.003)],
        crs=4326,
    )
    m = compliance_map(
        grids,
        kinds=KINDS,
        per_grid=per_grid,
        homes=homes,
        stations=stations,
        reach=reach,
        basemap=LOCAL_TILES,
    )
    loaded = open_map(site.publish("compliance.html", render_page(m)))
    loaded.assert_clean(origin=site.url)
    fills = (
        "return map._layers[Object.keys(map._layers).find(k => map._layers[k] instanceof "
        "L.FeatureGroup && map._layers[k].getLayers().length === 4)].getLayers()"
        ".map(l => l.options.fillColor);"
    )
    home_classes = (
        "return Object.values(map._layers).find(l => l instanceof "
        "gridmap.PointLayer)._data.cls.slice();"
    )
    overall, overall_homes = loaded.js(fills), loaded.js(home_classes)
    assert overall[0] != overall[2]  # 66.7 % and 0 %
    select = loaded.page.locator(".gridmap-selector select")
    assert select.locator("option").count() == 1 + len(KINDS)
    select.select_option("kindergarten")
    kindergarten = loaded.js(fills)
    assert kindergarten[0] == kindergarten[1] != kindergarten[2]  # 100, 100, 0 %
    assert kindergarten != overall
    homes_now = loaded.js(home_classes)
    assert sorted(set(homes_now)) == [0, 3] and homes_now != overall_homes
    assert homes_now.count(3) == int((~homes["kindergarten"]).sum())
    select.select_option("market")
    assert set(loaded.js(home_classes)) == {3}  # every home misses the market
    popup = loaded.click(X0 + 0.5 * STEP, Y0 + 0.5 * STEP)
    assert CODES[0] in popup and "菜市场或生鲜超市 market %" in popup
    assert "老年人日间照料中心" in popup  # the weakest kind
    polygons = loaded.count("L.Polygon")
    box = loaded.page.get_by_label("可达 reach: 幼儿园 ≤ 300 m", exact=True)
    assert not box.is_checked()  # each kind's reach is drawn on demand
    box.check()
    assert loaded.count("L.Polygon") == polygons + 1
    loaded.screenshot("compliance_map")
    loaded.assert_clean(origin=site.url)
