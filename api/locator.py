"""The in-memory point→grid index each worker serves from, kept in step with the database.

A background thread polls the grid state (row count, newest row id) every few seconds; on a
change it builds a fresh GridIndex off the request path and swaps the reference, so
requests never wait for a rebuild. Writers that change grids call ``refresh()`` to see
their own change at once. A failed refresh is logged and the previous snapshot served.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy.orm import Session, sessionmaker

from data import grids as grid_repo
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

    def require_in_region(self, lon: float, lat: float) -> None:
        """Raise OutsideRegionError (422) for a point outside the region."""
        if self.region is not None:
            self.region.require(lon, lat)

    def codes_for(self, code_index: NDArray[np.int32]) -> list[str | None]:
        table = np.array([*self.codes, None], dtype=object)
        return table[code_index].tolist()  # -1 picks the trailing None


def _build(
    session: Session, *, tolerance_m: float, region: Region | None, margin_m: float
) -> Snapshot:
    state = grid_repo.grid_state(session=session)
    grids = grid_repo.current_grids(session=session)
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
        self.snapshot = Snapshot(state=-1, index=None, codes=[], names=[], communities=[])
        self.checked_at: float | None = None  # monotonic time of the last successful check
        self.failing: str | None = None  # why the last check failed, while it does
        self._try_refresh()  # a database that is down now is polled later

    def _load(self) -> Snapshot:
        with self._sessions() as session:
            return _build(
                session,
                tolerance_m=self._tolerance_m,
                region=self._region,
                margin_m=self._margin_m,
            )

    def refresh(self) -> Snapshot:
        """Rebuild if the grids changed since the current snapshot; return the newest."""
        with self._lock:
            with self._sessions() as session:
                state = grid_repo.grid_state(session=session)
            if state != self.snapshot.state:
                self.snapshot = self._load()
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
        while not self._stop.wait(self._poll_s):
            self._try_refresh()
