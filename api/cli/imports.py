"""``gridmap import``: load files into the database, one transaction per file.

Each import says what it took from the file (which features, merged parts, overlaps, what
changed) and writes nothing when it refuses the file. Buildings and stations need an
explicit mode once their table has rows (``--replace`` or ``--key FIELD``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import CrsOpt, actor, err, forget_photo_files, progress_bar, session_on
from api.settings import Settings
from data.audit import record

import_app = typer.Typer(help="Load data into the database (one transaction per file)")


def _say(line: str) -> None:
    err.print(line, highlight=False, markup=False)


def _run_import(
    label: str, run: Callable[..., int], *, regional: bool = True, **kwargs: object
) -> None:
    """Run one importer in one transaction; audited when it wrote anything."""
    settings = Settings()
    with progress_bar(label) as advance, session_on() as session:
        if regional:
            from data.files.importers import grid_region

            kwargs["region"] = settings.configured_region() or grid_region(
                session=session, margin_m=settings.region_margin_m
            )  # importers default to the grids' extent plus 10 km; the settings decide here
        count = run(session=session, progress=advance, report=_say, **kwargs)
        if count:
            record(
                session=session,
                actor=actor(),
                action="import",
                entity=label,
                detail={"count": count, **{k: str(v) for k, v in kwargs.items()}},
            )
    err.print(f"imported {count} {label}" if count else f"nothing to change: no {label} written")


FileArg = Annotated[
    Path,
    typer.Argument(
        help="GeoJSON, GPKG, Shapefile, … or an OpenStreetMap .pbf extract", exists=True
    ),
]
ReplaceOpt = Annotated[
    bool, typer.Option("--replace", help="the file replaces every stored row of this kind")
]
KeyOpt = Annotated[
    str | None,
    typer.Option(help="upsert by this field (stored as source_id; OSM extracts: source_id)"),
]


@import_app.command("sample")
def import_sample() -> None:
    """Load the bundled sample city (Nanjing, from OpenStreetMap) and a synthetic year of its
    reports, replacing what is there (and the photos a handler attached to those)."""
    from api.photo_store import photo_store
    from data.sample_loader import load_sample_city, sample_photo_keys

    settings = Settings()
    store = photo_store(settings)  # a settings error stops here, before anything is replaced
    with progress_bar("sample features") as advance, session_on() as session:
        photos = sample_photo_keys(session=session)
        count = load_sample_city(session=session, progress=advance, deadlines=settings.deadlines())
        record(session=session, actor=actor(), action="import", entity="sample features")
    forget_photo_files(store, photos)
    err.print(f"imported {count} sample features")


@import_app.command("grids")
def import_grids(
    file: Annotated[
        Path, typer.Argument(help="polygons: GeoJSON, GPKG, Shapefile, …", exists=True)
    ],
    code_field: Annotated[str, typer.Option(help="field holding the grid code")] = "code",
    name_field: Annotated[str | None, typer.Option(help="field holding the name")] = None,
    community_field: Annotated[str | None, typer.Option(help="field of the community code")] = None,
    crs: Annotated[
        str | None,
        typer.Option(
            "--crs",
            "--grids-crs",
            help="the grid file's CRS: wgs84|cgcs2000|gcj02|bd09 or EPSG:xxxx",
        ),
    ] = None,
    code: Annotated[
        str | None, typer.Option(help="one code for every feature (a single-area file)")
    ] = None,
    code_from_filename: Annotated[
        bool, typer.Option(help="the file's name (without suffixes) is the code of its area")
    ] = False,
    replace: Annotated[bool, typer.Option(help="retire every grid not in the file")] = False,
) -> None:
    """Load grid polygons: new and changed grids become a new grid version (an identical
    file changes nothing); features sharing a code are parts of one grid."""
    from data.files.importers import import_grids as run

    _run_import(
        "grids",
        run,
        regional=False,
        path=file,
        code_field=code_field,
        name_field=name_field,
        community_field=community_field,
        crs=crs,
        code=code,
        code_from_filename=code_from_filename,
        replace=replace,
        region=Settings().configured_region(),
    )


@import_app.command("buildings")
def import_buildings(
    file: FileArg,
    name_field: Annotated[str, typer.Option()] = "name",
    crs: CrsOpt = None,
    replace: ReplaceOpt = False,
    key: KeyOpt = None,
) -> None:
    """Load buildings (points or footprints; OSM: ways tagged building=*) and assign them
    to grids."""
    from data.files.importers import import_buildings as run

    _run_import(
        "buildings", run, path=file, name_field=name_field, crs=crs, replace=replace, key=key
    )


@import_app.command("stations")
def import_stations(
    file: FileArg,
    name_field: Annotated[str, typer.Option()] = "name",
    kind_field: Annotated[str, typer.Option()] = "kind",
    crs: CrsOpt = None,
    amenity: Annotated[
        list[str] | None,
        typer.Option(help="from an OSM extract: OSM amenity to take (repeatable; default: all)"),
    ] = None,
    replace: ReplaceOpt = False,
    key: KeyOpt = None,
) -> None:
    """Load service stations (field ``level``: 5, 10 or 15 minutes), or the civic
    amenities of an OSM .pbf extract."""
    from data.files.importers import import_stations as run

    _run_import(
        "stations",
        run,
        path=file,
        name_field=name_field,
        kind_field=kind_field,
        crs=crs,
        amenities=amenity or None,  # an empty list would mean "no amenities"
        replace=replace,
        key=key,
    )


@import_app.command("network")
def import_network(
    file: Annotated[
        Path, typer.Argument(help="an OSM .pbf extract, or a vector file of lines", exists=True)
    ],
) -> None:
    """Replace the walking network (OSM .pbf: pyrosm's walking network, all components;
    OSM XML is refused: convert it to .pbf)."""
    from data.files.network import import_network as run

    _run_import("network edges", run, regional=False, path=file)


@import_app.command("incidents")
def import_incidents(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with one report per row, or a GeoJSON/GPKG of points", exists=True
        ),
    ],
    lon_col: Annotated[str, typer.Option()] = "lon",
    lat_col: Annotated[str, typer.Option()] = "lat",
    crs: Annotated[
        str, typer.Option(help="the points' CRS: wgs84|cgcs2000|gcj02|bd09 or EPSG:xxxx")
    ] = "wgs84",
    category_col: Annotated[str, typer.Option()] = "category",
    description_col: Annotated[str, typer.Option()] = "description",
    time_col: Annotated[
        str, typer.Option(help="report time; without a zone: GRIDMAP_TIMEZONE")
    ] = "reported_at",
    id_col: Annotated[
        str | None,
        typer.Option(help="unique report id, stored as client_id: re-imports add nothing"),
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="write rejected rows here (CSV, with line and reason)")
    ] = None,
    strict: Annotated[bool, typer.Option(help="refuse the whole file on any bad row")] = False,
) -> None:
    """Store reports in bulk, each assigned to its grid; rows without usable coordinates
    are rejected (named by line) and the rest stored, unless --strict."""
    from data.files.incidents import import_incidents as run

    settings = Settings()
    _run_import(
        "incidents",
        run,
        path=file,
        lon_col=lon_col,
        lat_col=lat_col,
        crs=crs,
        category_col=category_col,
        description_col=description_col,
        time_col=time_col,
        id_col=id_col,
        rejects=rejects,
        strict=strict,
        timezone=settings.timezone,
        tolerance_m=settings.tolerance_m,
        deadlines=settings.deadlines(),
    )
