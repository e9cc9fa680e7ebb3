"""Point inputs shared by every point-taking endpoint: lon/lat ranges and the CRS name.

Query parameters arrive as text, so ``Lon``/``Lat`` parse numbers from strings; JSON bodies
use the strict variants, which take JSON numbers only (no "118.7", no true/false). Degrees are
rounded to 1e-9 (0.1 mm): no precision is lost, and subnormal values such as 5e-324, which
PostGIS cannot project, become 0.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


CrsName = Annotated[
    Literal["wgs84", "cgcs2000", "gcj02", "bd09"],
    BeforeValidator(_lower),
]
"""A CRS name in any case (``GCJ02`` = ``gcj02``)."""


def _round(degrees: float) -> float:
    return round(degrees, 9) + 0.0  # + 0.0: no negative zero


_Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, description="longitude")]
_Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, description="latitude")]
Lon = Annotated[_Lon, AfterValidator(_round)]
Lat = Annotated[_Lat, AfterValidator(_round)]
JsonLon = Annotated[Lon, Field(strict=True)]
JsonLat = Annotated[Lat, Field(strict=True)]
# Batch points are located, never stored: not rounded (a validator call per number would
# double the parse of 100,000 points), and not range-checked here: a point out of range gets
# a null code and a per-point error, only a batch that is not [[number, number], ...] is 422.
BatchLon = Annotated[float, Field(strict=True, allow_inf_nan=False, description="longitude")]
BatchLat = Annotated[float, Field(strict=True, allow_inf_nan=False, description="latitude")]
