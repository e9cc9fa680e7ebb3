"""Point inputs shared by every point-taking endpoint: lon/lat ranges and the CRS name."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

CrsName = Literal["wgs84", "cgcs2000", "gcj02", "bd09"]
Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, description="longitude")]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, description="latitude")]
