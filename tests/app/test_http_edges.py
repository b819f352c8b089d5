"""What every response carries (security headers, request id, JSON errors) and the edges: 404, 405, 413,
422, 500, bad Host, CORS."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.middleware.security_headers import SECURITY_HEADERS
from tests.app.conftest import Backend, build_app
from tests.app.factories import login_headers, make_user

EXPECTED_HEADERS = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "content-security-policy": "default-src 'self'; form-action 'self'; base-uri 'self'; object-src 'none'; "
    "frame-ancestors 'none'; upgrade-insecure-requests",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
    "x-permitted-cross-domain-policies": "none",
}


class Boom(RuntimeError):
    pass


@pytest.fixture
def failing_app(app: FastAPI) -> FastAPI:
    router = APIRouter()

    @router.get("/api/v1/test-only/boom")
    def boom() -> None:
        raise Boom("secret internal detail /srv/app.py line 42")

    app.include_router(router)
    return app


def _assert_secure(response_headers: object) -> None:
    headers = {key.lower(): value for key, value in dict(response_headers).items()}  # type: ignore[call-overload]
    for name, value in EXPECTED_HEADERS.items():
        assert headers.get(name) == value, name
    assert "camera=()" in headers["permissions-policy"]
    assert "server" not in headers and "x-powered-by" not in headers
    assert "unsafe" not in headers["content-security-policy"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/health/live", None, 200),
        ("GET", "/api/v1/no-such-thing", None, 404),
        ("POST", "/api/v1/auth/login", {"email": "not-an-email"}, 422),
        ("DELETE", "/health", None, 405),
        ("GET", "/api/v1/test-only/boom", None, 500),
        ("GET", "/api/v1/users/me", None, 401),
    ],
)
def test_every_response_is_json_with_security_headers(
    failing_app: FastAPI, method: str, path: str, body: object, status: int
) -> None:
    with TestClient(failing_app, raise_server_exceptions=False) as client:
        response = client.request(method, path, json=body)
    assert response.status_code == status
    _assert_secure(response.headers)
    assert response.headers["content-type"].startswith("application/json")
    body_json = response.json()
    assert isinstance(body_json, dict)
    if status >= 400:
        assert isinstance(body_json.get("detail"), str) and body_json["detail"]
    assert response.headers["x-request-id"]


def test_500_leaks_no_trace(failing_app: FastAPI, capsys: pytest.CaptureFixture[str]) -> None:
    with TestClient(failing_app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/test-only/boom", headers={"X-Request-ID": "trace-me-123"})
    assert response.status_code == 500
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    assert response.json()["detail"].startswith("internal server error")
    logged = capsys.readouterr().out
    assert "secret internal detail" in logged  # the operator gets it, in the log, under the request id
    assert any('"unhandled_error"' in line and "trace-me-123" in line for line in logged.splitlines())


def test_validation_errors_name_the_field_and_do_not_echo_input(client: TestClient) -> None:
    secret = "Not-echoed-password-1"
    response = client.post("/api/v1/auth/login", json={"email": "bad", "password": secret})
    assert response.status_code == 422
    assert "email" in response.json()["detail"]
    assert secret not in response.text


@pytest.mark.parametrize(
    ("incoming", "echoed"),
    [
        ("abc-123.def_456", True),
        ("x" * 129, False),
        ("has space", False),
        ("new\r\nline", False),
        (None, False),
    ],
)
def test_request_id_is_echoed_only_when_sane(client: TestClient, incoming: str | None, echoed: bool) -> None:
    headers = {"X-Request-ID": incoming} if incoming and "\n" not in incoming else {}
    response = client.get("/health/live", headers=headers)
    request_id = response.headers["x-request-id"]
    if echoed:
        assert request_id == incoming
    else:
        assert request_id != incoming and len(request_id) == 36  # a fresh UUID


def test_one_json_access_log_line_per_request(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    client.get(
        "/api/v1/presentations/5e0e7a3e-0000-4000-8000-000000000000", headers={"X-Request-ID": "req-42"}
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("event") == "request"]
    assert len(access) == 1
    entry = access[0]
    assert entry["request_id"] == "req-42"
    assert entry["method"] == "GET"
    assert entry["route"] == "/api/v1/presentations/{presentation_id}"  # the template, not the id
    assert entry["status"] == 401
    assert isinstance(entry["duration_ms"], float | int)


def test_unknown_host_is_refused_in_json(client: TestClient) -> None:
    response = client.get("/health/live", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert "PAP_ALLOWED_HOSTS" in response.json()["detail"]
    _assert_secure(response.headers)


def test_oversized_body_is_413(client: TestClient) -> None:
    big = {"title": "x", "slides": [{"title": "t", "content": "y" * 20_000}] * 60}
    response = client.post("/api/v1/presentations", json=big)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    _assert_secure(response.headers)


def test_oversized_chunked_body_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536

    response = client.post(
        "/api/v1/auth/signup", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_only_a_deck_upload_may_exceed_the_general_body_limit(client: TestClient, session: Session) -> None:
    """The general 1 MB limit runs before routing; the deck route has PAP_DECK_MAX_BYTES instead."""
    headers = login_headers(client, make_user(session, role="presenter"))
    two_mb = b"%PDF-1.7\n" + b"x" * (2 * 1024 * 1024)
    elsewhere = client.post(
        "/api/v1/presentations", content=two_mb, headers={**headers, "Content-Type": "application/json"}
    )
    assert elsewhere.status_code == 413
    deck = client.post(
        f"/api/v1/presentations/{uuid.uuid4()}/deck",
        content=two_mb,
        headers={**headers, "Content-Type": "application/pdf"},
    )
    assert deck.status_code == 404, deck.text  # routed: an unknown presentation, not a body too large
    put = client.put(
        f"/api/v1/presentations/{uuid.uuid4()}/deck",
        content=two_mb,
        headers={**headers, "Content-Type": "application/pdf"},
    )
    assert put.status_code == 413  # the exception is for the upload's method only


def test_cors_only_for_configured_origins(backend: Backend) -> None:
    app = build_app(backend, cors_origins="https://app.example")
    with TestClient(app) as client:
        allowed = client.options(
            "/api/v1/users/me",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
        )
        denied = client.get("/health/live", headers={"Origin": "https://evil.example"})
    assert allowed.headers.get("access-control-allow-origin") == "https://app.example"
    assert "access-control-allow-origin" not in denied.headers
    with TestClient(build_app(backend)) as client:
        default = client.get("/health/live", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in default.headers


def test_docs_are_served_from_our_origin_with_a_strict_csp(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "unsafe" not in csp and "http" not in csp and "default-src 'self'" in csp
    assert "<script>" not in page.text and "cdn" not in page.text  # no inline script, no third-party origin
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/docs/init.js"):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/openapi.json").status_code == 200


def test_docs_can_be_turned_off(backend: Backend) -> None:
    with TestClient(build_app(backend, docs_enabled=False)) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/openapi.json").status_code == 404


def test_security_header_table_matches_reference() -> None:
    assert {name for name, _ in SECURITY_HEADERS} | {"content-security-policy", "cache-control"} >= set(
        EXPECTED_HEADERS
    )


def test_nul_characters_are_a_422_not_a_database_error(client: TestClient, session: Session) -> None:
    headers = login_headers(client, make_user(session, role="presenter"))
    body = {"title": "a\u0000b", "slides": [{"title": "s"}]}
    response = client.post("/api/v1/presentations", json=body, headers=headers)
    assert response.status_code == 422
    assert "NUL" in response.json()["detail"]


def test_error_logs_carry_no_frame_locals(failing_app: FastAPI, capsys: pytest.CaptureFixture[str]) -> None:
    with TestClient(failing_app, raise_server_exceptions=False) as client:
        client.get("/api/v1/test-only/boom", headers={"Authorization": "Bearer do-not-log-me"})
    logged = capsys.readouterr().out
    error_lines = [line for line in logged.splitlines() if '"unhandled_error"' in line]
    assert error_lines and '"locals"' not in error_lines[0]
    assert "do-not-log-me" not in logged
