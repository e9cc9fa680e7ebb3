"""Open311 GeoReport v2 documents: incidents and categories in GeoReport's field names, and
the same list of records as JSON or XML (``<services><service>…``, ``<service_requests>
<request>…``, ``<errors><error>…``), GeoReport's error shape included."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from fastapi.responses import JSONResponse, Response

from data.lifecycle import open311_status

FORMATS = ("json", "xml")
GROUPS = {"E": "事件 events", "C": "部件 components", "G": "社区治理 community governance"}


_ERRORS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
        "required": ["code", "description"],
    },
}


def documented(ok: int, ok_schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI responses of an Open311 endpoint: ``ok`` as JSON or XML, every error in
    GeoReport's shape (JSON or XML), those that never reach the route (a body too large, a
    form that cannot be read) included."""
    out: dict[int | str, dict[str, Any]] = {
        ok: {
            "description": "GeoReport v2 document",
            "content": {"application/json": {"schema": ok_schema}, "text/xml": {}},
        }
    }
    for status, description in (
        (400, "invalid parameters"),
        (403, "api_key missing, unknown or below reporter"),
        (404, "no such service, request, token or format"),
        (413, "request body too large"),
        (429, "too many writes; Retry-After says when to try again"),
        (500, "a bug: logged with the request id the description carries"),
        (503, "the database is unreachable"),
    ):
        out[status] = {
            "description": f"GeoReport error: {description}",
            "content": {
                "application/json": {"schema": _ERRORS_SCHEMA},
                "text/xml": {},
            },
        }
    return out


LIST = {"type": "array", "items": {"type": "object"}}
OBJECT = {"type": "object"}


class Open311Error(Exception):
    """An error answered in GeoReport's shape: ``[{"code", "description"}]``."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def service(category: Mapping[str, Any]) -> dict[str, Any]:
    code = str(category["code"])
    return {
        "service_code": code,
        "service_name": f"{category['name_zh']} {category['name_en']}",
        "description": f"{category['name_en']} (default priority {category['priority']})",
        "metadata": False,
        "type": "realtime",
        "keywords": f"{category['name_zh']},{category['name_en']}",
        "group": GROUPS.get(code[:1], "其他 other"),
    }


def _w3(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat(timespec="seconds")


def service_request(
    incident: Mapping[str, Any], *, service_name: str | None, agency: str | None, notes: str | None
) -> dict[str, Any]:
    """An incident as a GeoReport v2 request (agency_responsible = the handling person)."""
    return {
        "service_request_id": str(incident["id"]),
        "status": open311_status(str(incident["status"])),
        "status_notes": notes,
        "service_name": service_name,
        "service_code": incident["category"],
        "description": incident["description"],
        "agency_responsible": agency,
        "service_notice": notice(incident),
        "requested_datetime": _w3(incident["reported_at"]),
        "updated_datetime": _w3(incident.get("updated_at")),
        "expected_datetime": _w3(incident["due_at"]),
        "address": incident.get("address"),
        "address_id": None,
        "zipcode": None,
        "lat": incident["lat"],
        "long": incident["lon"],
        "media_url": incident.get("media_url"),
    }


def notice(incident: Mapping[str, Any], duplicates: Sequence[int] = ()) -> str:
    text = (
        f"{incident['status']}; grid {incident['grid_code'] or 'none'}; "
        f"priority {incident['priority']}, due {_w3(incident['due_at'])}"
    )
    if incident.get("merged_into"):
        text += f"; merged into {incident['merged_into']}"
    if duplicates:
        text += "; possible duplicate of " + ", ".join(str(d) for d in duplicates)
    return text


def _xml_value(parent: ET.Element, name: str, value: Any) -> None:
    child = ET.SubElement(parent, name)
    if isinstance(value, list):
        for item in value:
            _xml_value(child, name.removesuffix("s") or "item", item)
    elif isinstance(value, bool):
        child.text = "true" if value else "false"
    elif value is not None:
        child.text = str(value)


def render(
    fmt: str,
    root: str,
    item: str,
    records: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    status: int = 200,
) -> Response:
    """``records`` as a JSON list, or as ``<root><item>…</item>…</root>``; one mapping (a
    service definition) as a JSON object, or its fields right under ``<root>``."""
    if fmt != "xml":
        body = dict(records) if isinstance(records, Mapping) else [dict(r) for r in records]
        return JSONResponse(body, status_code=status)
    top = ET.Element(root)
    for record in [records] if isinstance(records, Mapping) else records:
        element = top if isinstance(records, Mapping) else ET.SubElement(top, item)
        for name, value in record.items():
            _xml_value(element, name, value)
    return Response(
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="unicode"),
        status_code=status,
        media_type="text/xml; charset=utf-8",
    )


def error(fmt: str, code: int, description: str) -> Response:
    return render(
        fmt if fmt in FORMATS else "json",
        "errors",
        "error",
        [{"code": code, "description": description}],
        status=code,
    )
