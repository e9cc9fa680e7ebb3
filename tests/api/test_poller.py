"""The index poller in a served app: grid changes committed by another process (here another
engine) reach /api/v1/locate within a few poll periods, with no request failing meanwhile."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from shapely.geometry import box

from api.app import create_app
from api.settings import Settings
from data import grids as grid_repo
from data.db import make_engine, migrate, transaction
from data.sample_loader import load_sample
from tests.conftest import own_database, served

pytestmark = pytest.mark.postgis

POLL_S = 0.2
WAIT_S = 10.0
FAR = {"lon": 100.005, "lat": 30.005}  # hundreds of kilometres from the sample city
NEW_CODE = "999000000000001"


@pytest.fixture(scope="module")
def poller_url(pg_url: str) -> Iterator[str]:
    """The sample city in a database of its own: these commits are real."""
    url = own_database(pg_url, "gridmap_poller")
    migrate(url)
    engine = make_engine(url, pool_size=1)
    try:
        with transaction(engine) as session:
            load_sample(session=session)
    finally:
        engine.dispose()
    yield url


def wait_for(
    http: httpx.Client, params: dict[str, float], done: Callable[[httpx.Response], bool]
) -> float:
    """Seconds until /locate's answer satisfies ``done``; every answer meanwhile is a 200
    or a 404 (the old snapshot), never an error. Fails after WAIT_S."""
    start = time.monotonic()
    while True:
        response = http.get("/api/v1/locate", params=params)
        assert response.status_code in (200, 404), response.text
        if done(response):
            return time.monotonic() - start
        assert time.monotonic() - start < WAIT_S, f"index still answers {response.text}"
        time.sleep(0.05)


def test_served_index_follows_committed_grid_changes(poller_url: str) -> None:
    app = create_app(Settings(database_url=poller_url, index_refresh_s=POLL_S, basemap="none"))
    engine = make_engine(poller_url, pool_size=1)
    try:
        with served(app) as url, httpx.Client(base_url=url, timeout=10) as http:
            assert http.get("/api/v1/locate", params=FAR).status_code == 404
            first = http.get("/api/v1/grids", params={"limit": 1}).json()["features"][0]
            code = first["properties"]["code"]
            with transaction(engine) as session:
                inside = grid_repo.current_grids(session=session)[0].geom.representative_point()
            here = {"lon": inside.x, "lat": inside.y}
            assert http.get("/api/v1/locate", params=here).json()["grid"]["code"] == code

            # a new grid, committed elsewhere
            with transaction(engine) as session:
                version = grid_repo.new_version(session=session, author="test", reason="poller")
                grid_repo.insert_grids(
                    session=session,
                    version=version,
                    rows=[
                        {
                            "code": NEW_CODE,
                            "name": "far",
                            "community": None,
                            "geom": box(100.0, 30.0, 100.01, 30.01),
                        }
                    ],
                )
            waited = wait_for(
                http,
                FAR,
                lambda r: r.status_code == 200 and r.json()["grid"]["code"] == NEW_CODE,
            )
            assert waited < WAIT_S

            # a grid retired, committed elsewhere: its interior is no longer its
            with transaction(engine) as session:
                grid_repo.retire(session=session, codes=[code])
            wait_for(
                http,
                here,
                lambda r: r.status_code == 404 or r.json()["grid"]["code"] != code,
            )
            assert http.get("/api/v1/locate", params=FAR).json()["grid"]["code"] == NEW_CODE
    finally:
        engine.dispose()
