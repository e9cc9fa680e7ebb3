"""Service settings from the environment (prefix ``GRIDMAP_``); built by the caller, never
at import time."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    deadline_routine_hours: int = 24
    deadline_complex_hours: int = 5 * 24
    deadline_major_hours: int = 30 * 24
    walk_speed_m_per_min: float = 75.0
    max_access_m: float = 300.0
    basemap: str = Field(default="osm", description="osm | tianditu | amap | none | a tile URL")
    tianditu_key: str | None = None

    def deadlines(self) -> dict[str, timedelta]:
        """Deadline per priority: routine 立即办, complex 限时办, major 跟踪办."""
        return {
            "routine": timedelta(hours=self.deadline_routine_hours),
            "complex": timedelta(hours=self.deadline_complex_hours),
            "major": timedelta(hours=self.deadline_major_hours),
        }
