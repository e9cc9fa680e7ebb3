"""Request dependencies: the database session and the caller's role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from api.errors import AuthError, ForbiddenError
from api.settings import Settings
from data.keys import ROLES, role_of


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def require(role: str) -> Callable[..., str]:
    """Dependency: the caller's key must have ``role`` or a higher one; yields the actor
    name written to events and the audit log (the key's public prefix)."""
    needed = ROLES.index(role)

    def check(
        session: SessionDep,
        x_api_key: Annotated[str | None, Header(alias="X-API-Key")] = None,
    ) -> str:
        if not x_api_key:
            raise AuthError("this endpoint needs an X-API-Key header")
        have = role_of(session=session, key=x_api_key)
        if have is None:
            raise AuthError("unknown or revoked API key")
        if ROLES.index(have) < needed:
            raise ForbiddenError(f"this endpoint needs role {role}, the key has {have}")
        return f"key:{x_api_key[:10]}"

    return check


Viewer = Annotated[str, Depends(require("viewer"))]
Reporter = Annotated[str, Depends(require("reporter"))]
Admin = Annotated[str, Depends(require("admin"))]
