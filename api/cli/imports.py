"""``gridmap import``: load files into the database, one transaction per file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import CrsOpt, actor, err, progress_bar, session_on
from api.settings import Settings
from data.audit import record

import_app = typer.Typer(help="Load data into the database (one transaction per file)")


def _run_import(label: str, run: Callable[..., int], **kwargs: object) -> None:
    with progress_bar(label) as advance, session_on() as session:
        count = run(session=session, progress=advance, **kwargs)
        record(
            session=session,
            actor=actor(),
            action="import",
            entity=label,
            detail={"count": count, **{k: str(v) for k, v in kwargs.items()}},
        )
    err.print(f"imported {count} {label}")


FileArg = Annotated[Path, typer.Argument(help="GeoJSON, GPKG, Shapefile, … or .osm.pbf")]


@import_app.command("sample")
def import_sample() -> None:
    """Load the bundled sample city (Nanjing, from OpenStreetMap) and a synthetic year of its
    reports, replacing what is there."""
    from data.sample_loader import load_sample_city

    _run_import("sample features", load_sample_city, deadlines=Settings().deadlines())


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
