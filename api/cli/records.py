"""``gridmap remove``: take single records out that a wrong import left behind (the
operator's database access is the admin role here); every removal is audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from api.cli.common import actor, err, forget_photo_files, session_on
from data.audit import record

remove_app = typer.Typer(help="Remove single records (audited): grids retire, others are deleted")


def _remove(entity: str, key: str, run: Callable[[Session], dict[str, Any]]) -> None:
    with session_on() as session:
        gone = run(session)
        record(
            session=session,
            actor=actor(),
            action="retire" if entity == "grid" else "delete",
            entity=entity,
            entity_id=key,
            detail=gone,
        )
    err.print(f"{'retired' if entity == 'grid' else 'deleted'} {entity} {key}", highlight=False)


@remove_app.command("grid")
def remove_grid(code: Annotated[str, typer.Argument(help="grid code")]) -> None:
    """Retire one grid (its history stays); buildings are reassigned."""
    from data.removals import retire_grid

    _remove("grid", code, lambda s: retire_grid(session=s, code=code))


@remove_app.command("building")
def remove_building(building_id: Annotated[int, typer.Argument(help="building id")]) -> None:
    """Delete one building; its grid's households are recounted."""
    from data.removals import delete_building

    _remove(
        "building", str(building_id), lambda s: delete_building(session=s, building_id=building_id)
    )


@remove_app.command("station")
def remove_station(station_id: Annotated[int, typer.Argument(help="station id")]) -> None:
    """Delete one service station."""
    from data.removals import delete_station

    _remove("station", str(station_id), lambda s: delete_station(session=s, station_id=station_id))


@remove_app.command("incident")
def remove_incident(incident_id: Annotated[int, typer.Argument(help="incident id")]) -> None:
    """Delete one incident, its lifecycle events and its photos (rows, then files)."""
    from api.photo_store import photo_store
    from api.settings import Settings
    from data.removals import delete_incident
    from data.reports import photo_keys

    store = photo_store(Settings())  # a settings error stops here, before anything is removed
    keys: list[str] = []

    def run(session: Session) -> dict[str, Any]:
        keys.extend(photo_keys(session=session, incident_ids=[incident_id]))
        return {**delete_incident(session=session, incident_id=incident_id), "files": len(keys)}

    _remove("incident", str(incident_id), run)
    forget_photo_files(store, keys)
