"""The resident and field report page (随手拍): the page and its service worker, anonymous
device tokens, reports with photos from the page, a device's own reports, and the grid (with
its worker's name) a point goes to.

``/report?grid=CODE`` is what a printed QR poster opens (``gridmap qr``). Reports carry the
page's own ``client_id`` (a resend never duplicates) and ``X-Device-Token``; they are rate
limited per token and per address, and enter as ``reported`` like any other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import jinja2
import numpy as np
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import (
    BasemapDep,
    DeviceDep,
    LocatorDep,
    PhotoStoreDep,
    ReportLimitsDep,
    SessionDep,
    SessionsDep,
    SettingsDep,
    client_address,
)
from api.locator import MATCH_NAMES
from api.reports import file_device_report, photo_public, read_upload
from api.schemas.fields import Code
from api.schemas.incidents import IncidentCreated
from api.schemas.points import CrsName, Lat, Lon
from api.schemas.reports import (
    MAX_PHOTOS,
    MyReport,
    MyReports,
    ReportFiled,
    ReportForm,
    ReportPlace,
    TokenCreate,
    TokenIssued,
)
from data import incidents as incident_repo
from data import reports as repo
from data.audit import record
from data.categories import list_categories
from data.errors import NotFoundError
from data.lifecycle import CLOSED, OPEN, REJECTED, RESOLVED, STATUS_LABELS
from geo.crs import to_wgs84
from maps.basemap import Basemap

router = APIRouter(tags=["report page"])

STATIC_URL = "/static/report"
# The routes that take photos: the body limit (api/limits.py) is larger for these only.
PHOTO_PATHS = r"/api/v1/report|/api/v1/incidents/[0-9]+/photos"
ANSWERED = (RESOLVED, CLOSED, REJECTED)
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def static_dir() -> Path:
    """The page's script, styles and icons, served at ``STATIC_URL``."""
    return Path(__file__).resolve().parents[1] / "static" / "report"


@cache
def _templates() -> jinja2.Environment:
    folder = Path(__file__).resolve().parents[1] / "templates"
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder), autoescape=True, trim_blocks=True
    )


def _tiles(basemap: Basemap) -> dict[str, Any] | None:
    """The page's tile layer; AMap's GCJ-02 tiles would put the pin off its WGS84 point,
    so the page draws no tiles then (nor with ``none``)."""
    match basemap.kind:
        case "osm":
            return {"url": OSM_TILES, "attribution": "© OpenStreetMap", "subdomains": "abc"}
        case "tianditu":
            url = (
                "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                "&VERSION=1.0.0&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                f"&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={basemap.key}"
            )
            return {"url": url, "attribution": "© 天地图 Tianditu", "subdomains": "01234567"}
        case "url":
            return {"url": basemap.url, "attribution": basemap.attribution, "subdomains": "abc"}
        case _:
            return None


@router.get(
    "/report",
    response_class=HTMLResponse,
    summary="The resident report page (随手拍); ?grid=CODE from a QR poster",
)
def report_page(
    session: SessionDep,
    settings: SettingsDep,
    tiles: BasemapDep,
    grid: Annotated[Code | None, Query(description="the grid a QR poster names")] = None,
) -> HTMLResponse:
    html = (
        _templates()
        .get_template("report.html")
        .render(
            categories=list_categories(session=session),
            grid=grid,
            tiles=_tiles(tiles),
            static=STATIC_URL,
            max_photos=MAX_PHOTOS,
            photo_max_bytes=settings.photo_max_bytes,
        )
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


@router.get("/report/sw.js", include_in_schema=False)
def service_worker() -> Response:
    """The page's service worker, allowed to control ``/report`` (one level above it)."""
    body = (static_dir() / "sw.js").read_bytes()
    return Response(
        body,
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": "/report", "Cache-Control": "no-cache"},
    )


@router.post(
    "/api/v1/report/tokens",
    status_code=201,
    response_model=TokenIssued,
    summary="A new anonymous device token (rate limited per address)",
)
def issue_token(
    request: Request, session: SessionDep, limits: ReportLimitsDep, body: TokenCreate | None = None
) -> TokenIssued:
    address = client_address(request)
    limits.tokens.take(key=f"address:{address}", address=address)
    phone = body.phone if body is not None else None
    token, device = repo.issue_token(session=session, phone=phone)
    record(
        session=session,
        actor=device.actor,
        action="issue",
        entity="device token",
        entity_id=str(device.id),
        detail={"phone": phone is not None},
    )
    session.commit()
    return TokenIssued(token=token, created_at=datetime.now(UTC))


@router.post(
    "/api/v1/report",
    status_code=201,
    response_model=ReportFiled,
    responses={200: {"model": ReportFiled, "description": "a resend: the stored report"}},
    summary="File a report from the page (multipart, up to 3 photos; X-Device-Token)",
)
async def file_from_page(
    form: Annotated[ReportForm, Form(media_type="multipart/form-data")],
    device: DeviceDep,
    sessions: SessionsDep,
    locator: LocatorDep,
    settings: SettingsDep,
    store: PhotoStoreDep,
) -> JSONResponse:
    uploads = [await read_upload(p, settings.photo_max_bytes) for p in form.photos]

    def file() -> JSONResponse:
        with sessions() as session:
            filed, photos = file_device_report(
                session=session,
                locator=locator,
                settings=settings,
                store=store,
                device=device,
                form=form,
                uploads=uploads,
                now=datetime.now(UTC),
            )
        public = ReportFiled.model_validate(
            {
                **IncidentCreated.model_validate(
                    {**filed.record, "possible_duplicates": filed.possible_duplicates}
                ).model_dump(),
                "photos": [photo_public(p) for p in photos],
            }
        )
        return JSONResponse(
            public.model_dump(mode="json"),
            status_code=201 if filed.created else 200,
            headers={"ETag": incident_repo.etag(filed.record)},
        )

    return await run_in_threadpool(file)


@router.get(
    "/api/v1/report/mine",
    response_model=MyReports,
    summary="This device's reports: status, deadline and the handler's answer",
)
def my_reports(device: DeviceDep, session: SessionDep) -> MyReports:
    rows = repo.reports_of(session=session, device=device)
    photos: dict[int, list[Any]] = {}
    for p in repo.photos_of(session=session, incident_ids=[r["id"] for r in rows]):
        photos.setdefault(p["incident_id"], []).append(photo_public(p))
    now = datetime.now(UTC)
    items = [
        MyReport(
            **{k: r[k] for k in ("id", "category", "description", "status", "grid_code")},
            category_name=" ".join(n for n in (r["category_zh"], r["category_en"]) if n) or None,
            status_label=STATUS_LABELS[r["status"]],
            grid_name=r["grid_name"],
            reported_at=r["reported_at"],
            due_at=r["due_at"],
            closed_at=r["closed_at"],
            overdue=r["status"] in OPEN and r["due_at"] < now,
            answer=r["last_note"] if r["status"] in ANSWERED else None,
            photos=photos.get(r["id"], []),
        )
        for r in rows
    ]
    return MyReports(items=items)


@router.get(
    "/api/v1/report/grid",
    response_model=ReportPlace,
    summary="The grid a point (or a code) goes to, with its worker's name",
)
def report_grid(
    locator: LocatorDep,
    session: SessionDep,
    lon: Annotated[Lon | None, Query()] = None,
    lat: Annotated[Lat | None, Query()] = None,
    crs: CrsName = "wgs84",
    code: Annotated[Code | None, Query(description="a grid code instead of a point")] = None,
) -> ReportPlace:
    """The same point→grid rule as ``/api/v1/locate``, plus what the page shows before
    sending: the grid worker's name (phone numbers stay private)."""
    match, distance = None, None
    if code is None:
        if lon is None or lat is None:
            raise NotFoundError("give lon and lat, or a grid code")
        x, y = to_wgs84(np.array([lon]), np.array([lat]), crs)
        snapshot = locator.snapshot
        snapshot.require_in_region(float(x[0]), float(y[0]))
        found = snapshot.index.locate_one(float(x[0]), float(y[0])) if snapshot.index else None
        if found is None or found[0] < 0:
            raise NotFoundError("the point is in no grid and not within tolerance of one")
        code = snapshot.codes[found[0]]
        match, distance = MATCH_NAMES[found[1]], round(float(found[2]), 3)
    info = repo.grid_info(session=session, codes=[code], geometry=True)
    if not info:
        raise NotFoundError(f"no current grid {code!r}")
    place = {"grid": info[0], "geometry": info[0]["geometry"]}
    return ReportPlace.model_validate({**place, "match": match, "distance_m": distance})
