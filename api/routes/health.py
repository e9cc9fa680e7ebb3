"""Liveness with a real database round trip, and the state of this worker's grid index."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import LocatorDep, SessionsDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="ok, or 503 when the database or the index refresh fails")
def health(sessions: SessionsDep, locator: LocatorDep) -> JSONResponse:
    index = locator.health()
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        body = {"status": "degraded", "db": "unreachable", "index": index}
        return JSONResponse(body, status_code=503)
    ok = index["refresh_error"] is None
    body = {"status": "ok" if ok else "degraded", "db": "ok", "index": index}
    return JSONResponse(body, status_code=200 if ok else 503)
