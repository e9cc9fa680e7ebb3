"""Field types every route and schema takes strings and times as, so each limit is declared
once: no NUL characters or lone surrogates (PostgreSQL text cannot hold them), lengths that
match their columns, and times that convert to UTC and lie in a plausible range."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field

EARLIEST_YEAR, LATEST_YEAR = 1900, 2200  # every time a query or body may name


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains a lone surrogate (not valid Unicode)") from None
    return value


def _plausible(value: datetime) -> datetime:
    try:
        year = value.astimezone(UTC).year if value.tzinfo else value.year
    except OverflowError:
        year = value.year + (1 if value.year > 2000 else -1)  # past datetime's own range
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise ValueError(f"a time between {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


Text = Annotated[str, AfterValidator(_storable)]
Code = Annotated[Text, Field(min_length=1, max_length=64)]  # grid/community codes, station kinds
Category = Annotated[Text, Field(min_length=1, max_length=128)]
ClientId = Annotated[Text, Field(min_length=1, max_length=128)]
Description = Annotated[Text, Field(max_length=10_000)]
Moment = Annotated[datetime, AfterValidator(_plausible)]
