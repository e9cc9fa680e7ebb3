"""The ``gridmap`` command (typer), one module per group of commands. Errors are one
readable line and a non-zero exit."""

from __future__ import annotations

import sys

import typer
from sqlalchemy.exc import SQLAlchemyError

from api.cli.common import CliError, err
from api.cli.db import db_app
from api.cli.imports import import_app
from api.cli.keys import keys_app
from api.cli.maps import map_
from api.cli.offline import assign, coverage
from api.cli.people import people_app
from api.cli.serve import demo, serve
from api.cli.stats import stats
from data.errors import DataError
from geo.errors import GeoError

app = typer.Typer(help="gridmap: grid management for community governance", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(keys_app, name="keys")
app.add_typer(people_app, name="people")
app.command()(assign)
app.command()(coverage)
app.command("map")(map_)
app.command()(serve)
app.command()(demo)
app.command()(stats)


def main() -> None:
    """Console entry point: domain errors become one line on stderr and exit code 1."""
    try:
        app(standalone_mode=False)
    except (CliError, DataError, GeoError, OSError, ValueError) as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(1)
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        err.print(f"error: database: {first}", highlight=False, markup=False)
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
