"""The report page's API on the real database: device tokens (hashed, rate limited), reports
with photos (idempotent by the page's client_id, rate limited per token), refusals that write
nothing (no row, no file), EXIF stripped but read as a hint, who may see a photo, my reports,
handlers' photos, and the grid a point goes to."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.test_hostile import checksum
from tests.conftest import PhotoStorage

pytestmark = pytest.mark.postgis
# the photo tests run against both stores: a directory and an S3-compatible bucket over HTTP
BOTH_STORES = pytest.mark.parametrize("photo_storage", ["file", "s3"], indirect=True)


def jpeg(
    size: tuple[int, int] = (64, 48), *, gps: tuple[float, float] | None = None, noise: bool = False
) -> bytes:
    """A JPEG, with an EXIF GPS position (lon, lat) when asked."""
    image = (
        Image.effect_noise(size, 80).convert("RGB")
        if noise
        else Image.new("RGB", size, (200, 40, 40))
    )
    exif = Image.Exif()
    if gps is not None:
        lon, lat = gps
        exif.get_ifd(0x8825).update(
            {
                1: "N",
                2: (float(int(lat)), (lat % 1) * 60, 0.0),
                3: "E",
                4: (float(int(lon)), (lon % 1) * 60, 0.0),
            }
        )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=95)
    return buffer.getvalue()


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (30, 20), (0, 0, 255, 128)).save(buffer, "PNG")
    return buffer.getvalue()


def new_token(c: TestClient) -> str:
    answer = c.post("/api/v1/report/tokens", json={})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


def report(
    c: TestClient,
    token: str,
    point: tuple[str, float, float],
    *,
    client_id: str = "r-1",
    photos: list[tuple[str, bytes, str]] = (),  # type: ignore[assignment]
    **fields: Any,
) -> Any:
    data = {
        "client_id": client_id,
        "category": "市容环境",
        "description": "路灯不亮 street light out",
        "lon": str(point[1]),
        "lat": str(point[2]),
        **fields,
    }
    files = [("photos", p) for p in photos]
    return c.post(
        "/api/v1/report",
        data={k: v for k, v in data.items() if v is not None},
        files=files or None,
        headers={"X-Device-Token": token},
    )


def test_token_is_stored_only_as_its_hash_and_audited(rc: TestClient, session: Session) -> None:
    answer = rc.post("/api/v1/report/tokens", json={"phone": "138 0000 0000"})
    assert answer.status_code == 201
    token = answer.json()["token"]
    assert token.startswith("gmd_") and len(token) > 40
    stored = session.execute(text("SELECT token_hash, prefix, phone FROM device_tokens")).all()
    assert [(h, p) for h, p, _ in stored][-1] == (
        hashlib.sha256(token.encode()).hexdigest(),
        token[:12],
    )
    dump = json.dumps([list(map(str, r)) for r in stored])
    assert token not in dump
    audit = session.execute(
        text("SELECT actor, action FROM audit_log WHERE entity = 'device token'")
    ).all()
    assert (f"device:{token[:12]}", "issue") in [tuple(a) for a in audit]
    assert rc.post("/api/v1/report/tokens").status_code == 201  # no body at all
    assert rc.post("/api/v1/report/tokens", json={"phone": "call me"}).status_code == 422


def test_tokens_are_rate_limited_per_address(make_client: Callable[..., TestClient]) -> None:
    c = make_client(report_tokens_per_ip=3)
    assert [c.post("/api/v1/report/tokens").status_code for _ in range(3)] == [201] * 3
    refused = c.post("/api/v1/report/tokens")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["content-type"] == "application/problem+json"


@BOTH_STORES
def test_report_with_photo_is_filed_and_its_photo_cleaned(
    rc: TestClient,
    session: Session,
    inside: tuple[str, float, float],
    viewer_key: str,
    photo_storage: PhotoStorage,
) -> None:
    token = new_token(rc)
    raw = jpeg(gps=(118.78, 32.05))
    assert b"Exif" in raw
    answer = report(rc, token, inside, photos=[("p.jpg", raw, "image/jpeg")], accuracy_m="12")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "reported" and body["grid_code"] == inside[0]
    assert body["client_id"].endswith(":r-1")
    (photo,) = body["photos"]
    assert photo["kind"] == "report"
    assert abs(photo["exif_lon"] - 118.78) < 1e-6 and abs(photo["exif_lat"] - 32.05) < 1e-6
    stored = photo_storage.stored()
    assert len(stored) == 2  # the photo and its thumbnail
    for key in stored:
        data = photo_storage.read(key)
        assert data.startswith(b"\xff\xd8\xff") and b"Exif" not in data and b"GPS" not in data
        assert not Image.open(io.BytesIO(data)).getexif()
    listed = rc.get(
        "/api/v1/incidents", params={"grid": inside[0]}, headers={"X-API-Key": viewer_key}
    ).json()["items"]
    assert body["id"] in [i["id"] for i in listed]
    got = rc.get(photo["url"], headers={"X-API-Key": viewer_key})
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(got.content)).size == (64, 48)
    thumb = rc.get(photo["thumb_url"], headers={"X-Device-Token": token})
    assert thumb.status_code == 200 and thumb.content.startswith(b"\xff\xd8\xff")
    reporter = session.execute(
        text("SELECT reporter FROM incidents WHERE id = :i"), {"i": body["id"]}
    ).scalar()
    assert reporter == f"device:{token[:12]}"
    audit = session.execute(
        text("SELECT action FROM audit_log WHERE entity = 'incident' AND entity_id = :i"),
        {"i": str(body["id"])},
    ).scalars()
    assert "report" in list(audit)


@BOTH_STORES
def test_photo_access_is_for_viewers_and_the_reporter_only(
    rc: TestClient, inside: tuple[str, float, float], viewer_key: str
) -> None:
    token = new_token(rc)
    photo = report(rc, token, inside, photos=[("p.png", png(), "image/png")]).json()["photos"][0]
    assert rc.get(photo["url"]).status_code == 401
    assert rc.get(photo["url"], headers={"X-Device-Token": new_token(rc)}).status_code == 403
    assert rc.get(photo["url"], headers={"X-Device-Token": "gmd_nonsense"}).status_code == 401
    assert rc.get(photo["url"], headers={"X-API-Key": "gm_nonsense"}).status_code == 401
    assert rc.get(photo["url"], headers={"X-Device-Token": token}).status_code == 200
    assert rc.get(photo["url"], headers={"X-API-Key": viewer_key}).status_code == 200
    assert rc.get("/api/v1/photos/999999999", headers={"X-API-Key": viewer_key}).status_code == 404


@BOTH_STORES
def test_a_resend_never_duplicates(
    rc: TestClient, session: Session, inside: tuple[str, float, float], photo_storage: PhotoStorage
) -> None:
    token = new_token(rc)
    photos = [("p.jpg", jpeg(), "image/jpeg")]
    first = report(rc, token, inside, client_id="same", photos=photos)
    again = report(rc, token, inside, client_id="same", photos=photos)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert [p["id"] for p in again.json()["photos"]] == [p["id"] for p in first.json()["photos"]]
    count = session.execute(
        text("SELECT count(*) FROM incidents WHERE client_id LIKE :p"), {"p": "%:same"}
    ).scalar()
    assert count == 1 and len(photo_storage.stored()) == 2
    other = report(rc, token, inside, client_id="same", description="something else")
    assert other.status_code == 409
    # another device may use the same client_id: its own report
    assert report(rc, new_token(rc), inside, client_id="same").status_code == 201


def test_reports_are_rate_limited_per_token(
    make_client: Callable[..., TestClient], session: Session, inside: tuple[str, float, float]
) -> None:
    c = make_client(report_limit_per_token=2)
    token = new_token(c)
    assert [report(c, token, inside, client_id=f"f{i}").status_code for i in range(2)] == [201] * 2
    before = checksum(session)
    flood = report(c, token, inside, client_id="f2")
    assert flood.status_code == 429 and int(flood.headers["Retry-After"]) >= 1
    assert checksum(session) == before
    assert report(c, new_token(c), inside, client_id="f3").status_code == 201  # another device


def test_reports_are_rate_limited_per_address(
    make_client: Callable[..., TestClient], inside: tuple[str, float, float]
) -> None:
    c = make_client(report_limit_per_ip=2)
    codes = [report(c, new_token(c), inside, client_id=f"a{i}").status_code for i in range(3)]
    assert codes == [201, 201, 429]


@pytest.mark.parametrize(
    ("photos", "fields", "status"),
    [
        ([("note.jpg", b"just some text, not an image", "image/jpeg")], {}, 422),
        ([("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "image/png")], {}, 422),
        ([("cut.jpg", jpeg()[:120], "image/jpeg")], {}, 422),
        ([("fake.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 40, "image/webp")], {}, 422),
        ([("doc.pdf", b"%PDF-1.4\n%...", "application/pdf")], {}, 422),
        ([("big.jpg", jpeg((1200, 1200), noise=True), "image/jpeg")], {}, 413),
        (
            [("ok.jpg", jpeg(), "image/jpeg"), ("bad.gif", b"GIF89a" + b"\x00" * 30, "image/gif")],
            {},
            422,
        ),
        ([("p.jpg", jpeg(), "image/jpeg")] * 4, {}, 422),
        ([], {"favourite": "colour"}, 422),
        ([], {"category": ""}, 422),
        ([], {"description": "nul \x00 byte"}, 422),
        ([], {"lon": "nan"}, 422),
        ([], {"lon": None, "lat": None}, 422),
        ([], {"reported_at": "1999-01-01T00:00:00+08:00"}, 422),
        ([], {"client_id": "x" * 65}, 422),
    ],
)
def test_refusals_write_nothing(
    make_client: Callable[..., TestClient],
    session: Session,
    inside: tuple[str, float, float],
    photo_storage: PhotoStorage,
    photos: list[tuple[str, bytes, str]],
    fields: dict[str, Any],
    status: int,
) -> None:
    c = make_client(photo_max_bytes=100_000)
    token = new_token(c)
    before = checksum(session)
    answer = report(c, token, inside, photos=photos, **fields)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert checksum(session) == before
    assert photo_storage.stored() == []


def test_oversized_photo_message_names_it(
    make_client: Callable[..., TestClient],
    inside: tuple[str, float, float],
    photo_storage: PhotoStorage,
) -> None:
    c = make_client()  # 8 MB a photo
    big = jpeg((10, 10)) + b"\x00" * 8_500_000  # over the global 8 MB body limit too
    answer = report(c, new_token(c), inside, photos=[("huge.jpg", big, "image/jpeg")])
    assert answer.status_code == 413
    assert "huge.jpg" in answer.json()["detail"] and "8.0 MB per photo" in answer.json()["detail"]
    assert photo_storage.stored() == []


def test_without_a_location_the_photo_exif_places_it(
    rc: TestClient, inside: tuple[str, float, float]
) -> None:
    raw = jpeg(gps=(inside[1], inside[2]))
    answer = report(
        rc, new_token(rc), inside, photos=[("p.jpg", raw, "image/jpeg")], lon=None, lat=None
    )
    assert answer.status_code == 201, answer.text
    assert abs(answer.json()["lon"] - inside[1]) < 1e-3


def test_unknown_or_missing_token_is_401(rc: TestClient, inside: tuple[str, float, float]) -> None:
    assert report(rc, "", inside).status_code == 401
    assert report(rc, "gmd_unknown", inside).status_code == 401
    assert rc.get("/api/v1/report/mine").status_code == 401


def test_my_reports_show_status_deadline_and_answer(
    rc: TestClient, inside: tuple[str, float, float], admin_key: str
) -> None:
    token = new_token(rc)
    filed = report(rc, token, inside, photos=[("p.jpg", jpeg(), "image/jpeg")]).json()
    for status, note in (("accepted", None), ("dispatched", None), ("resolved", "已修复 fixed")):
        step = rc.patch(
            f"/api/v1/incidents/{filed['id']}",
            json={"status": status, "note": note},
            headers={"X-API-Key": admin_key},
        )
        assert step.status_code == 200, step.text
    (mine,) = rc.get("/api/v1/report/mine", headers={"X-Device-Token": token}).json()["items"]
    assert mine["id"] == filed["id"] and mine["status"] == "resolved"
    assert mine["answer"] == "已修复 fixed" and mine["due_at"] == filed["due_at"]
    assert mine["status_label"].startswith("处置") and len(mine["photos"]) == 1
    assert mine["grid_code"] == inside[0] and mine["grid_name"]
    other = rc.get("/api/v1/report/mine", headers={"X-Device-Token": new_token(rc)}).json()
    assert other == {"items": []}


@BOTH_STORES
def test_handlers_attach_photos_to_events(
    rc: TestClient,
    session: Session,
    inside: tuple[str, float, float],
    reporter_key: str,
    viewer_key: str,
) -> None:
    filed = report(rc, new_token(rc), inside, photos=[("before.jpg", jpeg(), "image/jpeg")]).json()
    key = {"X-API-Key": reporter_key}
    rc.patch(f"/api/v1/incidents/{filed['id']}", json={"status": "accepted"}, headers=key)
    added = rc.post(
        f"/api/v1/incidents/{filed['id']}/photos",
        files={"photo": ("after.png", png(), "image/png")},
        headers=key,
    )
    assert added.status_code == 201, added.text
    latest = session.execute(
        text("SELECT max(id) FROM incident_events WHERE incident_id = :i"), {"i": filed["id"]}
    ).scalar()
    assert added.json()["kind"] == "handling" and added.json()["event_id"] == latest
    listed = rc.get(f"/api/v1/incidents/{filed['id']}/photos", headers={"X-API-Key": viewer_key})
    assert [p["kind"] for p in listed.json()] == ["report", "handling"]
    before = checksum(session)
    bad = rc.post(
        f"/api/v1/incidents/{filed['id']}/photos",
        files={"photo": ("x.png", b"not a png", "image/png")},
        headers=key,
    )
    assert bad.status_code == 422
    assert (
        rc.post(
            f"/api/v1/incidents/{filed['id']}/photos",
            files={"photo": ("after.png", png(), "image/png")},
            headers={"X-API-Key": viewer_key},
        ).status_code
        == 403
    )
    assert (
        rc.post(
            "/api/v1/incidents/999999999/photos",
            files={"photo": ("after.png", png(), "image/png")},
            headers=key,
        ).status_code
        == 404
    )
    assert checksum(session) == before


def test_the_grid_a_point_goes_to_names_its_worker_not_a_phone(
    rc: TestClient, inside: tuple[str, float, float]
) -> None:
    by_point = rc.get("/api/v1/report/grid", params={"lon": inside[1], "lat": inside[2]})
    assert by_point.status_code == 200
    body = by_point.json()
    assert body["grid"]["code"] == inside[0] and body["grid"]["worker"]
    assert body["match"] == "inside"
    assert "138-0000" not in by_point.text and "phone" not in by_point.text
    by_code = rc.get("/api/v1/report/grid", params={"code": inside[0]}).json()
    assert by_code["grid"] == body["grid"] and by_code["match"] is None
    assert rc.get("/api/v1/report/grid", params={"code": "nope"}).status_code == 404
    assert rc.get("/api/v1/report/grid", params={"lon": 0.0, "lat": 0.0}).status_code in (404, 422)


def test_the_page_and_its_service_worker(rc: TestClient, inside: tuple[str, float, float]) -> None:
    page = rc.get("/report", params={"grid": inside[0]})
    assert page.status_code == 200 and "随手拍" in page.text and "市容环境" in page.text
    assert f'data-grid="{inside[0]}"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert 'capture="environment"' in page.text and 'accept="image/*"' in page.text
    hostile = rc.get("/report", params={"grid": '"><script>alert(1)</script>'})
    assert "<script>alert" not in hostile.text
    worker = rc.get("/report/sw.js")
    assert worker.status_code == 200 and worker.headers["service-worker-allowed"] == "/report"
    assert rc.get("/static/report/report.js").status_code == 200
