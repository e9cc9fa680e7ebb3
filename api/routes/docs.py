"""The API docs, offline: Swagger UI at /docs and ReDoc at /redoc, the same pages FastAPI
serves, but with their JS/CSS from the copies vendored under ``api/static/docs`` (see
SOURCES.md there) instead of a CDN, so they work on an intranet with no internet.

The app is created with ``docs_url=None, redoc_url=None`` and mounts ``static_dir()`` at
``STATIC_URL``, ahead of maps' ``/static`` (which would otherwise answer those paths first).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

STATIC_URL = "/static/docs"
SWAGGER_UI = "swagger-ui-dist-5.35.0"
REDOC = "redoc-2.5.4"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"  # FastAPI's default, which docs_url=None drops
NO_OUTSIDE_IMAGES = "img-src 'self' data:"

router = APIRouter(include_in_schema=False)


def static_dir() -> Path:
    """The vendored Swagger UI and ReDoc files, served at ``STATIC_URL``."""
    return Path(__file__).resolve().parents[1] / "static" / "docs"


def _root(request: Request) -> str:
    """The path the app is served under (behind a proxy), as FastAPI's own pages use it."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _openapi_url(app: FastAPI, root: str) -> str:
    return root + (app.openapi_url or "/openapi.json")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    root = _root(request)
    assets = f"{root}{STATIC_URL}/{SWAGGER_UI}"
    return get_swagger_ui_html(
        openapi_url=_openapi_url(app, root),
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon-32x32.png",
        oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
        init_oauth=app.swagger_ui_init_oauth,
        swagger_ui_parameters=app.swagger_ui_parameters,
    )


@router.get(OAUTH2_REDIRECT_URL)
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    root = _root(request)
    page = get_redoc_html(
        openapi_url=_openapi_url(app, root),
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{root}{STATIC_URL}/{REDOC}/bundles/redoc.standalone.js",
        redoc_favicon_url="data:,",  # none (FastAPI's default is on fastapi.tiangolo.com)
        with_google_fonts=False,
    )
    # ReDoc's side menu always shows Redocly's logo from cdn.redoc.ly (and hides it when it
    # fails to load): refuse it in the browser, so the page never reaches outside the intranet.
    page.headers["Content-Security-Policy"] = NO_OUTSIDE_IMAGES
    return page
