"""Shared fixtures: one throwaway PostGIS cluster per test session, never a mock.

Set ``GRIDMAP_TEST_DATABASE_URL`` to use an existing server instead (its database is
wiped of gridmap tables first). In CI (``CI`` set) a PostGIS or browser test that is
skipped fails the run — see pytest_terminal_summary.
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.deps import get_locator, get_sessions
from api.locator import Locator
from api.settings import Settings
from data.db import make_engine, migrate, transaction
from data.embedded import Cluster, free_port
from data.keys import create_key


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """libpq URL of a PostGIS database that lives as long as the test session."""
    if url := os.environ.get("GRIDMAP_TEST_DATABASE_URL"):
        yield url
        return
    home = Path(tempfile.mkdtemp(prefix="gridmap-test-pg-"))
    cluster = Cluster(home, free_port())
    try:
        yield cluster.start()
    finally:
        cluster.destroy()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if os.environ.get("CI") and skipped:
        terminalreporter.write_line(f"FAIL: {len(skipped)} tests skipped in CI", red=True)
        session = terminalreporter._session
        if session is not None:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def engine(pg_url: str) -> Iterator[Engine]:
    """The migrated test database with the sample city loaded once (committed)."""
    from data.sample_loader import load_sample  # the sample is package data built separately

    migrate(pg_url)
    eng = make_engine(pg_url)
    with transaction(eng) as session:
        load_sample(session=session)
    yield eng
    eng.dispose()


@pytest.fixture()
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture()
def session(connection: Connection) -> Iterator[Session]:
    """A session whose commits become savepoints of the rolled-back test transaction."""
    with Session(bind=connection, join_transaction_mode="create_savepoint") as s:
        yield s


@pytest.fixture()
def test_sessions(connection: Connection) -> sessionmaker[Session]:
    """Sessions inside the rolled-back test transaction (commits become savepoints)."""
    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture()
def locator(test_sessions: sessionmaker[Session]) -> Locator:
    """The point→grid index on the test transaction, never polling: tests call refresh()."""
    return Locator(test_sessions, tolerance_m=50.0, poll_s=3600)


@pytest.fixture()
def client(
    pg_url: str, engine: Engine, test_sessions: sessionmaker[Session], locator: Locator
) -> Iterator[TestClient]:
    """The real app on the test database; everything it writes is rolled back after."""
    app = create_app(Settings(database_url=pg_url))
    app.dependency_overrides[get_sessions] = lambda: test_sessions
    app.dependency_overrides[get_locator] = lambda: locator
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture()
def admin_key(session: Session) -> str:
    return create_key(session=session, role="admin")


@pytest.fixture()
def reporter_key(session: Session) -> str:
    return create_key(session=session, role="reporter")


@pytest.fixture()
def viewer_key(session: Session) -> str:
    return create_key(session=session, role="viewer")


def own_database(pg_url: str, name: str) -> str:
    """A fresh, empty database in the test cluster, for code whose commits must be real and
    must not touch the shared test database; returns its URL."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{pg_url.rsplit('/', 1)[0]}/{name}"


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` over real HTTP on a free loopback port (uvicorn in a thread); yields its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


# --- photo storage: a directory, or an S3-compatible bucket over HTTP -----------------------


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    """An S3-compatible server over real HTTP with a bucket ``gridmap-test``: moto's standalone
    server (an S3 emulator: no real S3 service is reachable offline) in a process of its own on
    a free port. Credentials are dummies, passed the standard way (AWS_* variables)."""
    import subprocess
    import sys
    import time
    import urllib.request

    boto3 = pytest.importorskip("boto3")
    pytest.importorskip("moto.server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = pytest.MonkeyPatch()
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        env.setenv(name, value)
    env.delenv("AWS_PROFILE", raising=False)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        s3.create_bucket(Bucket="gridmap-test")
        yield url
    finally:
        env.undo()
        server.terminate()
        server.wait(10)


class PhotoStorage:
    """Where a test's photos go: ``settings`` for the app, and what the store holds now."""

    def __init__(self, kind: str, root: Path, s3: str | None) -> None:
        self.kind = kind
        if kind == "file":
            self.settings: dict[str, object] = {"photo_store": "file", "photo_dir": root}
            self.root = root
            return
        import boto3

        self.prefix = f"t-{uuid.uuid4().hex[:12]}/"  # a folder of the bucket per test
        self.settings = {
            "photo_store": "s3",
            "s3_bucket": "gridmap-test",
            "s3_prefix": self.prefix,
            "s3_endpoint_url": s3,
            "s3_region": "us-east-1",
            "s3_addressing_style": "path",
        }
        self.client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")

    def stored(self) -> list[str]:
        """The keys stored (photos and thumbnails), sorted."""
        if self.kind == "file":
            found = self.root.rglob("*") if self.root.exists() else []
            return sorted(str(p.relative_to(self.root)) for p in found if p.is_file())
        listed = self.client.list_objects_v2(Bucket="gridmap-test", Prefix=self.prefix)
        return sorted(o["Key"].removeprefix(self.prefix) for o in listed.get("Contents", []))

    def read(self, key: str) -> bytes:
        if self.kind == "file":
            return (self.root / key).read_bytes()
        got = self.client.get_object(Bucket="gridmap-test", Key=self.prefix + key)
        return bytes(got["Body"].read())

    def drop(self, key: str) -> None:
        """Remove an object behind the service's back."""
        if self.kind == "file":
            (self.root / key).unlink()
        else:
            self.client.delete_object(Bucket="gridmap-test", Key=self.prefix + key)


@pytest.fixture()
def photo_storage(request: pytest.FixtureRequest, tmp_path: Path) -> PhotoStorage:
    """The photo store of a test: ``file`` (default) or, parametrized indirectly, ``s3``."""
    kind = getattr(request, "param", "file")
    s3 = request.getfixturevalue("s3_url") if kind == "s3" else None
    return PhotoStorage(kind, tmp_path / "photos", s3)


# --- the report page's API on the rolled-back test transaction (tests/api/test_report*.py) ---


@pytest.fixture()
def inside(session: Session) -> tuple[str, float, float]:
    """A current grid's code and a point inside it."""
    row = session.execute(
        text(
            "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
            "FROM grids WHERE valid_to IS NULL ORDER BY code LIMIT 1"
        )
    ).one()
    return str(row[0]), float(row[1]), float(row[2])


@pytest.fixture()
def make_client(
    pg_url: str,
    engine: Engine,
    test_sessions: sessionmaker[Session],
    locator: Locator,
    photo_storage: PhotoStorage,
) -> Iterator[Callable[..., TestClient]]:
    """The app on the rolled-back test transaction, with the settings a test names, storing
    photos in a directory or (parametrized) an S3-compatible bucket."""
    opened: list[TestClient] = []

    def make(**settings: Any) -> TestClient:
        app = create_app(
            Settings(database_url=pg_url, basemap="none", **{**photo_storage.settings, **settings})
        )
        app.dependency_overrides[get_sessions] = lambda: test_sessions
        app.dependency_overrides[get_locator] = lambda: locator
        test_client = TestClient(app)
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield make
    for c in opened:
        c.__exit__(None, None, None)


@pytest.fixture()
def rc(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
