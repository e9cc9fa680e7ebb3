"""``gridmap qr``: printable QR posters that open the report page on a grid
(``/report?grid=CODE``): one grid as a PNG or PDF, a community's grids as a PDF, a page each."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import CliError, err, progress_bar, reading_session
from api.posters import Poster, poster, save_posters
from api.settings import Settings
from data.reports import grid_info, grids_of_community


def qr(
    output: Annotated[Path, typer.Option("-o", "--output", help="FILE.png (one grid) or FILE.pdf")],
    grid: Annotated[str | None, typer.Option("--grid", help="one grid's code")] = None,
    community: Annotated[
        str | None, typer.Option("--community", help="every current grid of this community")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url", help="where residents reach the service (default GRIDMAP_PUBLIC_URL)"
        ),
    ] = None,
) -> None:
    """QR posters for the report page, one printable page per grid."""
    if (grid is None) == (community is None):
        raise CliError("name either --grid CODE or --community CODE")
    suffix = output.suffix.lower()
    if suffix not in (".png", ".pdf"):
        raise CliError(f"-o must name a .png or .pdf file, not {output.name!r}")
    base = base_url or Settings().public_url
    if not base.startswith(("http://", "https://")):
        raise CliError(f"--base-url must start with http:// or https://, not {base!r}")
    with reading_session() as session:
        codes = (
            [grid]
            if grid is not None
            else grids_of_community(session=session, community=community or "")
        )
        info = grid_info(session=session, codes=codes)
    if not info:
        raise CliError(
            f"no current grid {grid!r}" if grid else f"community {community!r} has no current grids"
        )
    if suffix == ".png" and len(info) > 1:
        raise CliError(f"{len(info)} grids make {len(info)} pages: write a .pdf")
    pages = []
    with progress_bar("posters", total=len(info)) as advance:
        for row in info:
            pages.append(poster(Poster(**row), base_url=base))
            advance(1)
    save_posters(pages, output)
    err.print(f"{len(pages)} poster{'s' if len(pages) > 1 else ''} written to {output}")
