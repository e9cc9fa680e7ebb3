"""Request body size limit as plain ASGI middleware, so an oversized body is refused with 413
before any of it is parsed: a declared Content-Length is checked up front; a chunked body
(no length) is read here up to the limit and handed on only if it fits. Routes that take
photos (paths matching ``larger``) have a larger limit of their own."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import answer


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        larger: tuple[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = (re.compile(larger[0]), larger[1]) if larger else None

    def _limit(self, scope: Scope) -> int:
        if self.larger is not None and self.larger[0].fullmatch(scope["path"]):
            return self.larger[1]
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > limit:
                await self._refuse(scope, receive, send, limit)
            else:  # the server stops reading at the declared length
                await self.app(scope, receive, send)
            return
        chunks: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            chunks.append(message)
            seen += len(message.get("body", b""))
            if seen > limit:
                await self._refuse(scope, receive, send, limit)
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break

        async def replay() -> Message:
            return chunks.pop(0) if chunks else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        detail = f"request body larger than {limit} bytes"
        refusal = answer(scope["path"], 413, "payload-too-large", "Payload too large", detail)
        await refusal(scope, receive, send)
