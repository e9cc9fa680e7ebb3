"""What one API worker holds, built once by the app's lifespan: the typed state every request
dependency (api/deps.py) takes its parts from."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.coverage_service import CoverageService
from api.locator import Locator
from api.security import WriteLimiter
from api.settings import Settings
from data.files.photos import PhotoStorage
from data.keys import KeyOwner


@dataclass(frozen=True)
class KeyCache:
    """Known API keys' owners (role, actor, person) by digest, each with the monotonic time it
    expires."""

    roles: dict[str, tuple[KeyOwner, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportLimiters:
    """The report page's rates: device tokens issued per address, and reports per device
    token and per address."""

    tokens: WriteLimiter
    reports: WriteLimiter

    @classmethod
    def from_settings(cls, settings: Settings) -> ReportLimiters:
        per_ip = settings.report_tokens_per_ip
        return cls(
            tokens=WriteLimiter(per_key_per_minute=per_ip, per_ip_per_minute=per_ip),
            reports=WriteLimiter(
                per_key_per_minute=settings.report_limit_per_token,
                per_ip_per_minute=settings.report_limit_per_ip,
            ),
        )


@dataclass(frozen=True)
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    locator: Locator
    coverage: CoverageService
    keys: KeyCache
    limiter: WriteLimiter
    report_limits: ReportLimiters
    photos: PhotoStorage
