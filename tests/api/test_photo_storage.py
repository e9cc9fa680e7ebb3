"""Photo storage beyond the report tests (which run against both stores): a photo whose object
is gone is a 404 problem; an unreachable bucket is a 503 problem that writes no row; a failed
transaction leaves no object behind; removing an incident removes its photo objects (and a
failed removal is a warning, not an error); the settings refuse s3 without a bucket; and device
tokens are listed and revoked with ``gridmap devices``, a revoked one refused at once.

The S3 store runs against moto's standalone S3 server over HTTP (an emulator; see
``s3_url`` in tests/conftest.py). CLI commands run in this process on the test transaction
(``session_on`` swapped for a session on it), so nothing they commit outlives the test."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

import api.cli.devices
import api.cli.records
from api.settings import Settings
from data.embedded import free_port
from data.lifecycle import DEFAULT_DEADLINE_HOURS
from data.sample_loader import SAMPLE_ACTOR, load_sample_history, sample_photo_keys
from tests.api.test_cli import gridmap_here
from tests.api.test_hostile import checksum
from tests.api.test_report import jpeg, new_token, png, report
from tests.conftest import PhotoStorage

pytestmark = pytest.mark.postgis
BOTH_STORES = pytest.mark.parametrize("photo_storage", ["file", "s3"], indirect=True)
PHOTO = [("p.jpg", jpeg(), "image/jpeg")]
PROBLEM = "application/problem+json"
DEADLINES: dict[str, timedelta] = {p: timedelta(hours=h) for p, h in DEFAULT_DEADLINE_HOURS.items()}


def dead_bucket() -> dict[str, Any]:
    """Settings of an S3 store nobody answers for (a closed port on this machine)."""
    return {
        "photo_store": "s3",
        "s3_bucket": "gridmap-test",
        "s3_endpoint_url": f"http://127.0.0.1:{free_port()}",
        "s3_region": "us-east-1",
        "s3_addressing_style": "path",
    }


@pytest.fixture()
def cli(
    test_sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., tuple[int, str, str]]:
    """``gridmap`` in this process on the test transaction: ``cli(*args, env={})`` → (exit
    code, stdout, stderr)."""

    @contextmanager
    def on_test_transaction(url: str | None = None) -> Iterator[Session]:
        with test_sessions() as session:
            yield session
            session.commit()  # a savepoint of the test transaction

    for module in (api.cli.records, api.cli.devices):
        monkeypatch.setattr(module, "session_on", on_test_transaction)

    def run(*args: str, env: dict[str, Any] | None = None) -> tuple[int, str, str]:
        for name, value in (env or {}).items():
            monkeypatch.setenv(f"GRIDMAP_{name.upper()}", str(value))
        return gridmap_here(monkeypatch, capsys, *args)

    return run


@BOTH_STORES
def test_a_photo_whose_object_is_gone_is_a_404_problem(
    rc: TestClient,
    inside: tuple[str, float, float],
    viewer_key: str,
    photo_storage: PhotoStorage,
) -> None:
    photo = report(rc, new_token(rc), inside, photos=PHOTO).json()["photos"][0]
    for key in photo_storage.stored():
        photo_storage.drop(key)
    for url in (photo["url"], photo["thumb_url"]):
        gone = rc.get(url, headers={"X-API-Key": viewer_key})
        assert gone.status_code == 404 and gone.headers["content-type"] == PROBLEM
        assert "missing" in gone.json()["detail"]


def test_an_unreachable_bucket_is_a_503_and_writes_nothing(
    make_client: Callable[..., TestClient],
    session: Session,
    inside: tuple[str, float, float],
    reporter_key: str,
    viewer_key: str,
) -> None:
    good = make_client()  # the directory store: a report with a photo to read later
    filed = report(good, new_token(good), inside, client_id="kept", photos=PHOTO).json()
    c = make_client(**dead_bucket(), report_limit_per_token=100)
    token = new_token(c)
    before = checksum(session)
    answers = [
        report(c, token, inside, client_id="lost", photos=PHOTO),
        c.post(
            f"/api/v1/incidents/{filed['id']}/photos",
            files={"photo": ("after.png", png(), "image/png")},
            headers={"X-API-Key": reporter_key},
        ),
        c.get(filed["photos"][0]["url"], headers={"X-API-Key": viewer_key}),
    ]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == PROBLEM
        assert answer.json()["detail"] == "the photo storage is unreachable"
    assert checksum(session) == before
    # the same report once the storage is back: filed once, as if the first had never been
    again = report(good, token, inside, client_id="lost", photos=PHOTO)
    assert again.status_code == 201, again.text


@BOTH_STORES
def test_a_failed_transaction_leaves_no_object(
    rc: TestClient,
    session: Session,
    inside: tuple[str, float, float],
    photo_storage: PhotoStorage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = new_token(rc)
    before = checksum(session)

    def broken(**_: Any) -> None:
        raise RuntimeError("the audit log is full")

    monkeypatch.setattr("api.reports.record", broken)
    failed = report(rc, token, inside, photos=PHOTO * 2)
    assert failed.status_code == 500 and failed.headers["content-type"] == PROBLEM
    assert photo_storage.stored() == []
    assert checksum(session) == before


@BOTH_STORES
def test_removing_an_incident_removes_its_photos(
    rc: TestClient,
    session: Session,
    inside: tuple[str, float, float],
    reporter_key: str,
    photo_storage: PhotoStorage,
    cli: Callable[..., tuple[int, str, str]],
) -> None:
    kept = report(rc, new_token(rc), inside, client_id="kept", photos=PHOTO).json()
    gone = report(rc, new_token(rc), inside, client_id="gone", photos=PHOTO * 2).json()
    rc.post(
        f"/api/v1/incidents/{gone['id']}/photos",
        files={"photo": ("after.png", png(), "image/png")},
        headers={"X-API-Key": reporter_key},
    )
    assert len(photo_storage.stored()) == 2 * (1 + 3)
    code, _, err = cli("remove", "incident", str(gone["id"]), env=photo_storage.settings)
    assert code == 0, err
    assert f"deleted incident {gone['id']}" in err and "warning" not in err
    assert len(photo_storage.stored()) == 2  # the kept report's photo and thumbnail
    rows = session.execute(
        text("SELECT incident_id FROM photos WHERE incident_id IN (:a, :b)"),
        {"a": kept["id"], "b": gone["id"]},
    )
    assert [r[0] for r in rows] == [kept["id"]]
    audited = session.execute(
        text("SELECT detail->>'files' FROM audit_log WHERE action = 'delete' AND entity_id = :i"),
        {"i": str(gone["id"])},
    ).scalar()
    assert audited == "6"


def test_a_photo_that_cannot_be_removed_is_a_warning_not_an_error(
    rc: TestClient,
    session: Session,
    inside: tuple[str, float, float],
    cli: Callable[..., tuple[int, str, str]],
) -> None:
    filed = report(rc, new_token(rc), inside, photos=PHOTO).json()
    code, _, err = cli("remove", "incident", str(filed["id"]), env=dead_bucket())
    assert code == 0, err
    assert "warning: 2 of 2 photo files not removed" in err
    left = session.execute(text("SELECT count(*) FROM incidents WHERE id = :i"), {"i": filed["id"]})
    assert left.scalar() == 0


def test_s3_without_a_bucket_stops_at_startup_in_one_line(
    cli: Callable[..., tuple[int, str, str]],
) -> None:
    with pytest.raises(ValueError, match="needs GRIDMAP_S3_BUCKET"):
        Settings(photo_store="s3")
    with pytest.raises(ValueError, match="http"):
        Settings(photo_store="s3", s3_bucket="b", s3_endpoint_url="oss-cn-hangzhou.aliyuncs.com")
    code, _, err = cli("devices", "list", env={"photo_store": "s3"})
    assert code == 1
    assert err.strip() == (
        "error: settings: GRIDMAP_PHOTO_STORE=s3 needs GRIDMAP_S3_BUCKET (the photos' bucket)"
    )
    code, _, err = cli("devices", "list", env={"photo_store": "ftp"})
    assert code == 1 and err.startswith("error: settings: GRIDMAP_PHOTO_STORE: Input should be")


def test_devices_are_listed_and_revoked_at_once(
    rc: TestClient,
    session: Session,
    inside: tuple[str, float, float],
    viewer_key: str,
    cli: Callable[..., tuple[int, str, str]],
) -> None:
    token, other = new_token(rc), new_token(rc)
    photo = report(rc, token, inside, client_id="one", photos=PHOTO).json()["photos"][0]
    assert report(rc, token, inside, client_id="two").status_code == 201
    code, out, _ = cli("devices", "list")
    assert code == 0 and token not in out and token[12:20] not in out
    header, *lines = (line.split("\t") for line in out.splitlines())
    assert header == ["id", "prefix", "created", "reports", "revoked"]
    mine = next(line for line in lines if line[1] == token[:12])
    assert mine[3] == "2" and mine[4] == "-"

    code, _, err = cli("devices", "revoke", token[:12])
    assert code == 0 and f"revoked device token {mine[0]} ({token[:12]}, 2 reports)" in err
    refused = [
        report(rc, token, inside, client_id="three"),
        rc.get("/api/v1/report/mine", headers={"X-Device-Token": token}),
        rc.get(photo["url"], headers={"X-Device-Token": token}),
    ]
    for answer in refused:
        assert answer.status_code == 401 and answer.headers["content-type"] == PROBLEM
        assert "revoked" in answer.json()["detail"]
    # its reports stay, for viewers; other devices carry on
    assert rc.get(photo["url"], headers={"X-API-Key": viewer_key}).status_code == 200
    assert rc.get("/api/v1/report/mine", headers={"X-Device-Token": other}).status_code == 200
    code, out, _ = cli("devices", "list")
    assert next(line for line in out.splitlines() if token[:12] in line).split("\t")[4] != "-"
    audited = session.execute(
        text(
            "SELECT actor, detail->>'prefix' FROM audit_log "
            "WHERE entity = 'device token' AND action = 'revoke' AND entity_id = :i"
        ),
        {"i": mine[0]},
    ).one()
    assert audited[1] == token[:12] and audited[0]

    # by id, by the whole token, again: said once, audited once
    code, _, err = cli("devices", "revoke", token)
    assert code == 0 and "was revoked already" in err
    code, _, err = cli("devices", "revoke", mine[0])
    assert code == 0 and "was revoked already" in err
    for ref, message in (("gmd_nothing", "no device token matches"), ("  ", "give the device")):
        code, _, err = cli("devices", "revoke", ref)
        assert code == 1 and message in err, err
    count = session.execute(
        text("SELECT count(*) FROM audit_log WHERE entity = 'device token' AND action = 'revoke'")
    ).scalar()
    assert count == 1


@BOTH_STORES
def test_photos_check_says_whether_the_storage_works(
    photo_storage: PhotoStorage, cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, err = cli("photos", "check", env=photo_storage.settings)
    assert code == 0, err
    assert out.startswith("ok: ") and ("bucket s3://gridmap-test/t-" in out) == (
        photo_storage.kind == "s3"
    )
    assert photo_storage.stored() == []  # the probe is gone
    code, _, err = cli("photos", "check", env=dead_bucket())
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert re.match(
        r"error: photo storage: writing s3://gridmap-test/\S+\.check failed \(",
        err,
    ), err


def test_reloading_the_sample_names_the_photos_its_reports_take_with_them(
    rc: TestClient, session: Session, reporter_key: str, photo_storage: PhotoStorage
) -> None:
    """``gridmap import sample`` replaces the synthetic reports; a handler's photo on one of
    them goes with its row, and the command removes its files by these keys."""
    load_sample_history(session=session, end=datetime.now(UTC), deadlines=DEADLINES, count=10)
    sample = session.execute(
        text("SELECT id FROM incidents WHERE reporter = :a ORDER BY id LIMIT 1"),
        {"a": SAMPLE_ACTOR},
    ).scalar_one()
    attached = rc.post(
        f"/api/v1/incidents/{sample}/photos",
        files={"photo": ("after.png", png(), "image/png")},
        headers={"X-API-Key": reporter_key},
    )
    assert attached.status_code == 201, attached.text
    keys = sample_photo_keys(session=session)
    assert sorted(keys) == sorted(photo_storage.stored())
    load_sample_history(session=session, end=datetime.now(UTC), deadlines=DEADLINES, count=10)
    assert sample_photo_keys(session=session) == []
