"""Starlette's TrustedHostMiddleware, answering a bad Host with the service's JSON error shape."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.middleware.errors import error_response

_PASSED = "pap.trusted_host_passed"


class JSONTrustedHostMiddleware:
    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.check = TrustedHostMiddleware(
            self._passed, allowed_hosts=list(allowed_hosts), www_redirect=False
        )

    async def _passed(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_PASSED] = True
        await self.app(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.check(scope, receive, send)
            return
        rejected = False

        async def send_json_rejection(message: Message) -> None:
            nonlocal rejected
            if scope.get(_PASSED):
                await send(message)
            elif message["type"] == "http.response.start" and not rejected:
                # The check refused the Host header before reaching the app: answer in JSON instead.
                rejected = True
                await error_response(400, "invalid Host header: not one of PAP_ALLOWED_HOSTS")(
                    scope, receive, send
                )

        await self.check(scope, receive, send_json_rejection)
