"""Offline commands on files alone, no database: ``gridmap assign`` and ``gridmap coverage``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import CliError, CrsOpt, err, progress_bar


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
    ctx: typer.Context,
    network: Annotated[
        Path | None, typer.Option(help="an OSM .pbf extract or a file of lines")
    ] = None,
    stations: Annotated[
        Path | None, typer.Option(help="stations (points or polygons, or an OSM .pbf extract)")
    ] = None,
    buildings: Annotated[
        Path | None, typer.Option(help="buildings (points or footprints, or an OSM .pbf extract)")
    ] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="GeoJSON written")] = None,
    minutes: Annotated[float, typer.Option(min=0)] = 15.0,
    speed: Annotated[float, typer.Option(help="walking speed, m/min", min=1)] = 75.0,
    max_access: Annotated[float, typer.Option(help="max metres to the network", min=0)] = 300.0,
    crs: CrsOpt = None,
    mainland_min_nodes: Annotated[
        int,
        typer.Option(help="buildings join components holding a station or this many nodes", min=1),
    ] = 50,
    compliance: Annotated[
        bool,
        typer.Option(
            "--compliance",
            help="also each facility kind's walk (<kind>_m, <kind>_ok) and a score per building",
        ),
    ] = False,
    kinds: Annotated[
        Path | None,
        typer.Option(help="facility kinds CSV for --compliance (default: GB 50180-2018's)"),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="--compliance: also the report as FILE.csv or FILE.xlsx"),
    ] = None,
    by: Annotated[
        str,
        typer.Option(help="--report groups by community | street | grid (building properties)"),
    ] = "community",
) -> None:
    """Walking distance from every building to its nearest station, offline (run when no
    subcommand is named); with --compliance also to each facility kind."""
    if ctx.invoked_subcommand is not None:
        return
    missing = [
        f"--{name}"
        for name, value in (
            ("network", network),
            ("stations", stations),
            ("buildings", buildings),
            ("out", out),
        )
        if value is None
    ]
    if missing:
        raise CliError(f"missing option {', '.join(missing)} (or name a subcommand: --help)")
    assert network and stations and buildings and out  # for mypy, checked above
    if (kinds or report) and not compliance:
        raise CliError("--kinds and --report need --compliance")
    from api.cli.coverage import check_report_options, write_report
    from data.facility_kinds import FACILITY_KIND_SEED
    from data.files.coverage import STAGES, coverage_file
    from data.files.facility_kinds import read_kinds_csv

    if report is not None:
        check_report_options(report, by)
    chosen = None
    if compliance:
        chosen = read_kinds_csv(kinds) if kinds else list(FACILITY_KIND_SEED)
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
            kinds=chosen,
            progress=lambda _stage: advance(1),
            report=_say,
        )
    err.print(
        f"{summary.covered} of {summary.buildings} buildings within {minutes:g} min "
        f"({summary.unreachable} unreachable, {summary.moved_off_islands} moved off network "
        f"islands) → {out}",
        highlight=False,
    )
    if summary.compliance is not None:
        from api.compliance import compliance_report

        table = compliance_report(
            summary.compliance,
            by=by,  # type: ignore[arg-type]
            speed_m_per_min=speed,
        )
        for kind in table["kinds"]:
            share = (table["totals"] or {}).get("kinds", {}).get(kind["kind"], {})
            pct = share.get("pct_households")
            pct_text = "–" if pct is None else f"{pct:.1f}%"
            err.print(
                f"{kind['kind']} ({kind['radius_m']:g} m): {pct_text} of households"
                + (f" — {kind['note']}" if kind["note"] else ""),
                highlight=False,
                markup=False,
            )
        if report is not None:
            count = write_report(table, report)
            err.print(f"wrote {count} rows to {report}", highlight=False)
