"""Request dependencies: everything a route needs, as ``Annotated`` types.

Routes never read ``request.app.state``; they declare what they use, and tests replace a part
with ``app.dependency_overrides`` (e.g. ``get_sessions``, ``get_locator``). All are async so
FastAPI does not hop to a worker thread for them; the key lookup, the only I/O, runs in the
thread pool on a cache miss. Known keys are cached for ``KEY_CACHE_S`` seconds, so a revoked
key stops working within that time; a key that expires sooner is cached only until it expires.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.coverage_service import CoverageService
from api.errors import AuthError, ForbiddenError
from api.locator import Locator
from api.security import WriteLimiter
from api.settings import Settings
from api.state import AppState, KeyCache, ReportLimiters
from data.files.photos import PhotoStorage
from data.keys import ROLES, KeyOwner, digest, owner_of_digest
from data.reports import Device, device_of_digest
from maps.basemap import Basemap

KEY_CACHE_S = 30.0


def _state(request: Request) -> AppState:
    """The worker's state: the one place that reads ``app.state``."""
    state: AppState = request.app.state.gridmap
    return state


async def get_settings(request: Request) -> Settings:
    return _state(request).settings


async def get_sessions(request: Request) -> sessionmaker[Session]:
    return _state(request).sessions


async def get_locator(request: Request) -> Locator:
    return _state(request).locator


async def get_coverage(request: Request) -> CoverageService:
    return _state(request).coverage


async def get_key_cache(request: Request) -> KeyCache:
    return _state(request).keys


async def get_limiter(request: Request) -> WriteLimiter:
    return _state(request).limiter


SettingsDep = Annotated[Settings, Depends(get_settings)]
LimiterDep = Annotated[WriteLimiter, Depends(get_limiter)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
LocatorDep = Annotated[Locator, Depends(get_locator)]
CoverageDep = Annotated[CoverageService, Depends(get_coverage)]


async def get_session(sessions: SessionsDep) -> AsyncIterator[Session]:
    session = sessions()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


# --- shared query parameters ---------------------------------------------------------------


def _invalid(name: str, msg: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", name), "msg": msg, "type": "value_error"}])


async def get_bbox(
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
) -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` → floats, or a 422 naming the ``bbox`` parameter."""
    if bbox is None:
        return None
    try:
        v = tuple(float(x) for x in bbox.split(","))
    except ValueError:
        v = ()
    finite = all(abs(x) < float("inf") for x in v)  # rejects nan too: nan < inf is False
    if not (len(v) == 4 and finite and -180 <= v[0] <= v[2] <= 180 and -90 <= v[1] <= v[3] <= 90):
        raise _invalid("bbox", "expected minlon,minlat,maxlon,maxlat in range")
    return v[0], v[1], v[2], v[3]


BboxDep = Annotated[tuple[float, float, float, float] | None, Depends(get_bbox)]


@dataclass(frozen=True)
class Page:
    """Keyset paging: at most ``limit`` rows after the id the cursor names."""

    limit: int
    after_id: int | None

    def next_cursor(self, rows: list[dict[str, Any]]) -> str | None:
        if len(rows) < self.limit:
            return None
        return base64.urlsafe_b64encode(str(rows[-1]["id"]).encode()).decode().rstrip("=")


async def get_page(
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Page:
    if cursor is None:
        return Page(limit, None)
    try:
        after = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except ValueError:
        raise _invalid("cursor", "not a cursor from this API") from None
    if not 0 <= after < 2**63:
        raise _invalid("cursor", "not a cursor from this API")
    return Page(limit, after)


PageDep = Annotated[Page, Depends(get_page)]


async def get_basemap(
    settings: SettingsDep,
    tiles: Annotated[
        str | None,
        Query(
            description="osm | tianditu | amap | none (default: settings)",
            pattern="^(osm|tianditu|amap|none)$",
        ),
    ] = None,
) -> Basemap:
    """The page's basemap; one the settings cannot draw (tianditu without a key) is a 422."""
    try:
        return settings.make_basemap(tiles)
    except ValueError as exc:
        raise _invalid("tiles", str(exc)) from None


BasemapDep = Annotated[Basemap, Depends(get_basemap)]


# --- the caller's role ----------------------------------------------------------------------


def client_address(request: Request) -> str:
    """The caller's address, as the write rate limits count it."""
    return request.client.host if request.client else "-"


async def _owner(sessions: sessionmaker[Session], cache: KeyCache, key: str) -> KeyOwner | None:
    key_digest = digest(key)
    hit = cache.roles.get(key_digest)
    if hit is not None and hit[1] > time.monotonic():
        return hit[0]

    def lookup() -> KeyOwner | None:
        with sessions() as session:
            return owner_of_digest(session=session, key_digest=key_digest)

    owner = await run_in_threadpool(lookup)
    if owner is not None:  # unknown keys are not cached: a new key works at once
        keep = KEY_CACHE_S
        if owner.expires_at is not None:
            keep = min(keep, (owner.expires_at - datetime.now(UTC)).total_seconds())
        cache.roles[key_digest] = (owner, time.monotonic() + keep)
    return owner


def require_owner(role: str) -> Callable[..., Coroutine[Any, Any, KeyOwner]]:
    """Dependency: the caller's key must have ``role`` or a higher one, and a write must be
    within the key's and the address's rate; returns the key's owner (role, actor, person)."""
    needed = ROLES.index(role)

    async def check(
        request: Request,
        sessions: SessionsDep,
        cache: Annotated[KeyCache, Depends(get_key_cache)],
        limiter: LimiterDep,
        x_api_key: Annotated[str | None, Header(alias="X-API-Key")] = None,
    ) -> KeyOwner:
        if not x_api_key:
            raise AuthError("this endpoint needs an X-API-Key header")
        owner = await _owner(sessions, cache, x_api_key)
        if owner is None:
            raise AuthError("unknown, revoked or expired API key")
        if ROLES.index(owner.role) < needed:
            raise ForbiddenError(f"this endpoint needs role {role}, the key has {owner.role}")
        if request.method not in ("GET", "HEAD"):
            limiter.take(key=digest(x_api_key), address=client_address(request))
        return owner

    return check


def require(role: str) -> Callable[..., Coroutine[Any, Any, str]]:
    """Dependency: the caller's key must have ``role`` or a higher one; returns the actor
    name written to events and the audit log (``person:ID`` when the key belongs to a
    person, else the key's public prefix)."""

    owner_of_key = Depends(require_owner(role))

    async def check(owner: KeyOwner = owner_of_key) -> str:
        return owner.actor

    return check


Viewer = Annotated[str, Depends(require("viewer"))]
Reporter = Annotated[str, Depends(require("reporter"))]
Admin = Annotated[str, Depends(require("admin"))]
ReporterOwner = Annotated[KeyOwner, Depends(require_owner("reporter"))]


# --- the resident report page: device tokens and photos ----------------------------------------


async def get_report_limits(request: Request) -> ReportLimiters:
    return _state(request).report_limits


async def get_photo_store(request: Request) -> PhotoStorage:
    """The worker's photo store, picked from the settings (api/photo_store.py)."""
    return _state(request).photos


ReportLimitsDep = Annotated[ReportLimiters, Depends(get_report_limits)]
PhotoStoreDep = Annotated[PhotoStorage, Depends(get_photo_store)]
DeviceToken = Annotated[
    str | None,
    Header(alias="X-Device-Token", max_length=128, description="from POST /api/v1/report/tokens"),
]


async def _device(sessions: sessionmaker[Session], token: str) -> Device | None:
    def lookup() -> Device | None:
        with sessions() as session:
            return device_of_digest(session=session, token_digest=digest(token))

    return await run_in_threadpool(lookup)


async def get_device(
    request: Request,
    sessions: SessionsDep,
    limits: ReportLimitsDep,
    x_device_token: DeviceToken = None,
) -> Device:
    """The caller's live device token; a write must be within the token's and the address's
    report rate (429 with Retry-After beyond)."""
    if not x_device_token:
        raise AuthError("this endpoint needs an X-Device-Token header (POST /api/v1/report/tokens)")
    device = await _device(sessions, x_device_token)
    if device is None:
        raise AuthError("unknown or revoked device token")
    if request.method not in ("GET", "HEAD"):
        limits.reports.take(key=digest(x_device_token), address=client_address(request))
    return device


DeviceDep = Annotated[Device, Depends(get_device)]


@dataclass(frozen=True)
class PhotoViewer:
    """Who asks for a photo: a viewer's key (``device`` None: every photo) or a device token
    (its own reports' photos only)."""

    device: Device | None


async def get_photo_viewer(
    sessions: SessionsDep,
    cache: Annotated[KeyCache, Depends(get_key_cache)],
    x_api_key: Annotated[str | None, Header(alias="X-API-Key")] = None,
    x_device_token: DeviceToken = None,
) -> PhotoViewer:
    if x_api_key:
        if await _owner(sessions, cache, x_api_key) is None:
            raise AuthError("unknown or revoked API key")
        return PhotoViewer(None)  # every role is at least a viewer
    if x_device_token:
        device = await _device(sessions, x_device_token)
        if device is None:
            raise AuthError("unknown or revoked device token")
        return PhotoViewer(device)
    raise AuthError("photos need a viewer's X-API-Key or the reporter's X-Device-Token")


PhotoViewerDep = Annotated[PhotoViewer, Depends(get_photo_viewer)]
