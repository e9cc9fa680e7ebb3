"""A synthetic year of reports for the sample city, generated deterministically (pure numpy):
seasonal (a summer peak, office hours), clustered (a few hot grids, reports on buildings),
and carried through the lifecycle with realistic delays — most closed on time, some late,
some reopened, some rejected, a few stuck open and overdue, and the most recent still open.

``synthetic_year`` returns plain records; ``data.incidents.insert_history`` stores them with
their events, and the statistics tests replay them through the lifecycle step by step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from data.lifecycle import CATEGORY_SEED, Priority, Status

HOUR = timedelta(hours=1)

# category weights per season (winter, spring, summer, autumn); order of CATEGORY_SEED
_SEASONAL = np.array(
    [
        # E01 E02 E03 E04 E05 E06 C01 C02 C03 C04 C05 C06 G01 G02 G03 G04
        [9, 3, 2, 1, 5, 2, 6, 5, 4, 1, 1, 2, 4, 4, 5, 1],
        [9, 4, 4, 1, 6, 2, 4, 5, 4, 5, 1, 2, 4, 3, 3, 1],
        [12, 3, 4, 2, 7, 2, 5, 5, 6, 7, 2, 2, 5, 5, 3, 1],
        [9, 4, 3, 1, 5, 2, 4, 5, 4, 4, 1, 2, 4, 3, 3, 1],
    ],
    dtype=float,
)
_HOURS = np.array(
    [1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 13, 10, 7, 9, 12, 13, 12, 10, 7, 5, 4, 3, 2, 1], dtype=float
)


@dataclass(frozen=True)
class HistoricIncident:
    """A report and its lifecycle steps after ``reported`` (status, time, note)."""

    category: str
    priority: Priority
    description: str
    lon: float
    lat: float
    grid_code: str
    reported_at: datetime
    steps: tuple[tuple[Status, datetime, str | None], ...]

    @property
    def status(self) -> Status:
        return self.steps[-1][0] if self.steps else "reported"


def _steps(
    rng: np.random.Generator, reported: datetime, deadline: timedelta, end: datetime
) -> list[tuple[Status, datetime, str | None]]:
    steps: list[tuple[Status, datetime, str | None]] = []
    t = reported + HOUR * float(rng.exponential(2.0) + 0.1)
    if rng.random() < 0.04:
        steps.append(("rejected", t, "不属于受理范围 out of scope"))
        return [s for s in steps if s[1] <= end]
    steps.append(("accepted", t, None))
    t += HOUR * float(rng.exponential(1.0) + 0.05)
    steps.append(("dispatched", t, None))
    if rng.random() < 0.03:  # stuck: never resolved
        return [s for s in steps if s[1] <= end]
    t += deadline * float(rng.lognormal(np.log(0.35), 0.8))
    steps.append(("resolved", t, None))
    if rng.random() < 0.08:
        t += HOUR * float(rng.exponential(6.0) + 0.5)
        steps.append(("dispatched", t, "复核未通过 verification failed"))
        t += deadline * float(rng.lognormal(np.log(0.15), 0.6))
        steps.append(("resolved", t, None))
    t += HOUR * float(rng.exponential(8.0) + 0.2)
    steps.append(("closed", t, None))
    kept = []
    for step in steps:  # what has not happened yet by ``end`` is still to come
        if step[1] > end:
            break
        kept.append(step)
    return kept


def synthetic_year(
    *,
    lons: Sequence[float] | np.ndarray,
    lats: Sequence[float] | np.ndarray,
    grid_codes: Sequence[str],
    end: datetime,
    count: int,
    deadlines: Mapping[str, timedelta],
    seed: int = 0,
) -> list[HistoricIncident]:
    """``count`` reports over the year before ``end`` at the given places (building points
    and their grid codes), in time order."""
    rng = np.random.default_rng(seed)
    lon, lat = np.asarray(lons, dtype=float), np.asarray(lats, dtype=float)
    codes = np.asarray(grid_codes, dtype=object)
    grids, of_point = np.unique(codes, return_inverse=True)
    heat = rng.gamma(0.6, 1.0, len(grids))  # a few hot grids, many quiet ones
    point_weight = heat[of_point] / np.bincount(of_point)[of_point]
    point_weight /= point_weight.sum()
    days = np.arange(365)
    day_weight = 1 + 0.35 * np.sin(2 * np.pi * (days - 100) / 365)  # summer peak
    day_weight /= day_weight.sum()
    start = end - timedelta(days=365)
    day = np.sort(rng.choice(365, size=count, p=day_weight))
    hour = rng.choice(24, size=count, p=_HOURS / _HOURS.sum())
    minute = rng.uniform(0, 60, size=count)
    where = rng.choice(len(lon), size=count, p=point_weight)
    jitter = rng.normal(0, 0.00004, size=(count, 2))  # a few metres around the building
    out = []
    for i in range(count):
        reported = start + timedelta(days=int(day[i]), hours=int(hour[i]), minutes=minute[i])
        season = ((reported.month % 12) // 3) % 4
        weights = _SEASONAL[season] / _SEASONAL[season].sum()
        code, zh, en, priority = CATEGORY_SEED[int(rng.choice(len(CATEGORY_SEED), p=weights))]
        if rng.random() < 0.1:  # escalated to a harder class now and then
            priority = "major" if priority == "complex" else "complex"
        out.append(
            HistoricIncident(
                category=code,
                priority=priority,
                description=f"{zh} {en}",
                lon=float(lon[where[i]] + jitter[i, 0]),
                lat=float(lat[where[i]] + jitter[i, 1]),
                grid_code=str(codes[where[i]]),
                reported_at=reported,
                steps=tuple(_steps(rng, reported, deadlines[priority], end)),
            )
        )
    out.sort(key=lambda r: r.reported_at)
    return out
