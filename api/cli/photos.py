"""``gridmap photos check``: the configured photo storage (a directory, or an S3-compatible
bucket) takes a write, a read and a removal — run it after setting GRIDMAP_PHOTO_STORE and
the bucket's credentials, before residents send photos."""

from __future__ import annotations

import time
import uuid

import typer

from api.cli.common import CliError, out
from api.photo_store import photo_store
from api.settings import Settings
from data.errors import StorageUnavailableError

photos_app = typer.Typer(help="Photo storage")


@photos_app.command("check")
def photos_check() -> None:
    """Write a small probe object, read it back and remove it; one line says how long it took."""
    store = photo_store(Settings())
    probe = f"gridmap-check {uuid.uuid4().hex}".encode()
    start = time.perf_counter()
    try:
        key = store.put(probe, suffix=".check")
        try:
            if store.get(key) != probe:
                raise CliError(
                    f"{store.describe()}: the probe read back differs from what was written"
                )
        finally:
            store.remove(key)
    except StorageUnavailableError as exc:
        raise CliError(str(exc)) from None
    ms = (time.perf_counter() - start) * 1000
    out.print(f"ok: {store.describe()} (write, read, remove: {ms:.0f} ms)", highlight=False)
