"""Point → grid: gridmap side by side with the baselines, same data, one run.

    .venv/bin/python -m bench.assign [--points 1000000] [--repeat 3] [--out FILE.json]

Data: bench.synth's city, 6,500 Voronoi grids (~41 vertices each) over 30 x 30 km around
Nanjing, and 1M uniform random points over its lon/lat bounding box (~3% fall outside the
city, near or far). Rows:

* gridmap ``GridIndex.locate`` (numpy, one thread).
* shapely 2 ``STRtree.query(points, predicate="covered_by")``.
* geopandas ``sjoin(points, grids, predicate="covered_by")``.
* PostGIS GiST join ``pts JOIN grids ON ST_Covers(grids.geom, pts.geom)`` in a throwaway
  cluster (parallel workers as PostgreSQL plans them), timed server-side as
  ``CREATE UNLOGGED TABLE ... AS``.

Every baseline returns all covering grids; the tie rule (smallest code) is applied to its
pairs, and the answers must equal gridmap's for every point (gridmap's ``nearest`` matches
are points no baseline covers). Query times are best of ``--repeat`` (3) for every method,
gridmap and baselines alike; nothing is reused between repeats. Building trees/indexes and
loading PostgreSQL is not in the query times and is reported apart (one run each).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import psycopg
import shapely
from numpy.typing import NDArray

from bench.common import best, write_report
from bench.synth import SEED, random_points, voronoi_grids
from data.embedded import Cluster, free_port
from geo.locate import GridIndex, Match, metres_per_degree

T = TypeVar("T")
OUT = Path(__file__).parent / "results" / "assign.json"


def peak_mb(fn: Callable[[], T]) -> tuple[float, T]:
    """Peak traced allocation (numpy arrays included) while ``fn`` runs, in MB."""
    tracemalloc.start()
    try:
        result = fn()
        return tracemalloc.get_traced_memory()[1] / 1e6, result
    finally:
        tracemalloc.stop()


def smallest_code(
    pairs: tuple[NDArray[np.int64], NDArray[np.int64]], n: int, codes: NDArray[np.str_]
) -> NDArray[np.int64]:
    """Per point the covering grid with the smallest code, -1 where none covers."""
    point, grid = pairs
    rank = np.empty(codes.size, dtype=np.int64)
    rank[np.argsort(codes, kind="stable")] = np.arange(codes.size)
    order = np.lexsort((rank[grid], point))
    first = np.ones(order.size, dtype=bool)
    first[1:] = point[order][1:] != point[order][:-1]
    winner = np.full(n, -1, dtype=np.int64)
    winner[point[order][first]] = grid[order][first]
    return winner


def run_gridmap(
    geoms: NDArray[np.object_],
    codes: NDArray[np.str_],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    repeat: int,
) -> dict[str, Any]:
    cpu = time.process_time()
    build_s, _ = best(lambda: GridIndex(geoms, codes), repeat=1)  # as the baselines' builds
    build_cpu_s = time.process_time() - cpu
    build_peak, index = peak_mb(lambda: GridIndex(geoms, codes))
    locate_s, result = best(lambda: index.locate(x, y), repeat)
    locate_peak, _ = peak_mb(lambda: index.locate(x, y))
    index_mb = sum(v.nbytes for v in vars(index).values() if isinstance(v, np.ndarray)) / 1e6
    sample = list(zip(x[:200_000].tolist(), y[:200_000].tolist(), strict=True))
    one = index.locate_one
    start = time.perf_counter()
    for lon, lat in sample:
        one(lon, lat)
    one_us = (time.perf_counter() - start) / len(sample) * 1e6
    return {
        "build_s": build_s,
        "build_cpu_s": build_cpu_s,
        "build_peak_mb": build_peak,
        "raster": raster_stats(index, x, y),
        "index_arrays_mb": index_mb,
        "locate_s": locate_s,
        "locate_peak_mb": locate_peak,
        "points_per_s": x.size / locate_s,
        "locate_one_us": one_us,
        "match_counts": {m.name.lower(): int((result.match == m).sum()) for m in Match},
        "result": result,
    }


def raster_stats(
    index: GridIndex, x: NDArray[np.float64], y: NDArray[np.float64]
) -> dict[str, Any]:
    """The index's raster (private attributes, read for this report only): its size, its cell
    in metres at the centre, and the share of points each kind of cell answers."""
    raster = index._raster
    mx, my = metres_per_degree(float(np.mean(y)))
    v = raster[index._cells(x, y)]
    return {
        "cells": int(raster.size),
        "cell_m": [index._dx * mx, index._dy * my],
        "points_in_pure_cells": float(((v >= 0) | (v == -1)).mean()),  # one lookup
        "points_in_boundary_cells": float((v <= -3).mean()),  # tested exactly
        "points_in_near_cells": float((v == -2).mean()),  # nearest-grid search
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    status = Path("/proc/self/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1e3


def imports_rss() -> float:
    """Peak RSS of a fresh Python process after the imports ``gridmap_process_rss`` makes."""
    code = (
        "import shapely; from bench.assign import peak_rss_mb; "
        "from bench.synth import voronoi_grids, random_points; from geo.locate import GridIndex; "
        "print(peak_rss_mb())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def gridmap_process_rss(n: int) -> float:
    """Peak RSS of a fresh Python process that makes the city, builds, locates ``n`` points."""
    code = (
        "import shapely; from bench.assign import peak_rss_mb; "
        "from bench.synth import voronoi_grids, random_points; from geo.locate import GridIndex; "
        "g, c = voronoi_grids(); b = tuple(float(v) for v in shapely.total_bounds(g)); "
        f"x, y = random_points({n}, b); GridIndex(g, c).locate(x, y); print(peak_rss_mb())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def run_strtree(
    geoms: NDArray[np.object_], points: NDArray[np.object_], repeat: int
) -> dict[str, Any]:
    build_s, tree = best(lambda: shapely.STRtree(geoms), repeat=1)
    query_s, pairs = best(lambda: tree.query(points, predicate="covered_by"), repeat)
    return {"build_s": build_s, "query_s": query_s, "pairs": pairs}


def run_sjoin(
    geoms: NDArray[np.object_], points: NDArray[np.object_], repeat: int
) -> dict[str, Any]:
    grids = gpd.GeoDataFrame(geometry=geoms, crs=4326)
    pts = gpd.GeoDataFrame(geometry=points, crs=4326)
    query_s, joined = best(
        lambda: gpd.sjoin(pts, grids, predicate="covered_by", how="inner"), repeat
    )
    pairs = (joined.index.to_numpy(), joined["index_right"].to_numpy())
    return {"query_s": query_s, "pairs": pairs}


def run_postgis(
    geoms: NDArray[np.object_],
    codes: NDArray[np.str_],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    repeat: int,
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="gridmap-bench-pg-"))
    cluster = Cluster(home, free_port())
    try:
        with psycopg.connect(cluster.start(), autocommit=True) as conn:
            start = time.perf_counter()
            conn.execute(
                "CREATE TABLE grids (id int PRIMARY KEY, code text, geom geometry(Geometry, 4326))"
            )
            conn.execute("CREATE TABLE pts (id int PRIMARY KEY, x float8, y float8)")
            wkb = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
            with conn.cursor().copy("COPY grids (id, code, geom) FROM STDIN") as copy:
                copy.write(
                    "".join(
                        f"{i}\t{c}\t{w}\n"
                        for i, (c, w) in enumerate(zip(codes.tolist(), wkb.tolist(), strict=True))
                    )
                )
            with conn.cursor().copy("COPY pts (id, x, y) FROM STDIN") as copy:
                copy.write(
                    "".join(
                        f"{i}\t{a!r}\t{b!r}\n"
                        for i, (a, b) in enumerate(zip(x.tolist(), y.tolist(), strict=True))
                    )
                )
            conn.execute("ALTER TABLE pts ADD COLUMN geom geometry(Point, 4326)")
            conn.execute("UPDATE pts SET geom = ST_SetSRID(ST_MakePoint(x, y), 4326)")
            conn.execute("CREATE INDEX ON grids USING gist (geom)")
            conn.execute("CREATE INDEX ON pts USING gist (geom)")
            conn.execute("VACUUM ANALYZE grids")
            conn.execute("VACUUM ANALYZE pts")
            load_s = time.perf_counter() - start
            join = (
                "SELECT p.id AS pid, g.id AS gid FROM pts p JOIN grids g"
                " ON ST_Covers(g.geom, p.geom)"
            )
            plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN {join}").fetchall())

            def once() -> None:
                conn.execute("DROP TABLE IF EXISTS res")
                conn.execute(f"CREATE UNLOGGED TABLE res AS {join}")

            join_s, _ = best(once, repeat)
            rows = np.array(
                conn.execute("SELECT pid, gid FROM res").fetchall(), dtype=np.int64
            ).reshape(-1, 2)
            lookup = conn.cursor()
            sql = (
                "SELECT code FROM grids"
                " WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))"
                ' ORDER BY code COLLATE "C" LIMIT 1'
            )
            sample = list(zip(x[:2000].tolist(), y[:2000].tolist(), strict=True))
            start = time.perf_counter()
            for lon, lat in sample:
                lookup.execute(sql, (lon, lat), prepare=True)
                lookup.fetchone()
            one_ms = (time.perf_counter() - start) / len(sample) * 1e3
            workers = conn.execute("SHOW max_parallel_workers_per_gather").fetchone()
            versions = conn.execute("SELECT version(), postgis_full_version()").fetchone()
    finally:
        cluster.destroy()
    return {
        "load_s": load_s,
        "join_s": join_s,
        "plan": plan,
        "max_parallel_workers_per_gather": workers[0] if workers else None,
        "versions": list(versions) if versions else None,
        "single_lookup_ms": one_ms,
        "pairs": (rows[:, 0], rows[:, 1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many, every method")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    load_at_start = os.getloadavg()

    geoms, codes = voronoi_grids()
    xmin, ymin, xmax, ymax = (float(v) for v in shapely.total_bounds(geoms))
    bounds = (xmin, ymin, xmax, ymax)
    x, y = random_points(args.points, bounds)
    n = x.size
    vertices = shapely.get_num_coordinates(geoms).mean()
    print(f"{geoms.size} grids, {vertices:.1f} vertices each, {n:,} points")

    gm = run_gridmap(geoms, codes, x, y, args.repeat) | {
        "process_peak_rss_mb": gridmap_process_rss(n),
        "process_imports_rss_mb": imports_rss(),
    }
    print(
        f"gridmap: build {gm['build_s']:.2f} s, locate {gm['locate_s'] * 1e3:.1f} ms"
        f" = {gm['points_per_s'] / 1e6:.1f} M points/s, locate_one {gm['locate_one_us']:.2f} µs,"
        f" process peak RSS {gm['process_peak_rss_mb']:.0f} MB"
    )
    points = shapely.points(x, y)
    st = run_strtree(geoms, points, args.repeat)
    print(f"shapely STRtree covered_by: {st['query_s']:.2f} s")
    sj = run_sjoin(geoms, points, args.repeat)
    print(f"geopandas sjoin: {sj['query_s']:.2f} s")
    pg = run_postgis(geoms, codes, x, y, args.repeat)
    print(f"PostGIS GiST join: {pg['join_s']:.2f} s, lookup {pg['single_lookup_ms']:.3f} ms")

    result = gm.pop("result")
    ours = np.where(np.isin(result.match, (Match.INSIDE, Match.BOUNDARY)), result.code_index, -1)
    identical = {}
    for name, run in (("shapely_strtree", st), ("geopandas_sjoin", sj), ("postgis_join", pg)):
        theirs = smallest_code(run.pop("pairs"), n, codes)
        same = bool(np.array_equal(ours, theirs))
        identical[name] = same
        assert same, f"{name} differs from gridmap on {(ours != theirs).sum()} points"
    assert not np.isin(result.match[ours < 0], (Match.INSIDE, Match.BOUNDARY)).any()

    ratios = {
        "vs_shapely_strtree": st["query_s"] / gm["locate_s"],
        "vs_geopandas_sjoin": sj["query_s"] / gm["locate_s"],
        "vs_postgis_join": pg["join_s"] / gm["locate_s"],
        "locate_one_vs_postgis_lookup": pg["single_lookup_ms"] * 1e3 / gm["locate_one_us"],
    }
    for k, v in ratios.items():
        print(f"  {k}: {v:.0f}x")
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "shapely": shapely.__version__,
            "geos": ".".join(map(str, shapely.geos_version)),
            "geopandas": gpd.__version__,
            "load_average_at_start": load_at_start,
        },
        "repeat": args.repeat,
        "data": {
            "grids": int(geoms.size),
            "vertices_per_grid": float(vertices),
            "points": n,
            "seed": SEED,
            "bounds": bounds,
        },
        "gridmap": gm,
        "shapely_strtree": st,
        "geopandas_sjoin": sj,
        "postgis": pg,
        "ratios": ratios,
        "identical_answers": identical,
    }
    write_report(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
