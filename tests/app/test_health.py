"""/health follows its dependencies (503 naming the one that failed, recovery when it returns), the service
keeps serving without Redis, and /metrics is guarded."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from app import __version__
from app.core.config import Settings
from app.core.redis import RedisCache
from app.db import make_engine
from app.main import create_app
from app.migrate import upgrade_to_head
from tests.app.conftest import TEST_SECRET_KEY, Backend, build_app
from tests.app.factories import PASSWORD, login_headers, make_user
from tests.app.servers import PostgresServer, RedisServer, postgres_available, redis_available


@pytest.fixture
def own_servers() -> Iterator[tuple[PostgresServer, RedisServer]]:
    """Dedicated servers: this test stops and restarts them under a running app."""
    for reason in (postgres_available(), redis_available()):
        if reason:
            pytest.skip(reason)
    postgres, redis_server = PostgresServer(), RedisServer()
    try:
        engine = make_engine(postgres.url)
        upgrade_to_head(engine)
        engine.dispose()
        yield postgres, redis_server
    finally:
        postgres.close()
        redis_server.close()


def wait_for(check: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_health_names_the_failing_dependency_and_recovers(
    own_servers: tuple[PostgresServer, RedisServer],
) -> None:
    postgres, redis_server = own_servers
    settings = Settings(
        secret_key=TEST_SECRET_KEY,  # type: ignore[arg-type]
        database_url=postgres.url,
        redis_url=redis_server.url,
        redis_password=redis_server.password,  # type: ignore[arg-type]
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        healthy = {"status": "healthy", "database": "healthy", "redis": "healthy", "version": __version__}
        first = client.get("/health")
        assert (first.status_code, first.json()) == (200, healthy)
        with app.state.resources.session_factory() as session:
            user = make_user(session)
        headers = login_headers(client, user)

        postgres.stop()
        down = client.get("/health")
        assert (down.status_code, down.json()) == (
            503,
            {"status": "unhealthy", "database": "unhealthy", "redis": "healthy", "version": __version__},
        )
        assert client.get("/health/live").status_code == 200  # the process itself is fine
        # An API call that needs the database says so and when to retry: a 503, never a 500.
        unavailable = client.get("/api/v1/users/me", headers=headers)
        assert unavailable.status_code == 503, unavailable.text
        assert unavailable.json() == {"detail": "the database is unavailable; retry shortly"}
        assert unavailable.headers["Retry-After"] == "5"
        assert unavailable.headers["X-Content-Type-Options"] == "nosniff"
        postgres.start()
        assert wait_for(lambda: client.get("/health").status_code == 200), (
            "no recovery after PostgreSQL returned"
        )
        assert client.get("/api/v1/users/me", headers=headers).status_code == 200
        cache = app.state.resources.cache
        assert isinstance(cache, RedisCache)
        cache.set_json("probe", {"n": 1}, ttl=60)
        assert cache.get_json("probe") == {"n": 1}

        redis_server.stop()
        down = client.get("/health")
        assert (down.status_code, down.json()) == (
            503,
            {"status": "unhealthy", "database": "healthy", "redis": "unhealthy", "version": __version__},
        )
        # Without Redis the service keeps serving: uncached, rate limits in process.
        assert cache.get_json("probe") is None
        assert client.get("/api/v1/users/me", headers=headers).status_code == 200
        login = {"email": user.email, "password": PASSWORD}
        assert [client.post("/api/v1/auth/login", json=login).status_code for _ in range(6)] == [200] * 5 + [
            429
        ]

        redis_server.start()
        assert wait_for(lambda: client.get("/health").status_code == 200), "no recovery after Redis returned"

        def cache_works_again() -> bool:
            cache.set_json("back", 1, ttl=60)
            return cache.get_json("back") == 1

        assert wait_for(cache_works_again)


def test_health_reports_redis_disabled_when_not_configured(backend: Backend) -> None:
    with TestClient(build_app(backend, redis_url=None)) as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "healthy",
        "database": "healthy",
        "redis": "disabled",
        "version": __version__,
    }


def test_health_and_liveness_report_the_running_version(client: TestClient) -> None:
    """A rolling update is done when every answer carries the new version."""
    assert __version__
    health = client.get("/health")
    assert (health.status_code, health.json()["version"]) == (200, __version__)
    live = client.get("/health/live")
    assert (live.status_code, live.json()) == (200, {"status": "alive", "version": __version__})


def test_metrics_in_development_show_route_templates(client: TestClient) -> None:
    client.get("/api/v1/presentations/00000000-0000-4000-8000-000000000000")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert 'route="/api/v1/presentations/{presentation_id}"' in response.text
    assert "00000000-0000-4000-8000-000000000000" not in response.text
    assert "pap_http_request_duration_seconds_bucket" in response.text


def _production(backend: Backend, metrics_token: str | None = None) -> TestClient:
    return TestClient(build_app(backend, environment="production", metrics_token=metrics_token))


def test_metrics_are_off_in_production_without_a_token(backend: Backend) -> None:
    with _production(backend) as client:
        assert client.get("/metrics").status_code == 404


def test_metrics_need_the_bearer_token(backend: Backend) -> None:
    with _production(backend, metrics_token="scrape-token-0123456789") as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        scraped = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"})
    assert scraped.status_code == 200
    assert "pap_http_requests_total" in scraped.text
