"""Coverage runs in PostGIS: walk distances per building, computed once per set of inputs.

A run records the change counters (``dataset_versions``, bumped by triggers) of buildings,
stations and the network it was computed from; a run whose counters differ from the
current ones is stale and never served, so any write to those tables invalidates it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from data.grids import dataset_version, valid_now
from data.models import Building, CoverageResult, CoverageRun, Grid, Station
from geo.network import WalkNetwork
from geo.walk import walk_nearest

INPUTS = ("buildings", "stations", "network_edges")


@dataclass(frozen=True)
class Points:
    """Points of one table: ids, names and WGS84 lon/lat (n, 2)."""

    id: NDArray[np.int64]
    name: list[str | None]
    lonlat: NDArray[np.float64]


@dataclass(frozen=True)
class StationPoints(Points):
    kind: list[str]
    level: NDArray[np.int64]


@dataclass(frozen=True)
class RunData:
    """One run's per-building results joined with the attributes coverage is grouped by."""

    run_id: int
    buildings: Points
    households: NDArray[np.float64]
    population: NDArray[np.float64]
    grid: NDArray[np.str_]  # "" where the building is in no grid
    community: NDArray[np.str_]
    walk_m: NDArray[np.float64]  # inf where unreachable
    station_id: NDArray[np.int64]  # -1 where unreachable


def inputs_state(*, session: Session) -> dict[str, int]:
    return {name: dataset_version(session=session, name=name) for name in INPUTS}


def load_stations(*, session: Session, kind: str | None = None) -> StationPoints:
    query = select(
        Station.id,
        Station.name,
        Station.kind,
        Station.level,
        func.ST_X(Station.geom),
        func.ST_Y(Station.geom),
    ).order_by(Station.id)
    if kind is not None:
        query = query.where(Station.kind == kind)
    rows = session.execute(query).all()
    return StationPoints(
        id=np.array([r[0] for r in rows], dtype=np.int64),
        name=[r[1] for r in rows],
        lonlat=np.array([(r[4], r[5]) for r in rows], dtype=np.float64).reshape(-1, 2),
        kind=[r[2] for r in rows],
        level=np.array([r[3] for r in rows], dtype=np.int64),
    )


def load_buildings(session: Session) -> tuple[Points, list[tuple[int, int, str | None]]]:
    rows = session.execute(
        select(
            Building.id,
            Building.name,
            func.ST_X(Building.geom),
            func.ST_Y(Building.geom),
            Building.households,
            Building.population,
            Building.grid_code,
        ).order_by(Building.id)
    ).all()
    points = Points(
        id=np.array([r[0] for r in rows], dtype=np.int64),
        name=[r[1] for r in rows],
        lonlat=np.array([(r[2], r[3]) for r in rows], dtype=np.float64).reshape(-1, 2),
    )
    return points, [(r[4], r[5], r[6]) for r in rows]


def station_kinds(*, session: Session) -> list[str]:
    """The kinds the stations have: the only kinds a run may be computed for."""
    return list(session.execute(select(Station.kind).distinct().order_by(Station.kind)).scalars())


def lock_runs(*, session: Session) -> None:
    """Serialise run computation until the transaction ends: concurrent requests for one run
    wait for it instead of computing duplicates."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('gridmap.coverage_runs'))"))


def find_run(
    *, session: Session, kind: str | None, speed_m_per_min: float, max_access_m: float
) -> int | None:
    """The newest run with these parameters computed from the current inputs."""
    query = (
        select(CoverageRun.id)
        .where(
            CoverageRun.kind.is_(None) if kind is None else CoverageRun.kind == kind,
            CoverageRun.speed_m_per_min == speed_m_per_min,
            CoverageRun.max_access_m == max_access_m,
            CoverageRun.inputs == inputs_state(session=session),
        )
        .order_by(CoverageRun.id.desc())
        .limit(1)
    )
    return session.execute(query).scalar()


def compute_run(
    *,
    session: Session,
    network: WalkNetwork,
    kind: str | None,
    speed_m_per_min: float,
    max_access_m: float,
) -> int:
    """Walk distance from every building to its nearest station (of ``kind``), stored as a
    new run; stale runs are deleted."""
    inputs = inputs_state(session=session)
    session.execute(delete(CoverageRun).where(CoverageRun.inputs != inputs))
    run = CoverageRun(
        kind=kind, speed_m_per_min=speed_m_per_min, max_access_m=max_access_m, inputs=inputs
    )
    session.add(run)
    session.flush()
    buildings, _ = load_buildings(session)
    stations = load_stations(session=session, kind=kind)
    if len(buildings.id):
        if len(stations.id):
            nearest = walk_nearest(
                network, stations.lonlat, buildings.lonlat, max_access_m=max_access_m
            )
            walk, station = nearest.distance_m, nearest.source
        else:
            walk = np.full(len(buildings.id), np.inf)
            station = np.full(len(buildings.id), -1)
        reached = np.isfinite(walk)
        session.execute(
            insert(CoverageResult),
            [
                {
                    "run_id": run.id,
                    "building_id": int(b),
                    "walk_m": float(w) if ok else None,
                    "station_id": int(stations.id[s]) if ok else None,
                }
                for b, w, s, ok in zip(buildings.id, walk, station, reached, strict=True)
            ],
        )
    return run.id


def run_data(*, session: Session, run_id: int) -> RunData:
    buildings, attrs = load_buildings(session)
    results = {
        r[0]: (r[1], r[2])
        for r in session.execute(
            select(
                CoverageResult.building_id, CoverageResult.walk_m, CoverageResult.station_id
            ).where(CoverageResult.run_id == run_id)
        )
    }
    communities = dict(session.execute(select(Grid.code, Grid.community).where(valid_now())).all())
    walk = [results.get(int(b), (None, None)) for b in buildings.id]
    return RunData(
        run_id=run_id,
        buildings=buildings,
        households=np.array([a[0] for a in attrs], dtype=np.float64),
        population=np.array([a[1] for a in attrs], dtype=np.float64),
        grid=np.array([a[2] or "" for a in attrs], dtype=np.str_),
        community=np.array([communities.get(a[2] or "") or "" for a in attrs], dtype=np.str_),
        walk_m=np.array([np.inf if w[0] is None else w[0] for w in walk], dtype=np.float64),
        station_id=np.array([-1 if w[1] is None else w[1] for w in walk], dtype=np.int64),
    )
