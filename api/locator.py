"""The in-memory point→grid index each worker serves from, kept in step with the database.

A background thread polls the grid state (a change counter bumped on every write to grids)
every few seconds; on a change it builds a fresh GridIndex off the request path and swaps the
reference, so requests never wait for a rebuild. Writers that change grids call ``refresh()``
to see their own change at once. A failed refresh is logged and the previous snapshot served.

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
from numpy.typing import NDArray
from sqlalchemy.orm import Session, sessionmaker

from data import grids as grid_repo
from data import redraw
from geo.locate import GridIndex

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
    until: datetime | None = None  # when a future redraw replaces these grids

    @property
    def grid_version(self) -> int:
        """The grids' change counter this index was built at (incident filing checks it)."""
        return self.state

    def codes_for(self, code_index: NDArray[np.int32]) -> list[str | None]:
        table = np.array([*self.codes, None], dtype=object)
        return table[code_index].tolist()  # -1 picks the trailing None


def _build(session: Session, *, tolerance_m: float, at: datetime | None = None) -> Snapshot:
    state = grid_repo.grid_state(session=session)
    grids = grid_repo.current_grids(session=session, at=at)
    codes = [g.code for g in grids]
    index = GridIndex([g.geom for g in grids], codes, tolerance_m=tolerance_m) if grids else None
    return Snapshot(
        state=state,
        index=index,
        codes=codes,
        names=[g.name for g in grids],
        communities=[g.community for g in grids],
    )


class Locator:
    """Holds the current Snapshot; state is real here (a reference swapped by a thread)."""

    def __init__(
        self, sessions: sessionmaker[Session], *, tolerance_m: float, poll_s: float
    ) -> None:
        self._sessions = sessions
        self._tolerance_m = tolerance_m
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._current = Snapshot(state=-1, index=None, codes=[], names=[], communities=[])
        self._next: tuple[float, Snapshot] | None = None  # (epoch seconds, snapshot from then)
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

    def refresh(self) -> Snapshot:
        """Rebuild if the grids changed since the current snapshot or a future redraw fell
        due; return the newest."""
        with self._lock:
            with self._sessions() as session:
                state = grid_repo.grid_state(session=session)
                if state != self._current.state or self._due():
                    at = grid_repo.next_change(session=session)
                    current = replace(_build(session, tolerance_m=self._tolerance_m), until=at)
                    upcoming = None
                    if at is not None:
                        then = grid_repo.next_change(session=session, after=at)
                        built = _build(session, tolerance_m=self._tolerance_m, at=at)
                        upcoming = (at.timestamp(), replace(built, until=then))
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
        except Exception:  # a blip must not kill the poller; old grids are served meanwhile
            log.warning(
                "grid index refresh failed; serving state %s", self.snapshot.state, exc_info=True
            )

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
