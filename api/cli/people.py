"""``gridmap people``: grid workers and other handlers, and the grids they look after."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import actor, out, session_on
from data.audit import record
from data.files.people import import_people
from data.lifecycle import PERSON_ROLES
from data.people import create_person, list_people

people_app = typer.Typer(help="grid workers and other handlers")


@people_app.command("add")
def people_add(
    name: Annotated[str, typer.Option(help="the person's name")],
    role: Annotated[str, typer.Option(help=" | ".join(PERSON_ROLES))] = "worker",
    phone: Annotated[str | None, typer.Option()] = None,
    grid: Annotated[list[str] | None, typer.Option(help="a grid code they look after")] = None,
) -> None:
    """Add a person and print their id."""
    with session_on() as session:
        person = create_person(session=session, name=name, role=role, phone=phone, grids=grid or ())
        record(
            session=session,
            actor=actor(),
            action="create",
            entity="person",
            entity_id=str(person),
            detail={"role": role, "grids": grid or []},
        )
    print(person)


@people_app.command("import")
def people_import(
    file: Annotated[Path, typer.Argument(help="CSV: name, phone, role, grids (codes; separated)")],
) -> None:
    """Add every row of a CSV file as a person (all of them or none)."""
    with session_on() as session:
        ids = import_people(session=session, path=file)
        record(
            session=session,
            actor=actor(),
            action="import",
            entity="person",
            detail={"file": str(file), "count": len(ids)},
        )
    out.print(f"imported {len(ids)} people")


@people_app.command("list")
def people_list() -> None:
    """Every person: id, role, name, phone and grids (tab-separated)."""
    with session_on() as session:
        for p in list_people(session=session):
            print(p["id"], p["role"], p["name"], p["phone"] or "", ";".join(p["grids"]), sep="\t")
