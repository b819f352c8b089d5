"""Login 5/minute per client address and per account; API 20 per 2 s per client; 429 with Retry-After."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.app.conftest import Backend, build_app
from tests.app.factories import PASSWORD, make_user

LOGIN = "/api/v1/auth/login"


def client_from(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, client=(address, 40000), raise_server_exceptions=False)


def assert_limited(response_status: int, retry_after: str | None, window: int) -> None:
    assert response_status == 429
    assert retry_after is not None and 1 <= int(retry_after) <= window


def test_sixth_login_from_one_address_is_429(limited_app: FastAPI, session: Session) -> None:
    users = [make_user(session) for _ in range(6)]
    client = client_from(limited_app, "203.0.113.7")
    # Different accounts, one address: only the per-address limit can stop the sixth.
    statuses = [
        client.post(LOGIN, json={"email": user.email, "password": PASSWORD}).status_code for user in users[:5]
    ]
    assert statuses == [200] * 5
    sixth = client.post(LOGIN, json={"email": users[5].email, "password": PASSWORD})
    assert_limited(sixth.status_code, sixth.headers.get("retry-after"), 60)
    assert "address" in sixth.json()["detail"]
    # Another address is not affected.
    assert (
        client_from(limited_app, "203.0.113.8")
        .post(LOGIN, json={"email": users[5].email, "password": PASSWORD})
        .status_code
        == 200
    )


def test_sixth_login_for_one_account_is_429_from_any_address(limited_app: FastAPI, session: Session) -> None:
    user = make_user(session)
    # Failed attempts count too (that is what the limit is for).
    for number in range(5):
        response = client_from(limited_app, f"198.51.100.{number + 1}").post(
            LOGIN, json={"email": user.email.upper(), "password": "Wrong-password-1"}
        )
        assert response.status_code == 401
    sixth = client_from(limited_app, "198.51.100.99").post(
        LOGIN, json={"email": user.email, "password": PASSWORD}
    )
    assert_limited(sixth.status_code, sixth.headers.get("retry-after"), 60)
    assert "account" in sixth.json()["detail"]


def test_api_limit_allows_a_burst_of_20_then_429(limited_client: TestClient) -> None:
    statuses = [limited_client.get("/api/v1/users/me").status_code for _ in range(30)]
    # Never more than 20 in any 2 s window, so the first 20 pass (counted before authentication, so
    # anonymous floods are limited too); the 21st is refused unless this machine stalled for seconds.
    assert statuses[:20] == [401] * 20
    assert statuses[20] == 429
    limited = limited_client.get("/api/v1/users/me")
    assert_limited(limited.status_code, limited.headers.get("retry-after"), 2)
    # Health checks are not API calls: never limited.
    assert limited_client.get("/health/live").status_code == 200


def test_limits_are_shared_between_workers_through_redis(redis_backend: Backend) -> None:
    worker_a, worker_b = (
        build_app(redis_backend, rate_limits=True),
        build_app(redis_backend, rate_limits=True),
    )
    with worker_a.state.resources.session_factory() as session:
        user = make_user(session)
    attempts = [worker_a, worker_b, worker_a, worker_b, worker_a]
    for worker in attempts:
        assert (
            client_from(worker, "192.0.2.10")
            .post(LOGIN, json={"email": user.email, "password": PASSWORD})
            .status_code
            == 200
        )
    assert (
        client_from(worker_b, "192.0.2.10")
        .post(LOGIN, json={"email": user.email, "password": PASSWORD})
        .status_code
        == 429
    )
