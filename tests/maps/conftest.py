"""A tiny hand-made city (four grids, two communities, one street) and the browser plumbing for
the map tests: headless Debian Chromium, and a local HTTP server with a /static copy."""

from __future__ import annotations

import functools
import shutil
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from playwright.sync_api import sync_playwright

from bench.common import CHROMIUM, CHROMIUM_ARGS
from maps import static_dir

X0, Y0, STEP = 118.80, 32.05, 0.005  # south-west corner and side (~500 m) of each grid
CODES = [f"32010200100{c}00{g}" for c in (1, 2) for g in (1, 2)]


def _grey_png() -> bytes:
    """A 1×1 grey PNG: every tile the local tile server hands out."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1×1, 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes([0, 0xDD])))
        + chunk(b"IEND", b"")
    )


TILE = _grey_png()


def square(i: int, j: int) -> shapely.Polygon:
    return shapely.box(X0 + i * STEP, Y0 + j * STEP, X0 + (i + 1) * STEP, Y0 + (j + 1) * STEP)


@pytest.fixture
def grids() -> gpd.GeoDataFrame:
    """2×2 grids; the west column is community ...001, the east one ...002."""
    cells = [square(0, 0), square(0, 1), square(1, 0), square(1, 1)]
    return gpd.GeoDataFrame(
        {
            "code": CODES,
            "name": ["第1网格", "第2网格", "第1网格", "第<b>2</b>网格"],
            "community": [c[:12] for c in CODES],
            "households": [120, 340, 560, 80],
            "worker_name": ["王秀英", "李建华", "张晓梅", None],
            "open_incidents": [0, 3, 1, 7],
            "coverage_pct": [100.0, 62.5, 91.0, None],
        },
        geometry=cells,
        crs=4326,
    )


@pytest.fixture
def regions(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    communities = grids.dissolve("community").reset_index()
    return gpd.GeoDataFrame(
        {
            "code": [*communities["community"], "320102001"],
            "level": ["community", "community", "street"],
            "name": ["汉中路社区", "石鼓路社区", "华侨路街道"],
            "parent": ["320102001", "320102001", "320102"],
        },
        geometry=[*communities.geometry, shapely.union_all(grids.geometry.values)],
        crs=4326,
    )


@pytest.fixture
def buildings() -> gpd.GeoDataFrame:
    """Twelve buildings on a lattice; those in the east column are not covered."""
    points = [
        shapely.Point(X0 + 0.0015 + 0.0033 * i, Y0 + 0.002 + 0.003 * j)
        for i in range(3)
        for j in range(4)
    ]
    east = [p.x > X0 + STEP for p in points]
    return gpd.GeoDataFrame(
        {
            "households": [30] * len(points),
            "walk_m": [1500.0 if e else 400.0 for e in east],
            "covered": [not e for e in east],
        },
        geometry=points,
        crs=4326,
    )


@pytest.fixture
def stations() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "name": ["汉中路社区服务站", "<script>x</script>"],
            "kind": ["community_service", "other"],
        },
        geometry=[shapely.Point(X0 + 0.002, Y0 + 0.004), shapely.Point(X0 + 0.004, Y0 + 0.008)],
        crs=4326,
    )


@pytest.fixture
def isochrones(stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    rows = [
        {"station": name, "minutes": minutes, "geometry": point.buffer(minutes * 0.0003)}
        for name, point in zip(stations["name"], stations.geometry, strict=True)
        for minutes in (5, 10, 15)
    ]
    return gpd.GeoDataFrame(rows, crs=4326)


@pytest.fixture
def per_grid() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "code": CODES,
            "buildings": [4, 4, 2, 2],
            "covered": [4, 4, 0, 0],
            "households": [120, 120, 60, 60],
            "covered_households": [120, 120, 0, 0],
            "pct": [100.0, 100.0, 0.0, 0.0],
        }
    )


@pytest.fixture
def incidents() -> gpd.GeoDataFrame:
    reported = pd.to_datetime(
        ["2024-05-01 09:00", "2024-05-01 18:30", "2024-05-03 08:00", "2024-05-06 12:00"]
    ).tz_localize("Asia/Shanghai")
    return gpd.GeoDataFrame(
        {
            "id": [101, 102, 103, 104],
            "category": ["环境卫生", "市政设施", "环境卫生", "<i>邻里纠纷</i>"],
            "status": ["reported", "dispatched", "closed", "accepted"],
            "priority": ["routine", "complex", "routine", "major"],
            "reported_at": reported,
            "due_at": reported + pd.to_timedelta([1, 5, 1, 30], unit="D"),
            "grid_code": [CODES[0], CODES[1], CODES[2], None],
        },
        geometry=[
            shapely.Point(X0 + 0.001, Y0 + 0.001),
            shapely.Point(X0 + 0.002, Y0 + 0.007),
            shapely.Point(X0 + 0.007, Y0 + 0.002),
            shapely.Point(X0 + 0.008, Y0 + 0.008),
        ],
        crs=4326,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium for one test module: a sync Playwright left running any longer would
    break other modules' own ``sync_playwright()`` (one per thread)."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


class _Handler(SimpleHTTPRequestHandler):
    """Files from the served folder, plus a grey tile for any /tiles/... path."""

    def do_GET(self) -> None:
        if self.path.startswith("/tiles/"):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(TILE)))
            self.end_headers()
            self.wfile.write(TILE)
        else:
            super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass(frozen=True)
class Site:
    root: Path
    url: str

    def publish(self, name: str, html: str) -> str:
        """Write a page into the served folder and return its URL."""
        (self.root / name).write_text(html, encoding="utf-8")
        return f"{self.url}/{name}"


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A local HTTP server laid out as the API serves maps: pages, and static/ at /static."""
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(static_dir(), root / "static")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(root, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture()
def suggestions() -> gpd.GeoDataFrame:
    """One proposed station site."""
    return gpd.GeoDataFrame(
        {"rank": [1], "added_households": [420]},
        geometry=[shapely.Point(X0 + 0.006, Y0 + 0.003)],
        crs=4326,
    )
