"""API keys: created once, shown once, stored only as a SHA-256 digest. A key may belong to a
person (migration 0003); its actor — the name events and the audit log carry — is then
``person:ID``, otherwise the key's own public prefix ``key:gm_xxxxxxx``. A key may expire
(migration 0005) and may be revoked; either way it is refused from then on.

A key is checked by looking its digest up (a unique index), never by comparing the secret,
so a valid and an invalid key take the same time to check."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from data.errors import ConflictError, NotFoundError
from data.models import ApiKey, Person

ROLES = ("viewer", "reporter", "admin")


@dataclass(frozen=True)
class KeyOwner:
    """Who a live key speaks for: its role, the actor name, and the person if any."""

    role: str
    actor: str
    person_id: int | None
    expires_at: datetime | None = None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def person_actor(person_id: int) -> str:
    return f"person:{person_id}"


def create_key(
    *,
    session: Session,
    role: str,
    label: str | None = None,
    person_id: int | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Store a new key for ``role`` (belonging to ``person_id`` when given, refused from
    ``expires_at`` on when given) and return the only copy of its plain text."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if person_id is not None and session.get(Person, person_id) is None:
        raise NotFoundError(f"no person {person_id}")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= datetime.now(UTC)):
        raise ValueError("a key's expiry must be a time (with its zone) in the future")
    key = "gm_" + secrets.token_urlsafe(32)
    session.add(
        ApiKey(
            key_hash=digest(key),
            prefix=key[:10],
            role=role,
            label=label,
            person_id=person_id,
            expires_at=expires_at,
        )
    )
    session.flush()
    return key


def _live() -> Any:
    return (ApiKey.revoked_at.is_(None)) & (
        or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > func.now())
    )


def owner_of_digest(*, session: Session, key_digest: str) -> KeyOwner | None:
    """The role and actor of a live key given its digest, or None when unknown, revoked or
    expired."""
    row = session.execute(
        select(ApiKey.role, ApiKey.prefix, ApiKey.person_id, ApiKey.expires_at).where(
            ApiKey.key_hash == key_digest, _live()
        )
    ).first()
    if row is None:
        return None
    role, prefix, person, expires_at = row
    actor = f"key:{prefix}" if person is None else person_actor(person)
    return KeyOwner(str(role), actor, person, expires_at)


def role_of_digest(*, session: Session, key_digest: str) -> str | None:
    """The role of a live key given its digest, or None when unknown, revoked or expired."""
    owner = owner_of_digest(session=session, key_digest=key_digest)
    return None if owner is None else owner.role


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown of a key: never the key nor its digest."""

    id: int
    prefix: str
    role: str
    person_id: int | None
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "live"


_INFO = (
    ApiKey.id,
    ApiKey.prefix,
    ApiKey.role,
    ApiKey.person_id,
    ApiKey.label,
    ApiKey.created_at,
    ApiKey.expires_at,
    ApiKey.revoked_at,
)


def list_keys(*, session: Session) -> list[KeyInfo]:
    """Every key, oldest first (revoked and expired ones too)."""
    return [KeyInfo(*row) for row in session.execute(select(*_INFO).order_by(ApiKey.id))]


def find_key(*, session: Session, ref: str) -> KeyInfo:
    """The one key ``ref`` names: its id (digits), its public prefix or the start of it
    (``gm_xxxxxxx``), or the whole key. NotFoundError when none matches, ConflictError when
    several do."""
    row = find_secret(
        session=session,
        ref=ref,
        columns=_INFO,
        hash_column=ApiKey.key_hash,
        prefix_column=ApiKey.prefix,
        prefix_length=len("gm_") + 7,
        what="API key",
    )
    return KeyInfo(*row)


def find_secret(
    *,
    session: Session,
    ref: str,
    columns: tuple[Any, ...],
    hash_column: Any,
    prefix_column: Any,
    prefix_length: int,
    what: str,
) -> Any:
    """The one row of a table of hashed secrets (API keys, device tokens: ``columns`` start
    with its id) that ``ref`` names: its id (digits), its public prefix or the start of it, or
    the whole secret (longer than a prefix). NotFoundError when none matches, ConflictError
    when several do."""
    ref = ref.strip()
    id_column = columns[0]
    if ref.isdigit() and len(ref) < 19:
        where = id_column == int(ref)
    elif len(ref) > prefix_length:  # longer than a prefix: the whole secret
        where = hash_column == digest(ref)
    else:
        escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where = prefix_column.like(escaped + "%", escape="\\")
    rows = session.execute(select(*columns).where(where).order_by(id_column).limit(6)).all()
    if not rows:
        raise NotFoundError(f"no {what} matches {ref[:16]!r} (give its id or prefix)")
    if len(rows) > 1:
        ids = ", ".join(str(r[0]) for r in rows[:5]) + (", …" if len(rows) > 5 else "")
        raise ConflictError(f"{ref!r} matches several {what}s ({ids}): give the id")
    return rows[0]


def revoke_key(*, session: Session, key_id: int) -> datetime | None:
    """Revoke key ``key_id`` now; returns when, or None when it was revoked already (the
    first revocation's time is kept)."""
    row = session.execute(
        select(ApiKey).where(ApiKey.id == key_id).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no API key {key_id}")
    if row.revoked_at is not None:
        return None
    row.revoked_at = session.execute(select(func.now())).scalar_one()
    session.flush()
    return row.revoked_at
