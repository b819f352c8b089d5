"""Run Alembic migrations programmatically, safely when several replicas start at once."""

from __future__ import annotations

import time
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
# Arbitrary constant key for pg_advisory_lock: one migrator at a time across every replica.
MIGRATION_LOCK_KEY = 72_616_001

logger = structlog.get_logger(__name__)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(ALEMBIC_INI.parent / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_to_head(engine: Engine) -> None:
    """`alembic upgrade head` on this engine; on PostgreSQL under an advisory lock (others wait, then find
    nothing left to do)."""
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
        try:
            command.upgrade(alembic_config(connection), "head")
            connection.commit()
        finally:
            if postgres:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()


def wait_for_database(engine: Engine, *, attempts: int = 30, delay: float = 2.0) -> None:
    """Retry until the database accepts connections (containers start in any order)."""
    for attempt in range(1, attempts + 1):
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except OperationalError as error:
            if attempt == attempts:
                raise
            logger.warning("database_not_ready", attempt=attempt, error=str(error.orig).strip()[:200])
            time.sleep(delay)
