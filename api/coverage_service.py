"""Coverage as the API routes, the map pages and ``gridmap map`` use it: the stored network
(cached per worker), the run for the current inputs (computed on first use), who it covers,
station isochrones and new sites. One service, so every caller gets the same figures.

State is real here: per-worker caches keyed by the database's change counters (bumped by
triggers on every write), so a stale entry is never served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from api.caches import Lru
from api.settings import Settings
from data import compliance as compliance_repo
from data import coverage as repo
from data.errors import ConflictError, UnknownValueError
from data.grids import dataset_version
from data.network import load_network
from geo.groups import GroupCoverage, coverage_by_group
from geo.isochrones import isochrones
from geo.network import WalkNetwork
from geo.siting import suggest_sites
from geo.walk import covered_within

MAX_CANDIDATES = 5000


@dataclass(frozen=True)
class Coverage:
    """One run's per-building data and which buildings are within ``minutes``."""

    data: repo.RunData
    covered: NDArray[np.bool_]
    minutes: float

    def by(self, groups: NDArray[np.str_] | None) -> list[GroupCoverage]:
        """Figures per group key (``data.grid``, ``data.community``), or one total row."""
        weights = {"households": self.data.households, "population": self.data.population}
        rows = coverage_by_group(self.covered, groups, **weights)
        return rows if groups is None else [g for g in rows if g.key]


@dataclass(frozen=True)
class Suggestion:
    """Greedy new sites (lon/lat rows, in the order picked) and the households each adds."""

    lonlat: NDArray[np.float64]
    added_households: list[float]
    households_before: float
    households_total: float


@dataclass(frozen=True)
class KindSuggestion(Suggestion):
    """``Suggestion`` for one facility kind: its circle and how many facilities it has."""

    radius_m: float
    facilities: int


class CoverageService:
    """Per-worker coverage for the current inputs; see the module docstring."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._networks: Lru[WalkNetwork | None] = Lru(2)
        self._isochrones: Lru[Any] = Lru(32)
        self._compliance: Lru[compliance_repo.ComplianceData] = Lru(2)

    def network(self, session: Session) -> WalkNetwork | None:
        """The stored walking network, rebuilt only when the network tables changed."""
        version = dataset_version(session=session, name="network_edges")
        return self._networks.get_or_make(version, lambda: load_network(session=session))

    def require_network(self, session: Session) -> WalkNetwork:
        walk = self.network(session)
        if walk is None:
            raise ConflictError(
                "no walking network imported yet: run `gridmap import network FILE`"
            )
        return walk

    def check_kind(self, session: Session, kind: str | None) -> None:
        """Only the stations' own kinds have coverage: anything else is refused, so no
        request can make a run (and its rows) for a name no station has."""
        if kind is not None and kind not in (known := repo.station_kinds(session=session)):
            raise UnknownValueError(
                f"no station has kind {kind!r}; known kinds: {', '.join(known) or 'none'}"
            )

    def _run_id(self, session: Session, kind: str | None) -> int:
        """The run for the current inputs (``_once``)."""
        self.check_kind(session, kind)
        speed, access = self.settings.walk_speed_m_per_min, self.settings.max_access_m
        return _once(
            session,
            find=lambda: repo.find_run(
                session=session, kind=kind, speed_m_per_min=speed, max_access_m=access
            ),
            lock=lambda: repo.lock_runs(session=session),
            compute=lambda: repo.compute_run(
                session=session,
                network=self.require_network(session),
                kind=kind,
                speed_m_per_min=speed,
                max_access_m=access,
            ),
        )

    def check_facility_kind(self, session: Session, facility_kind: str | None) -> None:
        """Only the table's facility kinds exist: anything else is refused before any
        compliance run is computed (a refusal writes nothing)."""
        if facility_kind is None:
            return
        names = [k.kind for k in compliance_repo.list_kinds(session=session)]
        if facility_kind not in names:
            raise UnknownValueError(
                f"no facility kind {facility_kind!r}; known kinds: {', '.join(names) or 'none'}"
            )

    def compliance(self, session: Session) -> compliance_repo.ComplianceData:
        """The compliance run (every building's walk to each facility kind) for the current
        inputs and facility kinds, computed once like a coverage run; its data is cached per
        worker (a run never changes; its groups are keyed by ``groups_version``)."""
        speed, access = self.settings.walk_speed_m_per_min, self.settings.max_access_m
        run_id = _once(
            session,
            find=lambda: compliance_repo.find_run(
                session=session, speed_m_per_min=speed, max_access_m=access
            ),
            lock=lambda: compliance_repo.lock_runs(session=session),
            compute=lambda: compliance_repo.compute_run(
                session=session,
                network=self.require_network(session),
                speed_m_per_min=speed,
                max_access_m=access,
            ),
        )
        key = (run_id, compliance_repo.groups_version(session=session))
        return self._compliance.get_or_make(
            key, lambda: compliance_repo.run_data(session=session, run_id=run_id)
        )

    def covered(self, session: Session, *, kind: str | None, minutes: float) -> Coverage:
        """The current run and which buildings it covers within ``minutes``."""
        data = repo.run_data(session=session, run_id=self._run_id(session, kind))
        speed = self.settings.walk_speed_m_per_min
        return Coverage(data, covered_within(data.walk_m, minutes, speed_m_per_min=speed), minutes)

    def isochrones(
        self, session: Session, *, kind: str | None, levels: tuple[float, ...]
    ) -> tuple[repo.StationPoints, NDArray[np.object_]]:
        """Stations (of ``kind``) and their walking areas, (stations, levels) polygons."""
        self.check_kind(session, kind)
        stations = repo.load_stations(session=session, kind=kind)
        walk = self.require_network(session)
        inputs = repo.inputs_state(session=session)
        speed, access = self.settings.walk_speed_m_per_min, self.settings.max_access_m
        key = (inputs["stations"], inputs["network_edges"], kind, levels, speed, access)

        def trace() -> NDArray[np.object_]:
            if not len(stations.id):
                return np.empty((0, len(levels)), dtype=object)
            return isochrones(
                walk, stations.lonlat, minutes=levels, speed_m_per_min=speed, max_access_m=access
            )

        return stations, self._isochrones.get_or_make(key, trace)

    def suggest(
        self,
        session: Session,
        *,
        kind: str | None,
        minutes: float,
        count: int,
        candidates: NDArray[np.float64] | None = None,
    ) -> Suggestion:
        """Greedy siting among ``candidates`` (default: network nodes, evenly thinned to
        ``MAX_CANDIDATES``): the new sites that cover the most households."""
        walk = self.require_network(session)
        coverage = self.covered(session, kind=kind, minutes=minutes)
        stations = repo.load_stations(session=session, kind=kind)
        if candidates is None:
            candidates = _thinned_nodes(walk)
        data = coverage.data
        siting = suggest_sites(
            walk,
            stations.lonlat,
            data.buildings.lonlat,
            data.households,
            candidates,
            minutes=minutes,
            count=count,
            speed_m_per_min=self.settings.walk_speed_m_per_min,
            max_access_m=self.settings.max_access_m,
        )
        return Suggestion(
            lonlat=candidates[siting.candidate],
            added_households=[float(a) for a in siting.added_households],
            households_before=float(data.households[coverage.covered].sum()),
            households_total=float(data.households.sum()),
        )

    def kind_reach(
        self, session: Session, data: compliance_repo.ComplianceData
    ) -> list[tuple[int, Any]]:
        """Each facility kind's reach: (kind row, the union of its facilities' walking areas
        within its circle), kinds without facilities left out; cached per run."""
        walk = self.require_network(session)
        speed, access = self.settings.walk_speed_m_per_min, self.settings.max_access_m
        radius = compliance_repo.radii(data.kinds, speed_m_per_min=speed)

        def trace() -> list[tuple[int, Any]]:
            stations = repo.load_stations(session=session)
            kinds = np.asarray(stations.kind, dtype=object)
            out = []
            for k, kind in enumerate(data.kinds):
                own = np.isin(kinds, kind.station_kinds)
                if own.any():
                    areas = isochrones(
                        walk,
                        stations.lonlat[own],
                        minutes=(float(radius[k]) / speed,),
                        speed_m_per_min=speed,
                        max_access_m=access,
                    )
                    out.append((k, shapely.union_all(areas[:, 0])))
            return out

        return self._isochrones.get_or_make(("reach", data.run_id, speed, access), trace)

    def building_candidates(self, session: Session) -> NDArray[np.float64]:
        """Every building's location as a candidate site, evenly thinned to
        ``MAX_CANDIDATES``."""
        buildings, _ = repo.load_buildings(session)
        return _thinned(buildings.lonlat)

    def suggest_for_kind(
        self,
        session: Session,
        *,
        facility_kind: str,
        count: int,
        candidates: NDArray[np.float64] | None = None,
        on_buildings: bool = False,
    ) -> KindSuggestion:
        """Greedy siting for one facility kind: new sites of that kind, each bringing the most
        households into its circle (into compliance for that kind). Candidates as ``suggest``,
        or every building (evenly thinned to ``MAX_CANDIDATES``) when ``on_buildings``."""
        self.check_facility_kind(session, facility_kind)
        walk = self.require_network(session)
        data = self.compliance(session)
        k = [kind.kind for kind in data.kinds].index(facility_kind)
        speed = self.settings.walk_speed_m_per_min
        radius = float(compliance_repo.radii(data.kinds, speed_m_per_min=speed)[k])
        stations = repo.load_stations(session=session)
        own = np.isin(np.asarray(stations.kind, dtype=object), data.kinds[k].station_kinds)
        if candidates is None:
            candidates = _thinned(data.buildings.lonlat if on_buildings else walk.node_lonlat)
        siting = suggest_sites(
            walk,
            stations.lonlat[own],
            data.buildings.lonlat,
            data.households,
            candidates,
            minutes=radius / speed,
            count=count,
            speed_m_per_min=speed,
            max_access_m=self.settings.max_access_m,
            mainland_stations=stations.lonlat,
        )
        within = data.walk_m[k] <= radius
        return KindSuggestion(
            lonlat=candidates[siting.candidate],
            added_households=[float(a) for a in siting.added_households],
            households_before=float(data.households[within].sum()),
            households_total=float(data.households.sum()),
            radius_m=radius,
            facilities=int(own.sum()),
        )


def _once(
    session: Session,
    *,
    find: Callable[[], int | None],
    lock: Callable[[], None],
    compute: Callable[[], int],
) -> int:
    """The stored run ``find`` returns; a missing one is computed once (under ``lock``, so
    concurrent first requests wait for it) and committed with the caller's session."""
    run_id = find()
    if run_id is not None:
        return run_id
    lock()
    run_id = find()  # computed by another request while this one waited?
    if run_id is None:
        run_id = compute()
    session.commit()  # ends the transaction, and with it the lock
    return run_id


def _thinned_nodes(walk: WalkNetwork) -> NDArray[np.float64]:
    return _thinned(walk.node_lonlat)


def _thinned(lonlat: NDArray[np.float64]) -> NDArray[np.float64]:
    """At most ``MAX_CANDIDATES`` of the rows, evenly spread over them."""
    pick = np.unique(np.linspace(0, len(lonlat) - 1, min(MAX_CANDIDATES, len(lonlat))).astype(int))
    return lonlat[pick]
