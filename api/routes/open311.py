"""Open311 GeoReport v2 at /open311/v2/, mapped onto incidents and categories.

Every endpoint answers ``.json`` or ``.xml``; errors come in GeoReport's own shape
(``[{"code", "description"}]``, ``<errors><error>…``), never as problem+json, so parameters
are taken as plain strings and checked here. Reading is public (GeoReport clients send no
key to read); filing a request needs a reporter's ``api_key`` form field. Statuses map to
``open``/``closed`` (rejected reports are closed); ``agency_responsible`` is the person the
report is dispatched to, before that the grid's worker.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Annotated, Any, ParamSpec

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.exc import OperationalError

from api.deps import LimiterDep, LocatorDep, SessionDep, SettingsDep, client_address
from api.intake import Report, file_report
from api.open311 import (
    FORMATS,
    LIST,
    OBJECT,
    Open311Error,
    documented,
    error,
    notice,
    render,
    service,
    service_request,
)
from api.security import RateLimitedError
from api.settings import Settings
from data import incidents as repo
from data.categories import get_category, list_categories
from data.errors import DataError, NotFoundError
from data.keys import ROLES, digest, owner_of_digest
from geo.errors import GeoError

router = APIRouter(prefix="/open311/v2", tags=["open311"])

P = ParamSpec("P")
MAX_SPAN = timedelta(days=90)
MAX_TEXT = 10_000
Field = Annotated[str | None, Form()]
Param = Annotated[str | None, Query()]


def georeport(handler: Callable[P, Response]) -> Callable[P, Response]:
    """Answer any failure of ``handler`` in GeoReport's error shape and the asked format."""

    @wraps(handler)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> Response:
        fmt = str(kwargs.get("fmt", "json"))
        try:
            if fmt not in FORMATS:
                raise Open311Error(404, "the format must be json or xml")
            return handler(*args, **kwargs)
        except Open311Error as exc:
            return error(fmt, exc.code, exc.description)
        except NotFoundError as exc:
            return error(fmt, 404, str(exc))
        except OperationalError:
            return error(fmt, 503, "the database is unreachable")
        except RateLimitedError as exc:
            response = error(fmt, 429, str(exc))
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except (DataError, GeoError) as exc:
            return error(fmt, 400, str(exc))

    return guarded


def _text(name: str, value: str | None, *, limit: int = MAX_TEXT) -> str | None:
    """``value`` when it is text the database can hold: no NUL byte, at most ``limit``
    characters, and valid UTF-8 as sent (what is not decodes to U+FFFD, which is refused
    rather than stored in place of what the client meant)."""
    if value is not None and ("\x00" in value or "\ufffd" in value or len(value) > limit):
        raise Open311Error(400, f"{name} must be UTF-8 text of at most {limit} characters")
    return value


def _list(name: str, value: str | None) -> list[str] | None:
    items = [v.strip() for v in (_text(name, value) or "").split(",") if v.strip()]
    return items or None


def _when(name: str, value: str | None, settings: Settings) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
        when.astimezone(UTC)
    except (ValueError, OverflowError):
        raise Open311Error(400, f"{name} must be a w3 datetime like 2026-11-01T00:00:00Z") from None
    return settings.aware(when)


def _coordinate(name: str, value: str | None, bound: float) -> float:
    try:
        number = float(value or "")
    except ValueError:
        raise Open311Error(400, "lat and long are required (decimal degrees, WGS84)") from None
    if not (math.isfinite(number) and -bound <= number <= bound):
        raise Open311Error(400, f"{name} must lie within ±{bound:g}")
    return number


def _requests(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        service_request(r, service_name=r["service_name"], agency=r["agency"], notes=r["notes"])
        for r in records
    ]


@router.get(
    "/services.{fmt}",
    summary="GeoReport v2: the service list (our categories)",
    responses=documented(200, LIST),
)
@georeport
def services(fmt: str, session: SessionDep, jurisdiction_id: Param = None) -> Response:
    rows = [service(c) for c in list_categories(session=session)]
    return render(fmt, "services", "service", rows)


@router.get(
    "/services/{code}.{fmt}",
    summary="GeoReport v2: one service's definition",
    responses=documented(200, OBJECT),
)
@georeport
def service_definition(
    code: str, fmt: str, session: SessionDep, jurisdiction_id: Param = None
) -> Response:
    if get_category(session=session, code=code) is None:
        raise Open311Error(404, f"no service {code}")
    return render(fmt, "service_definition", "", {"service_code": code, "attributes": []})


@router.get(
    "/requests.{fmt}",
    summary="GeoReport v2: service requests (default: last 90 days)",
    responses=documented(200, LIST),
)
@georeport
def get_requests(
    fmt: str,
    session: SessionDep,
    settings: SettingsDep,
    service_request_id: Param = None,
    service_code: Param = None,
    status: Param = None,
    start_date: Param = None,
    end_date: Param = None,
    jurisdiction_id: Param = None,
) -> Response:
    ids = _list("service_request_id", service_request_id)
    if ids is not None:
        if not all(i.isdigit() and len(i) < 19 for i in ids):
            raise Open311Error(400, "service_request_id must be ids separated by commas")
        records = repo.list_requests(session=session, ids=[int(i) for i in ids])
        return render(fmt, "service_requests", "request", _requests(records))
    statuses = set(_list("status", status) or ())
    if not statuses <= {"open", "closed"}:
        raise Open311Error(400, "status must be open, closed or both")
    start = _when("start_date", start_date, settings)
    end = _when("end_date", end_date, settings)
    try:
        if end is None:
            end = datetime.now(UTC) if start is None else start + MAX_SPAN
        if start is None:
            start = end - MAX_SPAN
    except OverflowError:  # 90 days from a date at either end of the calendar
        raise Open311Error(400, "start_date and end_date must be dates of this era") from None
    if end - start > MAX_SPAN or end < start:
        raise Open311Error(400, "start_date to end_date may span at most 90 days")
    records = repo.list_requests(
        session=session,
        codes=_list("service_code", service_code),
        open_=None if len(statuses) != 1 else "open" in statuses,
        start=start,
        end=end,
    )
    return render(fmt, "service_requests", "request", _requests(records))


@router.post(
    "/requests.{fmt}",
    summary="GeoReport v2: file a service request (api_key)",
    status_code=201,
    responses=documented(201, LIST),
)
@georeport
def post_request(
    fmt: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    locator: LocatorDep,
    limiter: LimiterDep,
    api_key: Field = None,
    service_code: Field = None,
    lat: Field = None,
    long: Field = None,
    address_string: Field = None,
    address_id: Field = None,
    description: Field = None,
    media_url: Field = None,
    jurisdiction_id: Field = None,
) -> Response:
    owner = None if not api_key else owner_of_digest(session=session, key_digest=digest(api_key))
    if not api_key or owner is None or ROLES.index(owner.role) < ROLES.index("reporter"):
        raise Open311Error(403, "api_key must be a live key with role reporter or admin")
    limiter.take(key=digest(api_key), address=client_address(request))
    code = _text("service_code", service_code, limit=64)
    if not code or get_category(session=session, code=code) is None:
        raise Open311Error(400, f"service_code {code!r} is not in services.{fmt}")
    token = uuid.uuid4().hex
    report = Report(
        category=code,
        description=_text("description", description) or "",
        lon=_coordinate("long", long, 180),
        lat=_coordinate("lat", lat, 90),
        client_id=f"open311:{token}",
        address=_text("address_string", address_string, limit=1000),
        media_url=_text("media_url", media_url, limit=2000),
    )
    filed = file_report(
        session=session,
        locator=locator,
        settings=settings,
        report=report,
        actor=owner.actor,
        now=datetime.now(UTC),
    )
    answer = {
        "service_request_id": str(filed.record["id"]),
        "token": token,
        "service_notice": notice(filed.record, filed.possible_duplicates),
        "account_id": None,
    }
    return render(fmt, "service_requests", "request", [answer], status=201)


@router.get(
    "/requests/{request_id}.{fmt}",
    summary="GeoReport v2: one service request",
    responses=documented(200, LIST),
)
@georeport
def get_request(
    request_id: str, fmt: str, session: SessionDep, jurisdiction_id: Param = None
) -> Response:
    if not request_id.isdigit() or len(request_id) > 18:
        raise Open311Error(404, f"no service request {request_id[:64]}")
    records = repo.list_requests(session=session, ids=[int(request_id)])
    if not records:
        raise Open311Error(404, f"no service request {request_id}")
    return render(fmt, "service_requests", "request", _requests(records))


@router.get(
    "/tokens/{token}.{fmt}",
    summary="GeoReport v2: the request id of a token",
    responses=documented(200, LIST),
)
@georeport
def get_token(token: str, fmt: str, session: SessionDep, jurisdiction_id: Param = None) -> Response:
    found = repo.id_of_client(
        session=session, client_id=f"open311:{_text('token', token, limit=64)}"
    )
    if found is None:
        raise Open311Error(404, f"no service request for token {token[:64]}")
    return render(
        fmt, "service_requests", "request", [{"service_request_id": str(found), "token": token}]
    )
