"""Engines, sessions, migrations and chunked inserts. Nothing here runs at import time."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from psycopg.errors import DeadlockDetected
from sqlalchemy import Engine, create_engine, insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from data.models import Base

MIGRATIONS = Path(__file__).with_name("migrations")
CHUNK = 5000  # rows per INSERT statement

Progress = Callable[[int], None] | None  # called with the number of rows just written
T = TypeVar("T")
DEADLOCK_ATTEMPTS = 3


def sqlalchemy_url(url: str) -> str:
    """Accept a libpq ``postgresql://`` URL and pick the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    # No pre-ping: it costs a round trip per request; a connection broken by a server
    # restart fails one request (503) and is then replaced by the pool.
    return create_engine(
        sqlalchemy_url(url), pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600
    )


def retry_deadlocks(
    session: Session, work: Callable[[], T], *, attempts: int = DEADLOCK_ATTEMPTS
) -> T:
    """Run ``work`` (a transaction's worth, ending in its commit) and, when PostgreSQL aborts
    it as a deadlock's victim, roll back and run it again (``attempts`` times in all). An
    incident filed with a grid while a redraw takes the grids' locks can form such a cycle
    (migration 0004: a filing that finds its index stale locks a second grid); PostgreSQL
    breaks it after ``deadlock_timeout`` (1 s) and the victim then simply goes again."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except OperationalError as exc:
            if attempt == attempts or not isinstance(exc.orig, DeadlockDetected):
                raise
            session.rollback()
    raise AssertionError("unreachable")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One session, one transaction: committed on success, rolled back on any error."""
    with make_sessionmaker(engine)() as session, session.begin():
        yield session


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    command.upgrade(alembic_config(url), "head")


def bulk_insert(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], progress: Progress = None
) -> int:
    """Insert ``rows`` into ``model``'s table ``CHUNK`` at a time; returns how many."""
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        session.execute(insert(model), chunk)
        if progress:
            progress(len(chunk))
    return len(rows)
