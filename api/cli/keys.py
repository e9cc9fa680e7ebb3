"""``gridmap keys``: API keys (only their SHA-256 is stored)."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm import Session

from api.cli.common import CliError, actor, session_on
from data.audit import record
from data.keys import ROLES, create_key

keys_app = typer.Typer(help="API keys")


def new_key(session: Session, *, role: str, label: str | None, person: int | None = None) -> str:
    key = create_key(session=session, role=role, label=label, person_id=person)
    record(
        session=session,
        actor=actor(),
        action="create",
        entity="api_key",
        entity_id=key[:10],
        detail={"role": role, "label": label, "person": person},
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
) -> None:
    """Create an API key and print it (only here, only once)."""
    if role not in ROLES:
        raise CliError(f"--role must be one of {', '.join(ROLES)}")
    with session_on() as session:
        key = new_key(session, role=role, label=label, person=person)
    print(key)
