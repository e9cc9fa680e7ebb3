"""Compact browser data. Page size decides whether a 6,500-grid city opens at all, so geometry
is simplified in metres and quantized to ``PRECISION`` decimals of a degree, and sent as
integers — a ring's first vertex as an offset from the data's south-west corner, the rest as
deltas from the previous vertex — in flat arrays beside column arrays of properties, which
gridmap.js unpacks. That is about a third of the size of the same data as GeoJSON.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo.crs import from_metric, to_metric, utm_epsg

_TEMPLATE_OPENER = re.compile(r"\{(?=[{%#])")
PRECISION = 6  # decimal degrees kept: ~0.1 m, far below a screen pixel at any zoom
SIMPLIFY_M = 2.0  # metres: below a pixel up to zoom 16, and drops near-collinear vertices


def simplified(frame: gpd.GeoDataFrame, *, coverage: bool) -> gpd.GeoDataFrame:
    """``frame`` with its polygons simplified by ``SIMPLIFY_M`` in the local UTM zone.

    ``coverage=True`` for partitions (grids, communities, streets): an edge shared by two
    neighbours is simplified once for both, so no slivers open between them.
    """
    if frame.empty:
        return frame
    minx, miny, maxx, maxy = frame.total_bounds
    epsg = utm_epsg((minx + maxx) / 2, (miny + maxy) / 2)

    def forward(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack(to_metric(xy[:, 0], xy[:, 1], epsg))

    def back(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack(from_metric(xy[:, 0], xy[:, 1], epsg))

    metric = shapely.transform(np.asarray(frame.geometry.values), forward)
    if coverage:
        metric = shapely.coverage_simplify(metric, SIMPLIFY_M)
    else:
        metric = shapely.simplify(metric, SIMPLIFY_M, preserve_topology=True)
    geoms = gpd.GeoSeries(shapely.transform(metric, back), index=frame.index, crs=4326)
    return frame.assign(**{frame.geometry.name: geoms})


def _origin(xy: NDArray[np.float64]) -> tuple[float, float, float]:
    q = 10.0**-PRECISION
    if not len(xy):
        return 0.0, 0.0, q
    x0, y0 = np.floor(xy.min(axis=0) / q) * q
    return float(x0), float(y0), q


def pack_points(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """Points as ``{x0, y0, q, xy}``: vertex i at (x0 + xy[2i]·q, y0 + xy[2i+1]·q)."""
    xy = shapely.get_coordinates(np.asarray(frame.geometry.values))
    x0, y0, q = _origin(xy)
    ints = np.rint((xy - [x0, y0]) / q).astype(np.int64)
    return {"x0": x0, "y0": y0, "q": q, "xy": ints.ravel().tolist()}


def pack_polygons(frame: gpd.GeoDataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """(Multi)polygons as ``{x0, y0, q, xy, rings, parts, feats, props}``.

    ``feats`` counts the parts of each feature, ``parts`` the rings of each part (exterior
    first), ``rings`` the vertices of each ring (the closing repeat dropped); ``xy`` holds each
    ring's first vertex as an offset from (x0, y0) and the others as deltas, in units of ``q``
    degrees; ``props`` maps each of ``columns`` to its values (None for missing).
    """
    geoms = np.asarray(frame.geometry.values)
    parts, _ = shapely.get_parts(geoms, return_index=True)
    rings, _ = shapely.get_rings(parts, return_index=True)
    xy, ring_of_vertex = shapely.get_coordinates(rings, return_index=True)
    x0, y0, q = _origin(xy)
    ints = np.rint((xy - [x0, y0]) / q).astype(np.int64)
    counts = np.bincount(ring_of_vertex, minlength=len(rings))
    starts = np.cumsum(counts) - counts
    keep = np.ones(len(ints), dtype=bool)
    keep[starts + counts - 1] = False  # closing vertex = first vertex
    deltas = np.diff(ints, axis=0, prepend=[[0, 0]])
    deltas[starts] = ints[starts]
    return {
        "x0": x0,
        "y0": y0,
        "q": q,
        "xy": deltas[keep].ravel().tolist(),
        "rings": (counts - 1).tolist(),
        "parts": (shapely.get_num_interior_rings(parts) + 1).tolist(),
        "feats": shapely.get_num_geometries(geoms).tolist(),
        "props": columns_of(frame, columns),
    }


def features(frame: gpd.GeoDataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection for folium layers: coordinates rounded to ``PRECISION``,
    only ``columns`` kept, strings HTML-escaped (folium's tooltips insert them as HTML)."""
    geoms = shapely.transform(np.asarray(frame.geometry.values), lambda xy: np.round(xy, PRECISION))
    props = columns_of(frame, columns)
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {c: _escaped(props[c][i]) for c in columns},
                "geometry": json.loads(text),
            }
            for i, text in enumerate(shapely.to_geojson(geoms))
        ],
    }


def _escaped(value: Any) -> Any:
    return text_html(value) if isinstance(value, str) else value


def text_html(text: str) -> str:
    """``text`` escaped for HTML, braces included: branca reads every rendered script back in
    as a Jinja template, so a ``{{`` or ``{%`` in a name would otherwise be executed."""
    return html.escape(text).replace("{", "&#123;")


def columns_of(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, list[Any]]:
    """Each column as a JSON-ready list: numpy scalars made Python, missing values None."""
    out = {}
    for column in columns:
        values = frame[column].astype(object)
        out[column] = [None if pd.isna(v) else _plain(v) for v in values]
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def script_data(value: Any) -> str:
    """A JavaScript expression for ``value``, safe inside a <script> element: ``JSON.parse``
    of a string literal, which V8 reads several times faster than the same object literal.

    It is also inert when branca reads the rendered script back in as a Jinja template: JSON's
    own braces never open ``{{``, ``{%`` or ``{#``, so a brace that does is inside a string and
    is written as the JSON escape ``\\u007b``.
    """
    text = _TEMPLATE_OPENER.sub(
        r"\\u007b", json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    )
    literal = text.replace("\\", "\\\\").replace("'", "\\'").replace("</", "<\\/")
    return f"JSON.parse('{literal}')"
