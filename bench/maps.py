"""Maps: gridmap's builders side by side with geopandas ``explore()``, same data, one run.

    .venv/bin/python -m bench.maps [--out bench/results/maps.json] [--repeat 3]

Data: bench.synth_city — 6,500 grids (~41 vertices each, edges bent like surveyed ones),
406 communities and 40 streets, 100,000 buildings, 200 stations with 5/10/15-minute areas.

Rows:

* gridmap ``grids_map`` (households choropleth, community and street outlines) and
  ``coverage_map`` (grids by coverage %, isochrones, buildings covered or not, stations);
* geopandas ``explore()`` as the baseline does it: ``grids.explore(column="households")``
  then ``buildings.explore(m=..., column="covered")``, with ``legend=False``: its legends need
  d3 and jQuery UI, which gridmap does not vendor, and without them the page's script stops
  before the buildings are drawn.

Measured: build = the builder plus rendering the HTML string (``render_file`` for gridmap,
``get_root().render()`` for explore); size of that HTML (gridmap's inlines every library, so
it opens offline; ``render_page`` sizes, with the libraries served from /static, are listed
too); first render = headless Chromium from navigation start to two animation frames after
the load event, when Leaflet has drawn the vector layers and the building tiles. Basemap tile
requests are aborted for both. explore's page links Leaflet and friends from CDNs: those
requests are answered from gridmap's vendored copies of the same libraries (an offline copy).
Times are best of ``--repeat`` (3) for every page, gridmap's and explore's alike (explore's
first render takes minutes, so a run takes a quarter of an hour).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import folium
import geopandas as gpd
import shapely
from playwright.sync_api import Browser, Route, sync_playwright

from bench.common import CHROMIUM, CHROMIUM_ARGS, best
from bench.synth_city import City, synth_city
from maps import coverage_map, grids_map, render_file, render_page, static_dir
from maps.assets import _VENDORED

T = TypeVar("T")
GOALS = {"build_s": 3.0, "html_mb": 10.0, "first_render_s": 3.0}
# Counts what each page has drawn once rendered: Leaflet vector layers, and gridmap's points.
DRAWN = """() => {
  const map = window[document.querySelector('.folium-map').id];
  const layers = Object.values(map._layers);
  const points = layers.find(l => window.gridmap && l instanceof gridmap.PointLayer);
  return {
    vector_layers: layers.filter(l => l instanceof L.Path).length,
    points_on_canvas: points ? points.count() : 0,
  };
}"""


def explore(city: City) -> folium.Map:
    m = city.grids.explore(column="households", legend=False)
    return city.buildings.explore(m=m, column="covered", legend=False)


def answer_from_vendored(route: Route) -> None:
    """CDN requests get gridmap's vendored copy of the same library; anything else aborts."""
    files = _VENDORED.get(route.request.url)
    if not files:
        route.abort()
        return
    body = b"\n".join((static_dir() / f).read_bytes() for f in files)
    kind = "text/css" if route.request.url.endswith(".css") else "application/javascript"
    route.fulfill(status=200, body=body, content_type=kind)


def first_render(browser: Browser, path: Path, repeat: int) -> tuple[float, dict[str, int]]:
    """Seconds from navigation start until the layers are drawn (best of ``repeat``)."""
    times, drawn = [], {}
    for _ in range(repeat):
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.route(lambda url: url.startswith(("http://", "https://")), answer_from_vendored)
        page.goto(path.as_uri(), wait_until="load", timeout=300_000)
        ms = page.evaluate(
            "() => new Promise(done => requestAnimationFrame(() =>"
            " requestAnimationFrame(() => done(performance.now()))))"
        )
        times.append(ms / 1000)
        drawn = page.evaluate(DRAWN)
        page.close()
    return min(times), drawn


def measure(
    name: str,
    build: Callable[[], folium.Map],
    render: Callable[[folium.Map], str],
    *,
    browser: Browser,
    folder: Path,
    repeat: int,
) -> dict[str, Any]:
    build_s, html = best(lambda: render(build()), repeat)
    path = folder / f"{name}.html"
    path.write_text(html, encoding="utf-8")
    render_s, drawn = first_render(browser, path, repeat)
    print(
        f"{name}: build {build_s:.2f} s, {len(html.encode()) / 1e6:.1f} MB, render {render_s:.2f} s"
    )
    return {
        "build_s": round(build_s, 3),
        "html_mb": round(len(html.encode()) / 1e6, 2),
        "first_render_s": round(render_s, 3),
        "drawn": drawn,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/maps.json"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    load_at_start = os.getloadavg()

    start = time.perf_counter()
    city = synth_city()
    print(f"synthetic city in {time.perf_counter() - start:.1f} s")

    def grids() -> folium.Map:
        return grids_map(city.grids, regions=city.regions, measure="households")

    def coverage() -> folium.Map:
        return coverage_map(
            city.grids,
            buildings=city.buildings,
            stations=city.stations,
            isochrones=city.isochrones,
            suggestions=city.suggestions,
            per_grid=city.per_grid,
        )

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        folder = Path(tmp)
        common = {"browser": browser, "folder": folder, "repeat": args.repeat}
        results["gridmap_grids_map"] = measure("grids", grids, render_file, **common)
        results["gridmap_coverage_map"] = measure("coverage", coverage, render_file, **common)
        for key, build in (("gridmap_grids_map", grids), ("gridmap_coverage_map", coverage)):
            results[key]["served_html_mb"] = round(len(render_page(build()).encode()) / 1e6, 2)
        results["geopandas_explore"] = measure(
            "explore",
            lambda: explore(city),
            lambda m: m.get_root().render(),
            **common,
        )
        chromium = browser.version
        browser.close()

    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "load_average_at_start": load_at_start,
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "chromium": chromium,
            "folium": folium.__version__,
            "geopandas": gpd.__version__,
        },
        "data": {
            "grids": len(city.grids),
            "vertices_per_grid": round(
                float(shapely.get_num_coordinates(city.grids.geometry.values).mean()), 1
            ),
            "communities": int((city.regions["level"] == "community").sum()),
            "streets": int((city.regions["level"] == "street").sum()),
            "buildings": len(city.buildings),
            "stations": len(city.stations),
        },
        "repeat": args.repeat,
        "goals": GOALS,
        "results": results,
        "notes": [
            "build_s: builder + HTML string; gridmap's HTML inlines every library (offline file)",
            "served_html_mb: gridmap's render_page, libraries fetched once from /static",
            "explore's CDN requests answered from gridmap's vendored copies of the same "
            "libraries; explore(legend=False), its legends needing d3 and jQuery UI",
            "basemap tile requests aborted for every page",
            "every time is best of repeat, gridmap's pages and explore's alike",
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
