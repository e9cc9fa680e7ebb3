"""Grid redraws: gridmap's validate / commit side by side with the same check as one PostGIS
query, on one synthetic city in one throwaway PostGIS cluster.

    .venv/bin/python -m bench.redraw [--out bench/results/redraw.json]

Data: bench.synth_city with communities of ~50 grids: 6,500 Voronoi grids (~41 vertices,
bent boundaries, shared edges bit-identical) over 30 × 30 km around Nanjing, 100,000
buildings, 5,000 incidents (about half open), loaded through the migrations.

Rows:

* **2-grid boundary move** — two neighbours of the ~50-grid community get their shared
  boundary pushed into one of them (two straight legs through a point halfway from its
  middle to the grid's interior, ``geo.topology.move_boundary``), the pair moving the most
  area. gridmap: ``data.redraw.plan``
  (ETags, topology of the community limited to the changed strip, buildings and open
  incidents that move, load per grid) then rolled back. Commit: ``plan(lock=True)`` +
  ``commit`` (versions closed and opened, buildings and open incidents reassigned, audit)
  + COMMIT, alternately moving the boundary and moving it back, each on fresh ETags.
* **50-grid community redraw** — every grid of the community submitted (as an edited
  export would be: same shapes, vertices renumbered): ``plan`` over the whole community.
* **PostGIS baseline** — the same check as one query on the submitted geometries:
  ``ST_Union`` of the community's grids vs the community (``ST_Difference``: gaps, area on
  the geography) and pairwise ``ST_Overlaps`` (overlap areas), the other grids read from
  the table. It does not compute impact. Both sides get the same geometries; times are
  best of ``--repeat`` for each (same count), wall time seen by the client.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import LineString
from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.common import best, write_report
from bench.synth_city import City, synth_city
from data.db import make_engine, make_sessionmaker, migrate, transaction
from data.embedded import Cluster, free_port
from data.grids import as_multi, insert_grids, new_version, reassign_buildings
from data.redraw import Change, Plan, commit, plan
from geo.topology import check_partition, move_boundary, polygonal_boundary

OUT = Path(__file__).parent / "results" / "redraw.json"
TOLERANCE_M = 50.0

BASELINE = text(
    """
    WITH submitted AS (
        SELECT c AS code, ST_GeomFromWKB(w, 4326) AS geom
        FROM unnest(CAST(:codes AS text[]), CAST(:wkbs AS bytea[])) AS t(c, w)),
    g AS (
        SELECT code, geom FROM submitted
        UNION ALL
        SELECT code, geom FROM grids
        WHERE community = :community AND valid_to IS NULL AND NOT (code = ANY(:codes))),
    gap AS (
        SELECT ST_Area(ST_Difference(r.geom, u.geom)::geography) AS m2
        FROM regions r, (SELECT ST_Union(geom) AS geom FROM g) u WHERE r.code = :community),
    overlap AS (
        SELECT count(*) AS n, coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)),
                                       0) AS m2
        FROM g a JOIN g b ON a.code < b.code AND ST_Overlaps(a.geom, b.geom))
    SELECT gap.m2 AS gap_m2, overlap.n AS overlaps, overlap.m2 AS overlap_m2 FROM gap, overlap
    """
)


def load(session: Session, city: City) -> None:
    """The city through the same tables and migrations the service uses."""
    regions = city.regions
    insert_arrays(
        session,
        "regions (code, level, name, parent, geom)",
        "c, l, n, p, ST_Multi(ST_GeomFromWKB(w, 4326))",
        c=("text", regions["code"].tolist()),
        l=("text", regions["level"].tolist()),
        n=("text", regions["name"].tolist()),
        p=("text", regions["parent"].tolist()),
        w=("bytea", [g.wkb for g in regions.geometry]),
    )
    version = new_version(session=session, author="bench", reason="synthetic city")
    grids = city.grids
    rows = [
        {
            "code": r.code,
            "name": r.name,
            "community": r.community,
            "geom": r.geometry,
            "households": int(r.households),
            "worker_name": r.worker_name,
            "worker_phone": None,
        }
        for r in grids.itertuples()
    ]
    insert_grids(session=session, rows=rows, version=version)
    b = city.buildings
    insert_arrays(
        session,
        "buildings (geom, households)",
        "ST_SetSRID(ST_MakePoint(x, y), 4326), h",
        x=("float8", b.geometry.x.tolist()),
        y=("float8", b.geometry.y.tolist()),
        h=("int", b["households"].tolist()),
    )
    reassign_buildings(session=session, households=False)
    i = city.incidents
    insert_arrays(
        session,
        "incidents (category, status, priority, geom, grid_code, reported_at, due_at)",
        "c, s, p, ST_SetSRID(ST_MakePoint(x, y), 4326), g, r, d",
        c=("text", i["category"].tolist()),
        s=("text", i["status"].tolist()),
        p=("text", i["priority"].tolist()),
        x=("float8", i.geometry.x.tolist()),
        y=("float8", i.geometry.y.tolist()),
        g=("text", [g if isinstance(g, str) else None for g in i["grid_code"]]),
        r=("timestamptz", i["reported_at"].dt.to_pydatetime().tolist()),
        d=("timestamptz", i["due_at"].dt.to_pydatetime().tolist()),
    )


def insert_arrays(
    session: Session, into: str, select: str, **arrays: tuple[str, list[Any]]
) -> None:
    """INSERT INTO ``into`` SELECT ``select`` FROM unnest(arrays): one statement per table."""
    unnest = ", ".join(f"CAST(:{k} AS {t}[])" for k, (t, _) in arrays.items())
    session.execute(
        text(f"INSERT INTO {into} SELECT {select} FROM unnest({unnest}) AS t({', '.join(arrays)})"),
        {k: v for k, (_, v) in arrays.items()},
    )


def current(session: Session, code: str) -> tuple[Any, str]:
    row = session.execute(
        text("SELECT id, ST_AsBinary(geom) FROM grids WHERE code = :c AND valid_to IS NULL"),
        {"c": code},
    ).one()
    return shapely.from_wkb(bytes(row[1])), f'"g{row[0]}"'


def pick_community(city: City) -> tuple[str, list[str]]:
    sizes = city.grids.groupby("community").size()
    community = str((sizes - 50).abs().idxmin())
    return community, sorted(city.grids.loc[city.grids["community"] == community, "code"])


def bulged(a: Any, b: Any) -> tuple[Any, Any] | None:
    """a|b's shared boundary replaced by two straight legs through a point pushed from its
    middle halfway (or less) towards a's interior: a real move of a few dozen metres."""
    shared = shapely.line_merge(polygonal_boundary(a, b))
    if shared.is_empty or shared.geom_type != "LineString":
        return None
    start, end = shared.coords[0], shared.coords[-1]
    mid = shared.interpolate(0.5, normalized=True)
    inner = a.representative_point()
    for f in (0.5, 0.3, 0.15):
        p = (mid.x + f * (inner.x - mid.x), mid.y + f * (inner.y - mid.y))
        try:
            return move_boundary(a, b, LineString([start, p, end]))
        except ValueError:
            continue
    return None


def pick_pair(session: Session, codes: list[str]) -> tuple[str, str]:
    """The two neighbours whose bulged boundary moves the most area."""
    shapes = {c: current(session, c)[0] for c in codes}
    best_pair, best_area = None, 0.0
    for k, a in enumerate(codes):
        for b in codes[k + 1 :]:
            moved = bulged(shapes[a], shapes[b])
            if moved is None:
                continue
            area = moved[0].symmetric_difference(shapes[a]).area
            if area > best_area:
                best_pair, best_area = (a, b), area
    assert best_pair is not None, "no movable pair"
    return best_pair


def move(session: Session, a: str, b: str, target: tuple[Any, Any] | None) -> list[Change]:
    """The bulge of a|b's boundary, or (``target``) a return to given shapes."""
    (ga, ea), (gb, eb) = current(session, a), current(session, b)
    if target is None:
        target = bulged(ga, gb)
        assert target is not None
    return [
        Change(code=a, etag=ea, geometry=as_multi(target[0])),
        Change(code=b, etag=eb, geometry=as_multi(target[1])),
    ]


def baseline(session: Session, community: str, changes: list[Change]) -> dict[str, Any]:
    row = session.execute(
        BASELINE,
        {
            "community": community,
            "codes": [c.code for c in changes],
            "wkbs": [shapely.to_wkb(c.geometry) for c in changes],
        },
    ).one()
    return {"gap_m2": float(row.gap_m2), "overlaps": int(row.overlaps)}


def validate(session: Session, changes: list[Change]) -> Plan:
    try:
        return plan(session=session, changes=changes, tolerance_m=TOLERANCE_M)
    finally:
        session.rollback()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    repeat = args.repeat

    start = time.perf_counter()
    city = synth_city(grids_per_community=50)
    city_s = time.perf_counter() - start
    home = Path(tempfile.mkdtemp(prefix="gridmap-bench-redraw-"))
    cluster = Cluster(home, free_port())
    try:
        url = cluster.start()
        migrate(url)
        engine = make_engine(url, pool_size=2)
        start = time.perf_counter()
        with transaction(engine) as session:
            load(session, city)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        load_s = time.perf_counter() - start
        sessions = make_sessionmaker(engine)
        community, codes = pick_community(city)
        report: dict[str, Any] = {
            "machine": platform.processor() or platform.machine(),
            "grids": len(city.grids),
            "buildings": len(city.buildings),
            "incidents": len(city.incidents),
            "community": community,
            "community_grids": len(codes),
            "repeat": repeat,
            "city_s": round(city_s, 2),
            "load_s": round(load_s, 2),
        }
        with sessions() as session:
            a, b = pick_pair(session, codes)
            original = (current(session, a)[0], current(session, b)[0])
            changes = move(session, a, b, None)
            session.rollback()
            t_validate, result = best(lambda: validate(session, changes), repeat)
            assert result.ok, result.problems
            t_pg2, pg2 = best(lambda: baseline(session, community, changes), repeat)
            session.rollback()
            report["move"] = {
                "grids": [a, b],
                "buildings_moved": len(result.buildings_moved),
                "incidents_moved": len(result.incidents_moved),
                "gridmap_validate_impact_s": round(t_validate, 4),
                "postgis_check_s": round(t_pg2, 4),
                "postgis_result": pg2,
                "ratio_postgis_over_gridmap": round(t_pg2 / t_validate, 1),
            }

            commits = []
            for k in range(repeat):
                session.rollback()
                change_set = move(session, a, b, None if k % 2 == 0 else original)
                session.rollback()
                begin = time.perf_counter()
                planned = plan(
                    session=session, changes=change_set, tolerance_m=TOLERANCE_M, lock=True
                )
                commit(session=session, result=planned, author="bench", reason="bench",
                       valid_from=None)  # fmt: skip
                session.commit()
                commits.append(time.perf_counter() - begin)
            report["move"]["gridmap_commit_s"] = round(min(commits), 4)
            report["move"]["gridmap_commit_median_s"] = round(statistics.median(commits), 4)

            whole = []
            for code in codes:
                geom, etag = current(session, code)
                whole.append(Change(code=code, etag=etag, geometry=shapely.normalize(geom)))
            session.rollback()
            t_whole, whole_plan = best(lambda: validate(session, whole), repeat)
            assert whole_plan.ok, whole_plan.problems
            t_pg50, pg50 = best(lambda: baseline(session, community, whole), repeat)
            session.rollback()
            geoms = [c.geometry for c in whole]
            territory = shapely.from_wkb(
                session.execute(
                    text("SELECT ST_AsBinary(geom) FROM regions WHERE code = :c"),
                    {"c": community},
                ).scalar_one()
            )
            session.rollback()
            t_pure, problems = best(
                lambda: check_partition(geoms, codes, territory=territory), repeat
            )
            assert problems == []
            report["community_redraw"] = {
                "gridmap_validate_impact_s": round(t_whole, 4),
                "gridmap_topology_only_s": round(t_pure, 4),
                "postgis_check_s": round(t_pg50, 4),
                "postgis_result": pg50,
                "ratio_postgis_over_gridmap": round(t_pg50 / t_whole, 1),
                "ratio_postgis_over_topology": round(t_pg50 / t_pure, 1),
            }
        engine.dispose()
    finally:
        cluster.destroy()
    report["goals"] = {
        "move_validate_under_200ms": report["move"]["gridmap_validate_impact_s"] < 0.2,
        "move_commit_under_1s": report["move"]["gridmap_commit_s"] < 1.0,
        "community_validate_under_2s": report["community_redraw"]["gridmap_validate_impact_s"]
        < 2.0,
    }
    write_report(args.out, report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
