"""A synthetic city for the maps benchmark: 6,500 Voronoi grids over 30×30 km near Nanjing
(118.8E 32.05N) with 15-digit codes, communities and streets, 100,000 buildings, 200 service
stations with isochrones, and incidents. Fixed seed, so every run draws the same city.

The grids are bench.synth's Voronoi grids (~41 vertices each, shared edges bit-identical) with
every vertex moved by a smooth displacement field of up to 9 m: boundaries then wiggle like
surveyed ones instead of running straight, which would flatter simplification.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from bench.synth import CENTRE, voronoi_grids
from data.lifecycle import PRIORITIES, STATUSES
from geo.crs import from_metric, to_metric, utm_epsg

SPEED_M_PER_MIN = 75.0
STATION_KINDS = ("community_service", "elderly_care", "health", "market", "culture", "police")
CATEGORIES = ("环境卫生", "市政设施", "治安隐患", "违章搭建", "邻里纠纷")


@dataclass(frozen=True)
class City:
    grids: gpd.GeoDataFrame  # code, name, community, households, worker_name, open_incidents
    regions: gpd.GeoDataFrame  # code, level (district|street|community), name, parent
    buildings: gpd.GeoDataFrame  # points: households, walk_m, covered (15 min)
    stations: gpd.GeoDataFrame  # points: name, kind
    isochrones: gpd.GeoDataFrame  # station, minutes (5, 10, 15)
    per_grid: pd.DataFrame  # code, buildings, covered, households, covered_households, pct
    incidents: gpd.GeoDataFrame  # id, category, status, priority, reported_at, due_at, grid_code
    suggestions: gpd.GeoDataFrame  # points: rank, added_households


def synth_city(
    *,
    n_grids: int = 6500,
    n_buildings: int = 100_000,
    n_stations: int = 200,
    n_incidents: int = 5_000,
    size_km: float = 30.0,
    seed: int = 20240601,
    grids_per_community: int = 16,
) -> City:
    """The city; about 10 s at full size."""
    rng = np.random.default_rng(seed)
    epsg = utm_epsg(*CENTRE)
    cx, cy = to_metric([CENTRE[0]], [CENTRE[1]], epsg)
    half = size_km * 500.0
    origin = np.array([cx[0] - half, cy[0] - half])
    size = 2 * half

    def lonlat(geoms: NDArray[np.object_]) -> gpd.GeoSeries:
        return _lonlat(geoms, epsg)

    cells, seeds = _bent_grids(n_grids, size_km, seed, epsg)
    grids, regions = _hierarchy(rng, cells, seeds, epsg, per_community=grids_per_community)

    building_xy = _clustered_points(rng, n_buildings, origin, size)
    station_xy = origin + rng.uniform(0, size, (n_stations, 2))
    walk = cKDTree(station_xy).query(building_xy)[0] * rng.uniform(1.1, 1.5, n_buildings)
    walk[rng.random(n_buildings) < 0.02] = np.nan  # off the walk network
    buildings = gpd.GeoDataFrame(
        {
            "id": np.arange(n_buildings),
            "households": rng.integers(1, 120, n_buildings),
            "walk_m": walk,
            "covered": walk <= 15 * SPEED_M_PER_MIN,
        },
        geometry=lonlat(shapely.points(building_xy)),
    )
    stations = gpd.GeoDataFrame(
        {
            "name": [f"服务站 {i + 1}" for i in range(n_stations)],
            "kind": rng.choice(STATION_KINDS, n_stations),
        },
        geometry=lonlat(shapely.points(station_xy)),
    )
    minutes = np.repeat([[5, 10, 15]], n_stations, axis=0).ravel()
    centres = shapely.points(np.repeat(station_xy, 3, axis=0))
    isochrones = gpd.GeoDataFrame(
        {"station": np.repeat(stations["name"].to_numpy(), 3), "minutes": minutes},
        geometry=lonlat(shapely.buffer(centres, minutes * SPEED_M_PER_MIN / 1.3)),
    )

    cell_of = _cell_of(np.asarray(cells), building_xy)
    inside = cell_of >= 0  # a few points near the city's bent outer edge are in no grid
    cell_of = cell_of[inside]
    households = buildings["households"].to_numpy()[inside]
    covered = buildings["covered"].to_numpy()[inside]
    n = len(cells)
    per_grid = pd.DataFrame(
        {
            "code": grids["code"],
            "buildings": np.bincount(cell_of, minlength=n),
            "covered": np.bincount(cell_of, weights=covered, minlength=n).astype(int),
            "households": np.bincount(cell_of, weights=households, minlength=n).astype(int),
            "covered_households": np.bincount(
                cell_of, weights=households * covered, minlength=n
            ).astype(int),
        }
    )
    per_grid["pct"] = (
        100 * per_grid["covered_households"] / per_grid["households"].where(lambda h: h > 0)
    ).round(1)
    grids["households"] = per_grid["households"]
    grids["coverage_pct"] = per_grid["pct"]

    incidents = _incidents(rng, n_incidents, origin, size, cells, grids, epsg)
    grids["open_incidents"] = (
        incidents[~incidents["status"].isin(["closed", "rejected"])]
        .groupby("grid_code")
        .size()
        .reindex(grids["code"], fill_value=0)
        .to_numpy()
    )
    suggestions = gpd.GeoDataFrame(
        {"rank": np.arange(1, 6), "added_households": rng.integers(200, 2000, 5)},
        geometry=lonlat(shapely.points(origin + rng.uniform(0, size, (5, 2)))),
    )
    return City(grids, regions, buildings, stations, isochrones, per_grid, incidents, suggestions)


def _lonlat(geoms: NDArray[np.object_], epsg: int) -> gpd.GeoSeries:
    def back(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack(from_metric(xy[:, 0], xy[:, 1], epsg))

    return gpd.GeoSeries(shapely.transform(geoms, back), crs=4326)


def _bent_grids(
    n: int, size_km: float, seed: int, epsg: int
) -> tuple[NDArray[np.object_], NDArray[np.float64]]:
    """bench.synth's Voronoi grids in metres, their edges bent; and their centroids."""
    cells, _ = voronoi_grids(n, size_km, seed)

    def bend(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = to_metric(xy[:, 0], xy[:, 1], epsg)
        return np.column_stack(
            [
                x + 9.0 * np.sin(y / 47.0) * np.cos(x / 83.0),
                y + 9.0 * np.sin(x / 53.0) * np.cos(y / 71.0),
            ]
        )

    bent = shapely.transform(cells, bend)
    return bent, shapely.get_coordinates(shapely.centroid(bent))


def _hierarchy(
    rng: np.random.Generator,
    cells: NDArray[np.object_],
    seeds: NDArray[np.float64],
    epsg: int,
    *,
    per_community: int = 16,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Communities of ~``per_community`` grids, streets of ~10 communities, six districts
    by x."""
    n = len(cells)
    community_seeds = seeds[rng.choice(n, max(1, n // per_community), replace=False)]
    community = cKDTree(community_seeds).query(seeds)[1]
    street_seeds = community_seeds[
        rng.choice(len(community_seeds), max(1, n // (10 * per_community)), replace=False)
    ]
    street_of_community = cKDTree(street_seeds).query(community_seeds)[1]
    span = np.ptp(street_seeds[:, 0]) or 1.0
    district_of_street = np.minimum(
        ((street_seeds[:, 0] - street_seeds[:, 0].min()) / span * 6).astype(int), 5
    )

    street_rank = np.argsort(np.argsort(street_seeds[:, 1]))
    street_codes = np.array(
        [f"32010{d + 2}{r + 1:03d}" for d, r in zip(district_of_street, street_rank, strict=True)]
    )
    community_codes = np.array(_numbered(street_codes[street_of_community], street_of_community))
    codes = _numbered(community_codes[community], community)

    surname, given = "王李张刘陈杨赵黄周吴", ("秀英", "志强", "桂兰", "建华", "晓梅", "海燕")
    grids = gpd.GeoDataFrame(
        {
            "code": codes,
            "name": [f"第{c[-3:]}网格" for c in codes],
            "community": community_codes[community],
            "households": 0,
            "worker_name": [surname[i % 10] + given[i % 6] for i in rng.integers(0, 60, n)],
        },
        geometry=_lonlat(cells, epsg),
    )
    rows: list[dict[str, object]] = []
    for level, keys, parents in (
        ("community", grids["community"], [c[:9] for c in grids["community"]]),
        ("street", grids["community"].str[:9], [c[:6] for c in grids["community"]]),
        ("district", grids["community"].str[:6], ["320100"] * n),
    ):
        parent_of = dict(zip(keys, parents, strict=True))
        for code, part in grids.groupby(keys.to_numpy()):
            suffix = {"community": "社区", "street": "街道", "district": "区"}[level]
            rows.append(
                {
                    "code": code,
                    "level": level,
                    "name": f"{code[-3:]}{suffix}",
                    "parent": parent_of[code],
                    "geometry": shapely.coverage_union_all(np.asarray(part.geometry.values)),
                }
            )
    return grids, gpd.GeoDataFrame(rows, crs=4326)


def _numbered(prefixes: NDArray[np.str_], groups: NDArray[np.intp]) -> list[str]:
    """Each prefix followed by a 3-digit count of its group's members so far, from 001."""
    rank = pd.Series(groups).groupby(groups).cumcount().to_numpy()
    return [f"{p}{r + 1:03d}" for p, r in zip(prefixes, rank, strict=True)]


def _clustered_points(
    rng: np.random.Generator, n: int, origin: NDArray[np.float64], size: float
) -> NDArray[np.float64]:
    centres = origin + rng.uniform(0, size, (400, 2))
    clustered = centres[rng.integers(0, 400, int(n * 0.7))] + rng.normal(0, 450, (int(n * 0.7), 2))
    spread = origin + rng.uniform(0, size, (n - len(clustered), 2))
    return np.clip(np.vstack([clustered, spread]), origin + 1, origin + size - 1)


def _cell_of(cells: NDArray[np.object_], xy: NDArray[np.float64]) -> NDArray[np.int64]:
    """Index of the cell covering each point (metric), the lowest on shared edges, -1 for none."""
    tree = shapely.STRtree(cells)
    point_i, cell_i = tree.query(shapely.points(xy), predicate="covered_by")
    out = np.full(len(xy), -1, dtype=np.int64)
    order = np.lexsort((cell_i, point_i))[::-1]
    out[point_i[order]] = cell_i[order]
    return out


def _incidents(
    rng: np.random.Generator,
    n: int,
    origin: NDArray[np.float64],
    size: float,
    cells: NDArray[np.object_],
    grids: gpd.GeoDataFrame,
    epsg: int,
) -> gpd.GeoDataFrame:
    xy = origin + rng.uniform(0, size, (n, 2))
    start = pd.Timestamp("2024-03-01", tz="Asia/Shanghai")
    reported = start + pd.to_timedelta(rng.uniform(0, 90 * 24 * 60, n), unit="min")
    priority = rng.choice(PRIORITIES, n, p=[0.7, 0.25, 0.05])
    cell = _cell_of(cells, xy)
    days = pd.Series(priority).map({"routine": 1, "complex": 5, "major": 30}).to_numpy()
    return gpd.GeoDataFrame(
        {
            "id": np.arange(1, n + 1),
            "category": rng.choice(CATEGORIES, n),
            "status": rng.choice(STATUSES, n, p=[0.15, 0.1, 0.15, 0.1, 0.45, 0.05]),
            "priority": priority,
            "reported_at": reported,
            "due_at": reported + pd.to_timedelta(days, unit="D"),
            "grid_code": np.where(cell >= 0, grids["code"].to_numpy()[cell], None),
        },
        geometry=_lonlat(shapely.points(xy), epsg),
    )
