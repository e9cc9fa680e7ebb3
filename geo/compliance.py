"""Life-circle compliance (GB 50180-2018): per building and facility kind, the walk to the
nearest facility of that kind; per group (grid, community, street), the share of buildings,
households and population within each kind's circle; each building's score (how many kinds
it reaches within their circles) and each group's weakest kind.

Distances follow the coverage rule of ``geo.walk`` exactly: buildings are snapped once, to
the mainland of *all* the stations given (the same snapping as an any-station coverage run),
stations once, and each kind is one multi-source Dijkstra from its own stations
(``nearest_snapped``), so a building joins the network at the same place for every kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geo._arrays import FloatArray, IntArray
from geo.groups import Keys, factorize
from geo.network import Snap, WalkNetwork
from geo.walk import MAINLAND_MIN_NODES, nearest_snapped, snap_lonlat, snap_targets


@dataclass(frozen=True)
class KindDistances:
    """(kinds, buildings): metres to the nearest facility of each kind (inf: unreachable or
    no facility) and that facility's index among all stations given (-1)."""

    distance_m: FloatArray
    source: IntArray
    moved_off_islands: int = 0


def take(snap: Snap, rows: IntArray) -> Snap:
    """The snaps of ``rows`` only."""
    return Snap(
        edge=snap.edge[rows],
        from_u=snap.from_u[rows],
        from_v=snap.from_v[rows],
        access_m=snap.access_m[rows],
        x=snap.x[rows],
        y=snap.y[rows],
    )


def nearest_by_kind(
    network: WalkNetwork,
    stations_lonlat: ArrayLike,
    members: Sequence[ArrayLike],
    targets_lonlat: ArrayLike,
    *,
    max_access_m: float = 300.0,
    limit: float = np.inf,
    mainland_min_nodes: int = MAINLAND_MIN_NODES,
) -> KindDistances:
    """For each kind (``members[k]``: the indices of the stations that count for it), every
    target's walk to its nearest such station (module doc); a kind with no station gives inf
    and -1 throughout, never an error."""
    stations = snap_lonlat(network, stations_lonlat, max_access_m)
    targets, moved = snap_targets(
        network, stations, targets_lonlat, max_access_m, min_nodes=mainland_min_nodes
    )
    distance = np.full((len(members), len(targets)), np.inf)
    source = np.full((len(members), len(targets)), -1, dtype=np.int64)
    for k, rows in enumerate(members):
        idx = np.unique(np.asarray(rows, dtype=np.int64))
        if idx.size == 0 or len(targets) == 0:
            continue
        found = nearest_snapped(network, take(stations, idx), targets, limit=limit)
        distance[k] = found.distance_m
        source[k] = np.where(found.source >= 0, idx[np.maximum(found.source, 0)], -1)
    return KindDistances(distance_m=distance, source=source, moved_off_islands=moved)


def circle_radii(
    minutes: ArrayLike, distance_m: ArrayLike, *, speed_m_per_min: float
) -> FloatArray:
    """Each kind's circle in metres: its distance threshold where set (finite, > 0), else its
    minutes at the walking speed."""
    m = np.asarray(minutes, dtype=np.float64) * speed_m_per_min
    d = np.asarray(distance_m, dtype=np.float64)
    return np.where(np.isfinite(d) & (d > 0), d, m)


def within_circles(distance_m: ArrayLike, radius_m: ArrayLike) -> NDArray[np.bool_]:
    """(kinds, buildings): whether each building reaches each kind within its circle."""
    return np.asarray(distance_m, dtype=np.float64) <= np.asarray(radius_m)[:, None]


@dataclass(frozen=True)
class Compliance:
    """Per group (``keys``, sorted, None last) and kind: totals and what lies within circles.

    ``buildings``/``households``/``population`` are (groups,); ``within_*`` are (kinds,
    groups); ``mean_score`` is the mean number of kinds a group's buildings reach, weighted
    by households where the group has any, else by buildings.
    """

    keys: list[object]
    buildings: FloatArray
    households: FloatArray
    population: FloatArray
    within_buildings: FloatArray
    within_households: FloatArray
    within_population: FloatArray
    mean_score: FloatArray

    def share(self, what: str) -> FloatArray:
        """(kinds, groups) share in [0, 1] of ``buildings``/``households``/``population``
        within each kind's circle; NaN where the group has none of ``what``."""
        total = getattr(self, what)
        part = getattr(self, f"within_{what}")
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, part / np.where(total > 0, total, 1.0), np.nan)

    def weakest(self) -> IntArray:
        """Per group, the kind with the smallest share of households within its circle
        (of buildings where the group has no households); the first such kind on ties, -1
        when there are no kinds."""
        if self.within_buildings.shape[0] == 0:
            return np.full(len(self.keys), -1, dtype=np.int64)
        by_homes = self.share("households")
        shares = np.where(self.households > 0, by_homes, self.share("buildings"))
        return np.argmin(np.nan_to_num(shares, nan=np.inf), axis=0).astype(np.int64)


def score(within: ArrayLike) -> IntArray:
    """Per building: how many kinds it reaches within their circles."""
    return np.asarray(within, dtype=bool).sum(axis=0).astype(np.int64)


def compliance_by_group(
    within: ArrayLike,
    groups: Keys | None = None,
    *,
    households: ArrayLike | None = None,
    population: ArrayLike | None = None,
) -> Compliance:
    """Sum ``within`` (kinds, buildings) per group key; one group (key None) when ``groups``
    is None."""
    inside = np.asarray(within, dtype=bool)
    n_kinds, n = inside.shape
    if isinstance(groups, np.ndarray) and groups.dtype.kind == "U":  # strings, no None: fast
        found, inverse = np.unique(groups, return_inverse=True)
        keys: list[object] = found.tolist()
        inverse = inverse.reshape(-1)
    else:
        keys, inverse = factorize(np.full(n, None) if groups is None else groups)
    g = len(keys)
    ones = np.ones(n)
    homes = ones * 0 if households is None else np.asarray(households, dtype=np.float64)
    people = ones * 0 if population is None else np.asarray(population, dtype=np.float64)

    def per_group(weights: FloatArray) -> FloatArray:
        return np.bincount(inverse, weights=weights, minlength=g).astype(np.float64)

    def per_kind(weights: FloatArray) -> FloatArray:
        # one bincount over (kind, group) pairs: kind k's groups are k * g + group
        flat = (np.arange(n_kinds)[:, None] * g + inverse[None, :]).reshape(-1)
        w = (inside * weights[None, :]).reshape(-1)
        sums = np.bincount(flat, weights=w, minlength=n_kinds * g)
        return sums.astype(np.float64).reshape(n_kinds, g)

    b, h = per_group(ones), per_group(homes)
    points = score(inside).astype(np.float64)
    by_homes = per_group(points * homes)
    by_buildings = per_group(points)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(h > 0, by_homes / np.where(h > 0, h, 1), by_buildings / np.maximum(b, 1))
    return Compliance(
        keys=keys,
        buildings=b,
        households=h,
        population=per_group(people),
        within_buildings=per_kind(ones),
        within_households=per_kind(homes),
        within_population=per_kind(people),
        mean_score=mean,
    )
