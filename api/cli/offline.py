"""Offline commands on files alone, no database: ``gridmap assign`` and ``gridmap coverage``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import CrsOpt, err, progress_bar


def _say(line: str) -> None:
    err.print(line, highlight=False, markup=False)


def assign(
    in_csv: Annotated[
        Path, typer.Argument(help="CSV with a point per row, or a GeoJSON/GPKG of points")
    ],
    out_csv: Annotated[Path, typer.Argument(help="written: the input plus grid_code, match")],
    grids: Annotated[Path, typer.Option(help="grid polygons (any vector format)")],
    code_field: Annotated[str, typer.Option(help="field of the grid code")],
    lon_col: Annotated[str, typer.Option()] = "lon",
    lat_col: Annotated[str, typer.Option()] = "lat",
    crs: Annotated[str, typer.Option(help="the points' CRS: wgs84|cgcs2000|gcj02|bd09")] = "wgs84",
    grids_crs: Annotated[
        str | None,
        typer.Option(help="the grid file's CRS when it names none (or a wrong one)"),
    ] = None,
    tolerance_m: Annotated[float, typer.Option(help="nearest-grid fallback radius")] = 50.0,
) -> None:
    """Assign each row to its grid, offline; streams files larger than memory. Features of
    the grid file sharing a code are parts of one grid."""
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
            grids_crs=grids_crs,
            tolerance_m=tolerance_m,
            progress=advance,
            report=_say,
        )
    err.print(", ".join(f"{k} {v}" for k, v in counts.items()), highlight=False)


def coverage(
    network: Annotated[Path, typer.Option(help="an OSM .pbf extract or a file of lines")],
    stations: Annotated[
        Path, typer.Option(help="stations (points or polygons, or an OSM .pbf extract)")
    ],
    buildings: Annotated[
        Path, typer.Option(help="buildings (points or footprints, or an OSM .pbf extract)")
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="GeoJSON written")],
    minutes: Annotated[float, typer.Option(min=0)] = 15.0,
    speed: Annotated[float, typer.Option(help="walking speed, m/min", min=1)] = 75.0,
    max_access: Annotated[float, typer.Option(help="max metres to the network", min=0)] = 300.0,
    crs: CrsOpt = None,
    mainland_min_nodes: Annotated[
        int,
        typer.Option(help="buildings join components holding a station or this many nodes", min=1),
    ] = 50,
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
            crs=crs,
            mainland_min_nodes=mainland_min_nodes,
            progress=lambda _stage: advance(1),
            report=_say,
        )
    err.print(
        f"{summary.covered} of {summary.buildings} buildings within {minutes:g} min "
        f"({summary.unreachable} unreachable, {summary.moved_off_islands} moved off network "
        f"islands) → {out}",
        highlight=False,
    )
