"""The in-memory point→grid index each worker serves from, kept in step with the database.

A background thread polls the grid state (a change counter bumped on every write to grids)
every few seconds; on a change it builds a fresh GridIndex off the request path and swaps the
reference, so requests never wait for a rebuild. Writers that change grids call ``refresh()``
to see their own change at once. A failed refresh is logged and the previous snapshot served
(``health()`` says so).

A redraw may take effect in the future: then the index of the grids valid from that moment is
built ahead and ``snapshot`` answers with it from that instant on (no restart, no poll
delay); the poller wakes then, rebuilds, and reassigns the buildings and open incidents of
redraws that fell due (``data.redraw.apply_due``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy.orm import Session, sessionmaker

from data import grids as grid_repo
from data import redraw
from geo.locate import GridIndex
from geo.region import Region

MATCH_NAMES = {1: "inside", 2: "boundary", 3: "nearest"}
log = logging.getLogger("gridmap.locator")


@dataclass(frozen=True)
class Snapshot:
    """One immutable generation of the index and the grid attributes it answers with."""

    state: int
    index: GridIndex | None
    codes: list[str]
    names: list[str]
    communities: list[str | None]
    region: Region | None = None
    """Where points may lie (the configured region, or the grids' extent plus a margin)."""
    until: datetime | None = None  # when a future redraw replaces these grids

    @property
    def grid_version(self) -> int:
        """The grids' change counter this index was built at (incident filing checks it)."""
        return self.state

    def require_in_region(self, lon: float, lat: float) -> None:
        """Raise OutsideRegionError (422) for a point outside the region."""
        if self.region is not None:
            self.region.require(lon, lat)

    def codes_for(self, code_index: NDArray[np.int32]) -> list[str | None]:
        table = np.array([*self.codes, None], dtype=object)
        return table[code_index].tolist()  # -1 picks the trailing None


def _build(
    session: Session,
    *,
    tolerance_m: float,
    region: Region | None,
    margin_m: float,
    at: datetime | None = None,
) -> Snapshot:
    state = grid_repo.grid_state(session=session)
    grids = grid_repo.current_grids(session=session, at=at)
    codes = [g.code for g in grids]
    geoms = [g.geom for g in grids]
    index = GridIndex(geoms, codes, tolerance_m=tolerance_m) if grids else None
    if region is None and grids:
        region = Region.around(shapely.total_bounds(geoms), margin_m)
    return Snapshot(
        state=state,
        index=index,
        codes=codes,
        names=[g.name for g in grids],
        communities=[g.community for g in grids],
        region=region,
    )


class Locator:
    """Holds the current Snapshot; state is real here (a reference swapped by a thread)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        tolerance_m: float,
        poll_s: float,
        region: Region | None = None,
        region_margin_m: float = 10_000.0,
    ) -> None:
        """``region``: where points may lie; None: the grids' extent plus the margin."""
        self._sessions = sessions
        self._tolerance_m = tolerance_m
        self._region = region
        self._margin_m = region_margin_m
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._current = Snapshot(state=-1, index=None, codes=[], names=[], communities=[])
        self._next: tuple[float, Snapshot] | None = None  # (epoch seconds, snapshot from then)
        self.checked_at: float | None = None  # monotonic time of the last successful check
        self.failing: str | None = None  # why the last check failed, while it does
        self._try_refresh()  # a database that is down now is polled later

    @property
    def snapshot(self) -> Snapshot:
        """The index of the grids valid now."""
        upcoming = self._next
        if upcoming is not None and time.time() >= upcoming[0]:
            return upcoming[1]
        return self._current

    def _due(self) -> bool:
        return self._next is not None and time.time() >= self._next[0]

    def _build(self, session: Session, at: datetime | None = None) -> Snapshot:
        return _build(
            session,
            tolerance_m=self._tolerance_m,
            region=self._region,
            margin_m=self._margin_m,
            at=at,
        )

    def refresh(self) -> Snapshot:
        """Rebuild if the grids changed since the current snapshot or a future redraw fell
        due; return the newest."""
        with self._lock:
            with self._sessions() as session:
                state = grid_repo.grid_state(session=session)
                if state != self._current.state or self._due():
                    at = grid_repo.next_change(session=session)
                    current = replace(self._build(session), until=at)
                    upcoming = None
                    if at is not None:
                        then = grid_repo.next_change(session=session, after=at)
                        upcoming = (at.timestamp(), replace(self._build(session, at), until=then))
                    self._current, self._next = current, upcoming
                if redraw.apply_due(session=session):
                    session.commit()
            return self.snapshot

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll, name="grid-index", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _try_refresh(self) -> None:
        try:
            self.refresh()
        except Exception as exc:  # a blip must not kill the poller; old grids are served
            self.failing = f"{type(exc).__name__}: {exc}".splitlines()[0]
            log.warning(
                "grid index refresh failed; serving state %s", self.snapshot.state, exc_info=True
            )
        else:
            self.checked_at, self.failing = time.monotonic(), None

    def health(self) -> dict[str, object]:
        """What /health reports of the index: its grid state, size, the seconds since the
        last successful check, and why checks fail, while they do."""
        age = None if self.checked_at is None else round(time.monotonic() - self.checked_at, 1)
        return {
            "state": self.snapshot.state,
            "grids": len(self.snapshot.codes),
            "checked_s_ago": age,
            "refresh_error": self.failing,
        }

    def _poll(self) -> None:
        while not self._stop.wait(self._wait_s()):
            self._try_refresh()

    def _wait_s(self) -> float:
        """Until the next poll, or just past the moment a future redraw takes effect."""
        upcoming = self._next
        if upcoming is None:
            return self._poll_s
        left = upcoming[0] - time.time()
        return self._poll_s if left <= 0 else min(self._poll_s, left + 0.001)
