"""Coverage runs as the API and the map pages use them: the stored network (cached per
worker), the run for the current inputs (computed on first use), who it covers."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from api.caches import Lru, network
from api.settings import Settings
from data import coverage as repo
from data.errors import ConflictError
from geo.coverage import covered_within
from geo.network import WalkNetwork

MAX_CANDIDATES = 5000


def stored_network(cache: Lru[WalkNetwork | None], session: Session) -> WalkNetwork:
    walk = network(cache, session=session)
    if walk is None:
        raise ConflictError("no walking network imported yet: run `gridmap import network FILE`")
    return walk


def current_run(
    cache: Lru[WalkNetwork | None], session: Session, settings: Settings, kind: str | None
) -> int:
    """The run for the current inputs, computed and committed on first use."""
    speed, access = settings.walk_speed_m_per_min, settings.max_access_m
    run_id = repo.find_run(session=session, kind=kind, speed_m_per_min=speed, max_access_m=access)
    if run_id is None:
        run_id = repo.compute_run(
            session=session,
            network=stored_network(cache, session),
            kind=kind,
            speed_m_per_min=speed,
            max_access_m=access,
        )
        session.commit()
    return run_id


def default_candidates(walk: WalkNetwork) -> NDArray[np.float64]:
    """Candidate sites when none are given: network nodes, evenly thinned to 5,000."""
    pick = np.unique(
        np.linspace(0, walk.n_nodes - 1, min(MAX_CANDIDATES, walk.n_nodes)).astype(int)
    )
    return walk.node_lonlat[pick]


def covered_run(
    cache: Lru[WalkNetwork | None],
    session: Session,
    settings: Settings,
    *,
    kind: str | None,
    minutes: float,
) -> tuple[repo.RunData, NDArray[np.bool_]]:
    """The current run's per-building data and which buildings are within ``minutes``."""
    data = repo.run_data(session=session, run_id=current_run(cache, session, settings, kind))
    return data, covered_within(data.walk_m, minutes, speed_m_per_min=settings.walk_speed_m_per_min)
