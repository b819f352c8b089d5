"""Per request: the request id, one JSON access-log line, Prometheus metrics, and the last-resort 500.

This sits inside SecurityHeadersMiddleware and outside everything else, so an unhandled exception becomes a
JSON 500 that still gets the security headers (Starlette's own ServerErrorMiddleware sits outside all user
middleware and would answer without them).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import sentry_sdk
import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS
from app.middleware.errors import send_error

REQUEST_ID_HEADER = "x-request-id"
# Accept a caller's id only if it is short and harmless in logs and headers (no spaces, quotes, newlines).
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
UNMATCHED_ROUTE = "<unmatched>"

access_log = structlog.get_logger("app.access")
error_log = structlog.get_logger("app.error")


def request_id_from(scope: Scope) -> str:
    incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
    if incoming is not None and SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return str(uuid.uuid4())


def route_template(scope: Scope) -> str:
    """The matched route's full path template (bounded metric labels: ids never appear)."""
    # FastAPI >= 0.16x resolves included routers lazily: scope["route"] is the route as declared in its own
    # router (no prefixes); the effective context carries the full template.
    fastapi_scope = scope.get("fastapi")
    context = fastapi_scope.get("effective_route_context") if isinstance(fastapi_scope, dict) else None
    for candidate in (getattr(context, "path_format", None), getattr(scope.get("route"), "path", None)):
        if isinstance(candidate, str):
            return candidate
    return UNMATCHED_ROUTE


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, after_request: Callable[[], None] | None = None) -> None:
        self.app = app
        self.after_request = after_request  # e.g. refresh the DB pool gauges

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_code = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status_code, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_code = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            error_log.exception("unhandled_error", path=scope["path"])
            sentry_sdk.capture_exception(error)  # a no-op unless PAP_SENTRY_DSN initialised Sentry
            if response_started:
                raise  # headers are gone; only dropping the connection can signal the failure
            await send_error(
                scope, receive, send_with_id, 500, "internal server error; quote the X-Request-ID"
            )
        finally:
            duration = time.perf_counter() - started
            method: str = scope["method"]
            route = route_template(scope)
            access_log.info(
                "request",
                method=method,
                route=route,
                status=status_code,
                duration_ms=round(duration * 1000, 2),
            )
            HTTP_REQUESTS.labels(method, route, str(status_code)).inc()
            HTTP_REQUEST_DURATION.labels(method, route).observe(duration)
            if self.after_request is not None:
                self.after_request()
            structlog.contextvars.clear_contextvars()
