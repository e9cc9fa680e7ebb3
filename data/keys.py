"""API keys: created once, shown once, stored only as a SHA-256 digest. A key may belong to a
person (migration 0003); its actor — the name events and the audit log carry — is then
``person:ID``, otherwise the key's own public prefix ``key:gm_xxxxxxx``."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.errors import NotFoundError
from data.models import ApiKey, Person

ROLES = ("viewer", "reporter", "admin")


@dataclass(frozen=True)
class KeyOwner:
    """Who a live key speaks for: its role, the actor name, and the person if any."""

    role: str
    actor: str
    person_id: int | None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def person_actor(person_id: int) -> str:
    return f"person:{person_id}"


def create_key(
    *, session: Session, role: str, label: str | None = None, person_id: int | None = None
) -> str:
    """Store a new key for ``role`` (belonging to ``person_id`` when given) and return the
    only copy of its plain text."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if person_id is not None and session.get(Person, person_id) is None:
        raise NotFoundError(f"no person {person_id}")
    key = "gm_" + secrets.token_urlsafe(32)
    session.add(
        ApiKey(key_hash=digest(key), prefix=key[:10], role=role, label=label, person_id=person_id)
    )
    session.flush()
    return key


def owner_of_digest(*, session: Session, key_digest: str) -> KeyOwner | None:
    """The role and actor of a live key given its digest, or None when unknown or revoked."""
    row = session.execute(
        select(ApiKey.role, ApiKey.prefix, ApiKey.person_id).where(
            ApiKey.key_hash == key_digest, ApiKey.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    role, prefix, person = row
    actor = f"key:{prefix}" if person is None else person_actor(person)
    return KeyOwner(str(role), actor, person)


def role_of_digest(*, session: Session, key_digest: str) -> str | None:
    """The role of a live key given its digest, or None when unknown or revoked."""
    owner = owner_of_digest(session=session, key_digest=key_digest)
    return None if owner is None else owner.role
