"""Coverage figures per group: covered buildings, households and population per grid or
community (or for all), and the uncovered buildings of each group, from per-building
covered flags (``geo.walk.covered_within``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geo._arrays import FloatArray, IntArray

Keys = Sequence[Any] | NDArray[Any]  # group keys: grid codes, community names, None


@dataclass(frozen=True)
class GroupCoverage:
    """Covered totals of one group (a grid, a community, or all when ``key`` is None)."""

    key: Any
    buildings: int
    covered_buildings: int
    households: float
    covered_households: float
    population: float
    covered_population: float

    @property
    def pct_buildings(self) -> float | None:
        return _pct(self.covered_buildings, self.buildings)

    @property
    def pct_households(self) -> float | None:
        return _pct(self.covered_households, self.households)

    @property
    def pct_population(self) -> float | None:
        return _pct(self.covered_population, self.population)


def coverage_by_group(
    covered: ArrayLike,
    groups: Keys | None = None,
    *,
    households: ArrayLike | None = None,
    population: ArrayLike | None = None,
) -> list[GroupCoverage]:
    """Buildings, households and population covered per group key (sorted, None last for
    buildings in no group); one row with key None for all buildings when ``groups`` is None.
    """
    cov = np.asarray(covered, dtype=bool)
    keys, inverse = factorize(np.full(len(cov), None) if groups is None else groups)

    def sums(weights: ArrayLike | None) -> tuple[FloatArray, FloatArray]:
        w = np.ones(len(cov)) if weights is None else np.asarray(weights, dtype=np.float64)
        total = np.bincount(inverse, weights=w, minlength=len(keys)).astype(np.float64)
        part = np.bincount(inverse, weights=w * cov, minlength=len(keys)).astype(np.float64)
        return total, part

    b, cb = sums(None)
    h, ch = sums(households) if households is not None else (np.zeros(len(keys)),) * 2
    p, cp = sums(population) if population is not None else (np.zeros(len(keys)),) * 2
    return [
        GroupCoverage(
            key=k,
            buildings=int(b[i]),
            covered_buildings=int(cb[i]),
            households=float(h[i]),
            covered_households=float(ch[i]),
            population=float(p[i]),
            covered_population=float(cp[i]),
        )
        for i, k in enumerate(keys)
    ]


def gaps_by_group(covered: ArrayLike, groups: Keys) -> dict[Any, IntArray]:
    """Indices of the uncovered buildings, grouped by key (only groups that have gaps)."""
    gap = np.flatnonzero(~np.asarray(covered, dtype=bool))
    if gap.size == 0:  # everything covered: no group has a gap
        return {}
    keys, inverse = factorize(np.asarray(groups, dtype=object)[gap])
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(keys)))[:-1]
    return dict(zip(keys, np.split(gap[order], bounds), strict=True))


def factorize(groups: Keys) -> tuple[list[Any], IntArray]:
    """Sorted distinct keys as Python values, None last (np.unique cannot order None), and
    each item's key index."""
    values = np.asarray(groups, dtype=object)
    none = np.fromiter((v is None for v in values.tolist()), dtype=bool, count=len(values))
    keys, inverse = np.unique(values[~none], return_inverse=True)
    index = np.full(len(values), len(keys), dtype=np.int64)
    index[~none] = inverse.reshape(-1)
    found = [k.item() if isinstance(k, np.generic) else k for k in keys.tolist()]
    return [*found, None] if none.any() else found, index


def _pct(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole else None
