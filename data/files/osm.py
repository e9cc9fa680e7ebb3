"""Buildings and service stations from an OpenStreetMap extract (``.osm.pbf``, via pyrosm).

One set of rules serves ``gridmap import`` and the sample-city generator, so imported OSM
data and the bundled sample estimate households and classify stations the same way:

* households per building = residential floor area (footprint × levels) / 90 m²,
  population = households × 2.62 (2020 census mean household size);
* stations are civic amenities with a life-circle level (5/10/15 minutes, GB 50180-2018),
  schools classified by name, one of a kind within 50 m.

pyrosm's errors (``PBFException``, ``ValueError``) pass through; importers translate them.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyrosm
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.crs import to_metric, utm_epsg

M2_PER_HOUSEHOLD = 90.0
"""Gross residential floor area per household (typical for Chinese urban housing)."""
PERSONS_PER_HOUSEHOLD = 2.62
"""Mean household size, 7th national census (2020)."""

_BUILDING_COLUMNS = (
    "source_id",
    "name",
    "building",
    "levels",
    "footprint_m2",
    "households",
    "population",
)
_STATION_COLUMNS = ("source_id", "name", "kind", "level")

_RESIDENTIAL = frozenset(
    {"residential", "apartments", "house", "detached", "semidetached_house", "terrace"}
)
_DEFAULT_LEVELS = {
    "house": 2,
    "detached": 2,
    "semidetached_house": 2,
    "terrace": 2,
    "school": 4,
    "university": 5,
    "retail": 4,
    "hospital": 8,
    "office": 12,
    "hotel": 12,
}
_DEFAULT_LEVEL = 6
"""Residential and unknown buildings: the typical 多层 walk-up."""
_NON_RESIDENTIAL_KEYS = (
    "amenity",
    "shop",
    "office",
    "tourism",
    "leisure",
    "railway",
    "public_transport",
    "religion",
    "historic",
    "parking",
    "building:part",
)
_HOME_M2 = (30.0, 3000.0)
"""Footprints outside this range are sheds/kiosks or podiums/malls/halls, never homes here."""

_STATION_AMENITIES: dict[str, tuple[str, int, str]] = {
    "community_centre": ("community_service", 5, "社区服务站"),
    "social_facility": ("elderly_care", 5, "养老服务站"),
    "kindergarten": ("kindergarten", 5, "幼儿园"),
    "clinic": ("health", 10, "卫生服务站"),
    "doctors": ("health", 10, "诊所"),
    "marketplace": ("market", 10, "菜市场"),
    "post_office": ("post", 10, "邮政所"),
    "hospital": ("hospital", 15, "医院"),
    "library": ("culture", 15, "图书馆"),
    "police": ("police", 15, "派出所"),
    "townhall": ("government", 15, "政府"),
    # life-circle facility kinds (data.facility_kinds)
    "nursing_home": ("elderly_care", 5, "养老院"),
    "childcare": ("kindergarten", 5, "托儿所"),
    "arts_centre": ("culture", 15, "文化活动中心"),
}
"""OSM amenity → (kind, life-circle minutes per GB 50180-2018, label when unnamed)."""
_STATION_OTHER_TAGS: dict[str, dict[str, tuple[str, int, str]]] = {
    "leisure": {
        "fitness_station": ("fitness", 5, "室外健身场地"),
        "sports_centre": ("sports", 15, "体育馆"),
        "stadium": ("sports", 15, "体育场"),
        "fitness_centre": ("sports", 15, "健身房"),
    },
    "shop": {
        "greengrocer": ("market", 10, "菜市场"),
        "supermarket": ("market", 10, "生鲜超市"),
    },
}
"""Stations from other OSM keys (taken only when no ``amenities`` restrict the import): sports
grounds and fresh-food shops, the life circles' sports and market facilities."""
_SCHOOLS: tuple[tuple[re.Pattern[str], str, int], ...] = (
    (re.compile("幼儿园"), "kindergarten", 5),
    (re.compile("小学|primary school", re.IGNORECASE), "primary_school", 10),
    (re.compile("中学|初中|[一二三四五六七八九十]中"), "secondary_school", 15),
)
"""amenity=school classified by name; colleges and training schools are not stations."""

STATION_AMENITIES = (*_STATION_AMENITIES, "school")
"""The OSM amenity values that can become stations (the default of ``osm_stations``)."""


@contextmanager
def pbf_named(path: str | Path) -> Iterator[Path]:
    """``path`` under a name ending in ``.osm.pbf`` (pyrosm insists on the suffix; what the
    file is was decided from its content): a symlink in a temporary folder when needed."""
    path = Path(path)
    if path.name.lower().endswith(".pbf"):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="gridmap-osm-") as folder:
        link = Path(folder) / f"{path.stem}.osm.pbf"
        link.symlink_to(path.resolve())
        yield link


def osm_buildings(path: str | Path) -> gpd.GeoDataFrame:
    """Every OSM building as a point: source_id, name, building, levels, footprint_m2,
    households, population (see ``building_points``)."""
    with pbf_named(path) as pbf:
        raw, epsg = _features(pyrosm.OSM(str(pbf)).get_buildings())
    return building_points(raw, reproject(raw.geometry.to_numpy(), to_metric, epsg))


def osm_stations(path: str | Path, *, amenities: Sequence[str] | None = None) -> gpd.GeoDataFrame:
    """Civic POIs as service stations (source_id, name, kind, level), one of a kind within 50 m.

    ``amenities`` restricts the OSM amenity values taken (default: ``STATION_AMENITIES``);
    a value that can never be a station raises ValueError rather than silently import nothing.
    """
    wanted = list(STATION_AMENITIES if amenities is None else amenities)
    if unknown := sorted(set(wanted) - set(STATION_AMENITIES)):
        raise ValueError(
            f"not station amenities: {', '.join(unknown)} "
            f"(choose from {', '.join(STATION_AMENITIES)})"
        )
    tags_wanted: dict[str, list[str]] = {"amenity": wanted}
    if amenities is None:
        tags_wanted |= {key: list(values) for key, values in _STATION_OTHER_TAGS.items()}
    with pbf_named(path) as pbf:
        raw, epsg = _features(pyrosm.OSM(str(pbf)).get_pois(custom_filter=tags_wanted))
    points = shapely.point_on_surface(raw.geometry.to_numpy())
    points_m = reproject(points, to_metric, epsg)
    rows: list[tuple[str, str, str, int]] = []
    kept: list[int] = []
    for k, (_, row) in enumerate(raw.iterrows()):
        tags = _tags(row)
        name = tags.get("name")
        found = _station_kind(tags, name)
        if found is None or any(
            other == found[0] and shapely.distance(points_m[k], points_m[j]) < 50.0
            for (_, _, other, _), j in zip(rows, kept, strict=True)
        ):
            continue
        kind, minutes, label = found
        rows.append((_source_id(row), name or label, kind, minutes))
        kept.append(k)
    return gpd.GeoDataFrame(rows, columns=list(_STATION_COLUMNS), geometry=points[kept], crs=4326)


def building_points(raw: gpd.GeoDataFrame, footprints_m: NDArray[np.object_]) -> gpd.GeoDataFrame:
    """One point per pyrosm building (point on surface) with the household estimate.

    ``footprints_m`` are ``raw``'s footprints in metres; the sample generator passes its own,
    which it also needs for cutting blocks.
    """
    rows = []
    for (_, row), footprint in zip(raw.iterrows(), shapely.area(footprints_m), strict=True):
        tags = _tags(row)
        kind = str(tags.get("building", "yes"))
        levels = _levels(tags, kind)
        households = _households(tags, kind, footprint, levels)
        rows.append(
            (
                _source_id(row),
                tags.get("name"),
                kind,
                levels,
                round(float(footprint), 1),
                households,
                round(households * PERSONS_PER_HOUSEHOLD),
            )
        )
    points = shapely.point_on_surface(raw.geometry.to_numpy())
    return gpd.GeoDataFrame(rows, columns=list(_BUILDING_COLUMNS), geometry=points, crs=4326)


def reproject(
    geoms: NDArray[np.object_],
    convert: Callable[[ArrayLike, ArrayLike, int], tuple[NDArray[np.float64], NDArray[np.float64]]],
    epsg: int,
) -> NDArray[np.object_]:
    """Apply ``geo.crs.to_metric``/``from_metric`` to every vertex (identical in, identical out)."""
    return shapely.transform(geoms, lambda xy: np.column_stack(convert(xy[:, 0], xy[:, 1], epsg)))


def local_epsg(geoms: NDArray[np.object_]) -> int:
    """The UTM zone of the centre of the geometries' bounding box, for metric work."""
    lon, lat = shapely.centroid(shapely.box(*shapely.total_bounds(geoms))).coords[0]
    return utm_epsg(lon, lat)


def _features(raw: gpd.GeoDataFrame | None) -> tuple[gpd.GeoDataFrame, int]:
    """pyrosm's result and its UTM zone; pyrosm's None (nothing found) as an empty frame."""
    if raw is None or raw.empty:
        empty = gpd.GeoDataFrame({"id": [], "osm_type": []}, geometry=[], crs=4326)
        return empty, utm_epsg(0.0, 0.0)  # any zone: there is nothing to measure
    return raw, local_epsg(raw.geometry.to_numpy())


def _tags(row: pd.Series) -> dict[str, Any]:
    """All OSM tags of a pyrosm row: its own columns plus the JSON ``tags`` overflow."""
    tags: dict[str, Any] = {str(k): v for k, v in row.items() if isinstance(v, str) and k != "tags"}
    if isinstance(row.get("tags"), str):
        tags |= json.loads(row["tags"])
    return tags


def _source_id(row: pd.Series) -> str:
    return f"{row['osm_type']}/{int(row['id'])}"


def _levels(tags: Mapping[str, Any], kind: str) -> int:
    match = re.match(r"\s*(\d+)", str(tags.get("building:levels", "")))
    if match and int(match.group(1)) > 0:
        return int(match.group(1))
    return _DEFAULT_LEVELS.get(kind, _DEFAULT_LEVEL)


def _households(tags: Mapping[str, Any], kind: str, footprint_m2: float, levels: int) -> int:
    """Estimated households: residential floor area / 90 m², 0 for non-residential.

    Typed residential buildings count; untyped ``building=yes`` counts only when it has no
    name and no amenity/shop/office/tourism/... tag (in OSM China, named untyped buildings
    are malls, towers, museums, banks, stations). Footprints under 30 m² (sheds, kiosks)
    and untyped ones over 3,000 m² (podiums, malls, halls) are not homes.
    """
    lo, hi = _HOME_M2
    if kind in _RESIDENTIAL:
        residential = footprint_m2 >= lo
    else:
        residential = (
            kind == "yes"
            and lo <= footprint_m2 <= hi
            and "name" not in tags
            and not any(k in tags for k in _NON_RESIDENTIAL_KEYS)
        )
    return max(1, round(footprint_m2 * levels / M2_PER_HOUSEHOLD)) if residential else 0


def _station_kind(tags: Mapping[str, Any], name: str | None) -> tuple[str, int, str] | None:
    amenity = str(tags.get("amenity"))
    if amenity in _STATION_AMENITIES:
        return _STATION_AMENITIES[amenity]
    for key, values in _STATION_OTHER_TAGS.items():
        if (found := values.get(str(tags.get(key)))) is not None:
            return found
    for pattern, kind, minutes in _SCHOOLS:
        if amenity == "school" and name and pattern.search(name):
            return kind, minutes, name
    return None
