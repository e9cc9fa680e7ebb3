"""The ``gridmap`` command (typer). Errors are one readable line and a non-zero exit."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.app import database_url
from api.settings import Settings
from data.audit import record
from data.db import make_engine, migrate, transaction
from data.embedded import default_cluster
from data.errors import DataError
from data.keys import ROLES, create_key
from geo.errors import GeoError

app = typer.Typer(help="gridmap: grid management for community governance", no_args_is_help=True)
db_app = typer.Typer(help="The database (embedded PostGIS unless GRIDMAP_DATABASE_URL is set)")
import_app = typer.Typer(help="Load data into the database (one transaction per file)")
keys_app = typer.Typer(help="API keys")
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(keys_app, name="keys")

err = Console(stderr=True, soft_wrap=True)
out = Console()

CrsOpt = Annotated[
    str | None, typer.Option(help="source CRS: wgs84|cgcs2000|gcj02|bd09 or EPSG:xxxx")
]


class CliError(Exception):
    """A user-facing failure reported as one line."""


def _ready_url() -> str:
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


# --- db -----------------------------------------------------------------------------


@db_app.command("start")
def db_start() -> None:
    """Start the embedded cluster (creating it on first use)."""
    out.print(default_cluster().start(), highlight=False)


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
    _ready_url()
    err.print("schema up to date")


# --- import -------------------------------------------------------------------------


@contextmanager
def _session(url: str | None = None) -> Iterator[Session]:
    """A session on the migrated database in one transaction: all of it or nothing."""
    engine = make_engine(url or _ready_url(), pool_size=1)
    try:
        with transaction(engine) as session:
            yield session
    finally:
        engine.dispose()


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _run_import(label: str, run: Callable[..., int], **kwargs: object) -> None:
    with progress_bar(label) as advance, _session() as session:
        count = run(session=session, progress=advance, **kwargs)
        record(
            session=session,
            actor=_actor(),
            action="import",
            entity=label,
            detail={"count": count, **{k: str(v) for k, v in kwargs.items()}},
        )
    err.print(f"imported {count} {label}")


FileArg = Annotated[Path, typer.Argument(help="GeoJSON, GPKG, Shapefile, … or .osm.pbf")]


@import_app.command("sample")
def import_sample() -> None:
    """Load the bundled sample city (Nanjing, from OpenStreetMap), replacing what is there."""
    from data.sample_loader import load_sample

    _run_import("sample features", load_sample)


@import_app.command("grids")
def import_grids(
    file: FileArg,
    code_field: Annotated[str, typer.Option(help="field holding the grid code")] = "code",
    name_field: Annotated[str | None, typer.Option(help="field holding the name")] = None,
    community_field: Annotated[str | None, typer.Option(help="field of the community code")] = None,
    crs: CrsOpt = None,
    replace: Annotated[bool, typer.Option(help="retire every grid not in the file")] = False,
) -> None:
    """Load grid polygons as a new grid version."""
    from data.files.importers import import_grids as run

    _run_import(
        "grids",
        run,
        path=file,
        code_field=code_field,
        name_field=name_field,
        community_field=community_field,
        crs=crs,
        replace=replace,
    )


@import_app.command("buildings")
def import_buildings(
    file: FileArg,
    name_field: Annotated[str, typer.Option()] = "name",
    crs: CrsOpt = None,
) -> None:
    """Load buildings (points or footprints) and assign them to grids."""
    from data.files.importers import import_buildings as run

    _run_import("buildings", run, path=file, name_field=name_field, crs=crs)


@import_app.command("stations")
def import_stations(
    file: FileArg,
    name_field: Annotated[str, typer.Option()] = "name",
    kind_field: Annotated[str, typer.Option()] = "kind",
    crs: CrsOpt = None,
    amenity: Annotated[
        list[str] | None,
        typer.Option(help="from an .osm.pbf: OSM amenity to take (repeatable; default: all)"),
    ] = None,
) -> None:
    """Load service stations (field ``level``: 5, 10 or 15 minutes), or the civic POIs of an
    .osm.pbf extract."""
    from data.files.importers import import_stations as run

    _run_import(
        "stations",
        run,
        path=file,
        name_field=name_field,
        kind_field=kind_field,
        crs=crs,
        amenities=amenity or None,  # an empty list would mean "no amenities"
    )


@import_app.command("network")
def import_network(
    file: Annotated[Path, typer.Argument(help=".osm.pbf / .osm extract, or a file of lines")],
) -> None:
    """Replace the walking network (OSM: pyrosm's walking network, all components)."""
    from data.files.network import import_network as run

    _run_import("network edges", run, path=file)


@import_app.command("incidents")
def import_incidents(
    file: Annotated[Path, typer.Argument(help="CSV with one report per row")],
    lon_col: Annotated[str, typer.Option()] = "lon",
    lat_col: Annotated[str, typer.Option()] = "lat",
    crs: Annotated[str, typer.Option(help="wgs84|cgcs2000|gcj02|bd09")] = "wgs84",
) -> None:
    """Store reports in bulk, each assigned to its grid (category/description columns used)."""
    from data.files.importers import import_incidents as run

    settings = Settings()
    _run_import(
        "incidents",
        run,
        path=file,
        lon_col=lon_col,
        lat_col=lat_col,
        crs=crs,
        tolerance_m=settings.tolerance_m,
        deadlines=settings.deadlines(),
    )


# --- keys ---------------------------------------------------------------------------


def _new_key(session: Session, *, role: str, label: str | None) -> str:
    key = create_key(session=session, role=role, label=label)
    record(
        session=session,
        actor=_actor(),
        action="create",
        entity="api_key",
        entity_id=key[:10],
        detail={"role": role, "label": label},
    )
    return key


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="viewer | reporter | admin")],
    label: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create an API key and print it (only here, only once)."""
    if role not in ROLES:
        raise CliError(f"--role must be one of {', '.join(ROLES)}")
    with _session() as session:
        key = _new_key(session, role=role, label=label)
    print(key)


# --- offline (no database) ----------------------------------------------------------


@app.command()
def assign(
    in_csv: Annotated[Path, typer.Argument(help="CSV with a point per row")],
    out_csv: Annotated[Path, typer.Argument(help="written: the input plus grid_code, match")],
    grids: Annotated[Path, typer.Option(help="grid polygons (any vector format)")],
    code_field: Annotated[str, typer.Option(help="field of the grid code")],
    lon_col: Annotated[str, typer.Option()] = "lon",
    lat_col: Annotated[str, typer.Option()] = "lat",
    crs: Annotated[str, typer.Option(help="wgs84|cgcs2000|gcj02|bd09")] = "wgs84",
    tolerance_m: Annotated[float, typer.Option(help="nearest-grid fallback radius")] = 50.0,
) -> None:
    """Assign each CSV row to its grid, offline; streams files larger than memory."""
    from data.files.assign import assign_csv

    with progress_bar("rows") as advance:
        counts = assign_csv(
            in_csv,
            out_csv,
            grids_path=grids,
            code_field=code_field,
            lon_col=lon_col,
            lat_col=lat_col,
            crs=crs,
            tolerance_m=tolerance_m,
            progress=advance,
        )
    err.print(", ".join(f"{k} {v}" for k, v in counts.items()), highlight=False)


@app.command()
def coverage(
    network: Annotated[Path, typer.Option(help=".osm.pbf extract or a file of lines")],
    stations: Annotated[Path, typer.Option(help="stations (points or polygons)")],
    buildings: Annotated[Path, typer.Option(help="buildings (points or footprints)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="GeoJSON written")],
    minutes: Annotated[float, typer.Option(min=0)] = 15.0,
    speed: Annotated[float, typer.Option(help="walking speed, m/min", min=1)] = 75.0,
    max_access: Annotated[float, typer.Option(help="max metres to the network", min=0)] = 300.0,
) -> None:
    """Walking distance from every building to its nearest station, offline."""
    from data.files.coverage import STAGES, coverage_file

    with progress_bar("coverage", total=len(STAGES)) as advance:
        summary = coverage_file(
            network,
            stations,
            buildings,
            out,
            minutes=minutes,
            speed_m_per_min=speed,
            max_access_m=max_access,
            progress=lambda _stage: advance(1),
        )
    err.print(
        f"{summary.covered} of {summary.buildings} buildings within {minutes:g} min "
        f"({summary.unreachable} unreachable) → {out}",
        highlight=False,
    )


@app.command("map")
def map_(
    which: Annotated[str, typer.Argument(help="grids | coverage | incidents")],
    out: Annotated[Path, typer.Option("-o", "--out", help="HTML file written")],
    minutes: Annotated[float, typer.Option(help="coverage: walking minutes", min=0)] = 15.0,
    measure: Annotated[
        str, typer.Option(help="grids: households|open_incidents|coverage_pct")
    ] = "households",
    tiles: Annotated[
        str | None, typer.Option(help="osm | tianditu | amap | none | tile URL")
    ] = None,
) -> None:
    """Write a map as one self-contained HTML file (every asset inlined: opens offline)."""
    from api.coverage_service import CoverageService
    from api.pages import coverage_page, grids_page, incidents_page
    from maps.assets import render_file

    if which not in ("grids", "coverage", "incidents"):
        raise CliError("the map is one of grids, coverage, incidents")
    if measure not in ("households", "open_incidents", "coverage_pct"):
        raise CliError("--measure is one of households, open_incidents, coverage_pct")
    settings = Settings()
    chosen = settings.make_basemap(tiles)
    service = CoverageService(settings)
    with _session() as session:
        if which == "grids":
            m = grids_page(
                session=session,
                coverage=service,
                measure=measure,  # type: ignore[arg-type]
                tiles=chosen,
            )
        elif which == "coverage":
            m = coverage_page(
                session=session, coverage=service, minutes=minutes, suggest=0, tiles=chosen
            )
        else:
            m = incidents_page(session=session, tiles=chosen)
    out.write_text(render_file(m), encoding="utf-8")
    err.print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)", highlight=False)


# --- serving ------------------------------------------------------------------------


def _serve(url: str, host: str, port: int, workers: int) -> None:
    import uvicorn

    os.environ["GRIDMAP_DATABASE_URL"] = url  # workers share one resolved URL
    uvicorn.run(
        "api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="info"
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Serve the HTTP API."""
    _serve(_ready_url(), host, port, workers)


@app.command()
def demo(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Start the embedded database, load the sample city, print an admin key, serve."""
    from data.sample_loader import load_sample, sample_loaded

    embedded = not Settings().database_url  # read before _serve sets GRIDMAP_DATABASE_URL
    url = _ready_url()
    with _session(url) as session:
        if not sample_loaded(session=session):
            with progress_bar("loading the sample city") as advance:
                load_sample(session=session, progress=advance)
        key = _new_key(session, role="admin", label="demo")
    base = f"http://{host}:{port}"
    out.print(f"\n[bold]gridmap demo[/bold] on {base}  (Ctrl-C stops)\n")
    for path in (
        "/docs",
        "/health",
        "/api/v1/grids",
        "/maps/grids",
        "/maps/coverage?minutes=15",
        "/maps/incidents",
        "/api/v1/coverage?minutes=15",
    ):
        out.print(f"  {base}{path}", highlight=False)
    out.print(f"\n  admin API key (X-API-Key): {key}\n", highlight=False)
    try:
        _serve(url, host, port, 1)
    finally:  # Ctrl-C stops the server, never the embedded cluster (pg_ctl detached it)
        if embedded:
            err.print(
                "the embedded database keeps running; stop it with: gridmap db stop",
                highlight=False,
            )


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
