"""API keys: created once, shown once, stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.models import ApiKey

ROLES = ("viewer", "reporter", "admin")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(*, session: Session, role: str, label: str | None = None) -> str:
    """Store a new key for ``role`` and return the only copy of its plain text."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    key = "gm_" + secrets.token_urlsafe(32)
    session.add(ApiKey(key_hash=digest(key), prefix=key[:10], role=role, label=label))
    session.flush()
    return key


def role_of_digest(*, session: Session, key_digest: str) -> str | None:
    """The role of a live key given its digest, or None when unknown or revoked."""
    row = session.execute(
        select(ApiKey.role).where(ApiKey.key_hash == key_digest, ApiKey.revoked_at.is_(None))
    ).first()
    return None if row is None else str(row[0])
