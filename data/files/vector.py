"""Reading vector files (GeoJSON, GPKG, Shapefile, … via pyogrio) into clean EPSG:4326 frames.

Every importer and offline command goes through here, so CRS handling, Chinese offset
systems and geometry repair behave the same everywhere.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from data.errors import ImportFileError
from geo.crs import CRS_NAMES, to_wgs84
from geo.errors import UnknownCRSError
from geo.region import Region, plausible_lonlat

POLYGONAL = ("Polygon", "MultiPolygon")


def read_vector(
    path: str | Path,
    *,
    crs: str | None = None,
    crs_option: str = "--crs",
    region: Region | None = None,
) -> gpd.GeoDataFrame:
    """Read ``path`` and return it in EPSG:4326.

    ``crs`` names the coordinates' system when the file does not say it or says it wrongly:
    ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` or anything pyproj accepts (``EPSG:4547``).
    A file whose coordinates are not plausible lon/lat degrees after that (projected
    metres or feet without a ``.prj``), or lie outside ``region``, is refused with one line
    suggesting ``crs_option`` (the command's option that names this file's CRS).
    """
    path = Path(path)
    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    if (kind := osm_kind(path)) is not None:
        raise ImportFileError(
            f"{path}: an OpenStreetMap {kind} file; this input takes vector files "
            "(GeoJSON, GPKG, Shapefile); OSM extracts go to import buildings|stations|network "
            "and to coverage --network"
        )
    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except (DataSourceError, DataLayerError, ValueError) as exc:
        raise ImportFileError(f"{path}: not a readable vector file ({exc})") from exc
    if frame.geometry.name not in frame or len(frame) == 0:
        raise ImportFileError(f"{path}: no features")
    declared = frame.crs is not None
    original = frame.geometry.values
    frame = to_4326(frame, crs=crs, source=str(path))
    require_lonlat(
        frame.geometry,
        source=str(path),
        named="the CRS you gave" if crs else "its own CRS" if declared else "no CRS",
        option=crs_option,
        raw=original,
    )
    if region is not None:
        require_region(frame.geometry, region, source=str(path), option=crs_option)
    return frame


def osm_kind(path: Path) -> str | None:
    """``"PBF"`` or ``"XML"`` when the file is an OpenStreetMap extract, by its content
    (whatever its name); a ``.pbf`` whose content is neither counts as a (broken) PBF."""
    try:
        with path.open("rb") as f:
            head = f.read(512)
    except OSError:
        return None
    if b"OSMHeader" in head[:64]:
        return "PBF"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<?xml"):
        text = text[text.find(b"?>") + 2 :].lstrip()
    if text.startswith(b"<osm"):
        return "XML"
    return "PBF" if path.suffix.lower() == ".pbf" else None


def _first_xy(geoms: np.ndarray) -> tuple[float, float]:
    coords = shapely.get_coordinates(geoms[~shapely.is_empty(geoms)][:1])
    return (float(coords[0, 0]), float(coords[0, 1])) if len(coords) else (np.nan, np.nan)


def crs_hint(option: str) -> str:
    """How to name a CRS, with the two cases met most: US state plane feet, UTM metres."""
    return (
        f"{option} (e.g. {option} EPSG:2227 for feet in California's state plane, "
        f"{option} EPSG:32650 for UTM zone 50N)"
    )


def require_lonlat(
    geoms: gpd.GeoSeries, *, source: str, named: str, option: str, raw: np.ndarray
) -> None:
    """Refuse coordinates that are not plausible lon/lat degrees, with one line."""
    coords = shapely.get_coordinates(geoms.values)
    if len(coords) and plausible_lonlat(coords[:, 0], coords[:, 1]).all():
        return
    x, y = _first_xy(raw)
    raise ImportFileError(
        f"{source}: coordinates like [{x:.1f}, {y:.1f}] are not lon/lat degrees ({named}); "
        f"name the file's CRS with {crs_hint(option)}; nothing was imported"
    )


def require_region(geoms: gpd.GeoSeries, region: Region, *, source: str, option: str) -> None:
    """Refuse features whose bounding-box centre lies outside ``region``, with one line."""
    bounds = shapely.bounds(geoms.values)
    cx, cy = (bounds[:, 0] + bounds[:, 2]) / 2.0, (bounds[:, 1] + bounds[:, 3]) / 2.0
    outside = ~region.contains(cx, cy) & ~np.isnan(cx)
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        raise ImportFileError(
            f"{source}: {int(outside.sum())} of {len(geoms)} features lie outside the region "
            f"{region} (the grids' extent plus a margin, or GRIDMAP_REGION), the first "
            f"(feature {k}) at [{cx[k]:.5f}, {cy[k]:.5f}]; if the CRS is wrong, name it with "
            f"{option}; nothing was imported"
        )


def to_4326(frame: gpd.GeoDataFrame, *, crs: str | None, source: str) -> gpd.GeoDataFrame:
    """Reproject ``frame`` to EPSG:4326, undoing GCJ-02/BD-09 offsets when ``crs`` says so."""
    name = (crs or "").lower()
    if name in CRS_NAMES:
        frame = frame.set_crs(4326, allow_override=True)
        if name in ("gcj02", "bd09"):
            frame = frame.set_geometry(
                shapely.transform(frame.geometry.values, lambda xy: _unshift(xy, name))
            )
        return frame
    try:
        if crs:
            frame = frame.set_crs(crs, allow_override=True)
        elif frame.crs is None:
            frame = frame.set_crs(4326)
        return frame.to_crs(4326)
    except Exception as exc:  # pyproj raises several unrelated types for a bad CRS
        raise ImportFileError(f"{source}: cannot use CRS {crs or frame.crs}: {exc}") from exc


def _unshift(xy: np.ndarray, crs: str) -> np.ndarray:
    lon, lat = to_wgs84(xy[:, 0], xy[:, 1], crs)
    return np.column_stack([lon, lat])


def polygons(frame: gpd.GeoDataFrame, *, labels: list[str], source: str) -> list[BaseGeometry]:
    """The frame's geometries as valid (Multi)Polygons; invalid ones repaired by make_valid.

    Raises ImportFileError naming the first feature that is empty, not polygonal, or has
    no area left after repair. ``labels`` name the features in messages (codes or rows).
    """
    out: list[BaseGeometry] = []
    for label, geom in zip(labels, frame.geometry.values, strict=True):
        if geom is None or geom.is_empty:
            raise ImportFileError(f"{source}: feature {label} has no geometry")
        if geom.geom_type not in POLYGONAL:
            raise ImportFileError(f"{source}: feature {label} is a {geom.geom_type}, not a polygon")
        if not geom.is_valid:
            geom = _polygonal_part(shapely.make_valid(geom))
            if geom.is_empty or geom.area == 0:
                raise ImportFileError(
                    f"{source}: feature {label} is invalid and cannot be repaired"
                )
        out.append(shapely.force_2d(geom))
    return out


def _polygonal_part(geom: BaseGeometry) -> BaseGeometry:
    if geom.geom_type in POLYGONAL:
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in POLYGONAL]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def points(frame: gpd.GeoDataFrame, *, source: str) -> gpd.GeoSeries:
    """Point locations of the features: polygons give their representative point."""
    geoms = frame.geometry
    if geoms.isna().any() or geoms.is_empty.any():
        bad = int(np.flatnonzero((geoms.isna() | geoms.is_empty).to_numpy())[0])
        raise ImportFileError(f"{source}: feature {bad} has no geometry")
    is_point = geoms.geom_type == "Point"
    return geoms.where(is_point, geoms.representative_point())


def field(frame: gpd.GeoDataFrame, name: str, *, source: str) -> list[str]:
    """Column ``name`` as strings; a readable error listing the fields when it is missing."""
    if name not in frame.columns:
        fields = ", ".join(c for c in frame.columns if c != frame.geometry.name)
        raise ImportFileError(f"{source}: no field {name!r} (fields: {fields})")
    values = frame[name]
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise ImportFileError(f"{source}: feature {row} has an empty {name!r}")
    return [text_value(v) for v in values]


def text_value(value: object) -> str:
    """Field values as text; integral floats (shapefile codes) lose their '.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def points_to_lonlat(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Point columns in ``crs`` (``wgs84``/``cgcs2000``/``gcj02``/``bd09`` in any case, or
    anything pyproj accepts, e.g. ``EPSG:2227``) as WGS84 lon/lat; NaN where a point has no
    usable coordinates (NaN, or not lon/lat degrees for the named lon/lat systems).
    Raises UnknownCRSError for a CRS nobody knows."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lon, lat = np.full(x.shape, np.nan), np.full(y.shape, np.nan)
    name = crs.strip().lower()
    if name in CRS_NAMES:
        ok = plausible_lonlat(x, y)
        lon[ok], lat[ok] = to_wgs84(x[ok], y[ok], name)
        return lon, lat
    try:
        transformer = Transformer.from_crs(crs, 4326, always_xy=True)
    except Exception as exc:  # pyproj raises several types for an unknown CRS
        raise UnknownCRSError(
            f"unknown CRS {crs!r}: expected wgs84, cgcs2000, gcj02, bd09 or an EPSG code"
        ) from exc
    ok = np.isfinite(x) & np.isfinite(y)
    with np.errstate(invalid="ignore"):
        lon[ok], lat[ok] = transformer.transform(x[ok], y[ok])
    bad = ~plausible_lonlat(lon, lat)
    lon[bad], lat[bad] = np.nan, np.nan
    return lon, lat


def require_mostly_lonlat(
    x: np.ndarray, y: np.ndarray, lon: np.ndarray, *, crs: str, option: str = "--crs"
) -> None:
    """Refuse a table whose numeric rows are mostly not lon/lat in ``crs`` (``lon`` is
    ``points_to_lonlat``'s answer, NaN where unusable): projected X/Y taken for lon/lat."""
    numeric = np.isfinite(x) & np.isfinite(y)
    bad = numeric & np.isnan(lon)
    if numeric.any() and bad.sum() * 2 > numeric.sum():
        k = int(np.flatnonzero(bad)[0])
        raise ImportFileError(
            f"{int(bad.sum())} of {int(numeric.sum())} rows hold coordinates like "
            f"[{x[k]:.1f}, {y[k]:.1f}], not lon/lat degrees in {crs}; name their CRS with "
            f"{crs_hint(option)}; nothing was written"
        )
