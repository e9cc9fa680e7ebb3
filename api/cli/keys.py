"""``gridmap keys``: API keys (only their SHA-256 is stored): create (optionally expiring),
list (never showing a key), revoke (audited)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.orm import Session

from api.cli.common import CliError, actor, err, session_on
from api.settings import Settings
from data.audit import record
from data.keys import ROLES, create_key, find_key, list_keys, revoke_key

keys_app = typer.Typer(help="API keys")

_SPAN = re.compile(r"^\s*(\d{1,6})\s*([dhw])\s*$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
_COLUMNS = ("id", "prefix", "role", "person", "label", "created", "expires", "revoked", "state")


def expiry(value: str, *, settings: Settings, now: datetime) -> datetime:
    """``--expires``: a span from now (``90d``, ``12h``, ``2w``) or a date or time (``2027-01-01``:
    the start of that day; without a zone, in ``GRIDMAP_TIMEZONE``); it must lie in the
    future."""
    span = _SPAN.match(value)
    try:
        if span:
            when = now + timedelta(**{_UNITS[span[2]]: int(span[1])})
        else:
            parsed = datetime.fromisoformat(value.strip())
            when = settings.aware(parsed).astimezone(UTC)
    except (ValueError, OverflowError):
        raise CliError(
            f"--expires must be a span like 90d, 12h or 2w, or a date like "
            f"{date.today().year + 1}-01-01, not {value[:40]!r}"
        ) from None
    if when <= now:
        raise CliError(f"--expires {value} lies in the past")
    return when


def new_key(
    session: Session,
    *,
    role: str,
    label: str | None,
    person: int | None = None,
    expires_at: datetime | None = None,
) -> str:
    key = create_key(
        session=session, role=role, label=label, person_id=person, expires_at=expires_at
    )
    record(
        session=session,
        actor=actor(),
        action="create",
        entity="api_key",
        entity_id=key[:10],
        detail={
            "role": role,
            "label": label,
            "person": person,
            "expires_at": None if expires_at is None else expires_at.isoformat(),
        },
    )
    return key


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="viewer | reporter | admin")],
    label: Annotated[str | None, typer.Option()] = None,
    person: Annotated[
        int | None,
        typer.Option(help="the person (id) the key belongs to: events name them"),
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(
            help="refuse the key from then on: a span (90d, 12h, 2w) or a date/time "
            "(2027-01-01 = the start of that day, in GRIDMAP_TIMEZONE unless it names a zone)"
        ),
    ] = None,
) -> None:
    """Create an API key and print it (only here, only once)."""
    if role not in ROLES:
        raise CliError(f"--role must be one of {', '.join(ROLES)}")
    when = None if expires is None else expiry(expires, settings=Settings(), now=_now())
    with session_on() as session:
        key = new_key(session, role=role, label=label, person=person, expires_at=when)
    print(key)


def _now() -> datetime:
    return datetime.now(UTC)


def _shown(when: datetime | None, zone: ZoneInfo) -> str:
    return "-" if when is None else when.astimezone(zone).isoformat(timespec="minutes")


@keys_app.command("list")
def keys_list() -> None:
    """List every key as a table (never the key itself).

    Tab-separated with a header: id, prefix, role, person, label, created, expires, revoked,
    state (live | expired | revoked). Last use is not tracked: a read would then write.
    """
    zone = ZoneInfo(Settings().timezone)
    now = _now()
    with session_on() as session:
        keys = list_keys(session=session)
    print(*_COLUMNS, sep="\t")
    for k in keys:
        print(
            k.id,
            k.prefix,
            k.role,
            "-" if k.person_id is None else k.person_id,
            (k.label or "-").replace("\t", " ").replace("\n", " "),
            _shown(k.created_at, zone),
            _shown(k.expires_at, zone),
            _shown(k.revoked_at, zone),
            k.state(now),
            sep="\t",
        )


@keys_app.command("revoke")
def keys_revoke(
    ref: Annotated[str, typer.Argument(help="the key's id, its prefix (gm_xxxxxxx) or the key")],
) -> None:
    """Revoke a key by id or prefix (running servers refuse it within 30 s)."""
    if not ref.strip():
        raise CliError("give the key's id or prefix (see gridmap keys list)")
    with session_on() as session:
        key = find_key(session=session, ref=ref)
        when = revoke_key(session=session, key_id=key.id)
        if when is not None:
            record(
                session=session,
                actor=actor(),
                action="revoke",
                entity="api_key",
                entity_id=key.prefix,
                detail={"id": key.id, "role": key.role, "person": key.person_id},
            )
    if when is None:
        err.print(f"key {key.id} ({key.prefix}) was revoked already", highlight=False)
    else:
        err.print(f"revoked key {key.id} ({key.prefix}, {key.role})", highlight=False)
