"""Grid repository: current and historical grids, versions, and building assignment.

Functions take a keyword ``session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shapely import wkb
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Row, func, select, text, update
from sqlalchemy.orm import Session

from data.errors import NotFoundError
from data.models import Grid, GridVersion

GEOJSON_DIGITS = 7


@dataclass(frozen=True)
class GridRow:
    id: int
    code: str
    name: str
    community: str | None
    households: int
    worker_name: str | None
    worker_phone: str | None
    version: int
    valid_from: datetime
    valid_to: datetime | None
    geometry: str  # GeoJSON text, written by PostGIS

    @property
    def etag(self) -> str:
        """Strong ETag: every change inserts a new row, so the row id identifies the state."""
        return f'"g{self.id}"'


_COLUMNS = (
    Grid.id,
    Grid.code,
    Grid.name,
    Grid.community,
    Grid.households,
    Grid.worker_name,
    Grid.worker_phone,
    Grid.version,
    Grid.valid_from,
    Grid.valid_to,
    func.ST_AsGeoJSON(Grid.geom, GEOJSON_DIGITS).label("geometry"),
)


def _valid_at(at: datetime | None) -> Any:
    if at is None:
        return Grid.valid_to.is_(None)
    return (Grid.valid_from <= at) & ((Grid.valid_to.is_(None)) | (Grid.valid_to > at))


def _row(r: Row[Any]) -> GridRow:
    return GridRow(**r._mapping)


def list_grids(
    *,
    session: Session,
    community: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = 1000,
    at: datetime | None = None,
) -> list[GridRow]:
    """Grids valid at ``at`` (default: now), ordered by code."""
    query = select(*_COLUMNS).where(_valid_at(at))
    if community is not None:
        query = query.where(Grid.community == community)
    if bbox is not None:
        query = query.where(Grid.geom.intersects(func.ST_MakeEnvelope(*bbox, 4326)))
    return [_row(r) for r in session.execute(query.order_by(Grid.code).limit(limit))]


def get_grid(*, session: Session, code: str, at: datetime | None = None) -> GridRow:
    row = session.execute(select(*_COLUMNS).where(Grid.code == code, _valid_at(at))).first()
    if row is None:
        raise NotFoundError(f"no grid {code!r}")
    return _row(row)


def grid_history(*, session: Session, code: str) -> list[tuple[GridRow, str, str]]:
    """Every version of one grid, oldest first, with the author and reason of its change."""
    query = (
        select(*_COLUMNS, GridVersion.author, GridVersion.reason)
        .join(GridVersion, GridVersion.id == Grid.version)
        .where(Grid.code == code)
        .order_by(Grid.valid_from, Grid.id)
    )
    rows = session.execute(query).all()
    if not rows:
        raise NotFoundError(f"no grid {code!r}")
    return [(_row(r[:-2]), r.author, r.reason) for r in rows]


def current_geometries(
    *, session: Session, at: datetime | None = None
) -> tuple[list[str], list[BaseGeometry]]:
    """Codes and shapely geometries of the grids valid at ``at``, ordered by code."""
    rows = session.execute(
        select(Grid.code, func.ST_AsBinary(Grid.geom)).where(_valid_at(at)).order_by(Grid.code)
    ).all()
    return [r[0] for r in rows], [wkb.loads(bytes(r[1])) for r in rows]


def grid_state(*, session: Session) -> tuple[int, int]:
    """(number of grid rows, newest version id): changes whenever any grid changes."""
    row = session.execute(select(func.count(Grid.id), func.coalesce(func.max(Grid.id), 0))).one()
    return int(row[0]), int(row[1])


def new_version(*, session: Session, author: str, reason: str) -> int:
    version = GridVersion(author=author, reason=reason)
    session.add(version)
    session.flush()
    return version.id


def retire(*, session: Session, codes: Sequence[str], at: datetime | None = None) -> None:
    """Close the current rows of ``codes`` (their history stays)."""
    session.execute(
        update(Grid)
        .where(Grid.code.in_(list(codes)), Grid.valid_to.is_(None))
        .values(valid_to=at if at is not None else func.now())
    )


def insert(*, session: Session, rows: Sequence[dict[str, Any]], version: int) -> None:
    """Insert new current grids; each row holds the Grid columns and ``geom`` as shapely."""
    session.execute(
        Grid.__table__.insert(),
        [
            {**row, "geom": f"SRID=4326;{as_multi(row['geom']).wkt}", "version": version}
            for row in rows
        ],
    )


def as_multi(geom: BaseGeometry) -> BaseGeometry:
    return MultiPolygon([geom]) if geom.geom_type == "Polygon" else geom


REASSIGN_BUILDINGS = text(
    """
    UPDATE buildings b SET grid_code = (
        SELECT g.code FROM grids g
        WHERE g.valid_to IS NULL AND ST_Covers(g.geom, b.geom)
        ORDER BY g.code LIMIT 1)
    """
)

REFRESH_HOUSEHOLDS = text(
    """
    UPDATE grids g SET households = coalesce(
        (SELECT sum(b.households) FROM buildings b WHERE b.grid_code = g.code), 0)
    WHERE g.valid_to IS NULL
    """
)


def reassign_buildings(*, session: Session, households: bool = True) -> None:
    """Point every building at the grid covering it (smallest code on a shared edge) and,
    unless the grids carry their own figures, recount households per grid."""
    session.execute(REASSIGN_BUILDINGS)
    if households:
        session.execute(REFRESH_HOUSEHOLDS)
