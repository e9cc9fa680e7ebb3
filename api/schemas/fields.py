"""Field types every route and schema takes strings and times as, so each limit is declared
once: no NUL characters or lone surrogates (PostgreSQL text cannot hold them), lengths that
match their columns, and times that convert to UTC and lie in a plausible range."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

EARLIEST_YEAR, LATEST_YEAR = 1900, 2200  # every time a query or body may name


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains a lone surrogate (not valid Unicode)") from None
    return value


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _not_a_number(value: object) -> object:
    """Times are ISO 8601 text (the schema's date-time), never a bare number, which pydantic
    would take for seconds since 1970."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("an ISO 8601 time such as 2023-12-10T12:00:00+08:00, not a number")
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
Moment = Annotated[datetime, BeforeValidator(_not_a_number), AfterValidator(_plausible)]
