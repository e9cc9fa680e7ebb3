"""GET /tiles/{layer}/{z}/{x}/{y}.pbf through the app, and the incidents page switching to
those tiles past TILE_THRESHOLD."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api import pages
from api.pages import tile_url
from api.routes.tiles import MEDIA_TYPE
from data.frames import incident_count
from maps import Basemap, render_page
from tests.data.test_tiles import CENTRE, add_incidents, features, tile_of

pytestmark = pytest.mark.postgis

NONE = Basemap(kind="none")


def test_tile_of_the_sample_city(client: TestClient) -> None:
    x, y = tile_of(*CENTRE, 14)
    response = client.get(f"/tiles/grids/14/{x}/{y}.pbf")  # public: no key
    assert response.status_code == 200
    assert response.headers["content-type"] == MEDIA_TYPE
    assert response.headers["cache-control"] == "max-age=60"
    assert features(response.content, "grids")


def test_incident_tile(client: TestClient, session: Session) -> None:
    (incident,) = add_incidents(session, [(*CENTRE, "accepted")])
    x, y = tile_of(*CENTRE, 16)
    response = client.get(tile_url("incidents").format(z=16, x=x, y=y))
    assert [f["properties"]["id"] for f in features(response.content, "incidents")] == [incident]


def test_empty_tile(client: TestClient) -> None:
    x, y = tile_of(-150.0, 0.0, 14)
    response = client.get(f"/tiles/buildings/14/{x}/{y}.pbf")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/tiles/roads/14/0/0.pbf", 404),
        ("/tiles/grids/23/0/0.pbf", 404),
        ("/tiles/grids/2/4/0.pbf", 404),
        ("/tiles/grids/2/0/-1.pbf", 404),
        ("/tiles/grids/2/a/0.pbf", 422),
        ("/tiles/grids/2/0/0.png", 404),
    ],
)
def test_bad_tiles(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def test_incident_count_stops_early(session: Session) -> None:
    before = incident_count(session=session)
    add_incidents(session, [(*CENTRE, "reported")] * 3)
    assert incident_count(session=session) == before + 3
    assert incident_count(session=session, up_to=2) == 2


def test_incidents_page_uses_tiles_past_the_threshold(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_incidents(session, [(*CENTRE, "reported")] * 3)
    url = tile_url("incidents")

    def page(tiles_url: str | None) -> str:
        return render_page(pages.incidents_page(session=session, tiles=NONE, tiles_url=tiles_url))

    monkeypatch.setattr(pages, "TILE_THRESHOLD", incident_count(session=session))
    embedded = page(url)
    assert "gridmap.incidents(" in embedded and "gridmap.incidentTiles(" not in embedded
    monkeypatch.setattr(pages, "TILE_THRESHOLD", incident_count(session=session) - 1)
    tiled = page(url)
    assert "gridmap.incidentTiles(" in tiled and "gridmap.incidents(" not in tiled
    assert f'"{url}"' in tiled
    # a standalone file has no server to fetch tiles from: it always embeds
    assert "gridmap.incidents(" in page(None)
