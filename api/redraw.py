"""Redraws as the API and the CLI speak them: change sets from bodies, reports as JSON, and
the validate/commit steps both run (routes and commands share these; they import no route)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from api.schemas.grids import GeometryIn, GridChangeIn, GridProperties
from data import redraw
from data.redraw import Change, Moved, Plan
from geo.errors import InvalidGeometryError

AREA_DIGITS = 2
WHERE_DIGITS = 7


def geometry_of(geometry: GeometryIn) -> BaseGeometry:
    try:
        return shape(geometry.model_dump())
    except (ValueError, TypeError, shapely.errors.ShapelyError) as exc:
        raise InvalidGeometryError(f"unreadable {geometry.type}: {exc}") from None


def properties_of(props: GridProperties | None) -> dict[str, Any]:
    return {} if props is None else props.model_dump(exclude_unset=True)


def change_of(body: GridChangeIn) -> Change:
    return Change(
        code=body.code,
        etag=body.etag,
        geometry=None if body.geometry is None else geometry_of(body.geometry),
        properties=properties_of(body.properties),
        community=body.community,
        retire=body.retire,
    )


def _geojson(geom: BaseGeometry) -> dict[str, Any]:
    """GeoJSON of a problem's place, coordinates rounded to ~1 cm."""
    if geom.is_empty:
        return {"type": "GeometryCollection", "geometries": []}
    rounded = shapely.transform(geom, lambda xy: np.round(xy, WHERE_DIGITS))
    return dict(mapping(rounded))


def _moved(m: Moved) -> dict[str, Any]:
    """A building or incident that changes grid, and where it is (the editor marks it)."""
    return {"id": m.id, "from": m.from_, "to": m.to, "lon": m.lon, "lat": m.lat}


def report(result: Plan, *, valid_from: datetime | None = None) -> dict[str, Any]:
    """The report of docs/design.md: ok, problems, impact, version (plus each change's code)."""
    return {
        "ok": result.ok,
        "problems": [
            {
                "kind": p.kind,
                "codes": list(p.codes),
                "area_m2": round(p.area_m2, AREA_DIGITS),
                "where": _geojson(p.where),
            }
            for p in result.problems
        ],
        "impact": {
            "buildings_moved": [_moved(m) for m in result.buildings_moved],
            "incidents_moved": [_moved(m) for m in result.incidents_moved],
            "grids": [
                {
                    "code": g.code,
                    "households_before": g.households_before,
                    "households_after": g.households_after,
                    "open_incidents_before": g.open_incidents_before,
                    "open_incidents_after": g.open_incidents_after,
                }
                for g in result.loads
            ],
        },
        "codes": result.codes,
        "valid_from": None if valid_from is None else valid_from.isoformat(),
        "version": result.version,
    }


def validate(*, session: Session, changes: list[Change], tolerance_m: float) -> Plan:
    """A dry run: the plan, with nothing written (the session is rolled back)."""
    try:
        return redraw.plan(session=session, changes=changes, tolerance_m=tolerance_m)
    finally:
        session.rollback()


def commit(
    *,
    session: Session,
    changes: list[Change],
    tolerance_m: float,
    actor: str,
    reason: str,
    valid_from: datetime | None,
) -> Plan:
    """Plan under the communities' locks and, when ok, apply and commit; a plan with
    problems is returned with everything rolled back."""
    try:
        result = redraw.plan(session=session, changes=changes, tolerance_m=tolerance_m, lock=True)
        if not result.ok:
            session.rollback()
            return result
        redraw.commit(
            session=session, result=result, author=actor, reason=reason, valid_from=valid_from
        )
        session.commit()
        return result
    except BaseException:
        session.rollback()
        raise
