"""Backend, migration, database and cache: settings wired to the service, migrations exactly once."""

from __future__ import annotations

import pytest

from infra.backend import MigrationFailedError, _require_success
from infra.plan import PlanRun
from tests.infra.helpers import by_role, envs, inputs, named, seed_of, uploads


def test_replicas_are_wired_to_the_service_settings(plan: PlanRun) -> None:
    for replica in by_role(plan, "backend"):
        settings = envs(replica)
        assert settings["PAP_DATABASE_URL"] == "postgresql+psycopg://pap_app@database:5432/pap"
        assert settings["PAP_REDIS_URL"] == "redis://cache:6379/0"
        assert settings["PAP_DATABASE_PASSWORD_FILE"] == "/run/pap/secrets/database_app_password"
        assert settings["PAP_REDIS_PASSWORD_FILE"] == "/run/pap/secrets/redis_password"
        assert settings["PAP_SECRET_KEY_FILE"] == "/run/pap/secrets/secret_key"
        assert settings["PAP_METRICS_TOKEN_FILE"] == "/run/pap/secrets/metrics_token"
        assert settings["PAP_PORT"] == "8000"
        assert "*" not in settings["PAP_ALLOWED_HOSTS"].split(",")
        assert settings["PAP_FORWARDED_ALLOW_IPS"].endswith("/24")  # the app network, where only the proxy is
        files = uploads(seed_of(plan, replica))
        assert set(files) >= {
            "/run/pap/secrets/database_app_password",
            "/run/pap/secrets/redis_password",
            "/run/pap/secrets/secret_key",
            "/run/pap/secrets/metrics_token",
        }


def _database_password(plan: PlanRun, file: str) -> str:
    """What the database container's seed holds in `file` (the password its entrypoint gives a role)."""
    return str(uploads(seed_of(plan, named(plan, f"pap-{plan.stack}-db")))[file]["content"])


def test_only_the_migration_and_the_backup_log_in_as_the_database_owner(plan: PlanRun) -> None:
    owner_password = _database_password(plan, "/run/pap/secrets/db_password")
    app_password = _database_password(plan, "/run/pap/secrets/db_app_password")
    assert owner_password != app_password
    (migrate,) = by_role(plan, "migrate")
    assert envs(migrate)["PAP_DATABASE_URL"] == "postgresql+psycopg://pap@database:5432/pap"
    assert envs(migrate)["PAP_DATABASE_PASSWORD_FILE"] == "/run/pap/secrets/database_password"
    migrate_files = uploads(seed_of(plan, migrate))
    assert migrate_files["/run/pap/secrets/database_password"]["content"] == owner_password
    assert "/run/pap/secrets/database_app_password" not in migrate_files
    (backup,) = by_role(plan, "backup")
    assert envs(backup)["PGUSER"] == "pap"
    for replica in by_role(plan, "backend"):
        files = uploads(seed_of(plan, replica))
        assert files["/run/pap/secrets/database_app_password"]["content"] == app_password
        # The owner's password never reaches a container that serves requests.
        assert all(upload["content"] != owner_password for upload in files.values())


def test_environment_per_stack(dev: PlanRun, prod: PlanRun) -> None:
    assert envs(by_role(dev, "backend")[0])["PAP_ENVIRONMENT"] == "development"
    production = envs(by_role(prod, "backend")[0])
    assert production["PAP_ENVIRONMENT"] == "production"
    assert production["PAP_DOCS_ENABLED"] == "false"
    assert production["PAP_WORKERS"] == "2"


def test_migrations_run_once_in_a_one_shot_container(plan: PlanRun) -> None:
    (migrate,) = by_role(plan, "migrate")
    assert inputs(migrate)["command"] == ["migrate"]
    assert envs(migrate)["PAP_RUN_MIGRATIONS"] == "true"
    assert inputs(migrate)["image"] == inputs(by_role(plan, "backend")[0])["image"]
    for replica in by_role(plan, "backend"):
        assert envs(replica)["PAP_RUN_MIGRATIONS"] == "false"
        assert migrate.urn in replica.dependencies
        assert {item["label"]: item["value"] for item in inputs(replica)["labels"]}[
            "pap.migration-exit-code"
        ] == "0"
    # The migration needs the database only: it is not reachable from the proxy's network.
    assert [n["name"] for n in inputs(migrate)["networksAdvanced"]] == [f"pap-{plan.stack}-data"]


def test_a_failed_migration_stops_the_deploy() -> None:
    assert _require_success(0) == "0"
    assert _require_success(None) == "0"  # still unknown during a preview
    with pytest.raises(MigrationFailedError, match="exited with 3"):
        _require_success(3)


def test_bootstrap_admin_only_where_configured(dev: PlanRun, prod: PlanRun) -> None:
    assert (
        envs(by_role(dev, "backend")[0])["PAP_BOOTSTRAP_ADMIN_PASSWORD_FILE"]
        == "/run/pap/secrets/admin_password"
    )
    assert "adminPassword" in dev.secret_outputs
    assert "PAP_BOOTSTRAP_ADMIN_EMAIL" not in envs(by_role(prod, "backend")[0])
    assert "adminPassword" not in prod.outputs


def test_database(plan: PlanRun) -> None:
    database = named(plan, f"pap-{plan.stack}-db")
    settings = envs(database)
    assert settings["POSTGRES_USER"] == "pap"
    assert settings["POSTGRES_PASSWORD_FILE"] == "/run/pap/secrets/db_password"
    assert settings["POSTGRES_APP_USER"] == "pap_app"
    assert settings["POSTGRES_APP_PASSWORD_FILE"] == "/run/pap/secrets/db_app_password"
    assert settings["PGDATA"] == "/var/lib/postgresql/data"
    command = inputs(database)["command"]
    assert "password_encryption=scram-sha-256" in command
    volumes = {v["containerPath"]: v["volumeName"] for v in inputs(database)["volumes"]}
    assert volumes["/var/lib/postgresql/data"] == f"pap-{plan.stack}-db-data"
    assert "/run/postgresql" in inputs(database)["tmpfs"]
    assert set(uploads(seed_of(plan, database))) == {
        "/run/pap/secrets/db_password",
        "/run/pap/secrets/db_app_password",
    }


def test_database_connections_cover_every_pool(prod: PlanRun) -> None:
    command = inputs(named(prod, "pap-prod-db"))["command"]
    connections = int(next(item for item in command if item.startswith("max_connections=")).split("=")[1])
    assert connections >= 3 * 2 * (10 + 10)  # replicas x workers x (pool + overflow)


@pytest.mark.parametrize(
    ("stack", "persistence"), [("dev", ['save ""', "appendonly no"]), ("prod", ["appendonly yes"])]
)
def test_cache(stack: str, persistence: list[str], request: pytest.FixtureRequest) -> None:
    plan: PlanRun = request.getfixturevalue(stack)
    cache = named(plan, f"pap-{stack}-cache")
    files = uploads(seed_of(plan, cache))
    conf = files["/run/pap/redis.conf"]["content"].splitlines()
    password = files["/run/pap/secrets/redis_password"]["content"]
    assert f"requirepass {password}" in conf
    assert "port 6379" in conf and "dir /data" in conf and "daemonize no" in conf
    for line in persistence:
        assert line in conf
    maxmemory = int(
        next(line for line in conf if line.startswith("maxmemory ")).split()[1].removesuffix("mb")
    )
    assert 0 < maxmemory < inputs(cache)["memory"]
    assert envs(cache)["REDIS_PASSWORD_FILE"] == "/run/pap/secrets/redis_password"
    mounts = {v["containerPath"] for v in inputs(cache)["volumes"]}
    assert ("/data" in mounts) == (stack == "prod")


@pytest.mark.parametrize(
    ("stack", "protocols", "upstreams"),
    [
        ("dev", "ssl_protocols TLSv1.2 TLSv1.3;", ["backend-1"]),
        ("prod", "ssl_protocols TLSv1.2 TLSv1.3;", ["backend-1", "backend-2", "backend-3"]),
    ],
)
def test_proxy_ships_the_rendered_config(
    stack: str, protocols: str, upstreams: list[str], request: pytest.FixtureRequest
) -> None:
    plan: PlanRun = request.getfixturevalue(stack)
    proxy = named(plan, f"pap-{stack}-proxy")
    files = uploads(seed_of(plan, proxy))
    conf = files["/run/pap/nginx/nginx.conf"]
    assert conf["permissions"] == "0444"
    text = conf["content"]
    assert protocols in text
    assert "ssl_certificate /run/pap/nginx/tls/server.crt;" in text
    assert "ssl_certificate_key /run/pap/secrets/tls_key;" in text
    servers = [line.split()[1] for line in text.splitlines() if line.strip().startswith("server backend-")]
    assert servers == [f"{alias}:8000" for alias in upstreams]
    replica_ids = {replica.urn for replica in by_role(plan, "backend")}
    assert replica_ids <= set(proxy.dependencies)
