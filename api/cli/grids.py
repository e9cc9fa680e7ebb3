"""``gridmap grids export|validate|redraw``: the QGIS round trip of a community's grids."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import CliError, actor, err, out, ready_url
from api.settings import Settings
from data.db import make_engine, make_sessionmaker

grids_app = typer.Typer(help="Export a community's grids, check and apply an edited file")

FileArg = Annotated[Path, typer.Argument(help="a file written by `gridmap grids export`")]


def _print(report: dict[str, object]) -> None:
    out.print_json(json.dumps(report, ensure_ascii=False))


@grids_app.command("export")
def export(
    community: Annotated[str, typer.Option(help="the community's 12-digit code")],
    output: Annotated[Path, typer.Option("-o", "--output", help="GeoPackage written")],
) -> None:
    """Write the community's current grids with each grid's ETag, for editing in QGIS."""
    from data.files.grid_edits import export_grids

    engine = make_engine(ready_url(), pool_size=1)
    try:
        with make_sessionmaker(engine)() as session:
            count = export_grids(session=session, community=community, path=output)
    finally:
        engine.dispose()
    err.print(f"wrote {count} grids to {output}", highlight=False)


def _run(path: Path, *, reason: str | None, valid_from: datetime | None) -> None:
    from api import redraw as redraws
    from data.files.grid_edits import changes_from_file

    settings = Settings()
    engine = make_engine(ready_url(), pool_size=1)
    try:
        with make_sessionmaker(engine)() as session:
            changes = changes_from_file(session=session, path=path)
            if not changes:
                raise CliError(f"{path}: no grid differs from the database")
            if reason is None:
                result = redraws.validate(
                    session=session, changes=changes, tolerance_m=settings.tolerance_m
                )
            else:
                result = redraws.commit(
                    session=session,
                    changes=changes,
                    tolerance_m=settings.tolerance_m,
                    actor=actor(),
                    reason=reason,
                    valid_from=settings.aware(valid_from),
                )
    finally:
        engine.dispose()
    _print(redraws.report(result, valid_from=settings.aware(valid_from)))
    if not result.ok:
        kinds = ", ".join(sorted({p.kind for p in result.problems}))
        raise CliError(f"{len(result.problems)} problem(s): {kinds}; nothing was changed")


@grids_app.command("validate")
def validate(path: FileArg) -> None:
    """Print the report of the edited file as a redraw (exit 1 when it has problems)."""
    _run(path, reason=None, valid_from=None)


@grids_app.command("redraw")
def redraw(
    path: FileArg,
    reason: Annotated[str, typer.Option(help="why (kept in the grids' history)")],
    valid_from: Annotated[
        datetime | None, typer.Option(help="when it takes effect (default now; local time)")
    ] = None,
) -> None:
    """Apply the edited file as one redraw: all of it or nothing."""
    if not reason.strip():
        raise CliError("--reason must say why")
    when = Settings().aware(valid_from)
    if when is not None and when < datetime.now(UTC):
        raise CliError("--valid-from must not lie in the past")
    _run(path, reason=reason, valid_from=valid_from)
