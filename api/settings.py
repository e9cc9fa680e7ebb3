"""Service settings from the environment (prefix ``GRIDMAP_``); built by the caller, never
at import time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, overload
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.security import origin_of
from data.lifecycle import DEFAULT_DEADLINE_HOURS, PRIORITIES
from geo.region import Region
from maps.basemap import BASEMAP_KINDS, TILE_ORIGINS, Basemap


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="libpq URL; unset: the embedded cluster is started"
    )
    pool_size: int = 10
    tolerance_m: float = Field(default=50.0, ge=0, description="nearest-grid fallback radius")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, description="larger bodies get 413")
    batch_max_points: int = 100_000
    index_refresh_s: float = Field(
        default=2.0, description="how often workers check for a new grid version"
    )
    deadline_routine_hours: int = Field(default=DEFAULT_DEADLINE_HOURS["routine"], gt=0)
    deadline_complex_hours: int = Field(default=DEFAULT_DEADLINE_HOURS["complex"], gt=0)
    deadline_major_hours: int = Field(default=DEFAULT_DEADLINE_HOURS["major"], gt=0)
    walk_speed_m_per_min: float = 75.0
    max_access_m: float = 300.0
    write_limit_per_key: int = Field(
        default=600, gt=0, description="writes a minute per API key (burst as large); 429 beyond"
    )
    write_limit_per_ip: int = Field(
        default=1200, gt=0, description="writes a minute per client address; 429 beyond"
    )
    cors_origins: list[str] = Field(
        default=[], description="origins allowed to call the API from a browser; none: CORS off"
    )
    log_format: Literal["json", "text"] = Field(
        default="json", description="gridmap serve's logs: JSON lines with request ids, or text"
    )
    timezone: str = Field(
        default="Asia/Shanghai", description="the zone of times given without one (IANA name)"
    )
    max_clock_skew_s: float = Field(
        default=300.0, ge=0, description="how far in the future a report's time may lie"
    )
    earliest_report: datetime = Field(
        default=datetime(2000, 1, 1, tzinfo=UTC), description="reports older than this → 422"
    )
    region: str | None = Field(
        default=None,
        description="west,south,east,north in degrees: points outside are refused (422, "
        "import refusals); unset: the current grids' extent plus region_margin_m",
    )
    region_margin_m: float = Field(
        default=10_000.0, ge=0, description="margin around the grids' extent (see region)"
    )
    basemap: str = Field(default="osm", description="osm | tianditu | amap | none | a tile URL")
    tianditu_key: str | None = Field(default=None, description="Tianditu browser token")
    workload_min_households: int = Field(
        default=150, ge=0, description="the boundary editor flags grids with fewer households"
    )
    workload_max_households: int = Field(
        default=500, ge=0, description="the boundary editor flags grids with more households"
    )

    @overload
    def aware(self, when: datetime) -> datetime: ...
    @overload
    def aware(self, when: None) -> None: ...
    def aware(self, when: datetime | None) -> datetime | None:
        """``when`` with its zone; a naive time is wall-clock time in ``timezone``."""
        if when is None or when.tzinfo is not None:
            return when
        return when.replace(tzinfo=ZoneInfo(self.timezone))

    @model_validator(mode="after")
    def _basemap_drawable(self) -> Settings:
        """A basemap that cannot be drawn (tianditu without a key, a URL without {z}/{x}/{y})
        stops the service at startup, not at the first map request."""
        self.make_basemap()
        ZoneInfo(self.timezone)  # an unknown zone stops the service at startup too
        self.configured_region()  # and so does a region that is not a lon/lat box
        return self

    def configured_region(self) -> Region | None:
        """GRIDMAP_REGION as a Region, None when unset (the grids' extent is used)."""
        return Region.parse(self.region) if self.region else None

    def region_around(self, bounds: tuple[float, float, float, float] | None) -> Region | None:
        """The configured region, else ``bounds`` (the grids' extent) plus the margin."""
        if (region := self.configured_region()) is not None:
            return region
        return None if bounds is None else Region.around(bounds, self.region_margin_m)

    def tile_origins(self) -> list[str]:
        """Where page images may come from: the named basemaps' tile servers and a URL
        basemap's own origin."""
        own = origin_of(self.basemap) if self.basemap not in BASEMAP_KINDS else None
        return [*TILE_ORIGINS, *([own] if own else [])]

    def make_basemap(self, override: str | None = None) -> Basemap:
        """The configured basemap, or ``override``: a kind name, or any other value taken as
        a tile URL; ValueError when it cannot be drawn."""
        choice = override or self.basemap
        if choice in BASEMAP_KINDS:
            return Basemap(kind=choice, key=self.tianditu_key)  # type: ignore[arg-type]
        return Basemap(kind="url", url=choice)

    def deadlines(self) -> dict[str, timedelta]:
        """Deadline per priority (data.lifecycle.PRIORITIES): 立即办, 限时办, 跟踪办."""
        return {p: timedelta(hours=getattr(self, f"deadline_{p}_hours")) for p in PRIORITIES}
