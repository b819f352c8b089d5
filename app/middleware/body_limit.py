"""Request bodies over a limit get 413, whether announced by Content-Length or streamed in chunks."""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.middleware.errors import send_error

MAX_REQUEST_BODY_BYTES = 1024 * 1024


class BodyLimitMiddleware:
    """`max_bytes` for every request, except the (method, path pattern) pairs in `larger` (deck uploads)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = MAX_REQUEST_BODY_BYTES,
        larger: Sequence[tuple[str, re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = tuple(larger)

    def _limit(self, scope: Scope) -> int:
        for method, pattern, max_bytes in self.larger:
            if scope["method"] == method and pattern.fullmatch(scope["path"]):
                return max_bytes
        return self.max_bytes

    @staticmethod
    def _too_large(limit: int) -> str:
        return f"request body larger than {limit} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_error(scope, receive, send, 413, self._too_large(limit))
            return
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI re-raises HTTPExceptions from body reading; its handler turns this into JSON.
                    raise HTTPException(413, self._too_large(limit))
            return message

        await self.app(scope, receive_limited, send)
