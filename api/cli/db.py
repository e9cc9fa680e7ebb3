"""``gridmap db``: the database (embedded PostGIS unless GRIDMAP_DATABASE_URL is set)."""

from __future__ import annotations

import typer

from api.app import database_url
from api.cli.common import err, ready_url
from api.settings import Settings
from data.embedded import default_cluster

db_app = typer.Typer(help="The database (embedded PostGIS unless GRIDMAP_DATABASE_URL is set)")


@db_app.command("start")
def db_start() -> None:
    """Start the embedded cluster (creating it on first use); `gridmap db url` prints its
    URL, which holds the password."""
    default_cluster().start()
    err.print("embedded database running; `gridmap db url` prints its URL", highlight=False)


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster."""
    default_cluster().stop()


@db_app.command("url")
def db_url() -> None:
    """Print the libpq URL (postgresql://…) of the database in use."""
    print(database_url(Settings()))


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply the schema migrations."""
    ready_url()
    err.print("schema up to date")
