"""``gridmap map``: a map page as one self-contained HTML file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import CliError, err, reading_session
from api.settings import Settings


def map_(
    which: Annotated[str, typer.Argument(help="grids | coverage | compliance | incidents | stats")],
    out: Annotated[Path, typer.Option("-o", "--out", help="HTML file written")],
    minutes: Annotated[
        float | None,
        typer.Option(help="coverage: any station within these minutes (none: compliance)", min=0),
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="compliance: the facility kind shown first")
    ] = None,
    measure: Annotated[
        str | None,
        typer.Option(
            help="grids: households|open_incidents|coverage_pct (default households); "
            "stats: closure_rate|overdue (default closure_rate)"
        ),
    ] = None,
    tiles: Annotated[
        str | None, typer.Option(help="osm | tianditu | amap | none | tile URL")
    ] = None,
) -> None:
    """Write a map as one self-contained HTML file (every asset inlined: opens offline)."""
    from api.coverage_service import CoverageService
    from api.pages import compliance_page, coverage_page, grids_page, incidents_page, stats_page
    from maps.assets import render_file

    measures = {
        "grids": ("households", "open_incidents", "coverage_pct"),
        "coverage": (),
        "compliance": (),
        "incidents": (),
        "stats": ("closure_rate", "overdue"),
    }
    if which not in measures:
        raise CliError("the map is one of grids, coverage, compliance, incidents, stats")
    if measure is not None and measure not in measures[which]:
        allowed = ", ".join(measures[which]) or "nothing"
        raise CliError(f"--measure for the {which} map is one of: {allowed}")
    settings = Settings()
    chosen = settings.make_basemap(tiles)
    service = CoverageService(settings)
    with reading_session() as session:
        if which == "grids":
            m = grids_page(
                session=session,
                coverage=service,
                measure=measure or "households",  # type: ignore[arg-type]
                tiles=chosen,
            )
        elif which == "coverage" and minutes is not None:
            m = coverage_page(
                session=session, coverage=service, minutes=minutes, suggest=0, tiles=chosen
            )
        elif which in ("coverage", "compliance"):
            m = compliance_page(session=session, coverage=service, tiles=chosen, kind=kind)
        elif which == "stats":
            m = stats_page(
                session=session,
                measure=measure or "closure_rate",  # type: ignore[arg-type]
                tiles=chosen,
                timezone=settings.timezone,
                now=datetime.now(UTC),
            )
        else:
            m = incidents_page(session=session, tiles=chosen)
    out.write_text(render_file(m), encoding="utf-8")
    err.print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)", highlight=False)
