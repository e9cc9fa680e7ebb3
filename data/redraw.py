"""Grid redraws: a set of grid changes checked, priced and applied atomically.

``plan`` checks a change set against the database (ETags, topology of each community it
touches, the impact on buildings and open incidents) and ``commit`` applies a plan in the
caller's transaction: every changed grid's row is closed at ``valid_from`` and a new one
opened, one ``grid_versions`` row says who, why and when, buildings and open incidents in
the changed region are reassigned (at once, or by ``apply_due`` when ``valid_from`` comes),
and an audit row is written.

Concurrency: a commit takes a transaction-scoped advisory lock per community it touches
before it reads anything, so two redraws of one community run one after the other and the
second sees the first's rows (its ETags are then stale: 412). Before it closes grid rows it
takes their codes' filing locks exclusively; incidents being filed hold them shared (the
filing function of migration 0004), so the incident reassignment that follows sees every
incident filed with a grid it retires, and incidents filed after see the grid retired.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from shapely import wkb
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from data import audit
from data.errors import (
    ConflictError,
    NotFoundError,
    PreconditionFailedError,
    PreconditionRequiredError,
)
from data.grids import GridAttributes, as_multi, current_sql
from data.lifecycle import OPEN, sql_list
from data.models import SRID, ewkt
from geo.codes import next_codes
from geo.errors import InvalidGeometryError
from geo.locate import GridIndex, Match
from geo.topology import DEFAULT_TOLERANCE_M2, Metric, Problem, check_partition

EDITABLE = ("name", "worker_name", "worker_phone")  # properties a change may set
DEGREE_M = 50_000.0  # metres per degree, a lower bound below 63° latitude (for a search radius)


class InvalidChangeError(InvalidGeometryError):
    """A change set that cannot be read: a code twice, a new grid without a community."""


@dataclass(frozen=True)
class Change:
    """One grid change: ``code`` None = a new grid (needs ``community`` and ``geometry``)."""

    code: str | None
    etag: str | None = None
    geometry: BaseGeometry | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    community: str | None = None
    retire: bool = False


@dataclass(frozen=True)
class CurrentGrid(GridAttributes):
    geom: BaseGeometry


@dataclass(frozen=True)
class Moved:
    id: int
    from_: str | None
    to: str | None
    lon: float
    lat: float


@dataclass(frozen=True)
class Load:
    code: str
    households_before: int
    households_after: int
    open_incidents_before: int
    open_incidents_after: int


@dataclass(frozen=True)
class NewRow:
    """A grid row a commit inserts (``replaces``: the row it closes, None for a new grid)."""

    code: str
    name: str
    community: str | None
    worker_name: str | None
    worker_phone: str | None
    geom: BaseGeometry
    replaces: int | None


@dataclass
class Plan:
    problems: list[Problem]
    rows: list[NewRow]  # rows to insert
    closed: list[CurrentGrid]  # rows to close (changed and retired grids)
    region: BaseGeometry  # where grids change (old and new shapes)
    buildings_moved: list[Moved]
    incidents_moved: list[Moved]
    loads: list[Load]
    codes: list[str | None]  # per change: its grid's code (new grids: the code assigned)
    at: datetime  # the moment the plan was checked at (and a commit takes effect by default)
    version: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


# --- reading --------------------------------------------------------------------------------

_CURRENT = f"""
    SELECT g.id, g.code, g.name, g.community, g.households, g.worker_name, g.worker_phone,
           g.valid_from, ST_AsBinary(g.geom) AS wkb
    FROM grids g WHERE {current_sql("g", ":at")}
"""


def _current(
    session: Session, where: str, params: dict[str, Any], at: datetime
) -> list[CurrentGrid]:
    rows = session.execute(text(f"{_CURRENT} AND {where} ORDER BY g.code"), {**params, "at": at})
    return [
        CurrentGrid(
            r.id,
            r.code,
            r.name,
            r.community,
            r.households,
            r.worker_name,
            r.worker_phone,
            r.valid_from,
            wkb.loads(bytes(r.wkb)),
        )
        for r in rows
    ]


def _lock_communities(session: Session, communities: set[str | None]) -> None:
    for community in sorted(c or "" for c in communities):
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"gridmap.community:{community}"},
        )


def _check_changes(changes: Sequence[Change]) -> None:
    if not changes:
        raise InvalidChangeError("a redraw needs at least one change")
    codes = Counter(c.code for c in changes if c.code is not None)
    twice = sorted(code for code, n in codes.items() if n > 1)
    if twice:
        raise InvalidChangeError(f"grid {twice[0]} is changed twice in one redraw")
    for change in changes:
        if change.code is None and (change.community is None or change.geometry is None):
            raise InvalidChangeError("a new grid needs a community and a geometry")
        if change.code is None and change.retire:
            raise InvalidChangeError("only an existing grid can be retired")
        unknown = set(change.properties) - set(EDITABLE) - {"community"}
        if unknown:
            raise InvalidChangeError(
                f"unknown properties {sorted(unknown)}; editable: {', '.join(EDITABLE)}"
            )


def _preconditions(
    session: Session, changes: Sequence[Change], current: dict[str, CurrentGrid], at: datetime
) -> None:
    """412 stale, 428 missing, 404 unknown, 409 a change already scheduled."""
    for change in changes:
        if change.code is None:
            continue
        if not change.etag:
            raise PreconditionRequiredError(f"grid {change.code}: the change needs its etag")
        row = current.get(change.code)
        if row is None:
            known = session.execute(
                text("SELECT 1 FROM grids WHERE code = :c LIMIT 1"), {"c": change.code}
            ).first()
            if known is None:
                raise NotFoundError(f"no grid {change.code!r}")
            raise PreconditionFailedError(f"grid {change.code} was retired since {change.etag}")
        if row.etag != change.etag and f'"{change.etag}"' != row.etag:
            raise PreconditionFailedError(
                f"grid {change.code} changed: etag {change.etag} is stale, now {row.etag}"
            )
    pending = session.execute(
        text("SELECT code, valid_from FROM grids WHERE code = ANY(:codes) AND valid_from > :at"),
        {"codes": sorted(current), "at": at},
    ).first()
    if pending is not None:
        raise ConflictError(
            f"grid {pending.code} already has a change scheduled for {pending.valid_from}"
        )


def _territories(session: Session, communities: set[str]) -> dict[str, BaseGeometry]:
    rows = session.execute(
        text(
            "SELECT code, ST_AsBinary(geom) AS wkb FROM regions "
            "WHERE level = 'community' AND code = ANY(:c)"
        ),
        {"c": sorted(communities)},
    )
    return {r.code: wkb.loads(bytes(r.wkb)) for r in rows}


def _used_codes(session: Session, communities: set[str]) -> dict[str, list[str]]:
    used: dict[str, list[str]] = defaultdict(list)
    for community in communities:
        used[community] = list(
            session.execute(
                text("SELECT DISTINCT code FROM grids WHERE starts_with(code, :c)"),
                {"c": community},
            ).scalars()
        )
    return used


# --- planning -------------------------------------------------------------------------------


def plan(
    *,
    session: Session,
    changes: Sequence[Change],
    tolerance_m: float,
    tolerance_m2: float = DEFAULT_TOLERANCE_M2,
    lock: bool = False,
) -> Plan:
    """Check ``changes`` and work out their impact; with ``lock`` (a commit) the communities
    touched are locked for the rest of the transaction first. Raises for 404/409/412/428;
    topology problems are in the plan (``ok`` False)."""
    _check_changes(changes)
    codes = [c.code for c in changes if c.code is not None]
    if lock:
        seen = _current(session, "g.code = ANY(:codes)", {"codes": codes}, _clock(session))
        _lock_communities(
            session,
            {g.community for g in seen}
            | {c.community for c in changes}
            | {c.properties.get("community") for c in changes},
        )
    # The moment of the check (and of the change): read after the locks, so a redraw that
    # committed while this one waited is in the past and its rows are current.
    at = _clock(session)
    current = {g.code: g for g in _current(session, "g.code = ANY(:codes)", {"codes": codes}, at)}
    _preconditions(session, changes, current, at)

    communities = {g.community for g in current.values()} | {
        c.community for c in changes if c.code is None
    }
    communities |= {c.properties["community"] for c in changes if "community" in c.properties}
    scope = {
        g.code: g
        for g in _current(
            session, "g.community = ANY(:c)", {"c": sorted(x for x in communities if x)}, at
        )
    }
    scope.update(current)  # grids without a community

    rows, codes_out = _new_rows(session, changes, current)
    closed = [current[c.code] for c in changes if c.code is not None]
    after = {code: g.geom for code, g in scope.items()}
    community_of = {code: g.community for code, g in scope.items()}
    for c in changes:
        if c.code is not None:
            after.pop(c.code, None)
    for row in rows:
        after[row.code] = row.geom
        community_of[row.code] = row.community
    changed_codes = {r.code for r in rows}
    region = shapely.union_all(
        np.array([g.geom for g in closed] + [_area_of(r.geom) for r in rows], dtype=object)
    )
    touched = {r.community for r in rows} | {g.community for g in closed}
    problems = _problems(
        session,
        scope,
        after,
        community_of,
        changed_codes,
        touched,
        region,
        tolerance_m2=tolerance_m2,
    )
    result = Plan(problems, rows, closed, region, [], [], [], codes_out, at)
    if result.ok:
        _impact(session, result, after, scope, tolerance_m=tolerance_m)
    return result


def _area_of(geom: BaseGeometry) -> BaseGeometry:
    """What a possibly invalid new geometry contributes to the changed region."""
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        return Polygon()
    return geom if geom.is_valid else shapely.make_valid(geom)


def _new_rows(
    session: Session, changes: Sequence[Change], current: dict[str, CurrentGrid]
) -> tuple[list[NewRow], list[str | None]]:
    rows: list[NewRow] = []
    codes: list[str | None] = []
    fresh: dict[str, list[int]] = defaultdict(list)
    for k, c in enumerate(changes):
        props = c.properties
        if c.code is None:
            assert c.community is not None and c.geometry is not None
            fresh[c.community].append(k)
            codes.append(None)
            continue
        codes.append(c.code)
        if c.retire:
            continue
        old = current[c.code]
        rows.append(
            NewRow(
                code=old.code,
                name=props.get("name", old.name),
                community=props.get("community", old.community),
                worker_name=props.get("worker_name", old.worker_name),
                worker_phone=props.get("worker_phone", old.worker_phone),
                geom=c.geometry if c.geometry is not None else old.geom,
                replaces=old.id,
            )
        )
    used = _used_codes(session, set(fresh))
    for community, indexes in fresh.items():
        geoms = [_area_of(changes[k].geometry or Polygon()) for k in indexes]
        for k, code in zip(indexes, next_codes(community, used[community], geoms), strict=True):
            c = changes[k]
            codes[k] = code
            rows.append(
                NewRow(
                    code=code,
                    name=c.properties.get("name", code),
                    community=community,
                    worker_name=c.properties.get("worker_name"),
                    worker_phone=c.properties.get("worker_phone"),
                    geom=c.geometry or Polygon(),
                    replaces=None,
                )
            )
    return rows, codes


def _problems(
    session: Session,
    scope: dict[str, CurrentGrid],
    after: dict[str, BaseGeometry],
    community_of: dict[str, str | None],
    changed_codes: set[str],
    touched: set[str | None],
    region: BaseGeometry,
    *,
    tolerance_m2: float,
) -> list[Problem]:
    """The topology check, community by community, limited to the changed region."""
    by_community: dict[str | None, list[str]] = defaultdict(list)
    for code in sorted(after):
        by_community[community_of[code]].append(code)
    territories = _territories(session, {c for c in touched if c})
    metric = Metric.around([region]) if not region.is_empty else None
    problems: list[Problem] = []
    for community in sorted(touched, key=lambda c: c or ""):
        codes = by_community.get(community, [])
        territory = territories.get(community or "")
        if territory is None:  # no community polygon: what its grids covered before
            before = [g.geom for g in scope.values() if g.community == community]
            territory = shapely.union_all(np.array(before, dtype=object)) if before else None
        problems += check_partition(
            [after[c] for c in codes],
            codes,
            territory=territory,
            region=region,
            changed=[c in changed_codes for c in codes],
            tolerance_m2=tolerance_m2,
            metric=metric,
        )
    return problems


_POINTS = """
    SELECT {cols}, ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat, t.grid_code
    FROM {table} t WHERE {where} ST_Intersects(t.geom, ST_GeomFromWKB(:region, {srid}))
    ORDER BY t.id
"""


def _impact(
    session: Session,
    result: Plan,
    after: dict[str, BaseGeometry],
    scope: dict[str, CurrentGrid],
    *,
    tolerance_m: float,
) -> None:
    """Buildings and open incidents whose grid changes, and the load per grid."""
    region = result.region
    if region.is_empty:
        result.loads = _loads(session, result, {})
        return
    # Grids of other communities touching the region decide ties on their shared edges.
    outside = _current(
        session,
        "NOT (g.code = ANY(:codes)) AND ST_Intersects(g.geom, ST_GeomFromWKB(:region, 4326))",
        {"codes": sorted(set(scope) | set(after)), "region": region.wkb},
        result.at,
    )
    grids = {**{g.code: g.geom for g in outside}, **after}
    # Only grids near the region can own a point in it (covering it, or within tolerance).
    near = shapely.dwithin(
        np.array(list(grids.values()), dtype=object), region, tolerance_m / DEGREE_M
    )
    codes = sorted(code for code, hit in zip(grids, near.tolist(), strict=True) if hit)
    index = GridIndex([grids[c] for c in codes], codes, tolerance_m=tolerance_m) if codes else None
    params = {"region": region.wkb}
    buildings = session.execute(
        text(_POINTS.format(cols="t.id, t.households", table="buildings", where="", srid=SRID)),
        params,
    ).all()
    incidents = session.execute(
        text(
            _POINTS.format(
                cols="t.id, 0 AS households",
                table="incidents",
                where=f"t.status IN ({sql_list(OPEN)}) AND",
                srid=SRID,
            )
        ),
        params,
    ).all()
    result.buildings_moved, hh = _moves(index, codes, buildings, nearest=False)
    result.incidents_moved, _ = _moves(index, codes, incidents, nearest=True)
    result.loads = _loads(session, result, hh)


def _moves(
    index: GridIndex | None, codes: list[str], rows: Sequence[Any], *, nearest: bool
) -> tuple[list[Moved], dict[str, int]]:
    """Points whose grid changes under the new grids, and the households they carry
    (change per grid code)."""
    if not rows:
        return [], {}
    lon = np.array([r.lon for r in rows], dtype=np.float64)
    lat = np.array([r.lat for r in rows], dtype=np.float64)
    table = np.array([*codes, None], dtype=object)
    if index is None:  # no grid left anywhere near
        new = np.full(len(rows), None, dtype=object)
    else:
        found = index.locate(lon, lat)
        new = table[found.code_index]
        if not nearest:  # buildings: ST_Covers only, as gridmap's REASSIGN_BUILDINGS
            new[found.match == Match.NEAREST] = None
    moved: list[Moved] = []
    delta: dict[str, int] = defaultdict(int)
    for r, to in zip(rows, new.tolist(), strict=True):
        if to is None and nearest:
            continue  # an incident out of every grid keeps the grid it was filed with
        if to != r.grid_code:
            moved.append(Moved(int(r.id), r.grid_code, to, float(r.lon), float(r.lat)))
            if r.grid_code is not None:
                delta[r.grid_code] -= int(r.households)
            if to is not None:
                delta[to] += int(r.households)
    return moved, dict(delta)


def _loads(session: Session, result: Plan, households: dict[str, int]) -> list[Load]:
    before = {g.code: g.households for g in result.closed}
    moved = result.buildings_moved + result.incidents_moved
    codes: set[str] = (
        set(before)
        | {r.code for r in result.rows}
        | {c for m in moved for c in (m.from_, m.to) if c is not None}
    )
    others = set(codes) - set(before)
    if others:
        before.update(
            session.execute(
                text(
                    f"SELECT code, households FROM grids g WHERE {current_sql('g', ':at')} "
                    "AND code = ANY(:c)"
                ),
                {"c": sorted(others), "at": result.at},
            ).all()
        )
    open_before: dict[str, int] = dict(
        session.execute(
            text(
                f"SELECT grid_code, count(*) FROM incidents WHERE grid_code = ANY(:c) "
                f"AND status IN ({sql_list(OPEN)}) GROUP BY grid_code"
            ),
            {"c": sorted(codes)},
        ).all()
    )
    incident_delta: dict[str, int] = defaultdict(int)
    for m in result.incidents_moved:
        if m.from_ is not None:
            incident_delta[m.from_] -= 1
        if m.to is not None:
            incident_delta[m.to] += 1
    alive = {r.code for r in result.rows} | (set(codes) - {g.code for g in result.closed})
    loads = []
    for code in sorted(codes):
        hh_before = int(before.get(code, 0))
        inc_before = int(open_before.get(code, 0))
        loads.append(
            Load(
                code=code,
                households_before=hh_before,
                households_after=max(hh_before + households.get(code, 0), 0)
                if code in alive
                else 0,
                open_incidents_before=inc_before,
                open_incidents_after=inc_before + incident_delta[code] if code in alive else 0,
            )
        )
    return loads


# --- committing -----------------------------------------------------------------------------

_REASSIGN = f"""
    UPDATE {{table}} t SET grid_code = coalesce((
        SELECT g.code FROM grids g
        WHERE {current_sql("g", ":at")} AND ST_Covers(g.geom, t.geom)
        ORDER BY g.code COLLATE "C" LIMIT 1), {{otherwise}})
    WHERE {{where}} ST_Intersects(t.geom, ST_GeomFromWKB(:region, {SRID}))
"""
REASSIGN_BUILDINGS = text(_REASSIGN.format(table="buildings", otherwise="NULL", where=""))
# An open incident no grid covers keeps its grid unless that grid is gone: then the nearest.
REASSIGN_INCIDENTS = text(
    _REASSIGN.format(
        table="incidents",
        otherwise=f"""CASE WHEN EXISTS (SELECT 1 FROM grids k WHERE k.code = t.grid_code
                                         AND {current_sql("k", ":at")})
                      THEN t.grid_code
                      ELSE (SELECT g.code FROM grids g WHERE {current_sql("g", ":at")}
                            ORDER BY g.geom <-> t.geom, g.code COLLATE "C" LIMIT 1) END""",
        where=f"t.status IN ({sql_list(OPEN)}) AND",
    )
)


def commit(
    *,
    session: Session,
    result: Plan,
    author: str,
    reason: str,
    valid_from: datetime | None,
) -> int:
    """Apply an ok plan (made with ``lock=True`` in this transaction); returns the version."""
    if not result.ok:
        raise ValueError("a plan with problems cannot be committed")
    version = session.execute(
        text(
            "INSERT INTO grid_versions (author, reason, valid_from, region) "
            "VALUES (:author, :reason, coalesce(:vf, :at), ST_GeomFromWKB(:region, 4326)) "
            "RETURNING id, valid_from, valid_from <= :at AS due"
        ),
        {
            "author": author,
            "reason": reason,
            "vf": valid_from,
            "at": result.at,
            "region": result.region.wkb,
        },
    ).one()
    closed_ids = sorted(g.id for g in result.closed)
    _wait_for_filing(session, [g.code for g in result.closed])
    if closed_ids:
        session.execute(
            text("UPDATE grids SET valid_to = :vf WHERE id = ANY(:ids)"),
            {"vf": version.valid_from, "ids": closed_ids},
        )
    households = {load.code: load.households_after for load in result.loads}
    if result.rows:
        session.execute(
            text(
                "INSERT INTO grids (code, name, community, geom, households, worker_name, "
                "worker_phone, version, valid_from) VALUES (:code, :name, :community, "
                "ST_GeomFromEWKT(:geom), :households, :worker_name, :worker_phone, :version, :vf)"
            ),
            [
                {
                    "code": r.code,
                    "name": r.name,
                    "community": r.community,
                    "geom": ewkt(as_multi(r.geom)),
                    "households": households.get(r.code, 0),
                    "worker_name": r.worker_name,
                    "worker_phone": r.worker_phone,
                    "version": version.id,
                    "vf": version.valid_from,
                }
                for r in result.rows
            ],
        )
    if version.due:
        _reassign(session, version.id, result.at)
    audit.record(
        session=session,
        actor=author,
        action="grids.redraw",
        entity="grid_version",
        entity_id=str(version.id),
        detail={
            "reason": reason,
            "valid_from": version.valid_from.isoformat(),
            "changed": [r.code for r in result.rows if r.replaces is not None],
            "created": [r.code for r in result.rows if r.replaces is None],
            "retired": sorted({g.code for g in result.closed} - {r.code for r in result.rows}),
            "buildings_moved": len(result.buildings_moved),
            "incidents_moved": len(result.incidents_moved),
        },
    )
    result.version = version.id
    return int(version.id)


def _wait_for_filing(session: Session, codes: list[str]) -> None:
    """Take the grids' filing locks exclusively (migration 0004): incidents being filed with
    them commit first, and later ones wait for this transaction and then see it."""
    session.execute(
        text(
            "SELECT pg_advisory_xact_lock(gridmap_grid_lock_key(c)) "
            "FROM unnest(CAST(:codes AS text[])) AS c ORDER BY c"
        ),
        {"codes": sorted({*codes, ""})},  # '': incidents filed with no grid
    ).all()


def _clock(session: Session) -> datetime:
    moment: datetime = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    return moment


def _reassign(session: Session, version: int, at: datetime) -> None:
    """Buildings and open incidents in the version's region onto the grids valid at ``at``."""
    region = session.execute(
        text("SELECT ST_AsBinary(region) FROM grid_versions WHERE id = :v"), {"v": version}
    ).scalar_one()
    if region is not None:
        params = {"region": bytes(region), "at": at}
        session.execute(REASSIGN_BUILDINGS, params)
        session.execute(REASSIGN_INCIDENTS, params)
    session.execute(
        text("UPDATE grid_versions SET applied_at = now() WHERE id = :v"), {"v": version}
    )


def apply_due(*, session: Session) -> list[int]:
    """Reassign buildings and open incidents for future redraws whose time has come (run by
    every worker's index poller when one falls due; the first one to lock a version does it).
    The caller commits."""
    due = session.execute(
        text(
            "SELECT id, valid_from FROM grid_versions WHERE applied_at IS NULL "
            "AND valid_from <= clock_timestamp() ORDER BY valid_from, id FOR UPDATE SKIP LOCKED"
        )
    ).all()
    for version in due:
        closed = session.execute(
            text(
                "SELECT g.code FROM grids g JOIN grid_versions v ON v.id = :v "
                "WHERE g.valid_to = v.valid_from AND ST_Intersects(g.geom, v.region)"
            ),
            {"v": version.id},
        ).scalars()
        _wait_for_filing(session, list(closed))
        _reassign(session, version.id, _clock(session))
    return [v.id for v in due]
