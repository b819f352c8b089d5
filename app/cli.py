"""Operator commands: `python -m app.cli serve | migrate | create-admin --email E`."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.config import DatabaseSettings, Settings, SettingsError, get_settings, load_database_settings
from app.core.logging import configure_logging
from app.core.security import WeakPasswordError, check_password_rules
from app.crud import users as users_crud
from app.db import make_engine, make_session_factory
from app.migrate import upgrade_to_head, wait_for_database
from app.models.users import Role
from app.schemas.users import UserCreate

logger = structlog.get_logger("app.cli")


class CommandError(Exception):
    """A refusal the operator can act on; printed without a trace."""


def _ensure_sqlite_directory(settings: DatabaseSettings) -> None:
    url = settings.database_url_with_password
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def migrate(settings: DatabaseSettings) -> None:
    _ensure_sqlite_directory(settings)
    engine = make_engine(settings.database_url_with_password, pool_size=1)
    try:
        wait_for_database(engine)
        upgrade_to_head(engine)
    finally:
        engine.dispose()
    logger.info("migrations_applied")


def hold(marker: Path) -> None:
    """After a successful migration: mark it, then idle until stopped (SIGTERM ends the process, exit 0).

    An orchestrator that can only wait for a task to be healthy (a Swarm service) learns from the marker
    that the schema is at head; the migration task holds no connection while it idles.
    """
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("migrated\n")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logger.info("migration_holding", marker=str(marker))
    while True:
        signal.pause()


def create_admin(session: Session, *, email: str, password: str) -> bool:
    """Create the admin; False (and no change) if the email is taken. Weak passwords raise CommandError."""
    try:
        check_password_rules(password, email=email)
    except WeakPasswordError as error:
        raise CommandError(f"refused: {error}") from None
    if users_crud.get_user_by_email(session=session, email=email) is not None:
        return False
    try:
        user_in = UserCreate(
            email=email, username=email.split("@", 1)[0][:64] or "admin", password=password, role=Role.admin
        )
    except ValueError as error:
        raise CommandError(f"refused: {error}") from None
    try:
        users_crud.create_user(session=session, user_in=user_in)
    except IntegrityError:
        # Another process (a second replica starting at the same moment) created it between the look-up and
        # the insert: the unique email index decides, and the outcome is the same as "already taken".
        session.rollback()
        return False
    return True


def bootstrap_admin(settings: Settings) -> None:
    """First start of a container: create PAP_BOOTSTRAP_ADMIN_EMAIL if there is no admin yet."""
    if settings.bootstrap_admin_email is None:
        return
    if settings.bootstrap_admin_password is None:
        raise CommandError("PAP_BOOTSTRAP_ADMIN_EMAIL is set but PAP_BOOTSTRAP_ADMIN_PASSWORD_FILE is not")
    engine = make_engine(settings.database_url_with_password, pool_size=1)
    try:
        with make_session_factory(engine)() as session:
            if users_crud.count_admins(session=session) > 0:
                return
            created = create_admin(
                session,
                email=settings.bootstrap_admin_email,
                password=settings.bootstrap_admin_password.get_secret_value(),
            )
            logger.info("bootstrap_admin", created=created)
    finally:
        engine.dispose()


def _prepare_multiprocess_metrics(workers: int) -> None:
    """Several workers share metrics through files: an empty directory, named before any worker starts
    (also prepared when the operator names one for a single worker)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if workers <= 1 and not directory:
        return
    directory = directory or os.path.join(tempfile.gettempdir(), "pap-metrics")
    shutil.rmtree(directory, ignore_errors=True)  # stale files from a previous run would be summed in
    Path(directory).mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


def serve(settings: Settings, *, host: str, port: int) -> None:
    if settings.run_migrations:
        migrate(settings)
    bootstrap_admin(settings)
    _prepare_multiprocess_metrics(settings.workers)
    import uvicorn

    uvicorn.run(
        "app.main:app",
        host=host,
        port=port,
        workers=settings.workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        server_header=False,
        date_header=True,
        access_log=False,  # app.middleware.request_context writes the one JSON line per request
        log_config=None,  # keep the JSON logging app.core.logging set up
        timeout_graceful_shutdown=20,
    )


def _read_password_from_stdin() -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\r\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser(
        "serve", help="migrate (PAP_RUN_MIGRATIONS), bootstrap the admin, serve"
    )
    serve_parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - inside a container, by design
    serve_parser.add_argument("--port", type=int, default=None, help="default: PAP_PORT")
    migrate_parser = commands.add_parser(
        "migrate", help="alembic upgrade head (waits for the database, advisory-locked)"
    )
    migrate_parser.add_argument(
        "--hold",
        action="store_true",
        help="then write PAP_MIGRATED_MARKER (default /tmp/pap-migrated) and idle until SIGTERM",
    )
    admin_parser = commands.add_parser(
        "create-admin", help="create an admin; the password is read from stdin"
    )
    admin_parser.add_argument("--email", required=True)
    arguments = parser.parse_args(argv)

    try:
        # Only `serve` reads (and is refused over) the serving settings; the database commands need a login.
        database_settings = get_settings() if arguments.command == "serve" else load_database_settings()
        configure_logging(database_settings.effective_log_level)
        if arguments.command == "serve":
            settings = get_settings()
            serve(settings, host=arguments.host, port=arguments.port or settings.port)
        elif arguments.command == "migrate":
            migrate(database_settings)
            if arguments.hold:
                hold(Path(os.environ.get("PAP_MIGRATED_MARKER", "/tmp/pap-migrated")))  # noqa: S108
        else:
            password = _read_password_from_stdin()
            engine = make_engine(database_settings.database_url_with_password, pool_size=1)
            try:
                with make_session_factory(engine)() as session:
                    if not create_admin(session, email=arguments.email, password=password):
                        raise CommandError(f"a user with the email {arguments.email} already exists")
            finally:
                engine.dispose()
            print(f"admin {arguments.email} created")
    except (SettingsError, CommandError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
