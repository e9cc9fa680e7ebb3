"""Offline pages: folium links Leaflet, jQuery, Bootstrap, Font Awesome and its plugins from
CDNs, which planners' machines and CI cannot reach. Every asset gridmap uses is vendored under
``maps/static`` (see SOURCES.md), and rendering rewrites the links to it: to a served
``/static`` URL for the API, or inlined for a single self-contained file.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

import folium


class UnvendoredAssetError(RuntimeError):
    """A map links a CDN asset that is not vendored: add it to maps/static and _VENDORED."""


def static_dir() -> Path:
    """The folder the API serves at ``/static`` (vendored libraries and gridmap's own JS/CSS)."""
    return Path(__file__).parent / "static"


_CDNJS = "https://cdnjs.cloudflare.com/ajax/libs/"
_JSDELIVR = "https://cdn.jsdelivr.net/"
_LEAFLET = "vendor/leaflet-1.9.4/lib/"
_CLUSTER = "vendor/leaflet.markercluster-1.5.3/lib/"
_FA = "vendor/fontawesome-free-6.2.0/css/"

# What folium 0.20 and the plugins gridmap uses link, mapped to the vendored files replacing them.
# Leaflet, MarkerCluster and awesome-markers are newer patch releases of what folium names;
# VectorGrid's @latest is 1.3.0, its last release.
# Font Awesome's all.min.css becomes core + solid: gridmap draws only solid icons, and the other
# styles would add half a megabyte to every inlined page.
_VENDORED: dict[str, tuple[str, ...]] = {
    _JSDELIVR + "npm/leaflet@1.9.3/dist/leaflet.js": (_LEAFLET + "leaflet.js",),
    _JSDELIVR + "npm/leaflet@1.9.3/dist/leaflet.css": (_LEAFLET + "leaflet.css",),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("vendor/jquery-3.7.1/lib/jquery.min.js",),
    _JSDELIVR + "npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": (
        "vendor/bootstrap-5.2.2/lib/js/bootstrap.bundle.min.js",
    ),
    _JSDELIVR + "npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": (
        "vendor/bootstrap-5.2.2/lib/css/bootstrap.min.css",
    ),
    _JSDELIVR + "npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": (
        _FA + "fontawesome.min.css",
        _FA + "solid.min.css",
    ),
    _CDNJS + "Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js": (
        "vendor/leaflet.awesome-markers-2.0.5/lib/leaflet.awesome-markers.min.js",
    ),
    _CDNJS + "Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css": (
        "vendor/leaflet.awesome-markers-2.0.5/lib/leaflet.awesome-markers.css",
    ),
    _CDNJS + "leaflet.markercluster/1.1.0/leaflet.markercluster.js": (
        _CLUSTER + "leaflet.markercluster.js",
    ),
    _CDNJS + "leaflet.markercluster/1.1.0/MarkerCluster.css": (_CLUSTER + "MarkerCluster.css",),
    _CDNJS + "leaflet.markercluster/1.1.0/MarkerCluster.Default.css": (
        _CLUSTER + "MarkerCluster.Default.css",
    ),
    _JSDELIVR + "npm/leaflet-search@2.9.7/dist/leaflet-search.min.js": (
        "vendor/leaflet-search-2.9.7/lib/leaflet-search.min.js",
    ),
    _JSDELIVR + "npm/leaflet-search@2.9.7/dist/leaflet-search.min.css": (
        "vendor/leaflet-search-2.9.7/lib/leaflet-search.min.css",
    ),
    _JSDELIVR + "gh/python-visualization/folium@main/folium/templates/leaflet_heat.min.js": (
        "vendor/leaflet.heat-0.2.0/lib/leaflet-heat.js",
    ),
    "https://unpkg.com/leaflet.vectorgrid@latest/dist/Leaflet.VectorGrid.bundled.js": (
        "vendor/leaflet.vectorgrid-1.3.0/lib/Leaflet.VectorGrid.bundled.min.js",
    ),
}

# Linked by every folium map but used by nothing gridmap draws (glyphicon icons, rotated
# awesome-markers); neither is published on npm, so the links are dropped.
_UNUSED = frozenset(
    {
        "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css",
        _JSDELIVR
        + "gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css",
    }
)

_LINK = re.compile(r'<script src="([^"]+)"></script>|<link rel="stylesheet" href="([^"]+)"/>')
_EXTERNAL = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="(?:[a-z]+:)?//', re.IGNORECASE)
_CSS_URL = re.compile(r"""url\((['"]?)([^'")]+)\1\)""")
# In a @font-face src list, every alternative after the first (woff2, which all browsers that
# run Leaflet 1.9 read): inlining the TrueType fallbacks too would double the fonts' weight.
_FONT_FALLBACKS = re.compile(r"""(?<=format\("woff2"\))(?:,url\([^)]*\) format\("[a-z]+"\))+""")
_Tag = Callable[[str], str]  # vendored path relative to static/ -> HTML tag
_MIME = {
    ".png": "image/png",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
}


def render_page(m: folium.Map, *, static_url: str = "/static") -> str:
    """The map's HTML with every JS/CSS asset linked from ``static_url`` (the API's mount of
    ``static_dir()``), so browsers fetch and cache each library once across pages."""
    base = static_url.rstrip("/")
    return _rewrite(
        m,
        js=lambda rel: f'<script src="{base}/{rel}"></script>',
        css=lambda rel: f'<link rel="stylesheet" href="{base}/{rel}"/>',
    )


def render_file(m: folium.Map) -> str:
    """The map's HTML with every asset inlined: one file that opens from disk, shared by mail
    or chat, with no network at all (about 1 MB more than ``render_page``)."""
    return _rewrite(m, js=_inline_js, css=_inline_css)


def _rewrite(m: folium.Map, *, js: _Tag, css: _Tag) -> str:
    html = m.get_root().render()
    emitted: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        url = match.group(1) or match.group(2)
        tag = js if match.group(1) else css
        out = []
        for rel in _local_files(url):
            if rel not in emitted:
                emitted.add(rel)
                out.append(tag(rel))
        return "\n".join(out)

    html = _LINK.sub(replace, html)
    if found := _EXTERNAL.search(html):
        raise UnvendoredAssetError(f"external asset left in the page: {found.group(0)}")
    return html


def _local_files(url: str) -> tuple[str, ...]:
    """Vendored files standing for ``url``: a CDN link, or a path under static/ already."""
    if url in _UNUSED:
        return ()
    if url in _VENDORED:
        return _VENDORED[url]
    if "//" not in url and not url.startswith("/") and (static_dir() / url).is_file():
        return (url,)
    raise UnvendoredAssetError(f"{url} is not vendored in {static_dir()}")


@cache
def _inline_js(rel: str) -> str:
    code = (static_dir() / rel).read_text(encoding="utf-8")
    return "<script>" + code.replace("</script", "<\\/script") + "</script>"


@cache
def _inline_css(rel: str) -> str:
    path = static_dir() / rel
    css = _FONT_FALLBACKS.sub("", path.read_text(encoding="utf-8"))

    def data_uri(match: re.Match[str]) -> str:
        target = match.group(2)
        if target.startswith(("data:", "#")):
            return match.group(0)
        file = (path.parent / target).resolve()
        if not file.is_file() or static_dir().resolve() not in file.parents:
            raise UnvendoredAssetError(f"{rel} refers to {target}, which is not vendored")
        payload = base64.b64encode(file.read_bytes()).decode("ascii")
        return f"url(data:{_MIME[file.suffix]};base64,{payload})"

    return "<style>" + _CSS_URL.sub(data_uri, css) + "</style>"
