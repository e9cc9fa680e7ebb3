"""Generate the bundled sample city (``data/sample/nanjing``) from an OpenStreetMap extract.

    python -m data.sample.generate --source nanjing_xuanwu.osm.pbf --out data/sample/nanjing

Network, buildings and stations are real OSM features; the administrative geography is
fictional but cut from the real street pattern, so that grids follow roads and compounds
the way real 网格 do:

1. Every walkable OSM way is snapped to a 1e-7° grid and noded; polygonizing that linework
   gives the *blocks*. Blocks with more households than a grid may hold are first cut
   between their buildings (``_cuts``). Every region is a dissolve of blocks, so
   neighbours share bit-identical edges and each level partitions its parent exactly,
   also after writing (7 decimals represent every grid coordinate exactly).
2. The district is the set of blocks lying mostly inside a buffered concave hull of the
   buildings (the densely mapped core), holes filled: its boundary follows roads.
3. Streets (街道) are the pieces left when cutting along trunk/primary roads, communities
   (社区) the pieces of a street cut along secondary/tertiary roads; light pieces join a
   neighbour, heavy ones are re-split along minor roads. Grids (网格) group a community's
   blocks to about 200–400 households. All grouping is one greedy rule, ``_merge_light``.
4. Codes number siblings west→east in rows north→south (``_number``); names come from the
   longest named road inside a region (``_road_name``).

Buildings (with their household estimate) and stations come from ``data.files.osm``, the rules
``gridmap import`` applies to any OSM extract.
``ATTRIBUTION.txt`` beside the output is maintained by hand.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyrosm
import shapely
from numpy.typing import NDArray
from shapely.geometry import mapping

from data.files.osm import building_points, local_epsg, osm_stations, reproject
from geo.crs import from_metric, to_metric

PRECISION = 1e-7
"""Coordinate grid in degrees (~1 cm): every output coordinate lies on it."""

DISTRICT = ("320102", "玄武区")
STREET_ROADS = frozenset({"trunk", "trunk_link", "primary", "primary_link"})
COMMUNITY_ROADS = STREET_ROADS | {"secondary", "secondary_link", "tertiary", "tertiary_link"}

GRID_HOUSEHOLDS = (200, 400)
COMMUNITY_HOUSEHOLDS = (2000, 4500)
STREET_MIN_HOUSEHOLDS = 8000

_SURNAMES = "王李张刘陈杨赵黄周吴"
_GIVEN_NAMES = ("秀英", "志强", "桂兰", "建华", "晓梅", "海燕", "国强", "丽娟", "文静", "明")

Adjacency = dict[tuple[int, int], NDArray[np.float64]]
"""(i, j) with i < j → shared boundary length in metres by road rank (0 minor, 1, 2)."""
Feature = tuple[dict[str, Any], shapely.Geometry]

_LEVELS = (
    ("street", "district_code", "街道"),
    ("community", "street_code", "社区"),
    ("grid", "community_code", "网格"),
)
"""Each level below the district: its name, its parent's code column, its name suffix."""


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point; prints the feature count of each file written."""
    parser = argparse.ArgumentParser(description="Generate the gridmap sample city from OSM.")
    parser.add_argument("--source", type=Path, required=True, help="OSM extract (.osm.pbf)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    args = parser.parse_args(argv)
    for name, count in generate(args.source, args.out).items():
        print(f"{name}: {count}")


def generate(source: Path, out: Path) -> dict[str, int]:
    """Write network, buildings, stations, regions and grids GeoJSON; return feature counts."""
    osm = pyrosm.OSM(str(source))
    _, edges = osm.get_network(network_type="walking", nodes=True)
    roads = edges.geometry.to_numpy()
    epsg = local_epsg(roads)
    edges_m = edges.set_geometry(reproject(roads, to_metric, epsg), crs=epsg)
    footprints = osm.get_buildings()
    footprints_m = reproject(footprints.geometry.to_numpy(), to_metric, epsg)
    buildings = _on_grid(building_points(footprints, footprints_m))

    blocks_m = reproject(_blocks(roads), to_metric, epsg)
    cuts_m = _cuts(blocks_m, footprints_m, buildings["households"].to_numpy())
    blocks = _blocks(np.concatenate([roads, reproject(cuts_m, from_metric, epsg)]))
    blocks_m = reproject(blocks, to_metric, epsg)
    in_district = _district_blocks(blocks_m, footprints_m)
    district = shapely.coverage_union_all(blocks[in_district])
    buildings = buildings[shapely.covers(district, buildings.geometry.to_numpy())]
    stations = _on_grid(osm_stations(source))
    stations = stations[shapely.covers(district, stations.geometry.to_numpy())]

    households = _block_households(blocks, buildings)
    adjacency = _adjacency(blocks_m, edges_m)
    labels = _hierarchy(np.flatnonzero(in_district).tolist(), households, adjacency)
    regions, grids = _features(_number(labels, blocks_m), blocks, blocks_m, households, edges_m)

    out.mkdir(parents=True, exist_ok=True)
    layers = {
        "network": _network_features(edges),
        "buildings": _frame_features(buildings),
        "stations": _frame_features(stations),
        "regions": regions,
        "grids": grids,
    }
    for name, features in layers.items():
        _write(out / f"{name}.geojson", features)
    return {name: len(features) for name, features in layers.items()}


def _snap(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    return shapely.set_precision(geoms, PRECISION)


def _on_grid(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``frame`` with its points snapped to the precision grid, like every output coordinate."""
    return frame.set_geometry(_snap(frame.geometry.to_numpy()), crs=frame.crs)


def _blocks(lines: NDArray[np.object_]) -> NDArray[np.object_]:
    """Faces of the noded walk network, on the precision grid."""
    noded = shapely.union_all(_snap(lines), grid_size=PRECISION)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    return _snap(shapely.normalize(faces))


def _district_blocks(
    blocks_m: NDArray[np.object_], footprints_m: NDArray[np.object_]
) -> NDArray[np.bool_]:
    """Blocks mostly inside the buildings' buffered concave hull, as one hole-free region."""
    hull = shapely.concave_hull(shapely.multipoints(shapely.centroid(footprints_m)), ratio=0.2)
    core = shapely.buffer(hull, 50.0)
    inside = shapely.area(shapely.intersection(blocks_m, core)) > 0.5 * shapely.area(blocks_m)
    parts = shapely.get_parts(shapely.coverage_union_all(blocks_m[inside]))
    largest = parts[np.argmax(shapely.area(parts))]
    filled = shapely.Polygon(largest.exterior)
    return np.asarray(shapely.covers(filled, shapely.point_on_surface(blocks_m)))


def _bisect(xy: NDArray[np.float64], weight: NDArray[np.int64], parts: int) -> NDArray[np.intp]:
    """Labels splitting points into ``parts`` compact groups of about equal weight.

    Recursive bisection across the principal axis at the weighted quantile.
    """
    labels = np.zeros(len(xy), dtype=np.intp)
    if parts == 1 or len(xy) == 1:
        return labels
    centred = xy - xy.mean(axis=0)
    axis = np.linalg.eigh(centred.T @ centred)[1][:, -1]
    order = np.argsort(centred @ axis, kind="stable")
    first = parts // 2
    cumulative = np.cumsum(weight[order])[:-1]  # weight left of each possible split
    target = weight.sum() * first / parts
    split = 1 + int(np.argmin(np.abs(cumulative - target)))
    left, right = np.split(order, [split])
    labels[left] = _bisect(xy[left], weight[left], first)
    labels[right] = first + _bisect(xy[right], weight[right], parts - first)
    return labels


def _cuts(
    blocks_m: NDArray[np.object_], footprints_m: NDArray[np.object_], households: NDArray[np.int64]
) -> NDArray[np.object_]:
    """Lines splitting each block of more than a grid's households between its buildings.

    The block's buildings are bisected into ceil(households / 400) groups; the cut runs where
    the Voronoi regions of the groups' outlines (sampled every 5 m) meet, so it passes between
    footprints, never through one. Cuts overshoot the block by 1 m so that noding closes
    them; polygonizing drops the overshoot as a dangle.
    """
    most = GRID_HOUSEHOLDS[1]
    points = shapely.point_on_surface(footprints_m)
    building, block_of = shapely.STRtree(blocks_m).query(points, predicate="covered_by")
    cuts = []
    for block, members in pd.Series(building).groupby(block_of):
        index = members.to_numpy()
        total = int(households[index].sum())
        if total <= most:
            continue
        group = _bisect(
            shapely.get_coordinates(points[index]), households[index], -(-total // most)
        )
        outlines = shapely.segmentize(shapely.boundary(footprints_m[index]), 5.0)
        xy, owner = shapely.get_coordinates(outlines, return_index=True)
        xy, first = np.unique(xy, axis=0, return_index=True)
        cells = shapely.get_parts(
            shapely.voronoi_polygons(
                shapely.multipoints(xy), extend_to=blocks_m[block], ordered=True
            )
        )
        cell_group = group[owner[first]]
        regions = [shapely.union_all(cells[cell_group == g]) for g in np.unique(cell_group)]
        shared = [
            shapely.intersection(shapely.boundary(a), shapely.boundary(b))
            for k, a in enumerate(regions)
            for b in regions[k + 1 :]
        ]
        cuts.append(
            shapely.intersection(shapely.union_all(shared), shapely.buffer(blocks_m[block], 1.0))
        )
    return np.asarray(cuts, dtype=object)


def _block_households(
    blocks: NDArray[np.object_], buildings: gpd.GeoDataFrame
) -> NDArray[np.int64]:
    """Households per block; a point on a shared edge counts for the lowest block index."""
    tree = shapely.STRtree(blocks)
    pts, hits = tree.query(buildings.geometry.to_numpy(), predicate="covered_by")
    first = pd.Series(hits, index=pts).groupby(level=0).min()
    households = np.zeros(len(blocks), dtype=np.int64)
    np.add.at(households, first.to_numpy(), buildings["households"].to_numpy()[first.index])
    return households


def _adjacency(blocks_m: NDArray[np.object_], edges_m: gpd.GeoDataFrame) -> Adjacency:
    """Shared boundary lengths of touching blocks, split by the rank of the road they follow.

    A shared segment's rank is the number of road classes (street-level roads are also
    community-level) with a road within 5 cm of its midpoint (snapping moved vertices < 1 cm):
    2 street-level roads, 1 community-level, 0 the rest.
    """
    ranked = [
        shapely.union_all(edges_m.geometry[edges_m["highway"].isin(roads)].to_numpy())
        for roads in (STREET_ROADS, COMMUNITY_ROADS)
    ]
    left, right = shapely.STRtree(blocks_m).query(blocks_m, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    shared = shapely.intersection(
        shapely.boundary(blocks_m[left]), shapely.boundary(blocks_m[right])
    )
    adjacency: Adjacency = {}
    for i, j, lines in zip(left, right, shared, strict=True):
        coords = [shapely.get_coordinates(part) for part in shapely.get_parts(lines)]
        segments = [np.stack([c[:-1], c[1:]], axis=1) for c in coords if len(c) > 1]
        if not segments:
            continue
        seg = np.concatenate(segments)
        lengths = np.hypot(*(seg[:, 1] - seg[:, 0]).T)
        mids = shapely.points(seg.mean(axis=1))
        rank = np.sum([shapely.distance(mids, roads) < 0.05 for roads in ranked], axis=0)
        adjacency[int(i), int(j)] = np.array([lengths[rank == r].sum() for r in range(3)])
    return adjacency


def _components(blocks: Iterable[int], adjacency: Adjacency, *, below_rank: int) -> list[set[int]]:
    """Blocks connected across boundaries that are not roads of ``below_rank`` or higher."""
    parent = {b: b for b in blocks}

    def root(b: int) -> int:
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        return b

    for (i, j), lengths in adjacency.items():
        if i in parent and j in parent and lengths[:below_rank].sum() > 0:
            parent[root(i)] = root(j)
    groups: dict[int, set[int]] = defaultdict(set)
    for b in parent:
        groups[root(b)].add(b)
    return list(groups.values())


def _merge_light(
    groups: Iterable[set[int]],
    weight: NDArray[np.int64],
    adjacency: Adjacency,
    *,
    low: float,
    high: float,
) -> list[set[int]]:
    """Greedy region merging: the lightest group under ``low`` joins a neighbour, until none.

    It joins the neighbour sharing the longest boundary among those it can join without
    exceeding ``high`` (compact shapes), else the lightest neighbour. Groups touch only
    along edges of positive length, so every dissolved group is one polygon.
    """
    members = {g: set(blocks) for g, blocks in enumerate(groups)}
    label = {b: g for g, blocks in members.items() for b in blocks}
    total = {g: int(weight[list(blocks)].sum()) for g, blocks in members.items()}
    border: dict[int, dict[int, float]] = {g: {} for g in members}
    for (i, j), lengths in adjacency.items():
        gi, gj = label.get(i), label.get(j)
        if gi is not None and gj is not None and gi != gj:
            border[gi][gj] = border[gi].get(gj, 0.0) + float(lengths.sum())
            border[gj][gi] = border[gi][gj]
    while light := [g for g in members if total[g] < low and border[g]]:
        g = min(light, key=lambda g: (total[g], g))
        nbrs = border.pop(g)
        fits = [n for n in nbrs if total[g] + total[n] <= high]
        into = (
            max(fits, key=lambda n: (nbrs[n], -n))
            if fits
            else min(nbrs, key=lambda n: (total[n], n))
        )
        members[into] |= members.pop(g)
        total[into] += total.pop(g)
        for n, length in nbrs.items():
            del border[n][g]
            if n != into:
                border[into][n] = border[into].get(n, 0.0) + length
                border[n][into] = border[into][n]
    return list(members.values())


def _hierarchy(
    district: list[int], households: NDArray[np.int64], adjacency: Adjacency
) -> pd.DataFrame:
    """Street, community and grid labels (arbitrary ids) of every district block."""

    def merge(groups: Iterable[set[int]], low: float, high: float) -> list[set[int]]:
        return _merge_light(groups, households, adjacency, low=low, high=high)

    low, high = COMMUNITY_HOUSEHOLDS
    rows = []
    streets = _components(district, adjacency, below_rank=2)
    for s, street in enumerate(merge(streets, STREET_MIN_HOUSEHOLDS, math.inf)):
        pieces = []
        for part in _components(street, adjacency, below_rank=1):
            heavy = households[list(part)].sum() > high
            pieces += merge([{b} for b in part], high / 2, high) if heavy else [part]
        for c, community in enumerate(merge(pieces, low, high)):
            grids = merge([{b} for b in community], *GRID_HOUSEHOLDS)
            rows += [(b, s, c, g) for g, grid in enumerate(grids) for b in grid]
    return pd.DataFrame(rows, columns=["block", "street", "community", "grid"])


def _number(labels: pd.DataFrame, blocks_m: NDArray[np.object_]) -> pd.DataFrame:
    """Block → district/street/community/grid codes, numbered in reading order in each parent.

    Siblings are numbered in rows north→south, west→east within a row; a row is as high as
    a square of the siblings' mean area, so rows scale with what is being numbered. A
    sibling's position is the area-weighted centroid of its blocks.
    """
    area = shapely.area(blocks_m)
    centre = shapely.get_coordinates(shapely.centroid(blocks_m))
    codes = labels[["block"]].assign(district_code=DISTRICT[0])

    def number(rows: pd.DataFrame, prefix: str, levels: Sequence[str]) -> None:
        if not levels:
            return
        level, *rest = levels
        siblings = dict(list(rows.groupby(level)))
        weights = {k: area[g["block"]] for k, g in siblings.items()}
        xy = {k: weights[k] @ centre[g["block"]] / weights[k].sum() for k, g in siblings.items()}
        band = math.sqrt(np.mean([w.sum() for w in weights.values()]))
        top = max(y for _, y in xy.values())
        for n, key in enumerate(
            sorted(siblings, key=lambda k: (math.floor((top - xy[k][1]) / band), xy[k][0])),
            start=1,
        ):
            code = f"{prefix}{n:03d}"
            codes.loc[siblings[key].index, f"{level}_code"] = code
            number(siblings[key], code, rest)

    number(labels, DISTRICT[0], [level for level, _, _ in _LEVELS])
    return codes


def _road_name(polygon_m: shapely.Geometry, edges_m: gpd.GeoDataFrame, taken: set[str]) -> str:
    """The named road with the most length inside the polygon that no region took yet."""
    inside = shapely.intersection(edges_m.geometry.to_numpy(), shapely.buffer(polygon_m, -5.0))
    lengths = pd.Series(shapely.length(inside), index=edges_m["name"].fillna("").to_numpy())
    ranked = lengths[lengths > 0].groupby(level=0).sum().sort_values(ascending=False)
    name = next((n for n in ranked.index if n and n not in taken), f"第{len(taken) + 1}")
    taken.add(name)
    return str(name)


def _worker(k: int) -> dict[str, str]:
    """A clearly fictional grid worker: a common name and a 138-0000 number."""
    return {
        "worker_name": _SURNAMES[k % 10] + _GIVEN_NAMES[(k // 10 + 3 * k) % 10],
        "worker_phone": f"138-0000-{k + 1:04d}",
    }


def _features(
    codes: pd.DataFrame,
    blocks: NDArray[np.object_],
    blocks_m: NDArray[np.object_],
    households: NDArray[np.int64],
    edges_m: gpd.GeoDataFrame,
) -> tuple[list[Feature], list[Feature]]:
    """Region and grid features: dissolved blocks, named, checked to partition each parent."""
    district_code, district_name = DISTRICT
    district = shapely.coverage_union_all(blocks[np.sort(codes["block"].to_numpy())])
    geometries = {district_code: district}
    names = {district_code: district_name}
    regions: list[Feature] = [
        (
            {"code": district_code, "level": "district", "name": district_name, "parent": None},
            district,
        )
    ]
    grids: list[Feature] = []
    taken: set[str] = set()
    for level, parent_column, suffix in _LEVELS:
        children: dict[str, list[shapely.Geometry]] = defaultdict(list)
        for code, rows in codes.groupby(f"{level}_code"):
            index = np.sort(rows["block"].to_numpy())
            geometry = geometries[str(code)] = shapely.coverage_union_all(blocks[index])
            parent = str(rows[parent_column].iloc[0])
            children[parent].append(geometry)
            if level == "grid":
                props = {
                    "code": code,
                    "name": f"{names[parent]}第{int(str(code)[-3:])}{suffix}",
                    "community": parent,
                    "households": int(households[index].sum()),
                    **_worker(len(grids)),
                }
                grids.append((props, geometry))
            else:
                stem = _road_name(shapely.coverage_union_all(blocks_m[index]), edges_m, taken)
                names[str(code)] = stem + suffix
                props = {"code": code, "level": level, "name": names[str(code)], "parent": parent}
                regions.append((props, geometry))
        for parent, parts in children.items():
            _check_partition(geometries[parent], parts, parent)
    return regions, grids


def _check_partition(whole: shapely.Geometry, parts: Sequence[shapely.Geometry], code: str) -> None:
    """Fail unless ``parts`` are valid polygons that tile ``whole`` exactly."""
    geoms = np.asarray(parts)
    if not (
        shapely.is_valid(geoms).all()
        and (shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON).all()
        and shapely.coverage_is_valid(geoms)
        and shapely.equals(shapely.coverage_union_all(geoms), whole)
    ):
        raise RuntimeError(f"the parts of {code} do not partition it exactly")


def _network_features(edges: gpd.GeoDataFrame) -> list[Feature]:
    """Walk edges as pyrosm splits them, vertices rounded in place so junctions stay shared."""
    lines = shapely.remove_repeated_points(
        shapely.set_precision(edges.geometry.to_numpy(), PRECISION, mode="pointwise")
    )
    ids = edges["osm_type"] + "/" + edges["id"].astype("int64").astype(str)
    return [
        ({"source_id": source_id, "highway": highway}, line)
        for source_id, highway, line in zip(ids, edges["highway"], lines, strict=True)
        if shapely.get_num_points(line) > 1
    ]


def _frame_features(frame: gpd.GeoDataFrame) -> list[Feature]:
    """Rows as features, missing values as JSON null."""
    props = frame.drop(columns="geometry").astype(object).where(frame.notna(), None)
    return list(zip(props.to_dict("records"), frame.geometry, strict=True))


def _write(path: Path, features: Iterable[Feature]) -> None:
    """GeoJSON, one feature a line; shortest float repr keeps grid coordinates exact."""
    lines = [
        json.dumps(
            {"type": "Feature", "properties": props, "geometry": mapping(geometry)},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for props, geometry in features
    ]
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
