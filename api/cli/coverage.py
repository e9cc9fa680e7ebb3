"""``gridmap coverage``: the offline coverage job on files (``api.cli.offline.coverage``, run
when no subcommand is named), the life-circle compliance report of the database
(``gridmap coverage compliance -o FILE``) and the facility kinds (``gridmap coverage kinds``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from api.cli.common import CliError, actor, err, reading_session, session_on
from api.cli.offline import coverage
from api.compliance import BY, compliance_report, flat_rows
from api.settings import Settings

coverage_app = typer.Typer(
    help="walking coverage: offline from files (options below), compliance, facility kinds",
    invoke_without_command=True,
)
coverage_app.callback()(coverage)
kinds_app = typer.Typer(
    help="facility kinds of the life circles (GB 50180-2018)", no_args_is_help=True
)
coverage_app.add_typer(kinds_app, name="kinds")

SUFFIXES = (".csv", ".xlsx")
ByOpt = Annotated[str, typer.Option(help=" | ".join(BY))]


def check_report_options(output: Path, by: str) -> None:
    if by not in BY:
        raise CliError(f"--by must be one of {', '.join(BY)}")
    if output.suffix.lower() not in SUFFIXES:
        raise CliError("-o must name a .csv or .xlsx file")


def write_report(report: dict[str, Any], output: Path) -> int:
    """The report as one row per (group, kind): a CSV (UTF-8 with BOM, for Excel) or an
    Excel workbook with a second sheet of the kinds; returns the rows written."""
    rows = pd.DataFrame(flat_rows(report))
    if output.suffix.lower() == ".csv":
        rows.to_csv(output, index=False, encoding="utf-8-sig")
    else:
        with pd.ExcelWriter(output) as book:
            rows.to_excel(book, index=False, sheet_name="compliance")
            kinds = pd.DataFrame(report["kinds"])
            kinds["station_kinds"] = kinds["station_kinds"].map(";".join)
            kinds.to_excel(book, index=False, sheet_name="kinds")
    return len(rows)


@coverage_app.command("compliance")
def compliance(
    output: Annotated[Path, typer.Option("-o", "--output", help="FILE.csv or FILE.xlsx")],
    by: ByOpt = "community",
) -> None:
    """Life-circle compliance per community, street or grid and facility kind: shares of
    buildings, households and population within each kind's circle (the compliance run is
    computed and stored first when the inputs changed)."""
    from api.coverage_service import CoverageService

    check_report_options(output, by)
    settings = Settings()
    with reading_session() as session:
        data = CoverageService(settings).compliance(session)
    report = compliance_report(
        data,
        by=by,  # type: ignore[arg-type]
        speed_m_per_min=settings.walk_speed_m_per_min,
    )
    count = write_report(report, output)
    for note in report["notes"]:
        err.print(note, highlight=False, markup=False)
    err.print(f"wrote {count} rows to {output}", highlight=False)


@kinds_app.command("list")
def kinds_list() -> None:
    """Every facility kind: kind, minutes, distance_m, station kinds, names (tab-separated)."""
    from data.compliance import list_kinds

    with session_on() as session:
        for k in list_kinds(session=session):
            distance = "" if k.distance_m is None else f"{k.distance_m:g}"
            station_kinds = ";".join(k.station_kinds)
            print(k.kind, k.minutes, distance, station_kinds, k.name_zh, k.name_en, sep="\t")


@kinds_app.command("set")
def kinds_set(
    kind: Annotated[str, typer.Argument(help="the facility kind's name, e.g. kindergarten")],
    minutes: Annotated[int | None, typer.Option(help="its life circle: 5, 10 or 15")] = None,
    distance_m: Annotated[
        float | None, typer.Option(help="its circle in metres (0: minutes × walking speed)")
    ] = None,
    stations: Annotated[
        str | None, typer.Option(help="station kinds that count, separated by ;")
    ] = None,
    name_zh: Annotated[str | None, typer.Option()] = None,
    name_en: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Add a facility kind or change one (options not given keep their value)."""
    from data.compliance import list_kinds, set_kinds
    from data.facility_kinds import Kind

    with session_on() as session:
        old = next((k for k in list_kinds(session=session) if k.kind == kind), None)
        if old is None and (minutes is None or stations is None):
            raise CliError(f"new kind {kind!r}: give --minutes and --stations")
        base = old or Kind(kind, kind, kind, minutes or 15, None, ())
        changes: dict[str, Any] = {"minutes": minutes, "name_zh": name_zh, "name_en": name_en}
        if stations is not None:
            changes["station_kinds"] = tuple(s.strip() for s in stations.split(";") if s.strip())
        new = replace(base, **{k: v for k, v in changes.items() if v is not None})
        if distance_m is not None:
            new = replace(new, distance_m=distance_m or None)
        set_kinds(session=session, kinds=[new], actor=actor())
    err.print(f"{'changed' if old else 'added'} facility kind {kind}", highlight=False)


@kinds_app.command("remove")
def kinds_remove(kind: Annotated[str, typer.Argument()]) -> None:
    """Remove a facility kind."""
    from data.compliance import remove_kind

    with session_on() as session:
        remove_kind(session=session, kind=kind, actor=actor())
    err.print(f"removed facility kind {kind}", highlight=False)


@kinds_app.command("import")
def kinds_import(
    file: Annotated[Path, typer.Argument(help="CSV: " + "kind, name_zh, name_en, minutes, …")],
) -> None:
    """Replace the facility kinds with a CSV file's (all of them or none); columns kind,
    name_zh, name_en, minutes, distance_m (may be empty), station_kinds (separated by ;)."""
    from data.compliance import replace_kinds
    from data.files.facility_kinds import read_kinds_csv

    kinds = read_kinds_csv(file)
    with session_on() as session:
        replace_kinds(session=session, kinds=kinds, actor=actor())
    err.print(f"imported {len(kinds)} facility kinds", highlight=False)


@kinds_app.command("export")
def kinds_export(file: Annotated[Path, typer.Argument(help="CSV written")]) -> None:
    """Write the facility kinds as a CSV file that ``import`` reads back."""
    from data.compliance import list_kinds
    from data.files.facility_kinds import write_kinds_csv

    with session_on() as session:
        kinds = list_kinds(session=session)
    write_kinds_csv(kinds, file)
    err.print(f"wrote {len(kinds)} facility kinds to {file}", highlight=False)
