"""Response headers that keep browsers safe, and write rate limits.

Pages may load scripts, styles and fonts from this server only (every asset is vendored);
images also from the basemap's tile servers. Writes are limited per API key and per client
address with token buckets held by each worker: a burst of ``per_minute`` requests, refilled
at ``per_minute`` a minute; beyond it a 429 says when to retry.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PRUNE_ABOVE = 10_000  # buckets a worker keeps before forgetting idle ones
BASE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


def content_security_policy(image_origins: Iterable[str]) -> str:
    """Only local scripts, styles, fonts and fetches (folium's pages inline their scripts);
    images from here, data: and blob: URLs and the given tile origins."""
    images = " ".join(["'self'", "data:", "blob:", *image_origins])
    return (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; "
        "style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
        f"img-src {images}; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    )


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a tile URL template, or None when it has none."""
    parts = urlsplit(url.replace("{s}", "a"))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


class SecurityHeaders:
    """Adds the base headers to every answer, and the CSP to HTML answers without their own."""

    def __init__(self, app: ASGIApp, *, csp: str) -> None:
        self.app = app
        self.csp = csp.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [h for h in BASE_HEADERS if h[0] not in names]
                html = any(
                    k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers
                )
                if html and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", self.csp))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class RateLimitedError(Exception):
    """Too many writes from one key or address; ``retry_after`` in whole seconds."""

    def __init__(self, who: str, retry_after: int) -> None:
        super().__init__(f"too many writes from this {who}; retry in {retry_after} s")
        self.retry_after = retry_after


class WriteLimiter:
    """Token buckets per key and per address (state is real: counters that refill)."""

    def __init__(self, *, per_key_per_minute: int, per_ip_per_minute: int) -> None:
        self._limits = {"key": per_key_per_minute, "address": per_ip_per_minute}
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, *, key: str, address: str) -> None:
        """Spend one write for both; RateLimitedError (spending nothing) when either is empty."""
        now = time.monotonic()
        with self._lock:
            levels = {}
            for kind, who in (("key", key), ("address", address)):
                limit = self._limits[kind]
                level, then = self._buckets.get((kind, who), (float(limit), now))
                level = min(float(limit), level + (now - then) * limit / 60.0)
                if level < 1.0:
                    raise RateLimitedError(kind, math.ceil((1.0 - level) * 60.0 / limit))
                levels[(kind, who)] = level
            for bucket, level in levels.items():
                self._buckets[bucket] = (level - 1.0, now)
            if len(self._buckets) > PRUNE_ABOVE:  # idle a minute: full again, forget it
                self._buckets = {b: v for b, v in self._buckets.items() if now - v[1] < 60}
