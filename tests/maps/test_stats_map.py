"""The statistics map: choropleth by closure rate or overdue, a monthly chart in each popup
(built from data passed in; drawn in Chromium)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pytest

from maps import Basemap, render_file, stats_map

from .conftest import CODES, STEP, X0, Y0
from .test_browser import Loaded, open_map, to_file  # noqa: F401 (a fixture)

NONE = Basemap(kind="none")
MONTHS = [f"2026-{m:02d}" for m in range(1, 13)]


@pytest.fixture
def with_stats(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = grids.copy()
    out["total"] = [120, 40, 0, 9]
    out["closed"] = [118, 30, 0, 9]
    out["open"] = [2, 8, 0, 0]
    out["overdue"] = [0, 5, 0, 0]
    out["closure_rate"] = [98.3, 78.9, None, 100.0]
    out["on_time_rate"] = [91.0, 60.0, None, 100.0]
    out["median_hours_to_close"] = [20.5, 70.0, None, 3.0]
    monthly = ",".join(str(10 + m) for m in range(12)) + ";" + ",".join("9" * 12)
    out["monthly"] = [monthly, "1,2,3,4,5,6,7,8,9,10,11,12;0,0,0,0,0,0,0,0,0,0,0,0", None, None]
    return out


def _has(html: str, text: str) -> bool:
    """``text`` in the page, as is or JSON-escaped inside a script."""
    return text in html or json.dumps(text)[1:-1] in html


def test_stats_map_classes_and_legend(with_stats: gpd.GeoDataFrame) -> None:
    html = render_file(stats_map(with_stats, months=MONTHS, period="2026", basemap=NONE))
    assert all(_has(html, t) for t in ("结案率 closure % 2026", "≥ 98", "无数据 no data"))
    assert _has(html, '"cls":[4,0,5,4]')  # ≥ 98, < 80, no data, ≥ 98
    overdue = render_file(stats_map(with_stats, measure="overdue", months=MONTHS, basemap=NONE))
    assert _has(overdue, "超期 overdue")
    empty = with_stats.assign(total=0, monthly=None)
    assert _has(render_file(stats_map(empty, months=MONTHS)), "no reports in this period")
    with pytest.raises(ValueError, match="monthly"):
        stats_map(with_stats.drop(columns="monthly"))


@pytest.mark.browser
def test_stats_map_popup_draws_the_monthly_chart(
    open_map: Callable[[str], Loaded],  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    with_stats: gpd.GeoDataFrame,
) -> None:
    html = render_file(stats_map(with_stats, months=MONTHS, basemap=NONE))
    loaded = open_map(to_file(tmp_path, "stats", html))
    loaded.assert_clean(origin="file://")
    popup = loaded.click(X0 + 0.5 * STEP, Y0 + 0.5 * STEP)
    assert CODES[0] in popup and "98.3" in popup
    bars = loaded.page.locator(".leaflet-popup-content svg.gridmap-bars rect")
    assert bars.count() == 24  # filed and closed for each of twelve months
    assert "2026-12: 21" in bars.nth(22).inner_html() + bars.nth(22).text_content()
    loaded.screenshot("stats_map")
    loaded.assert_clean(origin="file://")
