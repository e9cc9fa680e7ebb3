"""Point inputs shared by every point-taking endpoint: lon/lat ranges and the CRS name.

Query parameters arrive as text, so ``Lon``/``Lat`` parse numbers from strings; JSON bodies
use the strict variants, which take JSON numbers only (no "118.7", no true/false). Degrees
smaller than 1e-300 (subnormal values such as 5e-324, which PostGIS cannot project) become 0;
every other value is kept exactly, so answers equal PostGIS's for the very point sent.
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


def _flush_tiny(degrees: float) -> float:
    return 0.0 if abs(degrees) < 1e-300 else degrees


_Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, description="longitude")]
_Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, description="latitude")]
Lon = Annotated[_Lon, AfterValidator(_flush_tiny)]
Lat = Annotated[_Lat, AfterValidator(_flush_tiny)]
JsonLon = Annotated[Lon, Field(strict=True)]
JsonLat = Annotated[Lat, Field(strict=True)]
# Batch points are located in memory, never stored or sent to PostGIS: no validator (a call
# per number would double the parse of 100,000 points) and no range check here: a point out
# of range gets a null code and a per-point error; only a batch that is not
# [[number, number], ...] is 422.
BatchLon = Annotated[float, Field(strict=True, allow_inf_nan=False, description="longitude")]
BatchLat = Annotated[float, Field(strict=True, allow_inf_nan=False, description="latitude")]
