"""Request dependencies: the database session and the caller's role.

Both are async so FastAPI does not hop to a worker thread for them; the key lookup, the
only I/O, runs in the thread pool on a cache miss. Known keys are cached for
``KEY_CACHE_S`` seconds, so a revoked key stops working within that time.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.errors import AuthError, ForbiddenError
from api.settings import Settings
from data.keys import ROLES, digest, role_of_digest

KEY_CACHE_S = 30.0


async def get_session(request: Request) -> AsyncIterator[Session]:
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        session.close()


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def _role(request: Request, key: str) -> str | None:
    cache: dict[str, tuple[str | None, float]] = request.app.state.key_cache
    key_digest = digest(key)
    hit = cache.get(key_digest)
    if hit is not None and hit[1] > time.monotonic():
        return hit[0]

    def lookup() -> str | None:
        with request.app.state.sessionmaker() as session:
            return role_of_digest(session=session, key_digest=key_digest)

    role = await run_in_threadpool(lookup)
    if role is not None:  # unknown keys are not cached: a new key works at once
        cache[key_digest] = (role, time.monotonic() + KEY_CACHE_S)
    return role


def require(role: str) -> Callable[..., Coroutine[Any, Any, str]]:
    """Dependency: the caller's key must have ``role`` or a higher one; returns the actor
    name written to events and the audit log (the key's public prefix)."""
    needed = ROLES.index(role)

    async def check(
        request: Request,
        x_api_key: Annotated[str | None, Header(alias="X-API-Key")] = None,
    ) -> str:
        if not x_api_key:
            raise AuthError("this endpoint needs an X-API-Key header")
        have = await _role(request, x_api_key)
        if have is None:
            raise AuthError("unknown or revoked API key")
        if ROLES.index(have) < needed:
            raise ForbiddenError(f"this endpoint needs role {role}, the key has {have}")
        return f"key:{x_api_key[:10]}"

    return check


Viewer = Annotated[str, Depends(require("viewer"))]
Reporter = Annotated[str, Depends(require("reporter"))]
Admin = Annotated[str, Depends(require("admin"))]
