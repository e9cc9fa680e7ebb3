"""The boundary editor page (/admin/grids/edit): an HTML shell around vendored Leaflet and
Leaflet-Geoman and gridmap's own ``gridmap/editor.js`` (all under maps/static), configured
by one JSON block. The page reads and writes grids through the API with the admin's key;
nothing here touches the database.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from maps.basemap import _TIANDITU, MAX_ZOOM, Basemap

LEAFLET = "vendor/leaflet-1.9.4/lib/"
GEOMAN = "vendor/leaflet-geoman-free-2.20.2/lib/"
TITLE = "网格边界编辑 Boundary editor"


def tile_layers(basemap: Basemap) -> tuple[list[dict[str, Any]], str | None]:
    """Leaflet tile layers for ``basemap`` as ``{url, attribution, subdomains, maxZoom}``, and
    a note when the basemap cannot be drawn under an editor (AMap is in GCJ-02: vertices
    dragged over it would be offset by hundreds of metres, so it is left out)."""
    osm = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    match basemap.kind:
        case "osm":
            return [_layer(osm, "© OpenStreetMap contributors")], None
        case "tianditu":
            return [
                _layer(
                    _TIANDITU.format(layer=layer, key=basemap.key, s="{s}"),
                    "© 天地图 Tianditu",
                    subdomains="01234567",
                )
                for layer in ("vec", "cva")
            ], None
        case "url":
            assert basemap.url is not None
            return [_layer(basemap.url, basemap.attribution or "local tiles")], None
        case "none":
            return [], None
    return (
        [],
        "高德底图为GCJ-02坐标，编辑时不显示 · AMap tiles (GCJ-02) are not drawn while editing",
    )


def _layer(url: str, attribution: str, *, subdomains: str = "abc") -> dict[str, Any]:
    return {"url": url, "attribution": attribution, "subdomains": subdomains, "maxZoom": MAX_ZOOM}


def editor_page(
    *,
    basemap: Basemap,
    workload_min: int,
    workload_max: int,
    timezone: str = "Asia/Shanghai",
    api_url: str = "/api/v1",
    static_url: str = "/static",
) -> str:
    """The editor's HTML. ``workload_min``/``workload_max``: the households a grid should
    carry (grids outside are flagged in the preview); ``timezone``: the zone times are shown
    in (and an effective time typed in the page is read in, by the API)."""
    tiles, note = tile_layers(basemap)
    config = {
        "api": api_url.rstrip("/"),
        "tiles": tiles,
        "tilesNote": note,
        "workload": {"min": workload_min, "max": workload_max},
        "timezone": timezone,
    }
    data = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
    base = escape(static_url.rstrip("/"))
    return _PAGE.format(title=TITLE, base=base, config=data, leaflet=LEAFLET, geoman=GEOMAN)


_PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{base}/{leaflet}leaflet.css">
<link rel="stylesheet" href="{base}/{geoman}leaflet-geoman.css">
<link rel="stylesheet" href="{base}/gridmap/editor.css">
</head>
<body>
<div id="editor">
<aside id="side">
  <h1>网格边界编辑 <small>Boundary editor</small></h1>
  <section id="key-panel">
    <label for="api-key">管理员密钥 Admin API key</label>
    <div class="row">
      <input id="api-key" type="password" autocomplete="off" placeholder="gm_…">
      <button id="key-use" type="button">确定 Use</button>
    </div>
    <div id="key-state" class="hint">仅保存在本标签页 · kept in this tab's session only</div>
  </section>
  <section id="pick-panel">
    <div class="row">
      <label for="street">街道 Street</label>
      <select id="street"></select>
    </div>
    <div class="row">
      <label for="community">社区 Community</label>
      <select id="community"></select>
    </div>
    <div class="row">
      <label for="code-search">网格编码 Grid code</label>
      <input id="code-search" type="search" placeholder="320102001002006">
      <button id="code-go" type="button">查找 Find</button>
    </div>
  </section>
  <section id="tools">
    <button id="undo" type="button" disabled>撤销 Undo</button>
    <button id="split" type="button" disabled>画线拆分 Split</button>
    <button id="merge" type="button" disabled>合并邻格 Merge</button>
    <button id="retire" type="button" disabled>并入邻格 Retire into</button>
    <button id="draw" type="button" disabled>画新网格 New grid</button>
    <button id="discard" type="button" disabled>放弃修改 Discard</button>
    <div id="tool-hint" class="hint">
      点击网格选中，拖动顶点修改边界 · click a grid, drag its vertices</div>
  </section>
  <section id="preview">
    <h2>影响预览 Impact preview</h2>
    <div id="preview-body" class="hint">尚无修改 · no changes yet</div>
  </section>
  <section id="commit-panel">
    <h2>提交 Commit</h2>
    <label for="reason">原因 Reason</label>
    <textarea id="reason" rows="2" maxlength="2000"></textarea>
    <label for="valid-from">生效时间 Effective (可选 optional)</label>
    <input id="valid-from" type="datetime-local">
    <button id="commit" type="button" disabled>提交修改 Commit</button>
    <div id="message" role="status"></div>
  </section>
  <section id="grid-panel">
    <h2>所选网格 Selected grid</h2>
    <div id="grid-info" class="hint">未选择 none</div>
    <h2>历史版本 History</h2>
    <div id="history" class="hint">—</div>
  </section>
  <section id="grids-panel">
    <h2>社区网格 Grids</h2>
    <div id="grids-list" class="hint">—</div>
  </section>
</aside>
<main id="map"></main>
</div>
<script type="application/json" id="editor-config">{config}</script>
<script src="{base}/{leaflet}leaflet.js"></script>
<script src="{base}/{geoman}leaflet-geoman.min.js"></script>
<script src="{base}/gridmap/editor.js"></script>
</body>
</html>
"""
