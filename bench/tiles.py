"""Vector tiles: gridmap's ST_AsMVT endpoint side by side with a Python tile builder, same data,
one run.

    .venv/bin/python -m bench.tiles [--out bench/results/tiles.json] [--repeat 5]

Data: the sample city (3.3 x 2 km of Nanjing: 121 grids, 1,193 buildings) in a throwaway
PostGIS, then synthetic incidents packed into its extent (fixed seed) — 20,000, then
200,000: a worst case for density. Tiles: the one over the city's centre at zoom 12, 14
and 16, for each layer.

Rows, each tile built from scratch every repeat (times are best of ``--repeat`` for both):

* gridmap: ``GET /tiles/{layer}/{z}/{x}/{y}.pbf`` on the app served by uvicorn (one worker,
  a process of its own), timed by the client, HTTP included: ST_AsMVT in PostGIS, incidents
  thinned to the newest per status per 4x4-pixel cell (data/tiles.py).
* baseline: the common Python recipe, in this process, no HTTP: ``geopandas.read_postgis``
  of the same rows (the same index-backed envelope test), ``to_crs(3857)``, clipped to the
  tile plus its buffer with shapely, incidents thinned the same way in pandas, encoded with
  ``mapbox_vector_tile.encode`` (extent 4096). Both tiles are decoded and must hold the same
  features (ids, codes) or the run fails.
* gridmap without thinning (incidents at 200,000): the same ST_AsMVT query over every
  incident in the tile, run directly — why the endpoint thins.
* the incidents page: ``GET /maps/incidents`` at the 20,000 threshold (embedded) and one
  incident past it (drawn from tiles), and with 200,000 incidents the opening view in headless
  Chromium: navigation start to the last incident tile's response.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import mapbox_vector_tile
import numpy as np
import pandas as pd
import psycopg
import shapely
from playwright.sync_api import Response, sync_playwright
from sqlalchemy import Connection, text

from bench.common import CHROMIUM, CHROMIUM_ARGS, best, write_report
from data.db import make_engine, migrate, transaction
from data.embedded import Cluster, free_port
from data.sample_loader import load_sample
from data.tiles import BUFFER, CELL_PX, EXTENT, TILE_PX

OUT = Path(__file__).parent / "results" / "tiles.json"
ZOOMS = (12, 14, 16)
SEED = 0.42  # setseed() for the synthetic incidents
WORLD = 20037508.342789244  # half the web mercator world's side, metres
STATUSES = ("reported", "accepted", "dispatched", "resolved", "closed", "rejected")

# The baseline's rows: the same properties and envelope test as data/tiles.py.
ENVELOPE = "ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4326)"
ROWS = {
    "grids": f"""SELECT code, name, community, households, geom FROM grids
                 WHERE valid_to IS NULL AND geom && {ENVELOPE}""",
    "buildings": f"SELECT id, households, grid_code, geom FROM buildings WHERE geom && {ENVELOPE}",
    "incidents": f"""SELECT id, category, status, priority, grid_code,
                     to_char(reported_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                         AS reported_at,
                     to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS due_at,
                     geom
                     FROM incidents WHERE geom && {ENVELOPE}""",
}
KEY = {"grids": "code", "buildings": "id", "incidents": "id"}

# gridmap's incident tile without the thinning (for the "why thin" row only).
UNTHINNED = f"""
    SELECT ST_AsMVT(f, 'incidents', {EXTENT}, 'geom') FROM (
        SELECT id, category, status, priority, grid_code,
               ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(:z, :x, :y),
                            {EXTENT}, {BUFFER}) AS geom
        FROM incidents WHERE geom && {ENVELOPE}) f
"""

ADD_INCIDENTS = """
    INSERT INTO incidents (category, status, priority, geom, reported_at, due_at)
    SELECT 'bench', (%(statuses)s::text[])[1 + floor(random() * 6)::int], 'routine',
           ST_SetSRID(ST_MakePoint(%(x0)s + random() * %(dx)s, %(y0)s + random() * %(dy)s), 4326),
           t, t + interval '1 day'
    FROM (SELECT now() - random() * interval '30 days' AS t
          FROM generate_series(1, %(n)s)) s
"""


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """The tile's web mercator bounds (minx, miny, maxx, maxy)."""
    size = 2 * WORLD / (1 << z)
    return -WORLD + x * size, WORLD - (y + 1) * size, -WORLD + (x + 1) * size, WORLD - y * size


def _thin(frame: gpd.GeoDataFrame, z: int) -> gpd.GeoDataFrame:
    """The newest incident per status per CELL_PX-pixel cell, with the count it stands for,
    closed and rejected first (drawn below the open ones), as data/tiles.py does in SQL."""
    cells = (1 << z) * TILE_PX // CELL_PX
    lon, lat = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
    frame = frame.assign(
        cx=np.floor((lon + 180) / 360 * cells),
        cy=np.floor((1 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2 * cells),
    )
    groups = frame.groupby(["cx", "cy", "status"], sort=False)["id"]
    kept = pd.DataFrame({"id": groups.max(), "count": groups.size()}).reset_index(drop=True)
    out = frame.drop(columns=["cx", "cy"]).merge(kept, on="id")
    closed = out["status"].isin(["closed", "rejected"])
    return out.iloc[np.argsort(~closed.to_numpy(), kind="stable")]


def baseline_tile(conn: Connection, layer: str, z: int, x: int, y: int) -> bytes:
    """The Python recipe: geopandas query, reprojection, clipping, mapbox_vector_tile."""
    params = {"z": z, "x": x, "y": y, "margin": BUFFER / EXTENT}
    frame = gpd.read_postgis(text(ROWS[layer]), conn, geom_col="geom", params=params)
    if layer == "incidents" and len(frame):
        frame = _thin(frame, z)
    bounds = tile_bounds(z, x, y)
    # ST_AsMVTGeom snaps to the tile's integer grid before it clips: half a unit more.
    pad = (bounds[2] - bounds[0]) * (BUFFER + 0.5) / EXTENT
    box = (bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad)
    geoms = shapely.clip_by_rect(frame.geometry.to_crs(3857).to_numpy(), *box)
    keep = ~shapely.is_empty(geoms)
    props = frame.drop(columns="geom").to_dict("records")
    features = [
        {"geometry": g, "properties": {k: v for k, v in p.items() if v is not None}}
        for g, p, k in zip(geoms, props, keep, strict=True)
        if k
    ]
    options = {"quantize_bounds": bounds, "extents": EXTENT}
    return bytes(
        mapbox_vector_tile.encode({"name": layer, "features": features}, default_options=options)
    )


def features_of(tile: bytes, layer: str) -> list[Any]:
    decoded = mapbox_vector_tile.decode(tile)
    return [f["properties"][KEY[layer]] for f in decoded.get(layer, {}).get("features", [])]


@contextmanager
def server(url: str) -> Iterator[str]:
    """The app under uvicorn in a process of its own (one worker), on ``url``'s database."""
    port = free_port()
    env = {**os.environ, "GRIDMAP_DATABASE_URL": url, "GRIDMAP_BASEMAP": "none"}
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning", "--no-access-log"], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def timed(fn: Callable[[], bytes], repeat: int) -> tuple[float, bytes]:
    seconds, data = best(fn, repeat)
    return seconds, data


def measure_layer(
    http: httpx.Client,
    conn: Connection,
    layer: str,
    centre: tuple[float, float],
    repeat: int,
) -> dict[str, Any]:
    rows = {}
    for z in ZOOMS:
        x, y = tile_of(*centre, z)

        def ours(x: int = x, y: int = y, z: int = z) -> bytes:
            response = http.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf")
            response.raise_for_status()
            return response.content

        def theirs(x: int = x, y: int = y, z: int = z) -> bytes:
            return baseline_tile(conn, layer, z, x, y)

        ours_s, ours_tile = timed(ours, repeat)
        base_s, base_tile = timed(theirs, repeat)
        ours_ids, base_ids = features_of(ours_tile, layer), features_of(base_tile, layer)
        assert sorted(ours_ids) == sorted(base_ids), f"{layer} z{z}: the tiles differ"
        rows[f"z{z}"] = {
            "tile": [z, x, y],
            "features": len(ours_ids),
            "gridmap_kb": len(ours_tile) / 1e3,
            "gridmap_ms": ours_s * 1e3,
            "baseline_kb": len(base_tile) / 1e3,
            "baseline_ms": base_s * 1e3,
            "speedup": base_s / ours_s,
        }
        print(
            f"{layer} z{z}: {len(ours_ids)} features, gridmap {len(ours_tile) / 1e3:.1f} kB"
            f" {ours_s * 1e3:.1f} ms, baseline {len(base_tile) / 1e3:.1f} kB"
            f" {base_s * 1e3:.1f} ms"
        )
    return rows


def unthinned(conn: Connection, centre: tuple[float, float], repeat: int) -> dict[str, Any]:
    rows = {}
    for z in ZOOMS[:2]:
        x, y = tile_of(*centre, z)
        params = {"z": z, "x": x, "y": y, "margin": BUFFER / EXTENT}

        def once(params: dict[str, Any] = params) -> bytes:
            return bytes(conn.execute(text(UNTHINNED), params).scalar_one())

        seconds, tile = timed(once, repeat)
        rows[f"z{z}"] = {
            "tile": [z, x, y],
            "features": len(features_of(tile, "incidents")),
            "mb": len(tile) / 1e6,
            "ms": seconds * 1e3,
        }
        print(f"incidents not thinned z{z}: {rows[f'z{z}']}")
    return rows


def page(http: httpx.Client, repeat: int) -> dict[str, Any]:
    def get() -> bytes:
        response = http.get("/maps/incidents")
        response.raise_for_status()
        return response.content

    seconds, html = timed(get, repeat)
    return {
        "kb": len(html) / 1e3,
        "ms": seconds * 1e3,
        "tiled": b"gridmap.incidentTiles(" in html,
    }


def opening_view(base: str, repeat: int) -> dict[str, Any]:
    """Headless Chromium on /maps/incidents: navigation start to the last incident tile."""
    times, tiles = [], 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            failed: list[str] = []

            def check(response: Response, failed: list[str] = failed) -> None:
                if response.status >= 400:
                    failed.append(response.url)

            page.on("response", check)
            page.goto(base + "/maps/incidents", wait_until="networkidle", timeout=120_000)
            entries = page.evaluate(
                "() => performance.getEntriesByType('resource')"
                ".filter(e => e.name.includes('/tiles/incidents/'))"
                ".map(e => e.responseEnd)"
            )
            assert entries and not failed, failed
            times.append(max(entries) / 1e3)
            tiles = len(entries)
            page.close()
        version = browser.version
        browser.close()
    return {"seconds": min(times), "tiles": tiles, "chromium": version}


def add_incidents(conn: psycopg.Connection, n: int, extent: tuple[float, ...]) -> None:
    x0, y0, x1, y1 = extent
    conn.execute("SELECT setseed(%s)", (SEED,))
    conn.execute(
        ADD_INCIDENTS,
        {"statuses": list(STATUSES), "x0": x0, "y0": y0, "dx": x1 - x0, "dy": y1 - y0, "n": n},
    )
    conn.execute("ANALYZE incidents")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    load_at_start = os.getloadavg()
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="gridmap-bench-tiles-")), free_port())
    url = cluster.start()
    report: dict[str, Any] = {"repeat": args.repeat}
    try:
        migrate(url)
        engine = make_engine(url, pool_size=1)
        with transaction(engine) as session:
            load_sample(session=session)
        with (
            psycopg.connect(url, autocommit=True) as writer,
            engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
        ):
            conn.execute(text("SET jit = off"))  # as data/tiles.py does for its own queries
            extent = conn.execute(
                text(
                    "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)"
                    " FROM (SELECT ST_Extent(geom) AS e FROM grids WHERE valid_to IS NULL) s"
                )
            ).one()
            centre = ((extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2)
            counts = conn.execute(
                text("SELECT (SELECT count(*) FROM grids), (SELECT count(*) FROM buildings)")
            ).one()
            report["data"] = {
                "grids": counts[0],
                "buildings": counts[1],
                "extent": list(extent),
                "centre": list(centre),
            }
            with server(url) as base, httpx.Client(base_url=base, timeout=120) as http:
                layers: dict[str, Any] = {}
                for layer in ("grids", "buildings"):
                    layers[layer] = measure_layer(http, conn, layer, centre, args.repeat)
                add_incidents(writer, 20_000, tuple(extent))
                layers["incidents_20000"] = measure_layer(
                    http, conn, "incidents", centre, args.repeat
                )
                report["page_at_threshold"] = page(http, args.repeat)
                add_incidents(writer, 1, tuple(extent))
                report["page_past_threshold"] = page(http, args.repeat)
                add_incidents(writer, 200_000 - 20_001, tuple(extent))
                layers["incidents_200000"] = measure_layer(
                    http, conn, "incidents", centre, args.repeat
                )
                report["incidents_200000_not_thinned"] = unthinned(conn, centre, args.repeat)
                report["opening_view_200000"] = opening_view(base, args.repeat)
                report["layers"] = layers
            total = conn.execute(text("SELECT count(*) FROM incidents")).scalar_one()
            assert total == 200_000
        engine.dispose()
    finally:
        cluster.destroy()
    assert not report["page_at_threshold"]["tiled"] and report["page_past_threshold"]["tiled"]
    report["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "geopandas": gpd.__version__,
        "shapely": shapely.__version__,
        "mapbox_vector_tile": version("mapbox-vector-tile"),
        "load_average_at_start": load_at_start,
    }
    report["when"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_report(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
