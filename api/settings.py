"""Service settings from the environment (prefix ``GRIDMAP_``); built by the caller, never
at import time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, overload
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.security import origin_of
from data.embedded import default_home
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
    # the resident report page (/report)
    report_tokens_per_ip: int = Field(
        default=10, gt=0, description="device tokens a minute per client address; 429 beyond"
    )
    report_limit_per_token: int = Field(
        default=6, gt=0, description="reports a minute per device token (burst as large)"
    )
    report_limit_per_ip: int = Field(
        default=60, gt=0, description="reports a minute per client address (burst as large)"
    )
    photo_max_bytes: int = Field(
        default=8 * 1024 * 1024, gt=0, description="per photo; larger photos get 413"
    )
    photo_dir: Path | None = Field(
        default=None, description="where photo files live; unset: photos/ under GRIDMAP_HOME"
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="the address residents reach the service at (QR posters)",
    )
    # where photo files live: a directory (photo_dir) or an S3-compatible bucket; S3
    # credentials come from boto3's chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, …), never from here
    photo_store: Literal["file", "s3"] = Field(
        default="file", description="file: under photo_dir; s3: in the bucket s3_bucket"
    )
    s3_bucket: str | None = Field(default=None, description="the bucket (photo_store=s3)")
    s3_prefix: str = Field(default="", description="key prefix in the bucket, e.g. gridmap/")
    s3_endpoint_url: str | None = Field(
        default=None,
        description="an S3-compatible service's endpoint (MinIO, OSS, COS); unset: AWS",
    )
    s3_region: str | None = Field(default=None, description="the bucket's region, when needed")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto", description="path (MinIO, Ceph) or virtual (OSS, COS) bucket addressing"
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
        self._photo_store_usable()
        return self

    def _photo_store_usable(self) -> None:
        if self.photo_store == "s3" and not (self.s3_bucket or "").strip():
            raise ValueError("GRIDMAP_PHOTO_STORE=s3 needs GRIDMAP_S3_BUCKET (the photos' bucket)")
        url = self.s3_endpoint_url
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"GRIDMAP_S3_ENDPOINT_URL must be an http(s) URL, not {url[:60]!r}")

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

    def photo_root(self) -> Path:
        """The photo directory: ``photo_dir``, else ``photos`` in the data directory."""
        return self.photo_dir or default_home() / "photos"

    def report_body_bytes(self) -> int:
        """The body limit of the routes that take photos: three photos and the form."""
        return 3 * self.photo_max_bytes + 1024 * 1024

    def deadlines(self) -> dict[str, timedelta]:
        """Deadline per priority (data.lifecycle.PRIORITIES): 立即办, 限时办, 跟踪办."""
        return {p: timedelta(hours=getattr(self, f"deadline_{p}_hours")) for p in PRIORITIES}
