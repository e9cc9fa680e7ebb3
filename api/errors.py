"""Every error the API returns is RFC 9457 problem+json: the one table mapping domain
exceptions to statuses, and the outermost guard that turns anything unexpected into a 500
problem logged once with the request id its body carries. Under ``/open311/`` the same
errors come in GeoReport's shape instead (``[{"code", "description"}]``, or XML for a
``.xml`` path), whether the route answers them or they arise before it (no such path, a
method it does not take, a body too large, a form that cannot be read)."""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.open311 import error as georeport_error
from api.security import RateLimitedError
from data.errors import (
    ConflictError,
    EmbeddedDatabaseError,
    ImportFileError,
    NotFoundError,
    PhotoError,
    PhotoTooLargeError,
    PreconditionFailedError,
    PreconditionRequiredError,
    RuleError,
    StorageUnavailableError,
    UnknownValueError,
)
from geo.errors import GeoError

PROBLEM = "application/problem+json"
REQUEST_ID_HEADER = "X-Request-ID"
log = logging.getLogger("gridmap.api")
access = logging.getLogger("gridmap.access")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class Problem(BaseModel):
    """RFC 9457 problem details, as every error is answered."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="validation errors: [{loc, msg}]"
    )
    request_id: str = Field(description="also in the X-Request-ID header and the server log")


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, description in (
        (400, "the body is not JSON"),
        (401, "no or unknown API key"),
        (403, "the key's role is too low"),
        (404, "not found"),
        (409, "conflicts with the current state"),
        (412, "the ETag given is stale: the record changed since"),
        (413, "request body too large"),
        (422, "invalid input; `errors` names each field"),
        (428, "this write needs the record's ETag (If-Match, or etag in the body)"),
        (429, "too many writes; Retry-After says when to try again"),
        (500, "a bug: logged with the request id the body carries"),
        (503, "the database (or the photo storage) is unreachable"),
    )
}


class AuthError(Exception):
    """No API key, or an unknown one."""


class ForbiddenError(Exception):
    """The key's role is below what the route needs."""


DEFAULT_STATUS_CODES: dict[type[Exception], tuple[int, str]] = {
    AuthError: (401, "unauthorized"),
    ForbiddenError: (403, "forbidden"),
    NotFoundError: (404, "not-found"),
    ConflictError: (409, "conflict"),
    PreconditionFailedError: (412, "precondition-failed"),
    GeoError: (422, "invalid-geometry"),
    ImportFileError: (422, "invalid-file"),
    UnknownValueError: (422, "unknown-value"),
    RuleError: (422, "rule-violation"),
    PreconditionRequiredError: (428, "precondition-required"),
    RateLimitedError: (429, "too-many-requests"),
    OperationalError: (503, "database-unavailable"),
    EmbeddedDatabaseError: (503, "database-unavailable"),
    PhotoError: (422, "invalid-photo"),
    PhotoTooLargeError: (413, "photo-too-large"),
    StorageUnavailableError: (503, "storage-unavailable"),
}
UNAVAILABLE = {"storage-unavailable": "the photo storage is unreachable"}  # else the database's


OPEN311_PREFIX = "/open311/"


def answer(path: str, status: int, kind: str, title: str, detail: str, **extra: Any) -> Response:
    """The error for a request to ``path``: GeoReport's shape under /open311/, else a problem."""
    if path.startswith(OPEN311_PREFIX):
        return georeport_error("xml" if path.endswith(".xml") else "json", status, detail)
    return problem(status, kind, title, detail, **extra)


def problem(status: int, kind: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"/problems/{kind}",
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id.get(),
    }
    headers = {"WWW-Authenticate": "X-API-Key"} if status == 401 else None
    return JSONResponse({**body, **extra}, status_code=status, media_type=PROBLEM, headers=headers)


def _title(kind: str) -> str:
    return kind.replace("-", " ").capitalize()


def _domain_handler(request: Request, exc: Exception) -> Response:
    for cls in type(exc).__mro__:
        if cls in DEFAULT_STATUS_CODES:
            status, kind = DEFAULT_STATUS_CODES[cls]
            detail = (
                UNAVAILABLE.get(kind, "the database is unreachable") if status == 503 else str(exc)
            )
            if status == 503:  # the client is told little; the log says why
                log.warning("%s: %s", detail, str(exc).strip().split("\n")[0])
            response = answer(request.url.path, status, kind, _title(kind), detail)
            if isinstance(exc, RateLimitedError):
                response.headers["Retry-After"] = str(exc.retry_after)
            return response
    raise exc


def _validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(part) for part in err.get("loc", ())], "msg": err.get("msg", "")}
        for err in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    detail = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else str(first["msg"])
    if request.url.path.startswith(OPEN311_PREFIX):  # GeoReport: invalid parameters are 400
        return answer(request.url.path, 400, "validation-error", "", detail)
    return problem(422, "validation-error", "Validation error", detail, errors=errors)


def _http_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    kind = str(exc.detail).lower().replace(" ", "-")
    response = answer(request.url.path, exc.status_code, kind, str(exc.detail), str(exc.detail))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:  # Starlette names the first matching route's methods only
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method the API documents at this path (the OpenAPI document is built once)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods |= {m.upper() for m in operations if m != "parameters"}
    return sorted(methods)


def document_problems(app: FastAPI) -> None:
    """Put the Problem schema that PROBLEM_RESPONSES refers to into the OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("Problem", Problem.model_json_schema())
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def add_exception_handlers(app: FastAPI) -> None:
    for cls in DEFAULT_STATUS_CODES:
        app.add_exception_handler(cls, _domain_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)


_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestIds:
    """Outermost middleware: gives each request an id (the caller's ``X-Request-ID`` when it
    is a short token, else a new one), returns it as a header, and answers an exception no
    handler took with a 500 problem, logging its traceback once with the id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = (
            dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
        )
        rid = given if _CLIENT_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        started, status, begun = False, 500, time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started, status = True, message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), rid.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception(
                "unexpected error [request %s] %s %s", rid, scope["method"], scope["path"]
            )
            if started:  # the answer is half sent: nothing better to do than cut it
                return
            response = answer(
                scope["path"],
                500,
                "internal-error",
                "Internal error",
                f"an unexpected error; request id {rid}",
            )
            await response(scope, receive, send_with_id)
        finally:
            millis = round((time.perf_counter() - begun) * 1000, 1)
            fields = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "ms": millis,
            }
            line = (scope["method"], scope["path"], status)
            access.info("%s %s %s", *line, extra={"fields": fields, "request_id": rid})
            request_id.reset(token)
