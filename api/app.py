"""The FastAPI application factory. Nothing is created at import time: the lifespan builds
the worker's typed state (api/state.py), which routes reach only through api/deps.py."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from api.coverage_service import CoverageService
from api.errors import PROBLEM_RESPONSES, RequestIds, add_exception_handlers, document_problems
from api.limits import BodyLimit
from api.locator import Locator
from api.photo_store import photo_store
from api.routes import (
    admin,
    coverage,
    docs,
    grids,
    health,
    incidents,
    locate,
    maps,
    open311,
    photos,
    report,
    stats,
    tiles,
)
from api.security import SecurityHeaders, WriteLimiter, content_security_policy
from api.settings import Settings
from api.state import AppState, KeyCache, ReportLimiters
from data.db import make_engine, make_sessionmaker
from data.embedded import default_cluster
from maps.assets import static_dir


def database_url(settings: Settings) -> str:
    """The configured server, or the embedded cluster (started on demand)."""
    return settings.database_url or default_cluster().start()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(database_url(settings), pool_size=settings.pool_size)
        sessions = make_sessionmaker(engine)
        locator = Locator(
            sessions,
            tolerance_m=settings.tolerance_m,
            poll_s=settings.index_refresh_s,
            region=settings.configured_region(),
            region_margin_m=settings.region_margin_m,
        )
        app.state.gridmap = AppState(
            settings=settings,
            engine=engine,
            sessions=sessions,
            locator=locator,
            coverage=CoverageService(settings),
            keys=KeyCache(),
            limiter=WriteLimiter(
                per_key_per_minute=settings.write_limit_per_key,
                per_ip_per_minute=settings.write_limit_per_ip,
            ),
            report_limits=ReportLimiters.from_settings(settings),
            photos=photo_store(settings),
        )
        locator.start()
        # Everything built so far lives as long as the worker: keep it out of the cyclic
        # GC's full collections, which otherwise pause requests for tens of milliseconds.
        gc.freeze()
        try:
            yield
        finally:
            locator.stop()
            engine.dispose()

    app = FastAPI(
        title="gridmap",
        version="1.0",
        summary="Grid management: point→grid, 15-minute service circles, maps, redraws",
        lifespan=lifespan,
        responses=PROBLEM_RESPONSES,
        docs_url=None,  # api/routes/docs.py serves /docs and /redoc offline
        redoc_url=None,
    )
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        larger=(report.PHOTO_PATHS, settings.report_body_bytes()),
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "X-API-Key",
                "Content-Type",
                "If-Match",
                "If-None-Match",
                "X-Device-Token",
            ],
            expose_headers=["ETag", "X-Request-ID", "Retry-After"],
        )
    app.add_middleware(SecurityHeaders, csp=content_security_policy(settings.tile_origins()))
    app.add_middleware(RequestIds)  # added last: the outermost, so it sees every error
    add_exception_handlers(app)
    document_problems(app)
    for module in (health, grids, locate, incidents, coverage, maps, tiles, stats, open311):
        app.include_router(module.router)
    app.include_router(report.router)
    app.include_router(photos.router)
    app.include_router(docs.router)
    app.include_router(admin.page_router)
    app.include_router(admin.router)
    app.mount(docs.STATIC_URL, StaticFiles(directory=docs.static_dir()), name="static-docs")
    app.mount(report.STATIC_URL, StaticFiles(directory=report.static_dir()), name="static-report")
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    return app
