"""Grid repository: current and historical grids, versions, and building assignment.

Functions take a keyword ``session`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from shapely import wkb
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Row, func, insert, select, text, update
from sqlalchemy.orm import Session

from data.errors import NotFoundError
from data.models import DatasetVersion, Grid, GridVersion, ewkt
from geo.locate import metres_per_degree

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


_FIELDS = tuple(c.key for c in _COLUMNS)


def _row(r: Row[Any]) -> GridRow:
    return GridRow(**{name: r._mapping[name] for name in _FIELDS})


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
    return [(_row(r), r.author, r.reason) for r in rows]


class GridName(NamedTuple):
    code: str
    name: str
    community: str | None


@dataclass(frozen=True)
class GridShape:
    code: str
    name: str
    community: str | None
    geom: BaseGeometry


def current_grids(*, session: Session, at: datetime | None = None) -> list[GridShape]:
    """The grids valid at ``at`` as shapely geometries, ordered by code."""
    rows = session.execute(
        select(Grid.code, Grid.name, Grid.community, func.ST_AsBinary(Grid.geom))
        .where(_valid_at(at))
        .order_by(Grid.code)
    ).all()
    return [GridShape(r[0], r[1], r[2], wkb.loads(bytes(r[3]))) for r in rows]


def grid_state(*, session: Session) -> int:
    """The grids' change counter (bumped by a trigger on every write to ``grids``)."""
    return dataset_version(session=session, name="grids")


def dataset_version(*, session: Session, name: str) -> int:
    version = session.execute(
        select(DatasetVersion.version).where(DatasetVersion.name == name)
    ).scalar()
    return int(version or 0)


def new_version(*, session: Session, author: str, reason: str) -> int:
    version = GridVersion(author=author, reason=reason)
    session.add(version)
    session.flush()
    return version.id


def retire(*, session: Session, codes: Sequence[str] | None, at: datetime | None = None) -> None:
    """Close the current rows of ``codes``, or of every grid when None (history stays)."""
    query = update(Grid).where(Grid.valid_to.is_(None))
    if codes is not None:
        query = query.where(Grid.code.in_(list(codes)))
    session.execute(query.values(valid_to=at if at is not None else func.now()))


def insert_grids(*, session: Session, rows: Sequence[dict[str, Any]], version: int) -> None:
    """Insert new current grids; each row holds the Grid columns and ``geom`` as shapely."""
    session.execute(
        insert(Grid),
        [{**row, "geom": ewkt(as_multi(row["geom"])), "version": version} for row in rows],
    )


def as_multi(geom: BaseGeometry) -> BaseGeometry:
    return MultiPolygon([geom]) if geom.geom_type == "Polygon" else geom


REASSIGN_BUILDINGS = text(
    """
    UPDATE buildings b SET grid_code = (
        SELECT g.code FROM grids g
        WHERE g.valid_to IS NULL AND ST_Covers(g.geom, b.geom)
        ORDER BY g.code COLLATE "C" LIMIT 1)
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


# The rule as geo.locate.GridIndex states it, so history answers equal the index's:
# ST_Covers (PostGIS's own point-in-polygon), "boundary" when the winner does not also
# ST_Contains the point (the same test, not GEOS's boundary), ties to the smallest code in
# code-point order whatever the database's collation; a point no grid covers gets the
# nearest grid within the tolerance, in metres on the tangent plane at the point (the
# grids moved to the point and scaled by metres per degree there, as the index measures;
# not geography, whose great-circle edges and sphere differ by millimetres). The degree
# radius :reach only preselects through the GiST index.
LOCATE_AT = text(
    """
    WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS pt),
    c AS (
        SELECT g.code, g.name, g.community,
               ST_Covers(g.geom, p.pt) AS covers,
               NOT ST_Contains(g.geom, p.pt) AS on_edge,
               ST_Distance(
                   ST_Scale(ST_Translate(g.geom, :dx, :dy), :mx, :my),
                   ST_SetSRID(ST_MakePoint(0, 0), 4326)
               ) AS distance
        FROM grids g, p
        WHERE g.valid_from <= :at AND (g.valid_to IS NULL OR g.valid_to > :at)
          AND ST_DWithin(g.geom, p.pt, :reach)
    )
    SELECT code, name, community, covers, on_edge, distance FROM c
    WHERE covers OR distance <= :tol
    ORDER BY covers DESC, CASE WHEN covers THEN 0 ELSE distance END, code COLLATE "C"
    LIMIT 1
    """
)


def locate_at(
    *, session: Session, lon: float, lat: float, at: datetime, tolerance_m: float
) -> tuple[GridName, str, float] | None:
    """The point→grid rule evaluated by PostGIS on the grids valid at ``at`` (history
    queries are rare, so they skip the in-memory index); the same answers as the index."""
    mx, my = metres_per_degree(lat)
    params = {
        "lon": lon,
        "lat": lat,
        "dx": -lon,
        "dy": -lat,
        "mx": mx,
        "my": my,
        "at": at,
        "tol": tolerance_m,
        "reach": tolerance_m / min(mx, my) * (1 + 1e-6) + 1e-9,
    }
    row = session.execute(LOCATE_AT, params).first()
    if row is None:
        return None
    shape = GridName(row.code, row.name, row.community)
    if row.covers:
        return shape, "boundary" if row.on_edge else "inside", 0.0
    return shape, "nearest", float(row.distance)
