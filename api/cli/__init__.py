"""The ``gridmap`` command (typer), one module per group of commands. Errors are one
readable line and a non-zero exit; usage errors print the short usage and one line; a
traceback reaches the user only with ``--debug``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from api.cli.common import CliError, err
from api.cli.coverage import coverage_app
from api.cli.db import db_app
from api.cli.devices import devices_app
from api.cli.grids import grids_app
from api.cli.imports import import_app
from api.cli.keys import keys_app
from api.cli.maps import map_
from api.cli.offline import assign
from api.cli.people import people_app
from api.cli.photos import photos_app
from api.cli.qr import qr
from api.cli.records import remove_app
from api.cli.serve import demo, serve
from api.cli.stats import stats
from data.errors import DataError
from geo.errors import GeoError

app = typer.Typer(help="gridmap: grid management for community governance", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(grids_app, name="grids")
app.add_typer(import_app, name="import")
app.add_typer(keys_app, name="keys")
app.add_typer(people_app, name="people")
app.add_typer(remove_app, name="remove")
app.command()(assign)
app.command("map")(map_)
app.command()(serve)
app.command()(demo)
app.command()(stats)
app.command()(qr)
app.add_typer(coverage_app, name="coverage")
app.add_typer(devices_app, name="devices")
app.add_typer(photos_app, name="photos")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"gridmap {version('gridmap')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks of failures")] = False,
) -> None:
    """gridmap: grid management for community governance."""


# typer >= 0.29 vendors click: its usage errors derive from typer's copy of ClickException.
_CLICK_ERRORS: tuple[type[Exception], ...] = (type(typer.BadParameter("")).__mro__[2],)
try:
    import click

    _CLICK_ERRORS += (click.ClickException,)
except ImportError:  # pragma: no cover
    pass


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):  # the settings: name the variable and what is wrong
        first = exc.errors()[0]
        name = "_".join(str(p) for p in first["loc"]).upper()
        msg = first["msg"].removeprefix("Value error, ")
        return f"settings: GRIDMAP_{name}: {msg}" if name else f"settings: {msg}"
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def main() -> None:
    """Console entry point: domain errors become one line on stderr and exit code 1; usage
    errors the short usage and one line (exit 2); anything unexpected one line too (exit
    1), with its traceback only under ``--debug``."""
    debug = "--debug" in sys.argv[1:]
    try:
        app(standalone_mode=False)
    except (CliError, DataError, GeoError, OSError, ValueError) as exc:
        if debug:
            raise
        err.print(f"error: {_one_line(exc)}", highlight=False, markup=False)
        sys.exit(1)
    except SQLAlchemyError as exc:
        if debug:
            raise
        first = _one_line(getattr(exc, "orig", None) or exc)
        err.print(f"error: database: {first}", highlight=False, markup=False)
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        if isinstance(exc, _CLICK_ERRORS):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if debug:
            raise
        err.print(
            f"error: {type(exc).__name__}: {_one_line(exc)} (run with --debug for details)",
            highlight=False,
            markup=False,
        )
        sys.exit(1)
