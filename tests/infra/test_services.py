"""Backend, migration, database and cache: settings wired to the service, the migration before the backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import ConfigError, validate_stack_config
from infra.plan import PlanRun
from tests.infra.helpers import (
    MIB,
    config_mounts,
    container_spec,
    env,
    mounted,
    mounted_contents,
    named,
    run_stack,
    secret_mounts,
    services,
    task_spec,
    the_service,
)

MARKER = "/tmp/pap-migrated"


def _db_secret(plan: PlanRun, path: str) -> str:
    """What the database's tasks read at `path` (the password its entrypoint gives a role)."""
    return mounted(plan, named(plan, f"pap-{plan.stack}-db"), path)


def test_backend_is_wired_to_the_service_settings(plan: PlanRun) -> None:
    backend = the_service(plan, "backend")
    settings = env(backend)
    assert settings["PAP_DATABASE_URL"] == "postgresql+psycopg://pap_app@database:5432/pap"
    assert settings["PAP_REDIS_URL"] == "redis://cache:6379/0"
    assert settings["PAP_DATABASE_PASSWORD_FILE"] == "/run/secrets/database_password"
    assert settings["PAP_REDIS_PASSWORD_FILE"] == "/run/secrets/redis_password"
    assert settings["PAP_SECRET_KEY_FILE"] == "/run/secrets/secret_key"
    assert settings["PAP_METRICS_TOKEN_FILE"] == "/run/secrets/metrics_token"
    assert settings["PAP_PORT"] == "8000"
    assert settings["PAP_RUN_MIGRATIONS"] == "false"  # the migration service does it, once per image
    assert "*" not in settings["PAP_ALLOWED_HOSTS"].split(",")
    assert settings["PAP_FORWARDED_ALLOW_IPS"].endswith("/24")  # the app network, where only the proxy is
    assert set(secret_mounts(backend)) >= {
        "/run/secrets/database_password",
        "/run/secrets/redis_password",
        "/run/secrets/secret_key",
        "/run/secrets/metrics_token",
    }
    assert container_spec(backend).get("args") is None  # the image's CMD: serve


def test_backend_gets_the_generated_values(plan: PlanRun) -> None:
    backend = the_service(plan, "backend")
    assert mounted(plan, backend, "/run/secrets/redis_password") == mounted(
        plan, the_service(plan, "cache"), "/run/secrets/redis_password"
    )
    assert len(mounted(plan, backend, "/run/secrets/secret_key")) == 64
    assert len(mounted(plan, backend, "/run/secrets/metrics_token")) == 40


def test_only_the_migration_and_the_database_itself_hold_the_owners_password(plan: PlanRun) -> None:
    """The migration logs in as the owner over the network; pgBackRest logs in as the owner on the
    database's own socket, with a pgpass file mounted into the database's task. The backup repositories
    reach PostgreSQL only through the database's pgBackRest server: they hold no database password."""
    owner_password = _db_secret(plan, "/run/secrets/db_password")
    app_password = _db_secret(plan, "/run/secrets/db_app_password")
    assert owner_password != app_password
    migrate = the_service(plan, "migrate")
    assert env(migrate)["PAP_DATABASE_URL"] == "postgresql+psycopg://pap@database:5432/pap"
    assert env(migrate)["PAP_DATABASE_PASSWORD_FILE"] == "/run/secrets/database_password"
    assert mounted(plan, migrate, "/run/secrets/database_password") == owner_password
    database = named(plan, f"pap-{plan.stack}-db")
    assert env(database)["PGPASSFILE"] == "/run/secrets/pgpass"
    assert mounted(plan, database, "/run/secrets/pgpass") == f"*:*:*:pap:{owner_password}\n"
    pgpass = secret_mounts(database)["/run/secrets/pgpass"]
    # libpq ignores a pgpass file others may read; it belongs to the database's user.
    assert (pgpass["fileMode"], pgpass["fileUid"]) == (0o400, "10010")
    for role in ("backup", "backup-offsite"):
        repository = the_service(plan, role)
        contents = mounted_contents(plan, repository).values()
        assert not [c for c in contents if owner_password in c or app_password in c], role
        assert not {"PGPASSFILE", "PGPASSWORD", "PGUSER", "PGHOST"} & set(env(repository)), role
    backend = the_service(plan, "backend")
    assert mounted(plan, backend, "/run/secrets/database_password") == app_password
    # The owner's password never reaches a service that serves requests.
    assert all(owner_password not in content for content in mounted_contents(plan, backend).values())
    holders = {
        service.name
        for service in services(plan)
        if any(owner_password in content for content in mounted_contents(plan, service).values())
    }
    assert holders == {f"pap-{plan.stack}-db", f"pap-{plan.stack}-migrate"}


def test_the_migration_gets_the_owners_password_and_nothing_else(plan: PlanRun) -> None:
    """Least privilege: no Redis password, JWT key, metrics token or admin password in the migration."""
    migrate = the_service(plan, "migrate")
    assert set(secret_mounts(migrate)) == {"/run/secrets/database_password"}
    assert not container_spec(migrate).get("configs")
    assert set(env(migrate)) == {
        "PAP_ENVIRONMENT",
        "PAP_LOG_LEVEL",
        "PAP_MIGRATED_MARKER",
        "PAP_DATABASE_URL",
        "PAP_DATABASE_PASSWORD_FILE",
    }
    backend_only = mounted_contents(plan, the_service(plan, "backend"))
    backend_only.pop("/run/secrets/database_password")
    migrate_contents = set(mounted_contents(plan, migrate).values())
    assert migrate_contents.isdisjoint(backend_only.values())


def test_the_migration_holds_until_migrated_and_is_healthy_only_then(plan: PlanRun) -> None:
    migrate, backend = the_service(plan, "migrate"), the_service(plan, "backend")
    spec = container_spec(migrate)
    assert spec["args"] == ["migrate", "--hold"]
    assert env(migrate)["PAP_MIGRATED_MARKER"] == MARKER
    assert spec["healthcheck"]["tests"] == ["CMD", "test", "-f", MARKER]
    # The marker lives on the task's private tmpfs: a new task starts unmigrated.
    assert "/tmp" in {mount["target"] for mount in spec["mounts"] if mount["type"] == "tmpfs"}
    assert spec["image"] == container_spec(backend)["image"]
    assert migrate.urn in backend.dependencies


def test_environment_per_stack(dev: PlanRun, prod: PlanRun) -> None:
    assert env(the_service(dev, "backend"))["PAP_ENVIRONMENT"] == "development"
    production = env(the_service(prod, "backend"))
    assert production["PAP_ENVIRONMENT"] == "production"
    assert production["PAP_DOCS_ENABLED"] == "false"
    assert production["PAP_WORKERS"] == "2"
    assert env(the_service(prod, "migrate"))["PAP_ENVIRONMENT"] == "production"


def test_bootstrap_admin_only_where_configured(dev: PlanRun, prod: PlanRun) -> None:
    backend = the_service(dev, "backend")
    assert env(backend)["PAP_BOOTSTRAP_ADMIN_PASSWORD_FILE"] == "/run/secrets/admin_password"
    assert mounted(dev, backend, "/run/secrets/admin_password") == dev.outputs["adminPassword"]
    assert "adminPassword" in dev.secret_outputs
    assert "PAP_BOOTSTRAP_ADMIN_EMAIL" not in env(the_service(prod, "backend"))
    assert "/run/secrets/admin_password" not in secret_mounts(the_service(prod, "backend"))
    assert "adminPassword" not in prod.outputs


def test_database(plan: PlanRun) -> None:
    database = named(plan, f"pap-{plan.stack}-db")
    assert env(database) == {
        "POSTGRES_USER": "pap",
        "POSTGRES_DB": "pap",
        "POSTGRES_PASSWORD_FILE": "/run/secrets/db_password",
        "POSTGRES_APP_USER": "pap_app",
        "POSTGRES_APP_PASSWORD_FILE": "/run/secrets/db_app_password",
        "PGDATA": "/var/lib/postgresql/data",
        # pgBackRest beside PostgreSQL (the entrypoint starts its server when this is set)
        "PGBACKREST_CONFIG": "/run/pap/pgbackrest.conf",
        "PGPASSFILE": "/run/secrets/pgpass",
    }
    arguments = container_spec(database)["args"]
    assert "password_encryption=scram-sha-256" in arguments
    mounts = {m["target"]: m for m in container_spec(database)["mounts"]}
    assert mounts["/var/lib/postgresql/data"]["source"] == f"pap-{plan.stack}-db-data"
    assert mounts["/var/lib/postgresql/data"]["type"] == "volume"
    assert mounts["/run/postgresql"]["type"] == "tmpfs"
    assert set(secret_mounts(database)) == {
        "/run/secrets/db_password",
        "/run/secrets/db_app_password",
        "/run/secrets/pgpass",
        "/run/secrets/pgbackrest.key",  # its pgBackRest TLS key
    }
    # Its pgBackRest configuration, the pgBackRest CA and its certificate; no cipher passphrase (the
    # repositories encrypt, the database never holds their passphrases).
    assert set(config_mounts(database)) == {
        "/run/pap/pgbackrest.conf",
        "/run/pap/pgbackrest-ca.crt",
        "/run/pap/pgbackrest.crt",
    }
    assert len(_db_secret(plan, "/run/secrets/db_app_password")) == 32
    assert plan.outputs["databaseService"] == f"pap-{plan.stack}-db"
    assert plan.outputs["databaseVolume"] == f"pap-{plan.stack}-db-data"


def test_database_connections_cover_every_pool(prod: PlanRun) -> None:
    arguments = container_spec(named(prod, "pap-prod-db"))["args"]
    connections = int(next(item for item in arguments if item.startswith("max_connections=")).split("=")[1])
    # replicas (+1 during a start-first update) x workers x (pool + overflow)
    assert connections >= (3 + 1) * 2 * (10 + 10)


def test_scaling_the_backends_leaves_the_database_spec_unchanged(tmp_path: Path) -> None:
    """max_connections is the stack config's, not derived from backend.replicas: a scale-out must not
    restart PostgreSQL (the e2e measured 187 failed requests when it did)."""

    def database_settings(replicas: int) -> tuple[list[str], dict[str, str]]:
        database = named(run_stack("dev", tmp_path, {"backend": {"replicas": replicas}}), "pap-dev-db")
        return container_spec(database)["args"], container_spec(database)["env"]

    assert database_settings(2) == database_settings(4)


def test_too_few_database_connections_for_the_backends_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as refused:
        validate_stack_config(
            "prod",
            {"backend": {"replicas": 10, "workers": 4}, "database": {"maxConnections": 200}},
            frozenset(),
        )
    message = str(refused.value)
    assert "database.maxConnections (200)" in message and "backend.replicas 10" in message
    assert "raise database.maxConnections to 890 or more" in message


@pytest.mark.parametrize(
    ("stack", "persistence"), [("dev", ['save ""', "appendonly no"]), ("prod", ["appendonly yes"])]
)
def test_cache(stack: str, persistence: list[str], request: pytest.FixtureRequest) -> None:
    plan: PlanRun = request.getfixturevalue(stack)
    cache = named(plan, f"pap-{stack}-cache")
    assert container_spec(cache)["args"] == ["redis-server", "/run/secrets/redis.conf"]
    conf = mounted(plan, cache, "/run/secrets/redis.conf").splitlines()
    password = mounted(plan, cache, "/run/secrets/redis_password")
    assert f"requirepass {password}" in conf
    assert "port 6379" in conf and "dir /data" in conf and "daemonize no" in conf
    for line in persistence:
        assert line in conf
    maxmemory = int(
        next(line for line in conf if line.startswith("maxmemory ")).split()[1].removesuffix("mb")
    )
    assert 0 < maxmemory * MIB < task_spec(cache)["resources"]["limits"]["memoryBytes"]
    assert env(cache)["REDIS_PASSWORD_FILE"] == "/run/secrets/redis_password"
    volumes = {m["target"]: m["source"] for m in container_spec(cache)["mounts"] if m["type"] == "volume"}
    assert volumes == ({"/data": f"pap-{stack}-cache-data"} if stack == "prod" else {})
