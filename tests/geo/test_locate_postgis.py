"""GridIndex against PostGIS itself: every answer must equal the SQL rule.

Covered points: ``ST_Covers(geom, pt) ORDER BY code COLLATE "C" LIMIT 1``, boundary when
the winner does not also ``ST_Contains`` the point — compared exactly, bit for bit.

Uncovered points: the nearest grid within the tolerance (ties: smallest code), measured with
``ST_Distance`` in the data's UTM zone divided by the UTM scale factor at the point (UTM is
conformal, so that is metres on the ellipsoid). The grids are segmentized every 0.0005
degrees (~50 m) first, so PostGIS measures to the same straight lon/lat edges that ST_Covers
uses. (``ST_Distance(geography)`` is no exact oracle: it joins vertices by great circles,
~1.6 m off a straight 10 km district edge, and picks the closest point on a sphere, which
overstated a 12.85 m Boston distance by 5 mm.) We allow ``EPSILON_M``: a point that close to
the tolerance may fall either side, and grids whose distances differ by less count as tied.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import psycopg
import pytest
import shapely
from numpy.typing import NDArray
from pyproj import Geod, Proj

from geo.crs import utm_epsg
from geo.locate import GridIndex, Match
from tests.conftest import own_database
from tests.geo.test_locate import (
    GREENWICH_POINT,
    REAL_SETS,
    greenwich_pair,
    load_real,
    special_points,
)

pytestmark = pytest.mark.postgis

TOLERANCE_M = 50.0
EPSILON_M = 0.005

ORACLE = """
SELECT w.code, w.on_edge, n.code, n.dist / p.k
FROM pts p
LEFT JOIN LATERAL (
    SELECT g.code, NOT ST_Contains(g.geom, p.geom) AS on_edge FROM grids g
    WHERE ST_Covers(g.geom, p.geom) ORDER BY g.code COLLATE "C" LIMIT 1
) w ON true
LEFT JOIN LATERAL (
    SELECT g.code, ST_Distance(g.dense, p.utm) AS dist FROM grids g
    WHERE w.code IS NULL AND ST_DWithin(g.dense, p.utm, %(reach)s * p.k)
    ORDER BY dist, g.code COLLATE "C" LIMIT 1
) n ON true
ORDER BY p.id
"""


@pytest.fixture(scope="module")
def conn(pg_url: str) -> Iterator[psycopg.Connection]:
    """A connection to a database of its own, so its tables never touch the application's
    (a schema on the search path would let ``DROP TABLE grids`` reach ``public.grids``)."""
    with psycopg.connect(own_database(pg_url, "locate_oracle"), autocommit=True) as c:
        c.execute("CREATE EXTENSION postgis")
        yield c


def load(
    conn: psycopg.Connection,
    geoms: NDArray[np.object_],
    codes: NDArray[np.str_],
    pts: NDArray[np.float64],
) -> None:
    """Grids as EWKB and points as exact float8 pairs, so PostGIS sees our very bits."""
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    epsg = utm_epsg((xmin + xmax) / 2, (ymin + ymax) / 2)
    scale = np.asarray(Proj(f"EPSG:{epsg}").get_factors(pts[:, 0], pts[:, 1]).meridional_scale)
    conn.execute("DROP TABLE IF EXISTS grids, pts")
    conn.execute("CREATE TABLE grids (code text PRIMARY KEY, geom geometry(Geometry, 4326))")
    conn.execute("CREATE TABLE pts (id int PRIMARY KEY, x float8, y float8, k float8)")
    wkb = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
    with conn.cursor().copy("COPY grids (code, geom) FROM STDIN") as copy:
        for row in zip(codes.tolist(), wkb.tolist(), strict=True):
            copy.write_row(row)
    with conn.cursor().copy("COPY pts (id, x, y, k) FROM STDIN") as copy:
        for i, (xy, k) in enumerate(zip(pts.tolist(), scale.tolist(), strict=True)):
            copy.write_row((i, *xy, k))
    conn.execute("ALTER TABLE pts ADD COLUMN geom geometry(Point, 4326), ADD COLUMN utm geometry")
    conn.execute(
        "UPDATE pts SET geom = ST_SetSRID(ST_MakePoint(x, y), 4326),"
        " utm = ST_Transform(ST_SetSRID(ST_MakePoint(x, y), 4326), %s)",
        (epsg,),
    )
    conn.execute("ALTER TABLE grids ADD COLUMN dense geometry")
    conn.execute("UPDATE grids SET dense = ST_Transform(ST_Segmentize(geom, 0.0005), %s)", (epsg,))
    conn.execute("CREATE INDEX ON grids USING gist (geom)")
    conn.execute("CREATE INDEX ON grids USING gist (dense)")
    conn.execute("ANALYZE grids")


def pg_distance(conn: psycopg.Connection, code: str, point: int) -> float:
    row = conn.execute(
        "SELECT ST_Distance(g.dense, p.utm) / p.k FROM grids g, pts p"
        " WHERE g.code = %s AND p.id = %s",
        (code, point),
    ).fetchone()
    assert row is not None
    return float(row[0])


def sample_points(geoms: NDArray[np.object_], seed: int) -> NDArray[np.float64]:
    """Random points, vertices, midpoints, points along edges, and points pushed 0-70 m out."""
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    random = np.c_[rng.uniform(xmin, xmax, 3000), rng.uniform(ymin, ymax, 3000)]
    special = special_points(geoms, limit=5000, seed=seed)
    base = special[rng.choice(special.shape[0], 2000)]
    lon, lat, _ = Geod(ellps="WGS84").fwd(
        base[:, 0], base[:, 1], rng.uniform(0, 360, 2000), rng.uniform(0, 70, 2000)
    )
    return np.vstack([random, special, np.c_[lon, lat]])


def compare(
    conn: psycopg.Connection,
    geoms: NDArray[np.object_],
    codes: NDArray[np.str_],
    pts: NDArray[np.float64],
) -> None:
    load(conn, geoms, codes, pts)
    rows = conn.execute(ORACLE, {"reach": TOLERANCE_M + EPSILON_M}).fetchall()
    got = GridIndex(geoms, codes, tolerance_m=TOLERANCE_M).locate(pts[:, 0], pts[:, 1])
    ours = [codes[i] if i >= 0 else None for i in got.code_index]
    for i, (cover_code, on_edge, near_code, near_dist) in enumerate(rows):
        where = f"point {i} ({pts[i, 0]!r}, {pts[i, 1]!r})"
        if cover_code is not None:
            expect = Match.BOUNDARY if on_edge else Match.INSIDE
            assert (ours[i], got.match[i]) == (cover_code, expect), where
            continue
        assert got.match[i] in (Match.NONE, Match.NEAREST), where
        if near_code is None or near_dist > TOLERANCE_M:
            pg_far = near_dist if near_code is not None else np.inf
            assert got.match[i] == Match.NONE or pg_far - TOLERANCE_M < EPSILON_M, where
            continue
        if got.match[i] == Match.NONE:
            assert TOLERANCE_M - near_dist < EPSILON_M, where
            continue
        assert abs(got.distance_m[i] - near_dist) < EPSILON_M, where
        if ours[i] != near_code:  # a tie within EPSILON_M
            mine = pg_distance(conn, str(ours[i]), i)
            assert abs(mine - near_dist) < EPSILON_M, where


@pytest.mark.parametrize("name", sorted(REAL_SETS))
def test_real_sets_equal_postgis(conn: psycopg.Connection, name: str) -> None:
    geoms, codes = load_real(name)
    compare(conn, geoms, codes, sample_points(geoms, seed=len(name)))


def test_postgis_float_side_test_case(conn: psycopg.Connection) -> None:
    geoms, codes = greenwich_pair()
    pts = np.vstack([np.array([GREENWICH_POINT]), sample_points(geoms, seed=1)])
    compare(conn, geoms, codes, pts)
    row = conn.execute(ORACLE, {"reach": TOLERANCE_M}).fetchone()
    assert row is not None and row[:2] == ("n", True)  # PostGIS does call it on the edge
