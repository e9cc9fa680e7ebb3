"""Life-circle compliance in PostGIS: the facility kinds table and compliance runs.

A compliance run stores, for every building and every facility kind, the walk to the nearest
station of that kind (``geo.compliance.nearest_by_kind``: one multi-source run per kind on
the stored network, buildings snapped as for coverage). Like a coverage run it records the
change counters of its inputs — buildings, stations, the network and ``facility_kinds``
(migration 0007 adds its trigger) — so any write makes it stale, and a stale run is never
served; it also keeps the kinds as they were (``kinds``), so a report reads one snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from data.audit import record
from data.coverage import INPUTS, Points, load_buildings, load_stations
from data.errors import NotFoundError, RuleError
from data.facility_kinds import Kind
from data.grids import dataset_version, valid_now
from data.models import ComplianceRun, FacilityKind, Grid, Region
from geo.compliance import circle_radii, nearest_by_kind
from geo.network import WalkNetwork

COMPLIANCE_INPUTS = (*INPUTS, "facility_kinds")


@dataclass(frozen=True)
class ComplianceData:
    """One compliance run: its kinds and, per building, the groups it counts in and the
    walk to the nearest facility of each kind (rows in the order of ``kinds``)."""

    run_id: int
    kinds: list[Kind]
    buildings: Points
    households: NDArray[np.float64]
    population: NDArray[np.float64]
    grid: NDArray[np.str_]  # "" where the building is in no grid
    community: NDArray[np.str_]
    street: NDArray[np.str_]
    walk_m: NDArray[np.float64]  # (kinds, buildings), inf where unreachable or none exists
    station_id: NDArray[np.int64]  # (kinds, buildings), -1 there
    facilities: dict[str, int]  # stations counting for each kind when the run was made


def radii(kinds: Sequence[Kind], *, speed_m_per_min: float) -> NDArray[np.float64]:
    """Each kind's circle in metres: its ``distance_m``, else minutes × speed."""
    return circle_radii(
        [k.minutes for k in kinds],
        [np.nan if k.distance_m is None else k.distance_m for k in kinds],
        speed_m_per_min=speed_m_per_min,
    )


# --- the kinds table ----------------------------------------------------------------


def list_kinds(*, session: Session) -> list[Kind]:
    """Every facility kind, by circle then name."""
    rows = session.execute(
        select(FacilityKind).order_by(FacilityKind.minutes, FacilityKind.kind)
    ).scalars()
    return [
        Kind(
            r.kind, r.name_zh, r.name_en, r.minutes, r.distance_m, tuple(r.station_kinds)
        ).checked()
        for r in rows
    ]


def set_kinds(*, session: Session, kinds: Iterable[Kind], actor: str) -> int:
    """Add or replace these kinds (one audit row each); returns how many."""
    count = 0
    for kind in kinds:
        values = kind.checked().as_dict()
        statement = pg_insert(FacilityKind).values(**values)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[FacilityKind.kind],
                set_={k: statement.excluded[k] for k in values if k != "kind"},
            )
        )
        record(
            session=session,
            actor=actor,
            action="set",
            entity="facility_kind",
            entity_id=kind.kind,
            detail=values,
        )
        count += 1
    return count


def remove_kind(*, session: Session, kind: str, actor: str) -> None:
    """Delete one kind; NotFoundError when there is none of that name."""
    gone = session.execute(
        delete(FacilityKind).where(FacilityKind.kind == kind).returning(FacilityKind.kind)
    ).first()
    if gone is None:
        raise NotFoundError(f"no facility kind {kind!r}")
    record(session=session, actor=actor, action="remove", entity="facility_kind", entity_id=kind)


def replace_kinds(*, session: Session, kinds: Sequence[Kind], actor: str) -> int:
    """Make the table exactly ``kinds`` (a CSV import): the others are removed."""
    names = [k.checked().kind for k in kinds]
    if len(set(names)) != len(names):
        raise RuleError("a facility kind is named twice")
    for old in sorted({k.kind for k in list_kinds(session=session)} - set(names)):
        remove_kind(session=session, kind=old, actor=actor)
    return set_kinds(session=session, kinds=kinds, actor=actor)


# --- runs ---------------------------------------------------------------------------


def inputs_state(*, session: Session) -> dict[str, int]:
    return {name: dataset_version(session=session, name=name) for name in COMPLIANCE_INPUTS}


def lock_runs(*, session: Session) -> None:
    """Serialise compliance-run computation until the transaction ends (as coverage runs)."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('gridmap.compliance_runs'))"))


def find_run(*, session: Session, speed_m_per_min: float, max_access_m: float) -> int | None:
    """The newest run with these parameters computed from the current inputs."""
    query = (
        select(ComplianceRun.id)
        .where(
            ComplianceRun.speed_m_per_min == speed_m_per_min,
            ComplianceRun.max_access_m == max_access_m,
            ComplianceRun.inputs == inputs_state(session=session),
        )
        .order_by(ComplianceRun.id.desc())
        .limit(1)
    )
    return session.execute(query).scalar()


def compute_run(
    *, session: Session, network: WalkNetwork, speed_m_per_min: float, max_access_m: float
) -> int:
    """Every building's walk to the nearest station of every facility kind, stored as a new
    run (rows written with COPY); stale runs are deleted."""
    inputs = inputs_state(session=session)
    session.execute(delete(ComplianceRun).where(ComplianceRun.inputs != inputs))
    kinds = list_kinds(session=session)
    run = ComplianceRun(
        speed_m_per_min=speed_m_per_min,
        max_access_m=max_access_m,
        inputs=inputs,
        kinds=[k.as_dict() for k in kinds],
    )
    session.add(run)
    session.flush()
    buildings, _ = load_buildings(session)
    stations = load_stations(session=session)
    if not len(buildings.id) or not kinds:
        return run.id
    station_kind = np.asarray(stations.kind, dtype=object)
    members = [np.flatnonzero(np.isin(station_kind, list(k.station_kinds))) for k in kinds]
    found = nearest_by_kind(
        network, stations.lonlat, members, buildings.lonlat, max_access_m=max_access_m
    )
    station_ids = np.append(stations.id, -1)  # source -1 → the last entry
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with (
        raw.cursor() as cursor,
        cursor.copy(
            "COPY compliance_results (run_id, kind, building_id, walk_m, station_id) FROM STDIN"
        ) as copy,
    ):
        for k, kind in enumerate(kinds):
            walk, source = found.distance_m[k], found.source[k]
            reached = np.isfinite(walk)
            sid = station_ids[source]
            for b, w, s, ok in zip(
                buildings.id.tolist(),
                walk.tolist(),
                sid.tolist(),
                reached.tolist(),
                strict=True,
            ):
                copy.write_row((run.id, kind.kind, b, w if ok else None, s if ok else None))
    return run.id


_RESULT_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("len_kind", ">i4"),
        ("kind", ">i4"),
        ("len_building", ">i4"),
        ("building", ">i4"),
        ("len_walk", ">i4"),
        ("walk", ">f8"),
        ("len_station", ">i4"),
        ("station", ">i4"),
    ]
)
_COPY_HEADER, _COPY_TRAILER = 19, 2  # PGCOPY signature, flags, extension length; -1


@dataclass(frozen=True)
class StoredResults:
    """A run's stored rows as arrays: the kind (index into the kinds asked for), building
    id, metres (inf: none reachable) and station id (-1)."""

    kind: NDArray[np.int64]
    building: NDArray[np.int64]
    walk_m: NDArray[np.float64]
    station: NDArray[np.int64]


def read_results(connection: Any, *, run_id: int, kinds: Sequence[str]) -> StoredResults:
    """A run's results for ``kinds`` in one binary COPY parsed by numpy: a million rows take
    a fraction of a second, where fetching them as Python rows takes seconds.
    ``connection`` is a psycopg connection (a session's is
    ``session.connection().connection.driver_connection``)."""
    data = bytearray()
    with (
        connection.cursor() as cursor,
        cursor.copy(
            "COPY (SELECT array_position(%s::text[], kind::text) - 1, building_id,"
            " coalesce(walk_m, 'Infinity'::float8), coalesce(station_id, -1)"
            " FROM compliance_results WHERE run_id = %s AND kind = ANY(%s::text[]))"
            " TO STDOUT (FORMAT binary)",
            (list(kinds), run_id, list(kinds)),
        ) as copy,
    ):
        for chunk in copy:
            data += chunk
    rows = np.frombuffer(bytes(data[_COPY_HEADER:-_COPY_TRAILER]), dtype=_RESULT_ROW)
    return StoredResults(
        kind=rows["kind"].astype(np.int64),
        building=rows["building"].astype(np.int64),
        walk_m=rows["walk"].astype(np.float64),
        station=rows["station"].astype(np.int64),
    )


def groups_version(*, session: Session) -> tuple[int, str]:
    """What a run's grouping depends on besides its inputs: the grids' change counter and a
    digest of the communities' streets (``regions`` has no counter), so a cached run's
    groups are never stale."""
    digest = session.execute(
        text(
            "SELECT coalesce(md5(string_agg(code || ':' || coalesce(parent, ''), ',' "
            "ORDER BY code)), '') FROM regions WHERE level = 'community'"
        )
    ).scalar_one()
    return dataset_version(session=session, name="grids"), str(digest)


def run_kinds(*, session: Session, run_id: int) -> list[Kind]:
    snapshot = session.execute(select(ComplianceRun.kinds).where(ComplianceRun.id == run_id))
    return [Kind.of(k) for k in snapshot.scalar_one()]


def run_data(*, session: Session, run_id: int) -> ComplianceData:
    """The run's per-building, per-kind distances with the buildings' current groups."""
    kinds = run_kinds(session=session, run_id=run_id)
    buildings, attrs = load_buildings(session)
    walk = np.full((len(kinds), len(buildings.id)), np.inf)
    station = np.full((len(kinds), len(buildings.id)), -1, dtype=np.int64)
    if len(buildings.id) and kinds:
        raw = session.connection().connection.driver_connection
        stored = read_results(raw, run_id=run_id, kinds=[k.kind for k in kinds])
        i = np.searchsorted(buildings.id, stored.building)
        last = len(buildings.id) - 1
        ok = (i <= last) & (buildings.id[np.minimum(i, last)] == stored.building)
        walk[stored.kind[ok], i[ok]] = stored.walk_m[ok]
        station[stored.kind[ok], i[ok]] = stored.station[ok]
    communities = dict(session.execute(select(Grid.code, Grid.community).where(valid_now())).all())
    streets = dict(
        session.execute(select(Region.code, Region.parent).where(Region.level == "community")).all()
    )
    community = [communities.get(a[2] or "") or "" for a in attrs]
    stations = load_stations(session=session)
    return ComplianceData(
        run_id=run_id,
        kinds=kinds,
        buildings=buildings,
        households=np.array([a[0] for a in attrs], dtype=np.float64),
        population=np.array([a[1] for a in attrs], dtype=np.float64),
        grid=np.array([a[2] or "" for a in attrs], dtype=np.str_),
        community=np.array(community, dtype=np.str_),
        street=np.array([streets.get(c) or "" for c in community], dtype=np.str_),
        walk_m=walk,
        station_id=station,
        facilities={
            k.kind: int(np.isin(np.asarray(stations.kind, dtype=object), k.station_kinds).sum())
            for k in kinds
        },
    )
