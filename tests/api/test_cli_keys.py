"""API keys through ``gridmap keys create|list|revoke`` as a user runs them (subprocesses on a
database of their own), and what the API then makes of them: a revoked key is refused within
the key cache's 30 s (at once by a worker that has not cached it, and by Open311), an expired
key from its expiry on, and checking a key takes as long whether it is valid or not."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import api.deps
from api.app import create_app
from api.cli.common import CliError
from api.cli.keys import expiry
from api.settings import Settings
from data.db import make_engine, migrate, transaction
from data.keys import create_key, digest, find_key, owner_of_digest, revoke_key
from tests.api.test_cli import _error_line, gridmap, gridmap_here
from tests.conftest import own_database

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def keys_url(pg_url: str) -> Iterator[str]:
    url = own_database(pg_url, "gridmap_cli_keys")
    migrate(url)
    yield url


def _table(stdout: str) -> list[dict[str, str]]:
    header, *rows = (line.split("\t") for line in stdout.splitlines())
    assert header == [
        "id", "prefix", "role", "person", "label", "created", "expires", "revoked", "state"
    ]  # fmt: skip
    return [dict(zip(header, row, strict=True)) for row in rows]


@pytest.fixture()
def cli(
    keys_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """``gridmap`` in this process (what the subprocess smoke tests cannot afford to repeat):
    ``cli(*args)`` → (exit code, stdout, stderr)."""
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", keys_url)
    return lambda *args: gridmap_here(monkeypatch, capsys, *args)


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def _answer(app_client: TestClient, key: str) -> int:
    answer = app_client.get("/api/v1/incidents", headers={"X-API-Key": key})
    if answer.status_code != 200:
        assert answer.headers["content-type"] == "application/problem+json"
    return answer.status_code


def _open311(app_client: TestClient, key: str) -> int:
    answer = app_client.post(
        "/open311/v2/requests.json",
        data={"api_key": key, "service_code": "E01", "lat": "32.05", "long": "118.79"},
    )
    if answer.status_code != 201:
        assert [set(e) for e in answer.json()] == [{"code", "description"}], answer.text
    return answer.status_code


def test_create_list_and_revoke(
    keys_url: str, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., tuple[int, str, str]]
) -> None:
    admin = gridmap("keys", "create", "--role", "admin", "--label", "ops", url=keys_url)
    assert admin.returncode == 0, admin.stderr
    viewer = gridmap("keys", "create", "--role", "viewer", "--expires", "90d", url=keys_url)
    assert viewer.returncode == 0, viewer.stderr
    admin_key, viewer_key = admin.stdout.strip(), viewer.stdout.strip()

    listed = gridmap("keys", "list", url=keys_url)
    assert listed.returncode == 0, listed.stderr
    for secret in (admin_key, viewer_key, digest(admin_key), digest(viewer_key)):
        assert secret not in listed.stdout  # never a key, never a digest
    table = {row["prefix"]: row for row in _table(listed.stdout)}
    assert table[admin_key[:10]]["role"] == "admin" and table[admin_key[:10]]["label"] == "ops"
    assert table[admin_key[:10]]["expires"] == "-" and table[admin_key[:10]]["state"] == "live"
    expires = datetime.fromisoformat(table[viewer_key[:10]]["expires"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=5)

    monkeypatch.setattr(api.deps, "KEY_CACHE_S", 1.0)  # the documented 30 s, shortened
    settings = Settings(database_url=keys_url)
    with TestClient(create_app(settings)) as cached, TestClient(create_app(settings)) as fresh:
        assert _answer(cached, viewer_key) == 200  # now in worker "cached"'s key cache
        assert _open311(cached, admin_key) != 403  # the key is live (no grids here: 4xx)
        revoked = gridmap("keys", "revoke", viewer_key[:10], url=keys_url)
        assert revoked.returncode == 0, revoked.stderr
        assert f"revoked key {table[viewer_key[:10]]['id']}" in revoked.stderr
        assert _answer(fresh, viewer_key) == 401  # a worker without it in its cache: at once
        time.sleep(1.1)
        assert _answer(cached, viewer_key) == 401  # the caching worker: within the window
        assert cli("keys", "revoke", table[admin_key[:10]]["id"])[0] == 0  # by id
        assert _open311(fresh, admin_key) == 403  # Open311 looks the key up each time
    assert "no API key matches 'gm_nothere'" in _error_line(
        gridmap("keys", "revoke", "gm_nothere", url=keys_url)
    )

    audit = _rows(keys_url, "SELECT action, entity_id FROM audit_log WHERE action = 'revoke'")
    assert sorted(audit) == sorted([("revoke", viewer_key[:10]), ("revoke", admin_key[:10])])
    states = {row["prefix"]: row for row in _table(cli("keys", "list")[1])}
    assert states[viewer_key[:10]]["state"] == "revoked" and states[viewer_key[:10]]["revoked"]

    before = _rows(keys_url, "SELECT * FROM api_keys ORDER BY id")
    code, _, err = cli("keys", "revoke", viewer_key[:10])
    assert code == 0 and "revoked already" in err
    for args, message in (
        (("keys", "revoke", "gm_"), "matches several API keys"),
        (("keys", "revoke", "999999"), "no API key matches '999999'"),
        (("keys", "revoke", " "), "give the key's id or prefix"),
        (("keys", "create", "--role", "viewer", "--expires", "2020-01-01"), "in the past"),
        (("keys", "create", "--role", "viewer", "--expires", "soon"), "--expires must be"),
    ):
        code, out, err = cli(*args)
        lines = err.strip().splitlines()
        assert code == 1 and out == "" and len(lines) == 1 and message in lines[0], (args, err)
    assert _rows(keys_url, "SELECT * FROM api_keys ORDER BY id") == before
    assert len(_rows(keys_url, "SELECT 1 FROM audit_log WHERE action = 'revoke'")) == 2


def test_expires_takes_spans_and_dates() -> None:
    settings = Settings(timezone="Asia/Shanghai")
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    assert expiry("90d", settings=settings, now=now) == now + timedelta(days=90)
    assert expiry("12h", settings=settings, now=now) == now + timedelta(hours=12)
    assert expiry("2w", settings=settings, now=now) == now + timedelta(weeks=2)
    local = datetime(2027, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert expiry("2027-01-01", settings=settings, now=now) == local
    assert expiry("2027-01-01T00:00Z", settings=settings, now=now) == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    for bad in ("soon", "90", "-1d", "0d", "2026-11-29T11:00Z", "99999-01-01", "999999w", ""):
        with pytest.raises(CliError):
            expiry(bad, settings=settings, now=now)


def test_an_expired_key_is_refused_from_its_expiry_on(
    keys_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key cached by a worker is refused the moment it expires, not 30 s later."""
    engine = make_engine(keys_url)
    when = datetime.now(UTC) + timedelta(seconds=1.5)
    with transaction(engine) as session:
        key = create_key(session=session, role="reporter", expires_at=when)
    engine.dispose()
    monkeypatch.setattr(api.deps, "KEY_CACHE_S", 3600.0)
    with TestClient(create_app(Settings(database_url=keys_url))) as client:
        assert _answer(client, key) == 200
        time.sleep(max((when - datetime.now(UTC)).total_seconds(), 0) + 0.05)
        assert _answer(client, key) == 401
        assert _open311(client, key) == 403
        problem = client.get("/api/v1/incidents", headers={"X-API-Key": key}).json()
        assert "expired" in problem["detail"] and problem["request_id"]
    listed = gridmap("keys", "list", url=keys_url)
    assert any(row["state"] == "expired" for row in _table(listed.stdout))


def test_valid_and_invalid_keys_take_the_same_time_to_check(keys_url: str) -> None:
    """The check is one lookup of the key's SHA-256 in a unique index: whether the key is
    valid, revoked, a near miss of a valid one or random, it costs the same."""
    engine = make_engine(keys_url)
    with transaction(engine) as session:
        valid = create_key(session=session, role="viewer")
        revoked = create_key(session=session, role="viewer")
        revoke_key(session=session, key_id=find_key(session=session, ref=revoked[:10]).id)
    near = valid[:-1] + ("A" if valid[-1] != "A" else "B")
    probes = {"valid": valid, "revoked": revoked, "near miss": near, "random": "gm_" + "x" * 43}
    times: dict[str, list[float]] = {name: [] for name in probes}
    with engine.connect() as conn, Session(bind=conn) as session:
        for _ in range(300):  # interleaved, so load on the machine hits each alike
            for name, key in probes.items():
                start = time.perf_counter()
                owner_of_digest(session=session, key_digest=digest(key))
                times[name].append(time.perf_counter() - start)
    engine.dispose()
    medians = {name: statistics.median(t) for name, t in times.items()}
    fastest, slowest = min(medians.values()), max(medians.values())
    assert slowest < 1.5 * fastest + 50e-6, medians
