"""Coordinate systems: published GCJ-02/BD-09 vectors, round trips, the China box, validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import ArrayLike, NDArray
from pyproj import Geod

from geo.crs import (
    from_metric,
    from_wgs84,
    out_of_china,
    to_metric,
    to_wgs84,
    utm_epsg,
    validate_lonlat,
)
from geo.errors import InvalidCoordinatesError, UnknownCRSError

GEOD = Geod(ellps="WGS84")


def metres(
    lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike
) -> NDArray[np.float64]:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# googollee/eviltransform, go/transform_test.go and javascript/test.js (same table):
# (wgsLat, wgsLng, gcjLat, gcjLng) for Shanghai, Shenzhen, Beijing.
EVILTRANSFORM = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
]
# wandergis/coordtransform README ("result" block), all for the input (116.404, 39.915):
WANDERGIS_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
WANDERGIS_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
WANDERGIS_BD09_TO_GCJ02 = (116.39762729119315, 39.90865673957631)  # closed-form one step
WANDERGIS_GCJ02_TO_WGS84 = (116.39775550083061, 39.91359571849836)  # closed-form one step


def test_gcj02_forward_matches_eviltransform() -> None:
    wgs_lat, wgs_lon, gcj_lat, gcj_lon = np.array(EVILTRANSFORM).T
    lon, lat = from_wgs84(wgs_lon, wgs_lat, "gcj02")
    np.testing.assert_allclose(lon, gcj_lon, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lat, gcj_lat, rtol=0, atol=1e-12)


def test_gcj02_inverse_recovers_eviltransform_wgs84_to_a_millimetre() -> None:
    wgs_lat, wgs_lon, gcj_lat, gcj_lon = np.array(EVILTRANSFORM).T
    lon, lat = to_wgs84(gcj_lon, gcj_lat, "gcj02")
    assert metres(lon, lat, wgs_lon, wgs_lat).max() < 0.001


def test_wandergis_vectors() -> None:
    assert from_wgs84(116.404, 39.915, "gcj02") == pytest.approx(
        WANDERGIS_WGS84_TO_GCJ02, abs=1e-12
    )
    # gcj02 -> bd09 is our wgs84 -> bd09 applied to the WGS84 point whose GCJ-02 is the input
    wgs = to_wgs84(116.404, 39.915, "gcj02")
    assert from_wgs84(*wgs, "bd09") == pytest.approx(WANDERGIS_GCJ02_TO_BD09, abs=1e-9)


def test_iterated_inverses_beat_the_one_step_formulas() -> None:
    """The published one-step inverses are metres off; ours map back onto the input."""
    lon, lat = to_wgs84(116.404, 39.915, "gcj02")
    one_step = metres(lon, lat, *WANDERGIS_GCJ02_TO_WGS84)
    assert 0.01 < one_step < 5.0
    assert metres(*from_wgs84(lon, lat, "gcj02"), 116.404, 39.915) < 0.001
    bd_lon, bd_lat = 116.404, 39.915
    lon, lat = to_wgs84(bd_lon, bd_lat, "bd09")
    assert metres(*from_wgs84(lon, lat, "bd09"), bd_lon, bd_lat) < 0.001
    gcj = from_wgs84(lon, lat, "gcj02")
    assert 0.01 < metres(*gcj, *WANDERGIS_BD09_TO_GCJ02) < 1.0


china_lon = st.floats(72.004 + 0.05, 137.8347 - 0.05)
china_lat = st.floats(0.8293 + 0.05, 55.8271 - 0.05)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(china_lon, china_lat), min_size=1, max_size=200),
    st.sampled_from(["gcj02", "bd09"]),
)
def test_round_trips_within_a_centimetre_over_china(
    points: list[tuple[float, float]], crs: str
) -> None:
    lon, lat = np.array(points).T
    there = from_wgs84(lon, lat, crs)
    assert metres(*there, lon, lat).min() > 1.0  # China is shifted
    back = to_wgs84(*there, crs)
    assert metres(*back, lon, lat).max() < 0.01
    again = from_wgs84(*to_wgs84(lon, lat, crs), crs)
    assert metres(*again, lon, lat).max() < 0.01


outside = st.one_of(
    st.tuples(st.floats(-180, 72.0039), st.floats(-90, 90)),
    st.tuples(st.floats(137.8348, 180), st.floats(-90, 90)),
    st.tuples(st.floats(-180, 180), st.floats(-90, 0.8292)),
    st.tuples(st.floats(-180, 180), st.floats(55.8272, 90)),
)


@settings(max_examples=50, deadline=None)
@given(st.lists(outside, min_size=1, max_size=50), st.sampled_from(["gcj02", "bd09"]))
def test_points_outside_china_are_untouched(points: list[tuple[float, float]], crs: str) -> None:
    lon, lat = np.array(points).T
    assert out_of_china(lon, lat).all()
    for convert in (to_wgs84, from_wgs84):
        x, y = convert(lon, lat, crs)
        np.testing.assert_array_equal(x, lon)
        np.testing.assert_array_equal(y, lat)


def test_china_box_bounds_are_inclusive() -> None:
    lon = np.array([72.004, 137.8347, 72.0039999, 100.0, 100.0, 100.0])
    lat = np.array([30.0, 30.0, 30.0, 0.8293, 55.8271, 55.82711])
    assert out_of_china(lon, lat).tolist() == [False, False, True, False, False, True]


@given(arrays(np.float64, st.integers(0, 20), elements=st.floats(-180, 180)))
def test_wgs84_and_cgcs2000_are_identity(lon: NDArray[np.float64]) -> None:
    lat = np.clip(lon / 2, -90, 90)
    for crs in ("wgs84", "cgcs2000", "WGS84"):
        x, y = to_wgs84(lon, lat, crs)
        np.testing.assert_array_equal(x, lon)
        np.testing.assert_array_equal(y, lat)


def test_unknown_crs() -> None:
    with pytest.raises(UnknownCRSError, match="epsg:3857"):
        to_wgs84([1.0], [1.0], "epsg:3857")


@pytest.mark.parametrize(
    ("lon", "lat", "message"),
    [
        ([1.0, np.nan, 3.0], [1.0, 2.0, 3.0], "1 of 3 points .* index 1"),
        ([1.0, 181.0], [1.0, 2.0], "index 1"),
        ([1.0, 2.0], [-90.5, np.inf], "2 of 2 points .* index 0, 1"),
        ([1.0], [1.0, 2.0], "shape"),
    ],
)
def test_validate_lonlat_names_the_bad_points(
    lon: list[float], lat: list[float], message: str
) -> None:
    with pytest.raises(InvalidCoordinatesError, match=message):
        validate_lonlat(lon, lat)
    with pytest.raises(InvalidCoordinatesError):
        to_wgs84(lon, lat, "gcj02")


def test_validate_lonlat_accepts_the_edges() -> None:
    x, y = validate_lonlat([-180, 180, 0], [-90, 90, 0])
    assert x.dtype == y.dtype == np.float64


def test_metric_projection_round_trip() -> None:
    assert utm_epsg(118.8, 32.05) == 32650
    assert utm_epsg(-71.06, 42.36) == 32619
    assert utm_epsg(151.2, -33.9) == 32756
    x, y = to_metric([118.8, 118.81], [32.05, 32.05], 32650)
    assert np.hypot(x[1] - x[0], y[1] - y[0]) == pytest.approx(943.8, abs=1.0)
    lon, lat = from_metric(x, y, 32650)
    np.testing.assert_allclose(lon, [118.8, 118.81], atol=1e-9)
    np.testing.assert_allclose(lat, [32.05, 32.05], atol=1e-9)
