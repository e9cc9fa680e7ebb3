"""The report page as a resident uses it: a 360×740 phone in headless Chromium with a mocked
location, over real HTTP on a database of its own. A report with a photo lands in
/api/v1/incidents with the right grid and its photo; a report made offline is sent once when
the network returns; a non-image and an oversized photo get a clear message. Screenshots go
to test-output/screenshots/."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import text

from api.app import create_app
from api.settings import Settings
from data.db import make_engine, migrate, transaction
from data.keys import create_key
from data.sample_loader import load_sample
from tests.conftest import own_database, served
from tests.maps.conftest import browser  # noqa: F401  (the fixture)
from tests.screenshots import shot as shot_path

pytestmark = [pytest.mark.postgis, pytest.mark.browser]

PHONE = {"width": 360, "height": 740}


def image(size: tuple[int, int], *, noise: bool = False, fmt: str = "PNG") -> bytes:
    picture = (
        Image.effect_noise(size, 90).convert("RGB") if noise else Image.new("RGB", size, "teal")
    )
    buffer = io.BytesIO()
    picture.save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def city(pg_url: str) -> dict[str, Any]:
    url = own_database(pg_url, "gridmap_report_page")
    migrate(url)
    engine = make_engine(url, pool_size=1)
    try:
        with transaction(engine) as session:
            load_sample(session=session)
            key = create_key(session=session, role="viewer")
            code, lon, lat = session.execute(
                text(
                    "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                    "FROM grids WHERE valid_to IS NULL ORDER BY code OFFSET 3 LIMIT 1"
                )
            ).one()
    finally:
        engine.dispose()
    return {"url": url, "key": key, "code": code, "lon": lon, "lat": lat}


@pytest.fixture(scope="module")
def server(city: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(
        database_url=city["url"],
        basemap="none",
        photo_dir=tmp_path_factory.mktemp("photos"),
        photo_max_bytes=150_000,
    )
    with served(create_app(settings)) as url:
        yield url


@pytest.fixture()
def phone(
    browser: Any,  # noqa: F811  (the fixture imported above)
    server: str,
    city: dict[str, Any],
) -> Iterator[Any]:
    """A fresh phone (own storage) standing inside the city's fourth grid, the page open."""
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        geolocation={"longitude": city["lon"], "latitude": city["lat"], "accuracy": 12},
        permissions=["geolocation"],
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/report", wait_until="load")
    expect(page.locator("#place")).to_contain_text(city["code"])
    expect(page.locator("#accuracy")).to_contain_text("±12")
    page.wait_for_function("() => !!localStorage.getItem('gridmap.report.token')")
    yield page
    assert not errors, errors
    context.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=shot_path(name), full_page=True)


def fill(page: Any, description: str) -> None:
    page.select_option("#category", index=1)
    page.fill("#description", description)


def viewer(server: str, city: dict[str, Any]) -> httpx.Client:
    return httpx.Client(base_url=server, headers={"X-API-Key": city["key"]}, timeout=10)


def rows_with(city: dict[str, Any], description: str) -> int:
    engine = make_engine(city["url"], pool_size=1)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT count(*) FROM incidents WHERE description = :d"), {"d": description}
            ).scalar()
    finally:
        engine.dispose()
    return int(found or 0)


def test_file_a_report_with_a_photo(phone: Any, server: str, city: dict[str, Any]) -> None:
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    fill(phone, "井盖缺失 a manhole cover is missing")
    big = image((2400, 1800))  # shrunk in the browser to 1600 px
    phone.set_input_files("#photo", {"name": "cover.png", "mimeType": "image/png", "buffer": big})
    expect(phone.locator("#thumbs img")).to_have_count(1)
    shot(phone, "report_page_filled")
    phone.click("#send")
    expect(phone.locator("#result")).to_contain_text("已提交")
    number = int(phone.locator("#result").inner_text().split("#")[1].split()[0])
    expect(phone.locator(f"#mine-list li[data-id='{number}'] img")).to_have_count(1)
    shot(phone, "report_page_sent")
    with viewer(server, city) as http:
        listed = http.get("/api/v1/incidents", params={"grid": city["code"]}).json()["items"]
        (mine,) = [i for i in listed if i["id"] == number]
        assert mine["status"] == "reported" and mine["grid_code"] == city["code"]
        (photo,) = http.get(f"/api/v1/incidents/{number}/photos").json()
        got = http.get(photo["url"])
        assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(got.content)).size == (1600, 1200)


def test_offline_report_is_sent_once_when_the_network_returns(
    phone: Any, city: dict[str, Any]
) -> None:
    description = "离线上报 filed offline"
    phone.context.set_offline(True)
    expect(phone.locator("#net")).to_be_visible()
    fill(phone, description)
    phone.set_input_files(
        "#photo",
        {"name": "p.jpg", "mimeType": "image/jpeg", "buffer": image((300, 200), fmt="JPEG")},
    )
    expect(phone.locator("#thumbs img")).to_have_count(1)
    phone.click("#send")
    expect(phone.locator("#result")).to_contain_text("已保存在手机上")
    expect(phone.locator("#queued")).to_contain_text("1")
    shot(phone, "report_page_offline")
    assert rows_with(city, description) == 0
    # the service worker keeps the page: it opens again without network, the report still queued
    phone.wait_for_function("() => navigator.serviceWorker.controller !== null")
    phone.reload(wait_until="load")
    expect(phone.locator("#queued")).to_contain_text("1")
    expect(phone.locator("#net")).to_be_visible()
    phone.context.set_offline(False)
    expect(phone.locator("#queued")).to_be_hidden(timeout=15_000)
    expect(phone.locator("#mine-list")).to_contain_text(description)
    # flushing again (another online event, a retry) sends nothing more
    phone.evaluate(
        "() => Promise.all([window.gridmapReport.flush(null), window.gridmapReport.flush(null)])"
    )
    assert rows_with(city, description) == 1
    assert phone.evaluate("() => window.gridmapReport.queue.all().then(q => q.length)") == 0


def test_a_non_image_and_an_oversized_photo_get_a_clear_message(
    phone: Any, city: dict[str, Any]
) -> None:
    phone.set_input_files(
        "#photo", {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"not a picture"}
    )
    expect(phone.locator("#photo-error")).to_contain_text("不是可用的图片")
    expect(phone.locator("#photo-error")).to_contain_text("notes.jpg")
    expect(phone.locator("#thumbs img")).to_have_count(0)
    description = "噪点照片 a photo too large"
    fill(phone, description)
    noisy = image((800, 800), noise=True, fmt="JPEG")  # > 150 kB however encoded
    phone.set_input_files("#photo", {"name": "noise.png", "mimeType": "image/png", "buffer": noisy})
    expect(phone.locator("#thumbs img")).to_have_count(1)
    phone.click("#send")
    expect(phone.locator("#result")).to_contain_text("照片太大")
    expect(phone.locator("#result")).to_contain_text("per photo")
    expect(phone.locator("#thumbs img")).to_have_count(1)  # the form is kept to fix and resend
    shot(phone, "report_page_refused")
    assert rows_with(city, description) == 0
    assert phone.evaluate("() => window.gridmapReport.queue.all().then(q => q.length)") == 0
