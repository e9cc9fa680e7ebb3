"""The offline job behind ``gridmap coverage``: walk distances from files, no database.

Reads a walking network (an ``.osm.pbf`` extract or any vector file of lines, through
``data.files.network.read_network``), stations and buildings (any vector format pyogrio reads;
polygons stand for their representative point, which unlike a centroid always lies inside
an L-shaped or courtyard building), and writes
one GeoJSON point per building with its input properties plus ``walk_m`` (metres to the
nearest station, null when unreachable), ``nearest_station`` and ``covered``. Output
columns of those names replace input ones.

With facility kinds (life-circle compliance, ``data.facility_kinds``) each building also
gets ``<kind>_m`` (metres to the nearest station of a kind counting for it, null when none
is reachable), ``<kind>_ok`` (within the kind's circle) and ``score`` (kinds reached within
their circles), computed as ``geo.compliance.nearest_by_kind`` does for the database; the
stations then need a ``kind`` property (OSM extracts have it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from data.compliance import ComplianceData, radii
from data.coverage import Points
from data.errors import ImportFileError
from data.facility_kinds import Kind
from data.files.importers import read_points_source
from data.files.network import read_network
from data.files.osm import osm_buildings, osm_stations
from data.files.vector import points, text_value
from geo.compliance import nearest_by_kind, score, within_circles
from geo.network import WalkNetwork
from geo.walk import MAINLAND_MIN_NODES, SPEED_M_PER_MIN, covered_within, walk_nearest

Progress = Callable[[str], None]
STAGES = ("network", "stations", "buildings", "distances", "write")  # passed to progress
STATION_ID_FIELDS = ("name", "id", "osm_id")


@dataclass(frozen=True)
class CoverageSummary:
    buildings: int
    covered: int
    unreachable: int
    moved_off_islands: int = 0
    compliance: ComplianceData | None = None


def coverage_file(
    network_path: str | Path,
    stations_path: str | Path,
    buildings_path: str | Path,
    out_path: str | Path,
    *,
    minutes: float = 15.0,
    speed_m_per_min: float = SPEED_M_PER_MIN,
    max_access_m: float = 300.0,
    crs: str | None = None,
    mainland_min_nodes: int = MAINLAND_MIN_NODES,
    kinds: Sequence[Kind] | None = None,
    progress: Progress | None = None,
    report: Callable[[str], None] | None = None,
) -> CoverageSummary:
    """Compute every building's walk to its nearest station and write ``out_path``.

    Stations and buildings may be OSM .pbf extracts (recognised by content: civic amenities
    and ways tagged building=*, as ``gridmap import`` takes them); ``crs`` names the CRS of
    the other files' points. ``report`` gets one line per input saying what was taken.
    Buildings join the nearest edge of a network component holding a station or of at least
    ``mainland_min_nodes`` nodes (``geo.walk``); the summary counts those moved off islands.
    ``progress`` is called with each of ``STAGES`` as it starts. ``nearest_station`` is the
    station's first non-empty ``name``, ``id`` or ``osm_id`` property, else its row number
    in the stations file (all as text). Raises ImportFileError with one readable message.
    """

    def stage(name: str) -> None:
        if progress:
            progress(name)

    stage("network")
    network = read_network(network_path)
    stage("stations")
    stations = read_points_source(
        stations_path, osm=osm_stations, what="stations", crs=crs, region=None, report=report
    )
    station_xy = points(stations, source=str(stations_path))
    stage("buildings")
    buildings = read_points_source(
        buildings_path, osm=osm_buildings, what="buildings", crs=crs, region=None, report=report
    )
    building_xy = points(buildings, source=str(buildings_path))
    stage("distances")
    nearest = walk_nearest(
        network,
        np.column_stack([station_xy.x, station_xy.y]),
        np.column_stack([building_xy.x, building_xy.y]),
        max_access_m=max_access_m,
        mainland_min_nodes=mainland_min_nodes,
    )
    reachable = nearest.source >= 0
    labels = station_labels(stations)
    stage("write")
    out = gpd.GeoDataFrame(
        buildings.drop(columns=buildings.geometry.name),
        geometry=building_xy.to_numpy(),
        crs=4326,
    )
    out["walk_m"] = np.where(reachable, nearest.distance_m, np.nan)
    out["nearest_station"] = [labels[s] if s >= 0 else None for s in nearest.source.tolist()]
    out["covered"] = covered_within(nearest.distance_m, minutes, speed_m_per_min=speed_m_per_min)
    found = None
    if kinds is not None:
        found = _compliance(
            network,
            stations,
            np.column_stack([station_xy.x, station_xy.y]),
            out,
            kinds,
            speed_m_per_min=speed_m_per_min,
            max_access_m=max_access_m,
            mainland_min_nodes=mainland_min_nodes,
            source=str(stations_path),
        )
    try:
        out.to_file(out_path, driver="GeoJSON", engine="pyogrio")
    except Exception as exc:  # pyogrio/GDAL raise several types for unwritable targets
        raise ImportFileError(f"{out_path}: cannot write ({exc})") from exc
    covered = int(out["covered"].sum())
    return CoverageSummary(
        buildings=len(out),
        covered=covered,
        unreachable=int((~reachable).sum()),
        moved_off_islands=nearest.moved_off_islands,
        compliance=found,
    )


GROUP_FIELDS = {"grid": ("grid_code", "grid"), "community": ("community",), "street": ("street",)}
"""The buildings' properties a compliance report groups by (the first present)."""


def _compliance(
    network: WalkNetwork,
    stations: gpd.GeoDataFrame,
    station_lonlat: NDArray[np.float64],
    out: gpd.GeoDataFrame,
    kinds: Sequence[Kind],
    *,
    speed_m_per_min: float,
    max_access_m: float,
    mainland_min_nodes: int,
    source: str,
) -> ComplianceData:
    """Per-kind walks added to ``out`` as columns (module doc), and the run as data."""
    if "kind" not in stations.columns:
        raise ImportFileError(f"{source}: stations need a kind property for compliance")
    station_kind = np.array([text_value(k) for k in stations["kind"]], dtype=object)
    members = [np.flatnonzero(np.isin(station_kind, list(k.station_kinds))) for k in kinds]
    lonlat = np.column_stack([out.geometry.x, out.geometry.y])
    found = nearest_by_kind(
        network,
        station_lonlat,
        members,
        lonlat,
        max_access_m=max_access_m,
        mainland_min_nodes=mainland_min_nodes,
    )
    radius = radii(kinds, speed_m_per_min=speed_m_per_min)
    within = within_circles(found.distance_m, radius)
    for k, kind in enumerate(kinds):
        walk = found.distance_m[k]
        out[f"{kind.kind}_m"] = np.where(np.isfinite(walk), walk, np.nan)
        out[f"{kind.kind}_ok"] = within[k]
    out["score"] = score(within)

    def column(names: tuple[str, ...]) -> NDArray[np.str_]:
        name = next((n for n in names if n in out.columns), None)
        if name is None:
            return np.full(len(out), "", dtype=np.str_)
        return np.array(["" if pd.isna(v) else text_value(v) for v in out[name]], dtype=np.str_)

    def weights(name: str) -> NDArray[np.float64]:
        if name not in out.columns:
            return np.zeros(len(out))
        return pd.to_numeric(out[name], errors="coerce").fillna(0).to_numpy(dtype=np.float64)

    return ComplianceData(
        run_id=0,
        kinds=list(kinds),
        buildings=Points(
            id=np.arange(len(out), dtype=np.int64),
            name=[None] * len(out),
            lonlat=lonlat,
        ),
        households=weights("households"),
        population=weights("population"),
        grid=column(GROUP_FIELDS["grid"]),
        community=column(GROUP_FIELDS["community"]),
        street=column(GROUP_FIELDS["street"]),
        walk_m=found.distance_m,
        station_id=found.source,
        facilities={kind.kind: len(m) for kind, m in zip(kinds, members, strict=True)},
    )


def station_labels(stations: gpd.GeoDataFrame) -> list[str]:
    """Each station's identifier: first non-empty of ``STATION_ID_FIELDS``, else its row."""
    fields = [f for f in STATION_ID_FIELDS if f in stations.columns]
    labels = []
    for row, values in enumerate(stations[fields].itertuples(index=False, name=None)):
        present = [v for v in values if not pd.isna(v) and str(v).strip()]
        labels.append(text_value(present[0]) if present else str(row))
    return labels
