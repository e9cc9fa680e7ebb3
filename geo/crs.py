"""Coordinate systems: WGS84/CGCS2000 lon/lat, the Chinese GCJ-02 and BD-09 offsets, and the
local metric projection (UTM) used for every distance and area.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyproj import Transformer

from geo.errors import InvalidCoordinatesError, UnknownCRSError


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone containing (lon, lat): 326xx north, 327xx south."""
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


@lru_cache(maxsize=16)
def _transformer(src: int, dst: int) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def to_metric(
    lon: ArrayLike, lat: ArrayLike, epsg: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Project WGS84 lon/lat arrays to metres in ``epsg`` (normally ``utm_epsg`` of the data)."""
    x, y = _transformer(4326, epsg).transform(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    )
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def from_metric(
    x: ArrayLike, y: ArrayLike, epsg: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Inverse of ``to_metric``."""
    lon, lat = _transformer(epsg, 4326).transform(
        np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    )
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


# --- Chinese offset coordinate systems --------------------------------------------------

CRS_NAMES = ("wgs84", "cgcs2000", "gcj02", "bd09")

# GCJ-02 ("Mars coordinates"): the published obfuscation uses the Krasovsky 1940 ellipsoid.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
# BD-09 adds Baidu's own rotation/scale on top of GCJ-02.
_BD_X_PI = np.pi * 3000.0 / 180.0
# An inverse stops when the forward image of every point is this close (degrees, ~0.1 mm).
_INVERSE_TOL_DEG = 1e-9
_INVERSE_MAX_ITER = 50

Arrays = tuple[NDArray[np.float64], NDArray[np.float64]]


def validate_lonlat(lon: ArrayLike, lat: ArrayLike) -> Arrays:
    """Return lon/lat as float64 arrays, or raise ``InvalidCoordinatesError``.

    Rejects NaN, infinities, lon outside [-180, 180] and lat outside [-90, 90], naming how
    many points are bad and the first few indexes, so an API can point at the culprit.
    """
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    if x.shape != y.shape:
        raise InvalidCoordinatesError(f"lon has shape {x.shape} but lat has shape {y.shape}")
    with np.errstate(invalid="ignore"):
        bad = ~((np.abs(x) <= 180.0) & (np.abs(y) <= 90.0))  # NaN compares False
    if bad.any():
        where = np.flatnonzero(bad)
        first = ", ".join(str(int(i)) for i in where[:5])
        more = ", ..." if where.size > 5 else ""
        i0 = np.unravel_index(where[0], x.shape) if x.ndim else ()
        raise InvalidCoordinatesError(
            f"{where.size} of {x.size} points have NaN, infinite or out-of-range coordinates "
            f"(lon must be in [-180, 180], lat in [-90, 90]); first at index {first}{more}: "
            f"lon={float(x[i0])!r}, lat={float(y[i0])!r}"
        )
    return x, y


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """The usual rectangle test of the GCJ-02 libraries (eviltransform, coordTransform).

    A point is in China, and so shifted, when 72.004 <= lon <= 137.8347 and
    0.8293 <= lat <= 55.8271 (bounds inclusive); everything else is left untouched. It is a
    rectangle, so parts of neighbouring countries count as China, as in every such library.
    """
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    return ~((x >= 72.004) & (x <= 137.8347) & (y >= 0.8293) & (y <= 55.8271))


def _gcj02_from_wgs84(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Arrays:
    """The GCJ-02 forward offset, applied unconditionally (the caller tests out_of_china)."""
    x = lon - 105.0
    y = lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_KRASOVSKY_A / sqrtmagic * np.cos(radlat) * np.pi)
    return lon + dlon, lat + dlat


def _bd09_from_gcj02(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Arrays:
    """Baidu's BD-09 forward formula on top of GCJ-02."""
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_from_wgs84(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Arrays:
    return _bd09_from_gcj02(*_gcj02_from_wgs84(lon, lat))


def _invert(
    forward: Callable[[NDArray[np.float64], NDArray[np.float64]], Arrays],
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
) -> Arrays:
    """Solve forward(x) = (lon, lat) by fixed-point iteration x <- x - (forward(x) - target).

    The offsets vary slowly (their Jacobian is close to the identity), so this converges
    geometrically; only the points not yet within 1e-9 degrees (~0.1 mm) are iterated again.
    The closed-form one-step inverses in common use are off by up to ~5 m (GCJ-02) and
    ~0.2 m (BD-09).
    """
    fx, fy = forward(lon, lat)
    x, y = 2.0 * lon - fx, 2.0 * lat - fy
    active = np.arange(lon.size)
    for _ in range(_INVERSE_MAX_ITER):
        fx, fy = forward(x[active], y[active])
        ex, ey = fx - lon[active], fy - lat[active]
        x[active] -= ex
        y[active] -= ey
        active = active[np.maximum(np.abs(ex), np.abs(ey)) >= _INVERSE_TOL_DEG]
        if active.size == 0:
            return x, y
    raise RuntimeError("coordinate inverse did not converge")  # pragma: no cover


_FORWARD: dict[str, Callable[[NDArray[np.float64], NDArray[np.float64]], Arrays]] = {
    "gcj02": _gcj02_from_wgs84,
    "bd09": _bd09_from_wgs84,
}


def _convert(lon: ArrayLike, lat: ArrayLike, crs: str, *, inverse: bool) -> Arrays:
    name = crs.strip().lower()
    if name not in CRS_NAMES:
        raise UnknownCRSError(f"unknown CRS {crs!r}; expected one of {', '.join(CRS_NAMES)}")
    x, y = validate_lonlat(lon, lat)
    out_x, out_y = x.astype(np.float64, copy=True), y.astype(np.float64, copy=True)
    forward = _FORWARD.get(name)
    if forward is None:  # wgs84, and cgcs2000 which agrees with it to centimetres
        return out_x, out_y
    shift = ~out_of_china(x, y)
    if shift.any():
        sx, sy = x[shift].ravel(), y[shift].ravel()
        out_x[shift], out_y[shift] = _invert(forward, sx, sy) if inverse else forward(sx, sy)
    return out_x, out_y


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> Arrays:
    """Convert lon/lat given in ``crs`` (wgs84, cgcs2000, gcj02, bd09) to WGS84.

    GCJ-02 and BD-09 are inverted iteratively to better than 0.01 m. Points whose *input*
    coordinates are outside China (``out_of_china``) are returned unchanged. Raises
    ``UnknownCRSError`` or ``InvalidCoordinatesError``.
    """
    return _convert(lon, lat, crs, inverse=True)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> Arrays:
    """Convert WGS84 lon/lat to ``crs``; points outside China (``out_of_china``) are unchanged."""
    return _convert(lon, lat, crs, inverse=False)
