"""The proxy's nginx.conf: a pure function of the stack config, built with crossplane (no templating)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import crossplane

from infra.config import ProxyConfig

TlsProfile = Literal["intermediate", "modern"]

# Ports inside the proxy container: unprivileged, so nginx needs no capability (ARCHITECTURE.md, "Images").
HTTPS_PORT = 8443
HTTP_PORT = 8080
HEALTH_PORT = 8081
HEALTH_PATH = "/healthz"
SWARM_DNS = "127.0.0.11"  # the embedded DNS server every task on a user-defined network has

LOGIN_PATH = "/api/v1/auth/login"
# The browser's sign-in (the frontend): the same password check, so the same proxy limit as LOGIN_PATH.
SESSION_PATH = "/api/v1/auth/session"
API_PREFIX = "/api/v1/"
# The backends' routes outside the API prefix (app/api/routes/health.py, app/main.py): everything else that is
# not under the API prefix is the web frontend's.
BACKEND_ROOT_PATHS = r"^/(health(/live)?|openapi\.json|docs(/.*)?)$"
# Next.js: content-hashed assets (immutable), and its image optimizer, which the frontend does not use
# (its images are unoptimized) and which the proxy therefore refuses.
WEB_STATIC_PREFIX = "/_next/static/"
WEB_IMAGE_OPTIMIZER = "/_next/image"
API_RATE = "10r/s"
API_BURST = 20
LOGIN_RATE = "5r/m"
LOGIN_BURST = 5

# OWASP Secure Headers Project (REFERENCE.md section 2). Emitted with `always` in every block that emits
# headers, because a block with its own add_header inherits none and 4xx/5xx responses skip non-`always` ones.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),
    (
        "Content-Security-Policy",
        "default-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'; "
        "frame-ancestors 'none'; upgrade-insecure-requests",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    (
        "Permissions-Policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    ),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("X-Permitted-Cross-Domain-Policies", "none"),
    ("X-XSS-Protection", "0"),
)
CSP_HEADER = "Content-Security-Policy"
API_HEADERS: tuple[tuple[str, str], ...] = (("Cache-Control", "no-store"),)
# Pages carry a per-response CSP nonce: a stored copy would serve one nonce twice.
PAGE_HEADERS = API_HEADERS
WEB_STATIC_HEADERS: tuple[tuple[str, str], ...] = (("Cache-Control", "public, max-age=31536000, immutable"),)
# Slide images are authorised per request but never change within a deck version: the browser keeps them,
# no shared cache does (the service sends the same header when reached directly).
SLIDE_IMAGE_HEADERS: tuple[tuple[str, str], ...] = (
    ("Cache-Control", "private, max-age=31536000, immutable"),
)
_ID = "[0-9a-f-]+"
DECK_UPLOAD_PATH = f"^{API_PREFIX}presentations/{_ID}/deck$"
SLIDE_IMAGE_PATH = f"^{API_PREFIX}presentations/{_ID}/deck/[0-9]+/slides/[0-9]+$"
DECK_RENDER_TIMEOUT = "180s"  # above the service's render timeout (120 s), so the service answers first

# Mozilla server-side TLS 6.0 for nginx 1.22 / OpenSSL 3.0 (REFERENCE.md section 3).
INTERMEDIATE_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)
ECDH_CURVES = "X25519:prime256v1:secp384r1"

# JSON bodies for the errors nginx answers itself, so clients of the API always get JSON.
NGINX_ERRORS: dict[int, str] = {
    429: "too many requests",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}


@dataclass(frozen=True)
class Upstream:
    """A service the proxy forwards to: its name on the app network (Swarm's DNS) and its port."""

    host: str
    port: int

    def address(self) -> str:
        return f"{self.host}:{self.port}"


BACKEND = "$backend"  # the nginx variables holding each upstream's address (resolved again every 2 s)
WEB = "$web"


@dataclass(frozen=True)
class NginxFiles:
    """Where the config expects its files; the container layout by default, overridable for `nginx -t`."""

    certificate: str = "/run/pap/tls/server.crt"
    private_key: str = "/run/pap/secrets/server.key"
    mime_types: str = "/etc/nginx/mime.types"
    runtime_dir: str = "/tmp"  # noqa: S108 - pid file and temp paths: a tmpfs in the read-only container


def _d(directive: str, *args: str | int, block: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"directive": directive, "args": [str(arg) for arg in args]}
    if block is not None:
        node["block"] = block
    return node


def _security_headers(csp_from_upstream: bool) -> tuple[tuple[str, str], ...]:
    return tuple(item for item in SECURITY_HEADERS if not (csp_from_upstream and item[0] == CSP_HEADER))


def _headers(extra: Sequence[tuple[str, str]] = (), csp_from_upstream: bool = False) -> list[dict[str, Any]]:
    headers = (*_security_headers(csp_from_upstream), *extra)
    return [_d("add_header", name, value, "always") for name, value in headers]


def _tls_directives(profile: TlsProfile, files: NginxFiles) -> list[dict[str, Any]]:
    protocols = ["TLSv1.3"] if profile == "modern" else ["TLSv1.2", "TLSv1.3"]
    ciphers = [] if profile == "modern" else [_d("ssl_ciphers", INTERMEDIATE_CIPHERS)]
    return [
        _d("ssl_certificate", files.certificate),
        _d("ssl_certificate_key", files.private_key),
        _d("ssl_protocols", *protocols),
        *ciphers,
        _d("ssl_ecdh_curve", ECDH_CURVES),
        _d("ssl_prefer_server_ciphers", "off"),
        _d("ssl_session_timeout", "1d"),
        _d("ssl_session_cache", "shared:MozSSL:10m"),
        _d("ssl_session_tickets", "off"),
    ]


def _proxied_location(
    modifier: str | None,
    path: str,
    limit: tuple[str, int] | None,
    extra_headers: Sequence[tuple[str, str]],
    extra: Sequence[dict[str, Any]] = (),
    *,
    upstream: str = BACKEND,
    csp_from_upstream: bool = False,
) -> dict[str, Any]:
    body: list[dict[str, Any]] = list(extra)
    if limit is not None:
        zone, burst = limit
        body.append(_d("limit_req", f"zone={zone}", f"burst={burst}", "nodelay"))
    # nginx is authoritative for these headers: the services set the same ones (needed when reached
    # directly), and without hiding them every proxied answer would carry each header twice. Only a CSP that
    # the upstream makes per response (the frontend's nonce) is passed through, neither hidden nor added.
    added = (*_security_headers(csp_from_upstream), *extra_headers)
    hidden = [_d("proxy_hide_header", name) for name, _ in added]
    body += [_d("proxy_pass", f"http://{upstream}"), *hidden, *_headers(extra_headers, csp_from_upstream)]
    args = (modifier, path) if modifier else (path,)
    return _d("location", *args, block=body)


def _error_locations() -> list[dict[str, Any]]:
    pages = [_d("error_page", status, f"@error{status}") for status in NGINX_ERRORS]
    named = [
        _d(
            "location",
            f"@error{status}",
            block=[
                _d("default_type", "application/json"),
                *_headers(API_HEADERS),
                _d("return", status, f'{{"detail":"{text}"}}'),
            ],
        )
        for status, text in NGINX_ERRORS.items()
    ]
    return [*pages, *named]


def _redirect_target(https_port: int) -> str:
    # The published https port, so the redirect lands where the proxy listens (not 443 in dev).
    port = "" if https_port == 443 else f":{https_port}"
    return f"https://$host{port}$request_uri"


def render_nginx_config(
    proxy: ProxyConfig,
    profile: TlsProfile,
    *,
    backend: Upstream,
    web: Upstream,
    files: NginxFiles | None = None,
    deck_max_mb: int = 50,
) -> str:
    """nginx.conf for the proxy: TLS edge, security headers, rate limits; the API to the backends, every other
    path to the web frontend, each by its service name."""
    files = files or NginxFiles()
    run = files.runtime_dir
    request_id_map = _d(
        "map",
        "$http_x_request_id",
        "$pap_request_id",
        block=[_d("default", "$http_x_request_id"), _d("", "$request_id")],
    )
    tls_server = _d(
        "server",
        block=[
            _d("listen", HTTPS_PORT, "ssl", "http2", "default_server"),
            _d("server_name", *proxy.server_names),
            *_tls_directives(profile, files),
            *_headers(),
            # The backend and web services' names, resolved by Swarm's DNS to the tasks that are healthy now
            # (the services are DNS round robin: see infra/swarm.py). A variable makes nginx resolve it again
            # every `valid` seconds instead of once at start, and a refused connection goes to the next
            # address. No upstream keepalive: a pooled connection would stay pinned to a task being stopped.
            _d("resolver", SWARM_DNS, "valid=2s", "ipv6=off"),
            _d("resolver_timeout", "2s"),
            _d("set", BACKEND, backend.address()),
            _d("set", WEB, web.address()),
            _d("proxy_http_version", "1.1"),
            _d("proxy_set_header", "Connection", ""),
            _d("proxy_set_header", "Host", "$host"),
            _d("proxy_set_header", "X-Request-ID", "$pap_request_id"),
            _d("proxy_set_header", "X-Real-IP", "$remote_addr"),
            _d("proxy_set_header", "X-Forwarded-For", "$proxy_add_x_forwarded_for"),
            _d("proxy_set_header", "X-Forwarded-Proto", "$scheme"),
            _d("proxy_set_header", "X-Forwarded-Host", "$host"),
            _d("proxy_next_upstream", "error", "timeout", "http_502", "http_503", "http_504"),
            _d("proxy_next_upstream_tries", 3),
            _d("proxy_connect_timeout", "5s"),
            _d("proxy_read_timeout", "60s"),
            _d("proxy_intercept_errors", "off"),
            *_error_locations(),
            _d("location", "=", "/metrics", block=[*_headers(), _d("return", 404)]),
            _proxied_location("=", LOGIN_PATH, ("login", LOGIN_BURST), API_HEADERS),
            _proxied_location("=", SESSION_PATH, ("login", LOGIN_BURST), API_HEADERS),
            # A deck upload: a larger body, streamed to the backend as it arrives (no temporary file in the
            # proxy's small tmpfs), and time to render it.
            _proxied_location(
                "~",
                DECK_UPLOAD_PATH,
                ("api", API_BURST),
                API_HEADERS,
                extra=(
                    _d("client_max_body_size", f"{deck_max_mb}m"),
                    _d("proxy_request_buffering", "off"),
                    _d("proxy_read_timeout", DECK_RENDER_TIMEOUT),
                ),
            ),
            _proxied_location("~", SLIDE_IMAGE_PATH, ("api", API_BURST), SLIDE_IMAGE_HEADERS),
            _proxied_location(None, API_PREFIX, ("api", API_BURST), API_HEADERS),
            _proxied_location("~", BACKEND_ROOT_PATHS, None, ()),
            _d("location", WEB_IMAGE_OPTIMIZER, block=[*_headers(), _d("return", 404)]),
            _proxied_location(None, WEB_STATIC_PREFIX, None, WEB_STATIC_HEADERS, upstream=WEB),
            _proxied_location(None, "/", None, PAGE_HEADERS, upstream=WEB, csp_from_upstream=True),
        ],
    )
    redirect_server = _d(
        "server",
        block=[
            _d("listen", HTTP_PORT, "default_server"),
            _d("server_name", *proxy.server_names),
            _d("return", 308, _redirect_target(proxy.https_port)),
        ],
    )
    health_server = _d(
        "server",
        block=[
            _d("listen", f"127.0.0.1:{HEALTH_PORT}"),
            _d("access_log", "off"),
            _d("location", "=", HEALTH_PATH, block=[_d("return", 200)]),
            _d("location", "/", block=[_d("return", 404)]),
        ],
    )
    http = _d(
        "http",
        block=[
            _d("include", files.mime_types),
            _d("default_type", "application/octet-stream"),
            _d("server_tokens", "off"),
            _d("sendfile", "on"),
            _d("tcp_nopush", "on"),
            _d("keepalive_timeout", 65),
            _d("access_log", "/dev/stdout"),
            _d("client_max_body_size", f"{proxy.client_max_body_size_mb}m"),
            _d("client_body_temp_path", f"{run}/client_body"),
            _d("proxy_temp_path", f"{run}/proxy"),
            _d("fastcgi_temp_path", f"{run}/fastcgi"),
            _d("uwsgi_temp_path", f"{run}/uwsgi"),
            _d("scgi_temp_path", f"{run}/scgi"),
            _d("gzip", "on"),
            _d("gzip_proxied", "any"),
            _d("gzip_min_length", 1024),
            _d("gzip_vary", "on"),
            _d("gzip_types", "application/json", "application/javascript", "text/css", "text/plain"),
            _d("limit_req_zone", "$binary_remote_addr", "zone=api:10m", f"rate={API_RATE}"),
            _d("limit_req_zone", "$binary_remote_addr", "zone=login:10m", f"rate={LOGIN_RATE}"),
            _d("limit_req_status", 429),
            request_id_map,
            tls_server,
            redirect_server,
            health_server,
        ],
    )
    payload = [
        _d("worker_processes", "auto"),
        _d("pid", f"{run}/nginx.pid"),
        _d("error_log", "stderr", "warn"),
        _d("events", block=[_d("worker_connections", 1024)]),
        http,
    ]
    return crossplane.build(payload) + "\n"
