"""Fixtures for the service tests: real backends, schema by Alembic, a clean database per test.

- `client` is parametrized over backends: `sqlite` (always) and `postgresql` (a throwaway PostgreSQL 15,
  with a throwaway Redis behind the cache and rate limits).
- The schema comes from `alembic upgrade head` once per backend per session; each test starts from empty
  tables (truncated before it runs) and an empty Redis.
- Rate limits are switched off through a dependency override (tests about them use `limited_client`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from app.api.deps import get_rate_limiter
from app.core.config import Settings
from app.core.ratelimit import UnlimitedRateLimiter
from app.db import make_engine
from app.main import create_app
from app.migrate import upgrade_to_head
from app.models import Base
from tests.app.servers import PostgresServer, RedisServer, postgres_available, redis_available

BACKENDS = ("sqlite", "postgresql")
TEST_SECRET_KEY = "test-secret-key-" + "x" * 32
UNLIMITED = UnlimitedRateLimiter()


def require(reason: str | None) -> None:
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    require(postgres_available())
    server = PostgresServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    require(redis_available())
    server = RedisServer()
    yield server
    server.close()


@dataclass
class Backend:
    name: str
    database_url: str
    engine: Engine
    redis: RedisServer | None

    def settings(self, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "environment": "development",
            "secret_key": TEST_SECRET_KEY,
            "database_url": self.database_url,
            "db_pool_size": 5,
        }
        if self.redis is not None:
            values |= {"redis_url": self.redis.url, "redis_password": self.redis.password}
        return Settings(**(values | overrides))  # type: ignore[arg-type]

    def reset(self) -> None:
        """Empty every table (and Redis) so each test starts clean."""
        tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
        with self.engine.begin() as connection:
            if self.engine.dialect.name == "postgresql":
                connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    connection.execute(text(f'DELETE FROM "{table}"'))  # noqa: S608 - names from our metadata
        if self.redis is not None:
            import redis

            with redis.Redis.from_url(self.redis.url, password=self.redis.password) as connection:
                connection.flushall()


@pytest.fixture(scope="session")
def sqlite_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    path: Path = tmp_path_factory.mktemp("sqlite") / "pap.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade_to_head(engine)
    yield Backend("sqlite", url, engine, None)
    engine.dispose()


@pytest.fixture(scope="session")
def postgresql_backend(postgres_server: PostgresServer, redis_server: RedisServer) -> Iterator[Backend]:
    engine = make_engine(postgres_server.url, pool_size=2)
    upgrade_to_head(engine)
    yield Backend("postgresql", postgres_server.url, engine, redis_server)
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    chosen: Backend = request.getfixturevalue(f"{request.param}_backend")
    chosen.reset()
    return chosen


@pytest.fixture
def redis_backend(postgresql_backend: Backend) -> Backend:
    """The PostgreSQL + Redis backend alone, for tests about Redis itself."""
    postgresql_backend.reset()
    return postgresql_backend


def build_app(backend: Backend, *, rate_limits: bool = False, **overrides: object) -> FastAPI:
    app = create_app(backend.settings(**overrides))
    if not rate_limits:
        app.dependency_overrides[get_rate_limiter] = lambda: UNLIMITED
    return app


@pytest.fixture
def app(backend: Backend) -> FastAPI:
    return build_app(backend)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def limited_app(backend: Backend) -> FastAPI:
    """Like `app`, with the real rate limits (Redis-backed on PostgreSQL runs)."""
    return build_app(backend, rate_limits=True)


@pytest.fixture
def limited_client(limited_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(limited_app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def session(app: FastAPI) -> Iterator[Session]:
    """A database session on the same database as `client`, for factories and direct checks."""
    with app.state.resources.session_factory() as db_session:
        yield db_session
