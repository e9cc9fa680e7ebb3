"""GeoJSON responses assembled from PostGIS-written geometry text, so large collections are
never parsed and re-serialised in Python."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fastapi.responses import Response

GEOJSON = "application/geo+json"
GEOJSON_OK: dict[int | str, dict[str, object]] = {
    200: {"description": "GeoJSON (WGS84 lon/lat)", "content": {GEOJSON: {}}}
}


def feature(geometry: str, properties: dict[str, Any], *, id_: Any = None) -> str:
    head = '{"type":"Feature",' + ("" if id_ is None else f'"id":{json.dumps(id_)},')
    return f'{head}"geometry":{geometry},"properties":{json.dumps(properties, default=str)}}}'


def collection(features: Iterable[str], **members: Any) -> str:
    extra = "".join(f',"{k}":{json.dumps(v, default=str)}' for k, v in members.items())
    return '{"type":"FeatureCollection"' + extra + ',"features":[' + ",".join(features) + "]}"


def geojson_response(body: str, *, headers: dict[str, str] | None = None) -> Response:
    return Response(body, media_type=GEOJSON, headers=headers)
