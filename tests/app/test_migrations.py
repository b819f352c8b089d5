"""Alembic owns the schema: an empty database upgrades to head, the result matches the models exactly,
downgrade/upgrade round-trips, and concurrent migrators (replicas starting together) are safe."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text

from app.db import make_engine
from app.migrate import alembic_config, upgrade_to_head
from app.models import Base
from tests.app.servers import PostgresServer

APP_DIRECTORY = Path(__file__).resolve().parents[2] / "app"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    engine = make_engine(server.url.rsplit("/", 1)[0] + f"/{name}", pool_size=5)
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE {name}"))
    admin.dispose()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_upgrade_from_empty_matches_the_models(empty_engine: Engine) -> None:
    upgrade_to_head(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    assert schema_differences(empty_engine) == []
    tables = set(inspect(empty_engine).get_table_names())
    assert {"users", "refresh_tokens", "presentations", "slides", "presentation_viewers"} <= tables


def test_downgrade_to_base_and_back(empty_engine: Engine) -> None:
    upgrade_to_head(empty_engine)
    with empty_engine.connect() as connection:
        command.downgrade(alembic_config(connection), "base")
        connection.commit()
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    upgrade_to_head(empty_engine)
    assert schema_differences(empty_engine) == []


def test_first_revision_is_ours() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    base = script.get_base()
    assert base == "0001_identity_and_decks"


def test_replicas_migrating_at_once_are_safe(postgres_server: PostgresServer) -> None:
    """Three migrators on one fresh PostgreSQL database: the advisory lock serialises them; all succeed."""
    name = f"concurrent_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    url = postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
    errors: list[BaseException] = []

    def migrate() -> None:
        engine = make_engine(url, pool_size=1)
        try:
            upgrade_to_head(engine)
        except BaseException as error:  # collected and asserted below
            errors.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    engine = make_engine(url, pool_size=1)
    try:
        assert errors == []
        assert current_revision(engine) == head_revision()
        assert schema_differences(engine) == []
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name}"))
        admin.dispose()


def test_nothing_outside_tests_calls_create_all() -> None:
    offenders = [str(path) for path in APP_DIRECTORY.rglob("*.py") if "create_all(" in path.read_text()]
    assert offenders == []
