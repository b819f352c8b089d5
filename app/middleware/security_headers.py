"""OWASP secure headers on every response, errors and 500s included (docs/REFERENCE §2)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BASE_CSP = (
    "default-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'; frame-ancestors 'none'"
)
API_CSP = f"{_BASE_CSP}; upgrade-insecure-requests"
# The Swagger UI page loads only same-origin files (app.docs serves the assets, no CDN, no inline script);
# it needs data: images for its icons. No upgrade-insecure-requests: every reference on the page is relative,
# so it would upgrade nothing behind TLS and would break the page on plain-http `make run`.
DOCS_CSP = f"{_BASE_CSP}; img-src 'self' data:"

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("strict-transport-security", "max-age=63072000; includeSubDomains"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "permissions-policy",
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
        "payment=(), usb=()",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("x-permitted-cross-domain-policies", "none"),
)
# Nothing is cached unless a route says otherwise (slide images: private, immutable per deck version).
DEFAULT_CACHE_CONTROL = "no-store"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, docs_prefix: str | None = "/docs") -> None:
        self.app = app
        self.docs_prefix = docs_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        is_docs = self.docs_prefix is not None and (
            path == self.docs_prefix or path.startswith(self.docs_prefix + "/")
        )
        csp = DOCS_CSP if is_docs else API_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers[name] = value
                headers["content-security-policy"] = csp
                headers.setdefault("cache-control", DEFAULT_CACHE_CONTROL)
                for leaky in ("server", "x-powered-by"):
                    del headers[leaky]
            await send(message)

        await self.app(scope, receive, send_with_headers)
