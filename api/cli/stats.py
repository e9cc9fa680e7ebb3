"""``gridmap stats``: incident statistics and the monthly worker evaluation (考核) as a table
on stdout, or a CSV or Excel file."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import pandas as pd
import typer

from api.cli.common import CliError, err, session_on
from api.settings import Settings
from data.stats import BY, incident_stats, worker_evaluation

SUFFIXES = (".csv", ".xlsx")


def month_range(month: str, zone: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` → the month's first instant and the next month's, in ``zone``."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if match is None or not 1 <= int(match[2]) <= 12:
        raise CliError(f"--month must look like 2026-11, not {month!r}")
    year, number = int(match[1]), int(match[2])
    tz = ZoneInfo(zone)
    start = datetime(year, number, 1, tzinfo=tz)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=tz)
    return start, end


def write_table(rows: list[dict[str, Any]], output: Path | None) -> None:
    frame = pd.DataFrame(rows)
    if output is None:
        print(frame.to_csv(sep="\t", index=False), end="")
    elif output.suffix.lower() == ".csv":
        frame.to_csv(output, index=False, encoding="utf-8-sig")  # Excel reads the BOM as UTF-8
    else:
        frame.to_excel(output, index=False, sheet_name="stats")


def stats(
    by: Annotated[str, typer.Option(help="worker (monthly evaluation) | " + " | ".join(BY[:-1]))],
    month: Annotated[str | None, typer.Option(help="YYYY-MM, in GRIDMAP_TIMEZONE")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="FILE.csv or FILE.xlsx (default: stdout)")
    ] = None,
) -> None:
    """Statistics of the incidents reported in a month (all time without --month); with
    ``--by worker`` the worker evaluation: handled, on-time closure rate, median response
    hours and reopen rate of what was dispatched to each worker in the month."""
    if by not in BY:
        raise CliError(f"--by must be one of {', '.join(BY)}")
    if output is not None and output.suffix.lower() not in SUFFIXES:
        raise CliError("-o must name a .csv or .xlsx file")
    settings = Settings()
    start, end = month_range(month, settings.timezone) if month else (None, None)
    with session_on() as session:
        if by == "worker":
            rows = worker_evaluation(
                session=session,
                start=start or datetime(1900, 1, 1, tzinfo=UTC),
                end=end or datetime(2200, 1, 1, tzinfo=UTC),
            )
        else:
            rows = incident_stats(
                session=session, by=by, start=start, end=end, now=datetime.now(UTC)
            )
    write_table(rows, output)
    if output is not None:
        err.print(f"wrote {len(rows)} rows to {output}")
