"""The boundary editor (/admin/grids/edit): its JSON endpoints through the API, and the page in
headless Chromium on the sample city, served over HTTP with real commits in a database of its
own — drag a shared vertex, see the moved building in the preview, commit, check through the
API; a concurrent change before a commit gives the 412 message and a reload. Screenshots go to
test-output/screenshots/."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import LineString, Point, mapping, shape
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from api.app import create_app
from api.settings import Settings
from bench.common import CHROMIUM, CHROMIUM_ARGS
from data.db import make_engine, transaction
from data.keys import create_key
from geo.topology import Metric
from tests.api.test_hostile import checksum
from tests.api.test_redraw_live import sample_database
from tests.conftest import served
from tests.screenshots import shot

pytestmark = pytest.mark.postgis

COMMUNITY = "320102001002"  # 豆菜桥社区, twelve grids
EDITOR = "window.gridmapEditor"


# --- the JSON endpoints ------------------------------------------------------------------------


def test_page_is_local_and_configured(client: TestClient) -> None:
    page = client.get("/admin/grids/edit")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assets = re.findall(r'<script src="([^"]+)"', html) + re.findall(r'href="([^"]+\.css)"', html)
    assert any("leaflet-geoman" in a for a in assets) and any("editor.js" in a for a in assets)
    assert all(a.startswith("/static/") for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert '"workload": {"min": 150, "max": 500}' in html
    assert "content-security-policy" in page.headers


def test_communities_and_grids_need_a_key(client: TestClient, viewer_key: str) -> None:
    assert client.get("/api/v1/editor/communities").status_code == 401
    listed = client.get("/api/v1/editor/communities", headers={"X-API-Key": viewer_key})
    communities = {c["code"]: c for c in listed.json()["communities"]}
    assert communities[COMMUNITY]["grids"] == 12
    assert communities[COMMUNITY]["street_name"] == "石鼓路街道"
    grids = client.get(
        "/api/v1/editor/grids", params={"community": COMMUNITY}, headers={"X-API-Key": viewer_key}
    ).json()
    assert len(grids["features"]) == 12
    first = grids["features"][0]
    one = client.get(f"/api/v1/grids/{first['id']}")
    assert first["properties"]["etag"] == one.headers["etag"]
    assert {"households", "open_incidents", "buildings"} <= set(first["properties"])
    # Full precision: the same vertices as the database holds, not rounded to 7 digits.
    assert shape(first["geometry"]).equals_exact(shape(one.json()["geometry"]), 1e-7)
    nothing = client.get(
        "/api/v1/editor/grids", params={"community": "nope"}, headers={"X-API-Key": viewer_key}
    )
    assert nothing.status_code == 200 and nothing.json()["features"] == []


def test_split_and_merge_compute_shapes_and_write_nothing(
    client: TestClient, admin_key: str, viewer_key: str, session: Session
) -> None:
    before = checksum(session)
    square = shapely.box(118.78, 32.04, 118.79, 32.05)
    cut = LineString([(118.785, 32.039), (118.785, 32.051)])
    body = {"geometry": mapping(square), "line": mapping(cut)}
    key = {"X-API-Key": admin_key}
    assert (
        client.post(
            "/api/v1/editor/split", json=body, headers={"X-API-Key": viewer_key}
        ).status_code
        == 403
    )
    parts = client.post("/api/v1/editor/split", json=body, headers=key).json()["parts"]
    west, east = (shape(p) for p in parts)
    assert west.bounds[2] == pytest.approx(118.785) and east.bounds[0] == pytest.approx(118.785)
    merged = client.post(
        "/api/v1/editor/merge", json={"geometries": [mapping(west), mapping(east)]}, headers=key
    )
    assert shape(merged.json()["geometry"]).symmetric_difference(square).area < 1e-12
    apart = shapely.box(118.80, 32.04, 118.81, 32.05)
    refused = client.post(
        "/api/v1/editor/merge", json={"geometries": [mapping(square), mapping(apart)]}, headers=key
    )
    assert refused.status_code == 422
    # A grid drawn over both halves, its corner 1 m from the halves' shared corner: snapped
    # onto it, and cut out of both.
    corner = (118.785 + 1e-5, 32.05 - 1e-5)
    drawn = shapely.Polygon([corner, (118.787, 32.05), (118.787, 32.045), (118.783, 32.045)])
    carved = client.post(
        "/api/v1/editor/carve",
        json={"drawn": mapping(drawn), "grids": [mapping(west), mapping(east)]},
        headers=key,
    ).json()
    new = shape(carved["geometry"])
    assert (118.785, 32.05) in _vertices(new)
    rests = [shape(g) for g in carved["grids"]]
    assert shapely.union_all([new, *rests]).symmetric_difference(square).area < 1e-12
    assert all(r.intersection(new).area < 1e-15 for r in rests)
    whole = client.post(
        "/api/v1/editor/carve",
        json={"drawn": mapping(square.buffer(0.001)), "grids": [mapping(west)]},
        headers=key,
    ).json()
    assert whole["grids"] == [None]  # wholly taken: the grid would retire
    outside = {"drawn": mapping(apart), "grids": [mapping(west)]}
    assert client.post("/api/v1/editor/carve", json=outside, headers=key).status_code == 422
    missed = {"geometry": mapping(square), "line": mapping(LineString([(118.7, 32), (118.71, 32)]))}
    assert client.post("/api/v1/editor/split", json=missed, headers=key).status_code == 422
    assert checksum(session) == before


def test_validate_report_locates_moved_buildings(client: TestClient, admin_key: str) -> None:
    """The report's moved buildings carry their point (the editor marks them on the map)."""
    from tests.api.test_redraw import straightened

    body = straightened(client)[0]
    report = client.post("/api/v1/grids/validate", json=body, headers={"X-API-Key": admin_key})
    moved = report.json()["impact"]["buildings_moved"]
    assert moved and all({"id", "from", "to", "lon", "lat"} <= set(m) for m in moved)


# --- in the browser ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Drag:
    """Drag vertex ``vertex`` (shared by grids ``a`` and ``b`` only) to ``target``: building
    ``building`` at ``point`` moves from ``b`` to ``a``."""

    a: str
    b: str
    vertex: tuple[float, float]
    target: tuple[float, float]
    building: int
    point: tuple[float, float]


def find_drag(grids: dict[str, Any], buildings: list[Any]) -> Drag:
    """A vertex in the middle of a stretch two grids share, and a target past one of the
    second grid's buildings, so that the building changes grid with metres to spare (the
    mouse drops to the nearest pixel)."""
    owners: Counter[tuple[float, float]] = Counter()
    for geom in grids.values():
        owners.update({tuple(c) for c in shapely.get_coordinates(geom).tolist()})
    union = shapely.union_all(list(grids.values()))
    metric = Metric.around([union])
    for a_code, a in grids.items():
        ring = [tuple(c) for c in shapely.get_coordinates(a.geoms[0].exterior).tolist()][:-1]
        for k, v in enumerate(ring):
            prev, nxt = ring[k - 1], ring[(k + 1) % len(ring)]
            if owners[v] != 2 or owners[prev] != 2 or owners[nxt] != 2:
                continue
            if _crowded(a, v, metric):
                continue
            (b_code,) = [c for c, g in grids.items() if c != a_code and v in _vertices(g)]
            b = grids[b_code]
            if not (prev in _vertices(b) and nxt in _vertices(b)):
                continue
            for bid, x, y, code in buildings:
                if code != b_code:
                    continue
                for scale in (1.5, 2.0):
                    target = (v[0] + (x - v[0]) * scale, v[1] + (y - v[1]) * scale)
                    if _works(a, b, v, target, (x, y), metric):
                        return Drag(a_code, b_code, v, target, bid, (x, y))
    raise AssertionError("no shared vertex moves a building")


def _crowded(grid: Any, v: tuple[float, float], metric: Metric) -> bool:
    """Whether another vertex of ``grid`` lies so near ``v`` that their drag handles (and the
    handles between them) would overlap on the screen at zoom 18 (~0.5 m a pixel)."""
    point = metric.project(Point(v))
    others = [Point(c) for c in _vertices(grid) if c != v]
    return any(metric.project(p).distance(point) < 15 for p in others)


def _vertices(geom: Any) -> set[tuple[float, float]]:
    return {tuple(c) for c in shapely.get_coordinates(geom).tolist()}


def _moved(geom: Any, v: tuple[float, float], t: tuple[float, float]) -> Any:
    return shapely.transform(
        geom, lambda xy: [[t[0], t[1]] if (p[0], p[1]) == v else p for p in xy.tolist()]
    )


def _works(a: Any, b: Any, v: Any, t: Any, p: Any, metric: Metric) -> bool:
    new_a, new_b = _moved(a, v, t), _moved(b, v, t)
    if not (new_a.is_valid and new_b.is_valid):
        return False
    union_before, union_after = shapely.union(a, b), shapely.union(new_a, new_b)
    if metric.area(union_before.symmetric_difference(union_after)) > 0.5:
        return False  # the vertex would leave the two grids: an overlap with a third
    step = metric.project(LineString([v, t])).length
    if not 15 < step < 120:
        return False
    point = metric.project(Point(p))
    return metric.project(new_a.boundary).distance(point) > 4 and new_a.covers(Point(p))


@dataclass
class City:
    url: str
    engine: Engine
    admin: str

    def grids(self) -> dict[str, Any]:
        features = httpx.get(
            f"{self.url}/api/v1/editor/grids",
            params={"community": COMMUNITY},
            headers={"X-API-Key": self.admin},
        ).json()["features"]
        return {f["id"]: shape(f["geometry"]) for f in features}

    def buildings(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    text(
                        "SELECT id, ST_X(geom), ST_Y(geom), grid_code FROM buildings "
                        "WHERE starts_with(grid_code, :c) ORDER BY id"
                    ),
                    {"c": COMMUNITY},
                )
            )


def _serve(url: str) -> Iterator[City]:
    """The app over HTTP on the database at ``url`` (no basemap: no network), with an admin key."""
    engine = make_engine(url)
    with transaction(engine) as session:
        admin = create_key(session=session, role="admin")
    with served(create_app(Settings(database_url=url, basemap="none"))) as base:
        yield City(base, engine, admin)
    engine.dispose()


@pytest.fixture(scope="module")
def city(pg_url: str) -> Iterator[City]:
    yield from _serve(sample_database(pg_url, "gridmap_editor"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Editor:
    """The editor page in one browser tab, with what it logged and fetched."""

    def __init__(self, browser: Any, city: City) -> None:
        self.city = city
        self.page = browser.new_page(viewport={"width": 1366, "height": 768})
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"{e} {e.stack}"))
        self.page.on(
            "request",
            lambda r: None if r.url.startswith((city.url, "data:")) else self.outside.append(r.url),
        )
        self.page.goto(f"{city.url}/admin/grids/edit", wait_until="load")

    def open_community(self) -> None:
        page = self.page
        page.get_by_label("管理员密钥 Admin API key").fill(self.city.admin)
        page.get_by_role("button", name="确定 Use").click()
        page.get_by_text("key accepted").wait_for()
        page.get_by_label("街道 Street").select_option(COMMUNITY[:9])
        page.get_by_label("社区 Community").select_option(COMMUNITY)
        page.wait_for_function(f"() => {EDITOR}.state.grids.size === 12")

    def pixel(self, lon: float, lat: float) -> tuple[float, float]:
        x, y = self.page.evaluate(
            f"""([lon, lat]) => {{
                const map = {EDITOR}.map;
                const p = map.latLngToContainerPoint([lat, lon]);
                const r = map.getContainer().getBoundingClientRect();
                return [r.left + p.x, r.top + p.y];
            }}""",
            [lon, lat],
        )
        return float(x), float(y)

    def select(self, grid: Any) -> None:
        inside = grid.representative_point()
        self.page.mouse.click(*self.pixel(inside.x, inside.y))

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        """Zoom to the vertex and drag it with the mouse."""
        centre = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        self.page.evaluate(
            f"([lon, lat]) => {{ {EDITOR}.map.setView([lat, lon], 18, {{reset: true}}); }}", centre
        )
        mouse = self.page.mouse
        mouse.move(*self.pixel(*start))
        mouse.down()
        mouse.move(*self.pixel(*end), steps=8)
        mouse.up()

    def shot(self, name: str) -> None:
        self.page.screenshot(path=shot(name))


def _etag(city: City, code: str) -> str:
    return httpx.get(f"{city.url}/api/v1/grids/{code}").headers["etag"]


def _history(city: City, code: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{city.url}/api/v1/grids/{code}/history", headers={"X-API-Key": city.admin})
    versions: list[dict[str, Any]] = answer.json()["versions"]
    return versions


@pytest.mark.browser
def test_drag_a_shared_vertex_preview_and_commit(browser: Any, city: City) -> None:
    grids = city.grids()
    drag = find_drag(grids, city.buildings())
    before = {c: len(_history(city, c)) for c in (drag.a, drag.b)}
    editor = Editor(browser, city)
    editor.open_community()
    editor.shot("editor_community")
    editor.select(grids[drag.a])
    editor.drag(drag.vertex, drag.target)
    preview = editor.page.locator("#preview-body")
    preview.get_by_text(f"#{drag.building}", exact=True).wait_for()
    assert "no gaps or overlaps" in preview.inner_text()
    assert f"{drag.b} → {drag.a}" in preview.inner_text()
    editor.shot("editor_preview")
    # Both grids follow the vertex: the page sends both, with one shared new position.
    sent = editor.page.evaluate(f"{EDITOR}.changes()")
    assert sorted(c["code"] for c in sent) == sorted([drag.a, drag.b])
    new_a, new_b = (shape(c["geometry"]) for c in sorted(sent, key=lambda c: c["code"] != drag.a))
    assert _vertices(new_a) - _vertices(grids[drag.a]) == _vertices(new_b) - _vertices(
        grids[drag.b]
    )

    editor.page.get_by_label("原因 Reason").fill("测试：调整共享边界 shared edge moved")
    editor.page.get_by_role("button", name="提交修改 Commit").click()
    editor.page.locator("#message.ok").wait_for()
    assert "committed as version" in editor.page.locator("#message").inner_text()
    editor.shot("editor_committed")

    after = city.grids()
    for code in (drag.a, drag.b):
        assert not after[code].equals(grids[code]), code
        versions = _history(city, code)
        assert len(versions) == before[code] + 1
        assert versions[-1]["reason"] == "测试：调整共享边界 shared edge moved"
    assert _history(city, drag.a)[-1]["version"] == _history(city, drag.b)[-1]["version"]
    located = httpx.get(
        f"{city.url}/api/v1/locate", params={"lon": drag.point[0], "lat": drag.point[1]}
    )
    assert located.json()["grid"]["code"] == drag.a
    assert not editor.errors and not editor.outside, (editor.errors, editor.outside)


@pytest.mark.browser
def test_a_concurrent_change_gives_412_and_a_reload(browser: Any, city: City) -> None:
    grids = city.grids()
    drag = find_drag(grids, city.buildings())
    versions = len(_history(city, drag.a))
    editor = Editor(browser, city)
    editor.open_community()
    editor.select(grids[drag.a])
    editor.drag(drag.vertex, drag.target)
    editor.page.locator("#preview-body").get_by_text(f"#{drag.building}", exact=True).wait_for()

    # Meanwhile another admin renames grid b through the API.
    other = httpx.post(
        f"{city.url}/api/v1/grids/redraw",
        json={
            "changes": [
                {"code": drag.b, "etag": _etag(city, drag.b), "properties": {"worker_name": "赵六"}}
            ],
            "reason": "换网格员 new worker",
        },
        headers={"X-API-Key": city.admin},
    )
    assert other.status_code == 200, other.text
    editor.page.get_by_label("原因 Reason").fill("too late")
    editor.page.get_by_role("button", name="提交修改 Commit").click()
    warning = editor.page.locator("#message.warn")
    warning.wait_for()
    text_ = warning.inner_text()
    assert "someone else changed these grids" in text_
    assert drag.b in text_ and "换网格员 new worker" in text_ and "key:" in text_
    editor.shot("editor_412")
    # Reloaded: the page holds the current ETag and boundaries, and no pending change.
    etag = editor.page.evaluate(f"code => {EDITOR}.state.grids.get(code).etag", drag.b)
    assert etag == _etag(city, drag.b)
    assert editor.page.evaluate(f"{EDITOR}.changes().length") == 0
    assert len(_history(city, drag.a)) == versions  # nothing committed
    unexpected = [e for e in editor.errors if "412" not in e]
    assert not unexpected and not editor.outside, (unexpected, editor.outside)


@pytest.mark.browser
def test_undo_history_and_split(browser: Any, city: City) -> None:
    """Undo takes a drag back; the history panel lists a grid's versions and shows an old one
    beside the current; a line drawn across a grid splits it into it and a new grid."""
    grids = city.grids()
    drag = find_drag(grids, city.buildings())
    renamed = httpx.post(
        f"{city.url}/api/v1/grids/redraw",
        json={
            "changes": [
                {
                    "code": drag.a,
                    "etag": _etag(city, drag.a),
                    "properties": {"name": "改名 renamed"},
                }
            ],
            "reason": "改名 rename",
        },
        headers={"X-API-Key": city.admin},
    )
    assert renamed.status_code == 200, renamed.text
    editor = Editor(browser, city)
    editor.open_community()
    editor.select(grids[drag.a])
    history = editor.page.locator("#history")
    history.get_by_text("改名 rename").wait_for()
    assert history.locator("tbody tr").count() == len(_history(city, drag.a))
    history.get_by_role("button", name="显示 show").first.click()
    editor.page.locator("#inset:not([hidden])").wait_for()
    editor.shot("editor_history")

    editor.drag(drag.vertex, drag.target)
    editor.page.wait_for_function(f"() => {EDITOR}.changes().length === 2")
    editor.page.get_by_role("button", name="撤销 Undo").click()
    editor.page.wait_for_function(f"() => {EDITOR}.changes().length === 0")

    # Split: a line across the grid's middle, west to east, double-clicked at its end.
    grid = grids[drag.a]
    x0, y0, x1, y1 = grid.bounds
    middle = grid.representative_point()
    editor.page.evaluate(
        f"b => {{ {EDITOR}.map.fitBounds(b, {{animate: false, padding: [60, 60]}}); }}",
        [[y0, x0], [y1, x1]],
    )
    editor.page.get_by_role("button", name="画线拆分 Split").click()
    pad = (x1 - x0) * 0.1
    editor.page.mouse.click(*editor.pixel(x0 - pad, middle.y))
    editor.page.mouse.dblclick(*editor.pixel(x1 + pad, middle.y))
    editor.page.wait_for_function(
        f"() => {EDITOR}.changes().some(c => c.code === null)", timeout=5_000
    )
    preview = editor.page.locator("#preview-body")
    preview.get_by_text("no gaps or overlaps").wait_for()
    editor.shot("editor_split")
    changed = editor.page.evaluate(f"{EDITOR}.changes()")
    parts = [shape(c["geometry"]) for c in changed if c.get("geometry")]
    assert abs(shapely.union_all(parts).area - grid.area) < 1e-12

    # Merge: undo the split, then the selected grid takes its neighbour b, which retires.
    editor.page.get_by_role("button", name="撤销 Undo").click()
    editor.page.wait_for_function(f"() => {EDITOR}.changes().length === 0")
    editor.page.evaluate(  # no animation: pixels are read right after
        f"() => {{ {EDITOR}.map.fitBounds({EDITOR}.map.getBounds().pad(1), {{animate: false}}); }}"
    )
    editor.page.get_by_role("button", name="合并邻格 Merge").click()
    inside_b = grids[drag.b].representative_point()
    editor.page.mouse.click(*editor.pixel(inside_b.x, inside_b.y))
    editor.page.wait_for_function(f"() => {EDITOR}.changes().length === 2")
    merged = {c["code"]: c for c in editor.page.evaluate(f"{EDITOR}.changes()")}
    assert merged[drag.b]["retire"] is True
    union = shapely.union(grids[drag.a], grids[drag.b])
    assert shape(merged[drag.a]["geometry"]).symmetric_difference(union).area < 1e-12
    preview.get_by_text("no gaps or overlaps").wait_for()

    # A new grid drawn around the shared vertex: cut out of a and b, snapped to their vertices.
    editor.page.get_by_role("button", name="撤销 Undo").click()
    editor.page.wait_for_function(f"() => {EDITOR}.changes().length === 0")
    vx, vy = drag.vertex
    editor.page.evaluate(
        f"([lon, lat]) => {{ {EDITOR}.map.setView([lat, lon], 18, {{reset: true}}); }}",
        [vx, vy],
    )
    step = 0.0002  # ~20 m
    corners = [(vx - step, vy - step), (vx + step, vy - step), (vx + step, vy + step)]
    editor.page.get_by_role("button", name="画新网格 New grid").click()
    for lon, lat in [*corners, (vx - step, vy + step), corners[0]]:
        editor.page.mouse.click(*editor.pixel(lon, lat))
    editor.page.wait_for_function(
        f"() => {EDITOR}.changes().some(c => c.code === null)", timeout=5_000
    )
    preview.get_by_text("no gaps or overlaps").wait_for()
    editor.shot("editor_new_grid")
    drawn = {c["code"]: c for c in editor.page.evaluate(f"{EDITOR}.changes()")}
    assert {drag.a, drag.b} <= set(drawn)
    new = shape(drawn[None]["geometry"])
    assert new.covers(Point(drag.vertex)) and new.area > 0
    assert not editor.errors, editor.errors


# --- a community of sixty grids ---------------------------------------------------------------

BIG = "320102009001"
X0, Y0, CELL, FINE = 118.90, 32.10, 0.0015, 15  # 10 × 6 cells of ~140 m, 15 vertices a side


def _lattice(k: int, m: int) -> tuple[float, float]:
    return (X0 + k * CELL / FINE, Y0 + m * CELL / FINE)


def _cell(i: int, j: int) -> shapely.Polygon:
    """Cell (i, j) with every vertex from one lattice: neighbours share them bit for bit."""
    k0, m0 = i * FINE, j * FINE
    ring = (
        [_lattice(k0 + t, m0) for t in range(FINE)]
        + [_lattice(k0 + FINE, m0 + t) for t in range(FINE)]
        + [_lattice(k0 + FINE - t, m0 + FINE) for t in range(FINE)]
        + [_lattice(k0, m0 + FINE - t) for t in range(FINE)]
    )
    return shapely.Polygon(ring)


@pytest.fixture(scope="module")
def big(pg_url: str) -> Iterator[City]:
    from data.db import migrate
    from data.grids import as_multi, insert_grids, new_version
    from data.models import ewkt
    from tests.conftest import own_database

    url = own_database(pg_url, "gridmap_editor_60")
    migrate(url)
    engine = make_engine(url)
    cells = {f"{BIG}{n + 1:03d}": _cell(n % 10, n // 10) for n in range(60)}
    with transaction(engine) as session:
        territory = shapely.union_all(list(cells.values()))
        for code, level, parent in ((BIG[:9], "street", None), (BIG, "community", BIG[:9])):
            session.execute(
                text(
                    "INSERT INTO regions (code, level, name, parent, geom) "
                    "VALUES (:c, :l, :n, :p, ST_GeomFromEWKT(:g))"
                ),
                {
                    "c": code,
                    "l": level,
                    "n": f"测试{level}",
                    "p": parent,
                    "g": ewkt(as_multi(territory)),
                },
            )
        version = new_version(session=session, author="test", reason="sixty grids")
        rows = [
            {"code": c, "name": f"第{c[-2:]}网格", "community": BIG, "geom": g, "households": 300}
            for c, g in cells.items()
        ]
        insert_grids(session=session, rows=rows, version=version)
    engine.dispose()
    yield from _serve(url)


@pytest.mark.browser
def test_sixty_grids_edit_smoothly(browser: Any, big: City) -> None:
    """Load 60 grids of 60 vertices, drag a vertex of a shared edge: the page keeps up (load
    and the preview after the drag each within seconds, even on a busy CI machine)."""
    import time

    editor = Editor(browser, big)
    page = editor.page
    page.get_by_label("管理员密钥 Admin API key").fill(big.admin)
    page.get_by_role("button", name="确定 Use").click()
    page.get_by_text("key accepted").wait_for()
    page.get_by_label("街道 Street").select_option(BIG[:9])
    started = time.perf_counter()
    page.get_by_label("社区 Community").select_option(BIG)
    page.wait_for_function(f"() => {EDITOR}.state.grids.size === 60")
    loaded = time.perf_counter() - started
    west, east = f"{BIG}025", f"{BIG}026"  # cells (4, 2) and (5, 2)
    vertex = _lattice(5 * FINE, 2 * FINE + 7)
    editor.select(_cell(4, 2))
    editor.drag(vertex, (vertex[0] + 0.0003, vertex[1]))
    started = time.perf_counter()
    page.locator("#preview-body").get_by_text("no gaps or overlaps").wait_for(timeout=10_000)
    previewed = time.perf_counter() - started
    editor.shot("editor_sixty_grids")
    assert sorted(c["code"] for c in page.evaluate(f"{EDITOR}.changes()")) == [west, east]
    assert loaded < 5 and previewed < 5, (loaded, previewed)  # ~0.5 s and ~1 s when quiet
    assert not editor.errors, editor.errors
