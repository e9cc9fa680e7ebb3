"""``gridmap serve`` and ``gridmap demo``."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from api.cli.common import err, out, progress_bar, ready_url, session_on
from api.cli.keys import new_key
from api.logs import log_config
from api.settings import Settings


def _serve(url: str, host: str, port: int, workers: int, *, log_format: str) -> None:
    """uvicorn on the app factory; on SIGTERM it stops accepting, lets running requests finish
    (up to 30 s) and closes the pool."""
    import uvicorn

    os.environ["GRIDMAP_DATABASE_URL"] = url  # workers share one resolved URL
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config(fmt=log_format),
        timeout_graceful_shutdown=30,
    )


def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Serve the HTTP API (logs: one JSON object per line unless GRIDMAP_LOG_FORMAT=text)."""
    _serve(ready_url(), host, port, workers, log_format=Settings().log_format)


def demo(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Start the embedded database, load the sample city, print an admin key, serve."""
    from data.sample_loader import load_sample_city, sample_loaded

    embedded = not Settings().database_url  # read before _serve sets GRIDMAP_DATABASE_URL
    url = ready_url()
    with session_on(url) as session:
        if not sample_loaded(session=session):
            with progress_bar("loading the sample city") as advance:
                load_sample_city(
                    session=session, progress=advance, deadlines=Settings().deadlines()
                )
        key = new_key(session, role="admin", label="demo")
    base = f"http://{host}:{port}"
    out.print(f"\n[bold]gridmap demo[/bold] on {base}  (Ctrl-C stops)\n")
    for path in (
        "/docs",
        "/health",
        "/api/v1/grids",
        "/maps/grids",
        "/maps/coverage?minutes=15",
        "/maps/incidents",
        "/maps/stats",
        "/maps/compliance",
        "/report",
        "/admin/grids/edit",
        "/api/v1/coverage?minutes=15",
        "/api/v1/stats/incidents?by=grid",
        "/open311/v2/services.json",
    ):
        out.print(f"  {base}{path}", highlight=False)
    out.print(f"\n  admin API key (X-API-Key): {key}\n", highlight=False)
    try:
        _serve(url, host, port, 1, log_format="text")
    finally:  # Ctrl-C stops the server, never the embedded cluster (pg_ctl detached it)
        if embedded:
            err.print(
                "the embedded database keeps running; stop it with: gridmap db stop",
                highlight=False,
            )
