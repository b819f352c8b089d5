"""The rendered nginx.conf: accepted by a real nginx, headers with `always` in every block that emits any."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import crossplane
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from infra import nginx
from infra.config import ProxyConfig
from infra.nginx import NginxFiles, TlsProfile, Upstream, render_nginx_config

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# REFERENCE.md section 2, written out here rather than imported, so the test checks the renderer's table.
REQUIRED_HEADERS = {
    "strict-transport-security",
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "permissions-policy",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
    "x-permitted-cross-domain-policies",
}
BACKEND = Upstream("backend", 8000)  # the services' aliases on the app network
WEB = Upstream("web", 3000)
SECURITY_HEADERS_BUT_CSP = REQUIRED_HEADERS - {"content-security-policy"}


def _render(profile: TlsProfile = "intermediate", files: NginxFiles | None = None, **proxy: Any) -> str:
    return render_nginx_config(ProxyConfig(**proxy), profile, backend=BACKEND, web=WEB, files=files)


def _parse(text: str, tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "parsed.conf"
    path.write_text(text)
    parsed = crossplane.parse(str(path), single=True, comments=False, check_ctx=True, check_args=True)
    assert parsed["status"] == "ok", parsed["errors"]
    return parsed["config"][0]["parsed"]  # type: ignore[no-any-return]


def _blocks(directives: list[dict[str, Any]], kinds: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    for directive in directives:
        if directive["directive"] in kinds:
            yield directive
        yield from _blocks(directive.get("block", []), kinds)


def _direct(block: dict[str, Any], name: str) -> list[list[str]]:
    return [child["args"] for child in block.get("block", []) if child["directive"] == name]


def _server(config: list[dict[str, Any]], port: str) -> dict[str, Any]:
    servers = [
        s for s in _blocks(config, ("server",)) if any(args[0] == port for args in _direct(s, "listen"))
    ]
    assert len(servers) == 1
    return servers[0]


def _location(server: dict[str, Any], *args: str) -> dict[str, Any]:
    matches = [loc for loc in _blocks(server.get("block", []), ("location",)) if tuple(loc["args"]) == args]
    assert len(matches) == 1, f"location {args} not found"
    return matches[0]


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize("profile", ["intermediate", "modern"])
def test_real_nginx_accepts_the_config(profile: TlsProfile, tmp_path: Path) -> None:
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (tools/ensure-packages.sh installs nginx-light)")
    cert, key = _certificate(tmp_path)
    # The container's paths swapped for this machine's; the upstream name must resolve here, so loopback.
    files = NginxFiles(certificate=str(cert), private_key=str(key), runtime_dir=str(tmp_path))
    local = Upstream("127.0.0.1", 8000)
    text = render_nginx_config(ProxyConfig(), profile, backend=local, web=local, files=files)
    config = tmp_path / "nginx.conf"
    config.write_text(text)
    result = subprocess.run(
        [NGINX, "-t", "-q", "-p", str(tmp_path), "-c", str(config), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_block_that_emits_headers_emits_all_of_them_always(tmp_path: Path) -> None:
    """...except the frontend's CSP, which only the frontend can make (a nonce per response): there the
    location neither adds one nor hides the frontend's."""
    config = _parse(_render(), tmp_path)
    emitting = [b for b in _blocks(config, ("http", "server", "location")) if _direct(b, "add_header")]
    assert len(emitting) >= 12  # the TLS server, /metrics, the API's 4, backend roots, Next's 2, / and errors
    frontend = _location(_server(config, "8443"), "/")
    for block in emitting:
        headers = _direct(block, "add_header")
        names = {args[0].lower() for args in headers}
        expected = SECURITY_HEADERS_BUT_CSP if block is frontend else REQUIRED_HEADERS
        assert names >= expected, f"{block['directive']} {block['args']}: missing {expected - names}"
        assert all(args[-1] == "always" for args in headers), f"{block['directive']} {block['args']}"
    assert "content-security-policy" not in {args[0].lower() for args in _direct(frontend, "add_header")}
    assert "content-security-policy" not in {
        args[0].lower() for args in _direct(frontend, "proxy_hide_header")
    }
    tls_server = _server(config, "8443")
    assert tls_server in emitting


def test_proxied_locations_hide_the_upstream_copy_of_every_header_they_add(tmp_path: Path) -> None:
    """The service sends the same headers; without proxy_hide_header each would arrive twice."""
    proxied = [
        block for block in _blocks(_parse(_render(), tmp_path), ("location",)) if _direct(block, "proxy_pass")
    ]
    assert len(proxied) == 8  # 2 sign-ins, deck upload, slide images, api, backend roots, Next's assets, /
    for block in proxied:
        added = {args[0].lower() for args in _direct(block, "add_header")}
        hidden = {args[0].lower() for args in _direct(block, "proxy_hide_header")}
        assert added <= hidden, f"location {block['args']}: not hidden {added - hidden}"
        # What the location does not add, the upstream's answer carries once: the frontend's CSP only.
        assert hidden == added, f"location {block['args']}: hides without adding {hidden - added}"


def test_header_values(tmp_path: Path) -> None:
    headers = {
        args[0]: args[1] for args in _direct(_server(_parse(_render(), tmp_path), "8443"), "add_header")
    }
    assert headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["X-Frame-Options"] == "DENY"


def test_api_responses_are_not_cached(tmp_path: Path) -> None:
    server = _server(_parse(_render(), tmp_path), "8443")
    for location in (_location(server, "/api/v1/"), _location(server, "=", "/api/v1/auth/login")):
        assert ["Cache-Control", "no-store", "always"] in _direct(location, "add_header")


def test_mozilla_intermediate_tls(tmp_path: Path) -> None:
    server = _server(_parse(_render("intermediate"), tmp_path), "8443")
    assert _direct(server, "ssl_protocols") == [["TLSv1.2", "TLSv1.3"]]
    assert _direct(server, "ssl_ciphers") == [
        [
            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
            "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
        ]
    ]
    assert _direct(server, "ssl_ecdh_curve") == [["X25519:prime256v1:secp384r1"]]
    assert _direct(server, "ssl_prefer_server_ciphers") == [["off"]]
    assert _direct(server, "ssl_session_timeout") == [["1d"]]
    assert _direct(server, "ssl_session_cache") == [["shared:MozSSL:10m"]]
    assert _direct(server, "ssl_session_tickets") == [["off"]]
    assert ["8443", "ssl", "http2", "default_server"] in _direct(server, "listen")


def test_mozilla_modern_tls(tmp_path: Path) -> None:
    server = _server(_parse(_render("modern"), tmp_path), "8443")
    assert _direct(server, "ssl_protocols") == [["TLSv1.3"]]
    assert _direct(server, "ssl_ciphers") == []


def test_rate_limits_on_the_real_paths(tmp_path: Path) -> None:
    config = _parse(_render(), tmp_path)
    http = next(_blocks(config, ("http",)))
    zones = _direct(http, "limit_req_zone")
    assert ["$binary_remote_addr", "zone=api:10m", "rate=10r/s"] in zones
    assert ["$binary_remote_addr", "zone=login:10m", "rate=5r/m"] in zones
    assert _direct(http, "limit_req_status") == [["429"]]
    server = _server(config, "8443")
    # Both sign-ins (the API's and the browser's) check a password: both get the login zone.
    for sign_in in ("/api/v1/auth/login", "/api/v1/auth/session"):
        assert _direct(_location(server, "=", sign_in), "limit_req") == [
            ["zone=login", "burst=5", "nodelay"]
        ], sign_in
    assert _direct(_location(server, "/api/v1/"), "limit_req") == [["zone=api", "burst=20", "nodelay"]]


def test_backends_are_resolved_by_service_name_through_swarm_dns(tmp_path: Path) -> None:
    """No IPVS here, so no VIP: nginx asks Swarm's DNS for the backend service's healthy tasks again every
    2 s (a variable in proxy_pass), retries a refused connection on the next address, and pools no
    connection that would stay pinned to a task a rolling update is stopping."""
    config = _parse(_render(), tmp_path)
    assert list(_blocks(config, ("upstream",))) == []
    assert "keepalive " not in _render().replace("keepalive_timeout", "")
    server = _server(config, "8443")
    assert _direct(server, "resolver") == [["127.0.0.11", "valid=2s", "ipv6=off"]]
    assert _direct(server, "set") == [["$backend", "backend:8000"], ["$web", "web:3000"]]
    assert _direct(server, "proxy_next_upstream")[0][:2] == ["error", "timeout"]
    assert int(_direct(server, "proxy_next_upstream_tries")[0][0]) >= 2
    for path in (("/api/v1/",), ("=", "/api/v1/auth/login"), ("~", nginx.BACKEND_ROOT_PATHS)):
        assert _direct(_location(server, *path), "proxy_pass") == [["http://$backend"]]
    for path in (("/",), ("/_next/static/",)):
        assert _direct(_location(server, *path), "proxy_pass") == [["http://$web"]]


def test_request_id_and_forwarding_headers(tmp_path: Path) -> None:
    config = _parse(_render(), tmp_path)
    server = _server(config, "8443")
    forwarded = {args[0]: args[1] for args in _direct(server, "proxy_set_header")}
    assert forwarded["X-Request-ID"] == "$pap_request_id"
    assert forwarded["X-Forwarded-For"] == "$proxy_add_x_forwarded_for"
    assert forwarded["X-Forwarded-Proto"] == "$scheme"
    request_id = next(
        b for b in _blocks(config, ("map",)) if b["args"] == ["$http_x_request_id", "$pap_request_id"]
    )
    # An absent (empty) X-Request-ID falls back to nginx's own $request_id.
    assert any(entry["directive"] == "" and entry["args"] == ["$request_id"] for entry in request_id["block"])
    # Locations must not set their own proxy_set_header, or they would drop the server's.
    assert all(not _direct(loc, "proxy_set_header") for loc in _blocks(server["block"], ("location",)))


def test_metrics_not_proxied_and_json_errors(tmp_path: Path) -> None:
    server = _server(_parse(_render(), tmp_path), "8443")
    metrics = _location(server, "=", "/metrics")
    assert _direct(metrics, "return") == [["404"]]
    assert _direct(metrics, "proxy_pass") == []
    assert ["429", "@error429"] in _direct(server, "error_page")
    assert ["502", "@error502"] in _direct(server, "error_page")
    too_many = _location(server, "@error429")
    assert _direct(too_many, "default_type") == [["application/json"]]
    assert _direct(too_many, "return")[0][0] == "429"


def test_plain_http_only_redirects(tmp_path: Path) -> None:
    config = _parse(_render(https_port=8443), tmp_path)
    redirect = _server(config, "8080")
    assert [child["directive"] for child in redirect["block"]] == ["listen", "server_name", "return"]
    assert _direct(redirect, "return") == [["308", "https://$host:8443$request_uri"]]
    assert _direct(_server(_parse(_render(https_port=443), tmp_path), "8080"), "return") == [
        ["308", "https://$host$request_uri"]
    ]


def test_health_server_listens_on_loopback_only(tmp_path: Path) -> None:
    health = _server(_parse(_render(), tmp_path), "127.0.0.1:8081")
    assert _direct(_location(health, "=", "/healthz"), "return") == [["200"]]


def test_server_wide_settings(tmp_path: Path) -> None:
    config = _parse(_render(client_max_body_size_mb=7), tmp_path)
    http = next(_blocks(config, ("http",)))
    assert _direct(http, "server_tokens") == [["off"]]
    assert _direct(http, "client_max_body_size") == [["7m"]]
    assert _direct(http, "gzip") == [["on"]]
    top = {d["directive"]: d["args"] for d in config}
    assert top["pid"] == ["/tmp/nginx.pid"]
    assert "user" not in top and "daemon" not in top
    for temp in (
        "client_body_temp_path",
        "proxy_temp_path",
        "fastcgi_temp_path",
        "uwsgi_temp_path",
        "scgi_temp_path",
    ):
        assert _direct(http, temp)[0][0].startswith("/tmp/")


def test_rendering_is_pure() -> None:
    assert _render() == _render()
    assert _render(server_names=("a.example",)) != _render(server_names=("b.example",))


def test_upstream_hosts_and_ports_are_the_arguments(tmp_path: Path) -> None:
    text = render_nginx_config(
        ProxyConfig(), "intermediate", backend=Upstream("api.internal", 9000), web=Upstream("pages", 3100)
    )
    assert _direct(_server(_parse(text, tmp_path), "8443"), "set") == [
        ["$backend", "api.internal:9000"],
        ["$web", "pages:3100"],
    ]


def test_deck_routes_take_large_streamed_uploads_and_cache_slide_images_privately(tmp_path: Path) -> None:
    server = _server(_parse(_render(), tmp_path), "8443")
    upload = _location(server, "~", nginx.DECK_UPLOAD_PATH)
    assert _direct(upload, "client_max_body_size") == [["50m"]]
    assert _direct(upload, "proxy_request_buffering") == [["off"]]
    assert ["Cache-Control", "no-store", "always"] in _direct(upload, "add_header")
    images = _location(server, "~", nginx.SLIDE_IMAGE_PATH)
    private = ["Cache-Control", "private, max-age=31536000, immutable", "always"]
    assert private in _direct(images, "add_header")
    assert private in _direct(images, "add_header")
    deck = "/api/v1/presentations/4b0c7c57-2a5f-4f0a-9a4e-0d6c1c1d8e2a/deck"
    assert re.match(nginx.DECK_UPLOAD_PATH, deck)
    assert re.match(nginx.SLIDE_IMAGE_PATH, f"{deck}/2/slides/17")
    for other in (f"{deck}/2/slides/17/x", f"{deck}s", "/api/v1/presentations/x/deck/../../users"):
        assert not re.match(nginx.DECK_UPLOAD_PATH, other) and not re.match(nginx.SLIDE_IMAGE_PATH, other)


def _serving_location(server: dict[str, Any], path: str) -> dict[str, Any]:
    """The location nginx picks for `path`: exact, then the longest prefix unless a regex matches (nginx's
    order; no `^~` in this config)."""
    locations = [
        loc for loc in _blocks(server.get("block", []), ("location",)) if not loc["args"][0].startswith("@")
    ]
    for location in locations:
        if location["args"][0] == "=" and location["args"][1] == path:
            return location
    prefixes = [loc for loc in locations if len(loc["args"]) == 1 and path.startswith(loc["args"][0])]
    for location in locations:
        if location["args"][0] == "~" and re.search(location["args"][1], path):
            return location
    return max(prefixes, key=lambda loc: len(loc["args"][0]))


@pytest.mark.parametrize(
    ("path", "upstream"),
    [
        ("/", "$web"),
        ("/decks", "$web"),
        ("/decks/4b0c7c57/analytics", "$web"),
        ("/signin", "$web"),
        ("/healthz", "$web"),  # the frontend's own (its container healthcheck); not the backends'
        ("/icon.svg", "$web"),
        ("/_next/static/chunks/main-app-948c3bcf443a0739.js", "$web"),
        ("/api/v1/users/me", "$backend"),
        ("/api/v1/auth/login", "$backend"),
        ("/api/v1/presentations/4b0c7c57-2a5f/deck", "$backend"),
        ("/api/v1/presentations/4b0c7c57-2a5f/deck/2/slides/3", "$backend"),
        ("/health", "$backend"),
        ("/health/live", "$backend"),
        ("/docs", "$backend"),
        ("/docs/assets/swagger-ui.css", "$backend"),
        ("/openapi.json", "$backend"),
    ],
)
def test_the_api_goes_to_the_backends_and_every_other_path_to_the_frontend(
    path: str, upstream: str, tmp_path: Path
) -> None:
    location = _serving_location(_server(_parse(_render(), tmp_path), "8443"), path)
    assert _direct(location, "proxy_pass") == [[f"http://{upstream}"]], (path, location["args"])


def test_next_static_assets_are_cached_for_good_and_pages_never(tmp_path: Path) -> None:
    server = _server(_parse(_render(), tmp_path), "8443")
    static = _direct(_location(server, "/_next/static/"), "add_header")
    assert ["Cache-Control", "public, max-age=31536000, immutable", "always"] in static
    assert ["Content-Security-Policy", nginx.SECURITY_HEADERS[1][1], "always"] in static
    pages = _direct(_location(server, "/"), "add_header")
    assert ["Cache-Control", "no-store", "always"] in pages  # a stored page would reuse its nonce


def test_the_unused_image_optimizer_is_refused(tmp_path: Path) -> None:
    server = _server(_parse(_render(), tmp_path), "8443")
    optimizer = _serving_location(server, "/_next/image")
    assert _direct(optimizer, "return") == [["404"]] and not _direct(optimizer, "proxy_pass")
    assert _serving_location(server, "/_next/imagefoo") is optimizer  # Next answers any path under it
    assert {args[0].lower() for args in _direct(optimizer, "add_header")} >= REQUIRED_HEADERS
