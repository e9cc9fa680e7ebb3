"""Point inputs shared by every point-taking endpoint: lon/lat ranges and the CRS name.

Query parameters arrive as text, so ``Lon``/``Lat`` parse numbers from strings; JSON bodies
use the strict variants, which take JSON numbers only (no "118.7", no true/false).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

CrsName = Literal["wgs84", "cgcs2000", "gcj02", "bd09"]
Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, description="longitude")]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, description="latitude")]
JsonLon = Annotated[Lon, Field(strict=True)]
JsonLat = Annotated[Lat, Field(strict=True)]
