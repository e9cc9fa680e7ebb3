"""15-minute service circles: gridmap side by side with the baselines, same data, one run.

    .venv/bin/python -m bench.coverage [--out bench/results/coverage.json] [--repeat 3]

Synthetic city (bench.synth_streets: ~100,000 street nodes, 100,000 buildings, 200 stations,
5,000 candidate sites) and the real Nanjing extract. Rows:

* life-circle compliance (``--compliance-only`` runs just these, into compliance.json; the
  full run writes them to both files): 10 facility kinds (GB 50180 circles), 40–250
  facilities each drawn from the candidate sites (fixed seed); gridmap's
  ``geo.compliance.nearest_by_kind`` (snapping included) against the osmnx recipe per kind
  (buildings snapped once to nodes, per-facility Dijkstra cut off at the kind's circle);
  then the per-grid report (6,561 lattice grids) from the results stored in PostGIS.

* gridmap: geo.walk (exact edge snapping, one multi-source scipy Dijkstra).
* osmnx recipe (the baseline pipeline): nearest-node snapping with a KD-tree, networkx
  ``single_source_dijkstra_path_length(cutoff)`` per station, isochrones as the union of
  buffered reached edges and nodes per station (osmnx's isochrone tutorial, shapely 2).
* networkx multi-source and pgRouting ``pgr_drivingDistance`` (all stations in one call,
  ``equicost => false`` + ``min(agg_cost)``) on the same exact graph gridmap routes on
  (station nodes joined to their edge's ends), checked equal to gridmap.

Times are best of ``--repeat`` (3) for every row, gridmap and baselines alike; nothing is
cached between repeats (every repeat snaps, routes and traces from scratch). Graph loading
into networkx / PostgreSQL is not timed for the exact comparison rows and says so.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import networkx as nx
import numpy as np
import psycopg
import pyrosm
import scipy
import shapely
from scipy.spatial import cKDTree

from api.compliance import Circles, compliance_report
from bench.common import best, write_report
from bench.synth_streets import City, synth_city
from data.compliance import ComplianceData, read_results
from data.compliance import radii as radii_of
from data.coverage import Points
from data.embedded import Cluster, free_port
from data.facility_kinds import FACILITY_KIND_SEED, Kind
from geo.compliance import Compliance, KindDistances, nearest_by_kind, within_circles
from geo.crs import to_metric
from geo.isochrones import isochrones
from geo.network import Snap, WalkNetwork
from geo.siting import suggest_sites
from geo.walk import nearest_snapped

T = TypeVar("T")
SPEED = 75.0
LEVELS = (5.0, 10.0, 15.0)
RADIUS = 15 * SPEED
NANJING = Path(__file__).parents[1] / "tests" / "fixtures" / "osm" / "nanjing_xuanwu.osm.pbf"
STATION_TAGS = {"amenity": ["community_centre", "townhall", "social_facility", "clinic", "police"]}


# --- gridmap ---------------------------------------------------------------------------


def gridmap_distances(
    net: WalkNetwork, stations: np.ndarray, buildings: np.ndarray, limit: float
) -> tuple[Snap, Snap, np.ndarray, np.ndarray]:
    """Snap both point sets onto the edges, then each building's nearest station."""
    b = net.snap(buildings[:, 0], buildings[:, 1])
    s = net.snap(stations[:, 0], stations[:, 1])
    near = nearest_snapped(net, s, b, limit=limit)
    return b, s, near.distance_m, near.source


# --- the osmnx recipe ------------------------------------------------------------------


def baseline_graph(net: WalkNetwork) -> nx.MultiGraph:
    graph = nx.MultiGraph()
    graph.add_nodes_from(range(net.n_nodes))
    graph.add_weighted_edges_from(
        zip(net.edge_u.tolist(), net.edge_v.tolist(), net.edge_length.tolist(), strict=True),
        weight="length",
    )
    return graph


def baseline_distances(
    net: WalkNetwork, graph: nx.MultiGraph, stations: np.ndarray, buildings: np.ndarray
) -> tuple[list[dict[int, float]], np.ndarray, np.ndarray]:
    """Nearest-node snapping (KD-tree), per-station Dijkstra with cutoff, nearest per node."""
    tree = cKDTree(net.node_xy)
    _, b_node = tree.query(_xy(net, buildings))
    _, s_node = tree.query(_xy(net, stations))
    reach = [
        nx.single_source_dijkstra_path_length(graph, int(n), cutoff=RADIUS, weight="length")
        for n in s_node
    ]
    node_d = np.full(net.n_nodes, np.inf)
    node_s = np.full(net.n_nodes, -1)
    for i, dist in enumerate(reach):
        for node, d in dist.items():
            if d < node_d[node]:
                node_d[node], node_s[node] = d, i
    return reach, node_d[b_node], node_s[b_node]


def baseline_isochrones(
    net: WalkNetwork, graph: nx.MultiGraph, reach: list[dict[int, float]]
) -> list[list[Any]]:
    """osmnx tutorial ``make_iso_polys``: reached nodes buffered 50 m, edges 25 m, unioned."""
    out = []
    for dist in reach:
        polys = []
        for minutes in LEVELS:
            nodes = [n for n, d in dist.items() if d <= minutes * SPEED]
            sub = graph.subgraph(nodes)
            u = np.array([a for a, _ in sub.edges()], dtype=np.int64)
            v = np.array([b for _, b in sub.edges()], dtype=np.int64)
            lines = (
                shapely.linestrings(
                    np.stack([net.node_xy[u], net.node_xy[v]], axis=1).reshape(-1, 2),
                    indices=np.repeat(np.arange(len(u)), 2),
                )
                if len(u)
                else np.array([], dtype=object)
            )
            pieces = np.concatenate(
                [shapely.buffer(shapely.points(net.node_xy[nodes]), 50), shapely.buffer(lines, 25)]
            )
            polys.append(shapely.union_all(pieces))
        out.append(polys)
    return out


# --- exact graph for networkx multi-source and pgRouting --------------------------------


def exact_edges(net: WalkNetwork, stations: Snap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(u, v, metres) of each undirected edge of the routing graph (shortest of parallel
    edges) plus, for station ``i`` on edge (a, b), node ``n + i`` joined to a and b by its
    access leg plus the partial edge length: the graph the DESIGN rule routes on."""
    coo = net.graph.tocoo()
    upper = coo.row < coo.col
    on = np.flatnonzero(stations.on_network)
    e = stations.edge[on]
    station = net.n_nodes + np.arange(len(on))
    access = stations.access_m[on]
    return (
        np.concatenate([coo.row[upper], station, station]),
        np.concatenate([coo.col[upper], net.edge_u[e], net.edge_v[e]]),
        np.concatenate(
            [coo.data[upper], access + stations.from_u[on], access + stations.from_v[on]]
        ),
    )


def per_building(net: WalkNetwork, b: Snap, node_d: np.ndarray) -> np.ndarray:
    """Node distances → building distances via either end of its edge."""
    e = b.edge
    du = node_d[net.edge_u[e]] + b.from_u
    dv = node_d[net.edge_v[e]] + b.from_v
    return np.where(b.on_network, np.minimum(du, dv) + b.access_m, np.inf)


def nx_multi_source(
    graph: nx.Graph, first_station: int, n_stations: int, n_nodes: int
) -> tuple[np.ndarray, np.ndarray]:
    dist, paths = nx.multi_source_dijkstra(
        graph, set(range(first_station, first_station + n_stations)), cutoff=RADIUS, weight="w"
    )
    node_d = np.full(n_nodes, np.inf)
    node_s = np.full(n_nodes, -1)
    nodes = np.fromiter((k for k in dist if k < n_nodes), dtype=np.int64)
    node_d[nodes] = [dist[k] for k in nodes.tolist()]
    node_s[nodes] = [paths[k][0] - first_station for k in nodes.tolist()]
    return node_d, node_s


def pgrouting(
    conn: psycopg.Connection, first_station: int, n_stations: int, n_nodes: int
) -> tuple[np.ndarray, np.ndarray]:
    starts = list(range(first_station + 1, first_station + n_stations + 1))
    rows = conn.execute(
        """SELECT DISTINCT ON (node) node, from_v, agg_cost FROM pgr_drivingDistance(
               'SELECT id, source, target, cost, reverse_cost FROM walk', %s::bigint[], %s,
               directed => false, equicost => false)
           ORDER BY node, agg_cost""",
        (starts, RADIUS),
    ).fetchall()
    got = np.array(rows, dtype=np.float64).reshape(-1, 3)
    node = got[:, 0].astype(np.int64) - 1
    keep = node < n_nodes
    node_d = np.full(n_nodes, np.inf)
    node_s = np.full(n_nodes, -1)
    node_d[node[keep]] = got[keep, 2]
    node_s[node[keep]] = got[keep, 1].astype(np.int64) - 1 - first_station
    return node_d, node_s


def load_pgrouting(conn: psycopg.Connection, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> None:
    conn.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
    conn.execute("DROP TABLE IF EXISTS walk")
    conn.execute(
        "CREATE TABLE walk (id bigint, source bigint, target bigint,"
        " cost float8, reverse_cost float8)"
    )
    with conn.cursor().copy("COPY walk FROM STDIN") as copy:
        for i, (a, b, c) in enumerate(zip(u.tolist(), v.tolist(), w.tolist(), strict=True)):
            copy.write_row((i + 1, a + 1, b + 1, c, c))
    conn.execute("ANALYZE walk")


# --- one data set ----------------------------------------------------------------------


def run_case(
    name: str,
    build: Callable[[], WalkNetwork],
    stations: np.ndarray,
    buildings: np.ndarray,
    conn: psycopg.Connection,
    *,
    repeat: int,
    households: np.ndarray | None = None,
    candidates: np.ndarray | None = None,
) -> dict[str, Any]:
    print(f"\n== {name}: {len(stations)} stations, {len(buildings)} buildings")
    t_build, net = best(build, repeat)
    print(f"network: {net.n_nodes} nodes, {net.n_edges} edges, built in {t_build:.3f} s")
    row: dict[str, Any] = {
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "stations": len(stations),
        "buildings": len(buildings),
        "build_s": t_build,
    }

    t_full, (b, s, dist, _) = best(
        lambda: gridmap_distances(net, stations, buildings, np.inf), repeat
    )
    t_lim, (_, _, dist15, _) = best(
        lambda: gridmap_distances(net, stations, buildings, RADIUS), repeat
    )
    row["gridmap_distances_s"] = t_full
    row["gridmap_distances_limit15_s"] = t_lim
    assert np.array_equal(dist15 <= RADIUS, dist <= RADIUS)
    covered = dist <= RADIUS
    row["covered_15min"] = float(covered.mean())
    print(f"gridmap distances+nearest, all buildings: {t_full:.3f} s (15-min bound {t_lim:.3f} s)")

    t_graph, graph = best(lambda: baseline_graph(net), repeat)
    t_base, (reach, base_d, _) = best(
        lambda: baseline_distances(net, graph, stations, buildings), repeat
    )
    row["baseline_graph_s"] = t_graph
    row["baseline_distances_s"] = t_base
    row["baseline_coverage_disagreement"] = float(((base_d <= RADIUS) != covered).mean())
    both = np.isfinite(base_d) & np.isfinite(dist) & (dist <= RADIUS)
    row["baseline_mean_abs_error_m"] = float(np.abs(base_d[both] - dist[both]).mean())
    print(
        f"osmnx recipe distances: {t_base:.3f} s (+ graph {t_graph:.3f} s); coverage differs"
        f" for {row['baseline_coverage_disagreement']:.1%}, mean error"
        f" {row['baseline_mean_abs_error_m']:.1f} m"
    )

    u, v, w = exact_edges(net, s)
    exact = nx.Graph()
    exact.add_weighted_edges_from(zip(u.tolist(), v.tolist(), w.tolist(), strict=True), weight="w")
    n_on = int(s.on_network.sum())
    t_nx, (nd, _) = best(lambda: nx_multi_source(exact, net.n_nodes, n_on, net.n_nodes), repeat)
    load_pgrouting(conn, u, v, w)
    t_pg, (pd_, _) = best(lambda: pgrouting(conn, net.n_nodes, n_on, net.n_nodes), repeat)
    # Buildings sharing an edge with a station may walk straight along it: gridmap only.
    shared = np.isin(b.edge, s.edge[s.on_network])
    for label, node_d in (("networkx", nd), ("pgrouting", pd_)):
        got = per_building(net, b, node_d)
        check = ~shared & (np.minimum(got, dist) <= RADIUS)
        assert np.allclose(got[check], dist[check], atol=1e-6), label
    row["networkx_multi_source_s"] = t_nx
    row["pgrouting_driving_distance_s"] = t_pg
    print(
        f"exact graph, equal to gridmap: networkx multi-source {t_nx:.3f} s,"
        f" pgr_drivingDistance {t_pg:.3f} s (graph loading not timed)"
    )

    t_iso, polys = best(lambda: isochrones(net, stations, minutes=LEVELS), repeat)
    row["gridmap_isochrones_s"] = t_iso
    row["isochrones_valid"] = bool(shapely.is_valid(polys).all())
    t_biso, _ = best(lambda: baseline_isochrones(net, graph, reach), repeat)
    row["baseline_isochrones_s"] = t_biso
    print(
        f"isochrones {len(stations)}×{len(LEVELS)}: gridmap {t_iso:.3f} s,"
        f" osmnx recipe {t_biso:.2f} s"
    )

    row["gridmap_end_to_end_s"] = t_build + t_full + t_iso
    row["baseline_end_to_end_s"] = t_graph + t_base + t_biso
    row["speedup_end_to_end"] = row["baseline_end_to_end_s"] / row["gridmap_end_to_end_s"]
    print(
        f"end to end (network, distances, isochrones): gridmap {row['gridmap_end_to_end_s']:.2f}"
        f" s vs {row['baseline_end_to_end_s']:.2f} s = {row['speedup_end_to_end']:.0f}×"
    )
    if candidates is not None and households is not None:
        t_site, sites = best(
            lambda: suggest_sites(
                net, stations, buildings, households, candidates, minutes=15, count=10
            ),
            repeat,
        )
        row["siting_s"] = t_site
        row["siting_added_households"] = sites.added_households.tolist()
        print(f"greedy siting 10 of {len(candidates)}: {t_site:.2f} s")
    return row


# --- life-circle compliance: facility kinds ---------------------------------------------

KIND_SEED = 20261129
GRID_SIDE = 81  # 81 × 81 = 6,561 grids over the city, 9 × 9 of them per community


def kind_facilities(candidates: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Ten kinds' facilities (fixed seed): 40–250 distinct candidate sites each, as one
    array of points and each kind's rows in it."""
    rng = np.random.default_rng(KIND_SEED)
    rows = [
        rng.choice(len(candidates), size=int(rng.integers(40, 251)), replace=False)
        for _ in range(10)
    ]
    sizes = np.cumsum([0, *map(len, rows)])
    members = [np.arange(a, b) for a, b in itertools.pairwise(sizes)]
    return candidates[np.concatenate(rows)], members


def baseline_kinds(
    net: WalkNetwork,
    graph: nx.MultiGraph,
    facilities: np.ndarray,
    members: list[np.ndarray],
    buildings: np.ndarray,
    radii: np.ndarray,
) -> np.ndarray:
    """The osmnx recipe per kind: buildings snapped once to their nearest node (KD-tree),
    then for each kind its facilities' nodes and one ``single_source_dijkstra_path_length``
    per facility cut off at the kind's circle; (kinds, buildings) within-circle flags."""
    tree = cKDTree(net.node_xy)
    _, b_node = tree.query(_xy(net, buildings))
    _, f_node = tree.query(_xy(net, facilities))
    within = np.zeros((len(members), len(buildings)), dtype=bool)
    for k, (rows, radius) in enumerate(zip(members, radii, strict=True)):
        reached = np.zeros(net.n_nodes, dtype=bool)
        for node in f_node[rows]:
            dist = nx.single_source_dijkstra_path_length(
                graph, int(node), cutoff=float(radius), weight="length"
            )
            reached[np.fromiter(dist, dtype=np.int64, count=len(dist))] = True
        within[k] = reached[b_node]
    return within


def lattice_groups(net: WalkNetwork, buildings: np.ndarray) -> dict[str, np.ndarray]:
    """Grid, community and street codes of each building from a lattice over the city."""
    xy = _xy(net, buildings)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    cell = np.minimum(((xy - lo) / (hi - lo) * GRID_SIDE).astype(int), GRID_SIDE - 1)
    grid = np.char.add(
        np.char.zfill(cell[:, 0].astype(str), 2), np.char.zfill(cell[:, 1].astype(str), 2)
    )
    community = np.char.add("c", (cell[:, 0] // 9 * 9 + cell[:, 1] // 9).astype(str))
    street = np.char.add("s", (cell[:, 0] // 27 * 3 + cell[:, 1] // 27).astype(str))
    return {"grid": grid, "community": community, "street": street}


def store_results(conn: psycopg.Connection, kinds: list[Kind], found: KindDistances) -> None:
    """The per-kind results as ``compliance_results`` rows (migration 0007's columns)."""
    conn.execute("DROP TABLE IF EXISTS compliance_results")
    conn.execute(
        "CREATE TABLE compliance_results (run_id integer, kind varchar(64), building_id integer,"
        " walk_m float8, station_id integer, PRIMARY KEY (run_id, kind, building_id))"
    )
    ids = np.arange(1, found.distance_m.shape[1] + 1)
    with conn.cursor().copy("COPY compliance_results FROM STDIN") as copy:
        for k, kind in enumerate(kinds):
            reached = np.isfinite(found.distance_m[k])
            for b, w, s, ok in zip(
                ids.tolist(),
                found.distance_m[k].tolist(),
                found.source[k].tolist(),
                reached.tolist(),
                strict=True,
            ):
                copy.write_row((1, kind.kind, b, w if ok else None, s if ok else None))
    conn.execute("ANALYZE compliance_results")


def run_compliance(city: City, conn: psycopg.Connection, *, repeat: int) -> dict[str, Any]:
    """10 facility kinds × the city's buildings: gridmap (one multi-source run per kind,
    snapping included) against the osmnx recipe per kind; then the report per grid from the
    stored results."""
    net = WalkNetwork.from_lines(city.lines)
    buildings, households, candidates = city.buildings, city.households, city.candidates
    kinds = list(FACILITY_KIND_SEED[:10])
    radii = radii_of(kinds, speed_m_per_min=SPEED)
    facilities, members = kind_facilities(candidates)
    print(f"\n== compliance: {len(kinds)} kinds, {len(facilities)} facilities")
    t_ours, found = best(lambda: nearest_by_kind(net, facilities, members, buildings), repeat)
    within = within_circles(found.distance_m, radii)
    t_graph, graph = best(lambda: baseline_graph(net), repeat)
    t_base, base = best(
        lambda: baseline_kinds(net, graph, facilities, members, buildings, radii), repeat
    )
    row: dict[str, Any] = {
        "kinds": len(kinds),
        "facilities": len(facilities),
        "buildings": len(buildings),
        "nodes": net.n_nodes,
        "radii_m": radii.tolist(),
        "gridmap_all_kinds_s": t_ours,
        "baseline_graph_s": t_graph,
        "baseline_all_kinds_s": t_base,
        "speedup": (t_graph + t_base) / t_ours,
        "baseline_disagreement": float((within != base).mean()),
        "within_share_per_kind": within.mean(axis=1).round(4).tolist(),
    }
    print(
        f"per-kind distances, {len(kinds)} kinds × {len(buildings)} buildings: gridmap"
        f" {t_ours:.3f} s; osmnx recipe {t_base:.2f} s (+ graph {t_graph:.2f} s) ="
        f" {row['speedup']:.0f}×; circles differ for {row['baseline_disagreement']:.1%}"
    )
    groups = lattice_groups(net, buildings)
    store_results(conn, kinds, found)

    def load() -> tuple[np.ndarray, np.ndarray]:
        stored = read_results(conn, run_id=1, kinds=[k.kind for k in kinds])
        walk = np.full(found.distance_m.shape, np.inf)
        station = np.full(found.source.shape, -1)
        walk[stored.kind, stored.building - 1] = stored.walk_m
        station[stored.kind, stored.building - 1] = stored.station
        return walk, station

    t_load, (walk, station) = best(load, repeat)
    assert np.array_equal(walk, found.distance_m)
    data = ComplianceData(
        run_id=1,
        kinds=kinds,
        buildings=Points(
            id=np.arange(1, len(buildings) + 1), name=[None] * len(buildings), lonlat=buildings
        ),
        households=households,
        population=np.round(households * 2.62),
        grid=groups["grid"],
        community=groups["community"],
        street=groups["street"],
        walk_m=walk,
        station_id=station,
        facilities={k.kind: len(m) for k, m in zip(kinds, members, strict=True)},
    )

    def figures() -> Compliance:
        table = Circles.of(data, speed_m_per_min=SPEED).groups("grid")
        table.weakest(), table.share("households"), table.share("population")
        return table

    t_figures, table = best(figures, repeat)
    t_report, report = best(
        lambda: compliance_report(data, by="grid", speed_m_per_min=SPEED), repeat
    )
    assert len(table.keys) == len(report["rows"])
    row |= {
        "grids": len(report["rows"]),
        "report_load_from_postgis_s": t_load,
        "report_figures_s": t_figures,
        "report_s": t_report,
        "report_with_load_s": t_load + t_report,
    }
    print(
        f"compliance report for {len(report['rows'])} grids: {t_report * 1000:.0f} ms"
        f" (figures {t_figures * 1000:.0f} ms, the rest JSON rows)"
        f" (+ {t_load * 1000:.0f} ms reading the stored results from PostGIS)"
    )
    return row


def _xy(net: WalkNetwork, lonlat: np.ndarray) -> np.ndarray:
    return np.column_stack(to_metric(lonlat[:, 0], lonlat[:, 1], net.epsg))


def nanjing_points() -> tuple[np.ndarray, np.ndarray]:
    osm = pyrosm.OSM(str(NANJING))
    b = osm.get_buildings().geometry.representative_point()
    s = osm.get_pois(custom_filter=STATION_TAGS).geometry.representative_point()
    return np.column_stack([s.x, s.y]), np.column_stack([b.x, b.y])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "coverage.json"
    )
    parser.add_argument("--repeat", type=int, default=3, help="best of this many, every row")
    parser.add_argument(
        "--compliance-only",
        action="store_true",
        help="only the facility-kind rows, written to bench/results/compliance.json",
    )
    args = parser.parse_args()
    if args.compliance_only:
        compliance_main(args.repeat)
        return
    load_at_start = os.getloadavg()
    t_city, city = best(synth_city, repeat=1)
    print(f"synthetic city generated in {t_city:.2f} s ({len(city.lines)} street lines)")
    home = Path(tempfile.mkdtemp(prefix="gridmap-bench-pg-"))
    cluster = Cluster(home, free_port())
    try:
        with psycopg.connect(cluster.start(), autocommit=True) as conn:
            synthetic = run_case(
                "synthetic city",
                lambda: WalkNetwork.from_lines(city.lines),
                city.stations,
                city.buildings,
                conn,
                repeat=args.repeat,
                households=city.households,
                candidates=city.candidates,
            )
            stations, buildings = nanjing_points()
            nanjing = run_case(
                "Nanjing (OSM)",
                lambda: WalkNetwork.from_osm(NANJING),
                stations,
                buildings,
                conn,
                repeat=args.repeat,
            )
            pgr_version = str(conn.execute("SELECT pgr_version()").fetchone()[0])  # type: ignore[index]
            compliance = run_compliance(city, conn, repeat=args.repeat)
    finally:
        cluster.destroy()
    goals = {
        "distances_under_0.2s": synthetic["gridmap_distances_s"] < 0.2,
        "isochrones_under_1s": synthetic["gridmap_isochrones_s"] < 1.0,
        "end_to_end_20x": synthetic["speedup_end_to_end"] >= 20,
        "siting_under_10s": synthetic["siting_s"] < 10,
        **compliance_goals(compliance),
    }
    report = {
        "repeat": args.repeat,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "load_average_at_start": load_at_start,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "shapely": shapely.__version__,
            "networkx": nx.__version__,
            "pgrouting": pgr_version,
        },
        "synthetic": synthetic,
        "nanjing": nanjing,
        "compliance": compliance,
        "goals": goals,
    }
    write_report(args.out, report)
    write_compliance(compliance, repeat=args.repeat, load_at_start=load_at_start)
    print(f"\ngoals: {goals}\nwritten {args.out}")


def compliance_main(repeat: int) -> None:
    """``--compliance-only``: the facility-kind rows alone (same code as the full run)."""
    load_at_start = os.getloadavg()
    city = synth_city()
    home = Path(tempfile.mkdtemp(prefix="gridmap-bench-pg-"))
    cluster = Cluster(home, free_port())
    try:
        with psycopg.connect(cluster.start(), autocommit=True) as conn:
            row = run_compliance(city, conn, repeat=repeat)
    finally:
        cluster.destroy()
    write_compliance(row, repeat=repeat, load_at_start=load_at_start)


def compliance_goals(row: dict[str, Any]) -> dict[str, bool]:
    return {
        "compliance_10_kinds_under_1.5s": row["gridmap_all_kinds_s"] < 1.5,
        "compliance_report_6500_grids_under_0.3s": row["report_s"] < 0.3,
    }


def write_compliance(row: dict[str, Any], *, repeat: int, load_at_start: Any) -> None:
    """bench/results/compliance.json: the facility-kind rows (also in coverage.json)."""
    out = Path(__file__).parent / "results" / "compliance.json"
    report = {
        "repeat": repeat,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"load_average_at_start": load_at_start, "cpus": os.cpu_count()},
        "compliance": row,
        "goals": compliance_goals(row),
    }
    write_report(out, report)
    print(f"written {out}")


if __name__ == "__main__":
    main()
