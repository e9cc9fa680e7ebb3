"""Basemaps under the overlays, and the map every builder starts from.

AMap's tiles are drawn in GCJ-02, China's obfuscated datum, hundreds of metres off WGS84 in
places; on an AMap basemap every overlay is shifted to GCJ-02 so that grids line up with the
streets under them. Tianditu serves CGCS2000, equal to WGS84 at map scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import Figure
from numpy.typing import NDArray

from geo.crs import from_wgs84

BasemapKind = Literal["osm", "tianditu", "amap", "url", "none"]
BASEMAP_KINDS = ("osm", "tianditu", "amap", "none")  # by name; "url" takes a tile template

_TIANDITU = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)
_AMAP = (
    "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
    "&x={x}&y={y}&z={z}"
)


@dataclass(frozen=True, kw_only=True)
class Basemap:
    """Which tiles to draw under the overlays.

    ``kind``: ``osm`` (default), ``tianditu`` (needs ``key``, a Tianditu browser token),
    ``amap`` (GCJ-02 tiles; overlays are shifted to match), ``url`` (``url`` is a tile template
    with ``{z}``, ``{x}``, ``{y}``, e.g. a local tile server in WGS84-aligned web mercator), or
    ``none`` (overlays only: the one choice that needs no network at all).
    """

    kind: BasemapKind = "osm"
    key: str | None = None
    url: str | None = None
    attribution: str = ""

    def __post_init__(self) -> None:
        if self.kind == "tianditu" and not self.key:
            raise ValueError("a Tianditu basemap needs a key")
        if self.kind == "url" and not (
            self.url and all(part in self.url for part in ("{z}", "{x}", "{y}"))
        ):
            raise ValueError("a url basemap needs a tile template with {z}, {x} and {y}")

    @property
    def gcj02(self) -> bool:
        """Whether overlays must be shifted to GCJ-02 to line up with these tiles."""
        return self.kind == "amap"


OSM = Basemap()
# Where each named basemap's tiles come from: a page's Content-Security-Policy allows images
# from these origins (and a "url" basemap's own) and nothing else remote.
TILE_ORIGINS = (
    "https://tile.openstreetmap.org",
    "https://*.tianditu.gov.cn",
    "https://*.is.autonavi.com",
)
MAX_ZOOM = 18  # Tianditu's and AMap's deepest level


def new_map(frames: list[gpd.GeoDataFrame], *, basemap: Basemap, title: str) -> folium.Map:
    """An empty map on ``basemap`` fitted to the (display-ready) frames' extent.

    Vector overlays go on one shared canvas: thousands of grid polygons draw and pan several
    times faster there than as SVG paths, and Leaflet's canvas hit-testing keeps them clickable.
    """
    # maxZoom on the map itself: without tiles Leaflet knows none, and MarkerCluster needs one.
    m = folium.Map(
        location=None, tiles=None, prefer_canvas=True, control_scale=True, maxZoom=MAX_ZOOM
    )
    page = cast(Figure, m.get_root())
    page.title = title
    # No favicon to fetch: served pages would log a 404 for /favicon.ico otherwise.
    page.header.add_child(folium.Element('<link rel="icon" href="data:,">'), name="icon")
    for layer in _tile_layers(basemap):
        layer.add_to(m)
    bounds = [f.total_bounds for f in frames if not f.empty]
    if bounds:
        b = np.vstack(bounds)
        m.fit_bounds([[b[:, 1].min(), b[:, 0].min()], [b[:, 3].max(), b[:, 2].max()]])
    return m


def _tile_layers(basemap: Basemap) -> list[folium.TileLayer]:
    match basemap.kind:
        case "osm":
            return [folium.TileLayer("OpenStreetMap", name="OpenStreetMap", control=False)]
        case "tianditu":
            attr = "© 天地图 Tianditu"
            return [
                folium.TileLayer(
                    _TIANDITU.format(layer=layer, key=basemap.key, s="{s}"),
                    attr=attr,
                    name=f"天地图 {layer}",
                    subdomains="01234567",
                    max_zoom=18,
                    overlay=layer == "cva",
                    control=False,
                )
                for layer in ("vec", "cva")
            ]
        case "amap":
            return [
                folium.TileLayer(
                    _AMAP,
                    attr="© 高德地图 AMap",
                    name="高德地图 AMap",
                    subdomains="1234",
                    max_zoom=18,
                    control=False,
                )
            ]
        case "url":
            return [
                folium.TileLayer(
                    basemap.url,
                    attr=basemap.attribution or "local tiles",
                    name="tiles",
                    control=False,
                )
            ]
        case "none":
            return []


def for_display(frame: gpd.GeoDataFrame, basemap: Basemap) -> gpd.GeoDataFrame:
    """``frame`` in EPSG:4326, shifted to GCJ-02 when the basemap needs it."""
    out = frame.to_crs(4326) if frame.crs is not None and frame.crs.to_epsg() != 4326 else frame
    if not basemap.gcj02 or out.empty:
        return out
    shifted = shapely.transform(np.asarray(out.geometry.values), _to_gcj02)
    return out.assign(**{out.geometry.name: gpd.GeoSeries(shifted, index=out.index, crs=4326)})


def _to_gcj02(xy: NDArray[np.float64]) -> NDArray[np.float64]:
    lon, lat = from_wgs84(xy[:, 0], xy[:, 1], "gcj02")
    return np.column_stack([lon, lat])
