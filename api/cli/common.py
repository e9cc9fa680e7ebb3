"""What every ``gridmap`` command shares: the consoles, the one-line error type, progress
bars and a session on the migrated database."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session

from api.app import database_url
from api.settings import Settings
from data.db import make_engine, make_sessionmaker, migrate, transaction

if TYPE_CHECKING:
    from data.files.photos import PhotoStorage

err = Console(stderr=True, soft_wrap=True)
out = Console()

CrsOpt = Annotated[
    str | None,
    typer.Option(
        help="the file's CRS when it names none (or a wrong one): "
        "wgs84|cgcs2000|gcj02|bd09 or EPSG:xxxx (any case)"
    ),
]


def forget_photo_files(store: PhotoStorage, keys: list[str]) -> None:
    """Remove the files of photo rows a command has removed (after its commit): a file left
    behind is served to nobody, so a failure is a warning, not an error."""
    from api.photo_store import forget_photos

    failed = forget_photos(store, keys)
    if failed:
        err.print(
            f"warning: {len(failed)} of {len(keys)} photo files not removed from "
            f"{store.describe()} (e.g. {failed[0]}); the log says why",
            highlight=False,
        )


class CliError(Exception):
    """A user-facing failure reported as one line."""


def ready_url() -> str:
    """The migrated database's URL (the embedded cluster, started, when none is set)."""
    url = database_url(Settings())
    migrate(url)
    return url


@contextmanager
def progress_bar(label: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields ``advance(n)``."""
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def session_on(url: str | None = None) -> Iterator[Session]:
    """A session on the migrated database in one transaction: all of it or nothing."""
    engine = make_engine(url or ready_url(), pool_size=1)
    try:
        with transaction(engine) as session:
            yield session
    finally:
        engine.dispose()


@contextmanager
def reading_session() -> Iterator[Session]:
    """A session for commands that read, as the API's requests do: what they derive and
    store on the way (a coverage run) commits on its own."""
    engine = make_engine(ready_url(), pool_size=1)
    try:
        with make_sessionmaker(engine)() as session:
            yield session
    finally:
        engine.dispose()


def actor() -> str:
    return f"cli:{getpass.getuser()}"
