"""What the boundary editor (/admin/grids/edit) reads: the streets and communities to pick
from, and one community's current grids with their ETags, households and open incidents, at
full coordinate precision (shared vertices must stay bit for bit equal through the browser).

Functions take a keyword ``session`` and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from shapely import wkb
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from data.grids import GridAttributes, current_sql
from data.lifecycle import OPEN, sql_list


@dataclass(frozen=True)
class Community:
    code: str
    name: str
    street: str | None  # the street's code
    street_name: str | None
    grids: int  # current grids


@dataclass(frozen=True)
class EditorGrid(GridAttributes):
    open_incidents: int
    buildings: int
    geom: BaseGeometry


_ATTRIBUTES = [f.name for f in fields(GridAttributes)]

_COMMUNITIES = text(
    f"""
    SELECT c.code, c.name, s.code AS street, s.name AS street_name,
           (SELECT count(*) FROM grids g WHERE g.community = c.code AND {current_sql("g")})
               AS grids
    FROM regions c LEFT JOIN regions s ON s.code = c.parent AND s.level = 'street'
    WHERE c.level = 'community'
    ORDER BY s.code NULLS LAST, c.code
    """
)

_GRIDS = text(
    f"""
    SELECT g.id, g.code, g.name, g.community, g.households, g.worker_name, g.worker_phone,
           g.valid_from, ST_AsBinary(g.geom) AS wkb,
           (SELECT count(*) FROM incidents i
            WHERE i.grid_code = g.code AND i.status IN ({sql_list(OPEN)})) AS open_incidents,
           (SELECT count(*) FROM buildings b WHERE b.grid_code = g.code) AS buildings
    FROM grids g
    WHERE {current_sql("g")} AND g.community = :community
    ORDER BY g.code
    """
)


def communities(*, session: Session) -> list[Community]:
    """Every community (with its street), ordered by street and code."""
    return [
        Community(r.code, r.name, r.street, r.street_name, int(r.grids))
        for r in session.execute(_COMMUNITIES)
    ]


def community_grids(*, session: Session, community: str) -> list[EditorGrid]:
    """The community's current grids, ordered by code (empty for an unknown community)."""
    return [
        EditorGrid(
            **{name: r._mapping[name] for name in _ATTRIBUTES},
            open_incidents=int(r.open_incidents),
            buildings=int(r.buildings),
            geom=wkb.loads(bytes(r.wkb)),
        )
        for r in session.execute(_GRIDS, {"community": community})
    ]
