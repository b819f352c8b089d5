"""Backend: the FastAPI service, replicated and rolled start-first, and the migration that runs before it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pulumi
import pulumi_docker as docker

from infra.config import BackendConfig
from infra.credentials import Credential, Secrets
from infra.database import Database
from infra.naming import Naming
from infra.networks import Networks
from infra.swarm import Health, NetworkAttachment, SecretFile, ServiceSpec, hardened_service

TYPE = "pap:platform:Backend"
UID = 10001
PORT = 8000
ALIAS = "backend"  # the proxy's upstream: the service's name on the app network, never task addresses
MIGRATED_MARKER = "/tmp/pap-migrated"  # noqa: S108 - on the migration task's private tmpfs


@dataclasses.dataclass(frozen=True)
class DatabaseLogin:
    """Whom a task logs in to PostgreSQL as: the URL names the user, the password comes as a secret file."""

    url: str
    password: SecretFile

    def env(self) -> dict[str, pulumi.Input[str]]:
        return {"PAP_DATABASE_URL": self.url, "PAP_DATABASE_PASSWORD_FILE": self.password.path}


def _login(database: Database, user: str, credential: Credential) -> DatabaseLogin:
    return DatabaseLogin(database.url(user), credential.file("database_password"))


class Backend(pulumi.ComponentResource):
    """A migration service that must be healthy (schema at head) before the backend service rolls.

    Swarm has no one-shot task that Pulumi can wait for in pulumi-docker 4.x (no job mode), so the migration
    is a one-replica service running `migrate --hold`: it upgrades the schema as the owner, then idles and
    reports healthy. The provider waits for that (convergeConfig); a migration that fails never becomes
    healthy, Swarm rolls the migration service back, the deploy fails, and the backend service, which depends
    on it, is never touched: the old version keeps serving.
    """

    service: docker.Service
    migrate: docker.Service

    def __init__(
        self,
        name: str,
        *,
        naming: Naming,
        config: BackendConfig,
        image: pulumi.Input[str],
        secrets: Secrets,
        database: Database,
        redis_url: str,
        allowed_hosts: Sequence[str],
        networks: Networks,
        depends_on: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self.deck_max_mb = config.deck_max_mb  # the proxy's body limit on the upload route
        redis_password = secrets.redis_password.file("redis_password")
        jwt_key = secrets.jwt_key.file("secret_key")
        metrics_token = secrets.metrics_token.file("metrics_token")
        env: dict[str, pulumi.Input[str]] = {
            "PAP_ENVIRONMENT": config.environment,
            "PAP_DB_POOL_SIZE": str(config.db_pool_size),
            "PAP_REDIS_URL": redis_url,
            "PAP_REDIS_PASSWORD_FILE": redis_password.path,
            "PAP_SECRET_KEY_FILE": jwt_key.path,
            "PAP_METRICS_TOKEN_FILE": metrics_token.path,
            "PAP_ALLOWED_HOSTS": ",".join(allowed_hosts),
            "PAP_DOCS_ENABLED": str(config.docs_enabled).lower(),
            "PAP_LOG_LEVEL": config.log_level,
            "PAP_WORKERS": str(config.workers),
            "PAP_PORT": str(PORT),
            "PAP_DECK_MAX_BYTES": str(config.deck_max_mb * 1024 * 1024),
            "PAP_DECK_MAX_PAGES": str(config.deck_max_pages),
            "PAP_DECK_RENDER_MEMORY_MB": str(config.deck_render_memory_mb),
            # The proxy reaches the backends from its address on the app network, and only it is trusted
            # for X-Forwarded-For (the client address the rate limits count).
            "PAP_FORWARDED_ALLOW_IPS": networks.app_subnet,
            "PAP_RUN_MIGRATIONS": "false",
        }
        if config.cors_origins:
            env["PAP_CORS_ORIGINS"] = ",".join(config.cors_origins)
        files = [redis_password, jwt_key, metrics_token]
        if config.bootstrap_admin_email is not None and secrets.admin_password is not None:
            admin_password = secrets.admin_password.file("admin_password")
            files.append(admin_password)
            env["PAP_BOOTSTRAP_ADMIN_EMAIL"] = config.bootstrap_admin_email
            env["PAP_BOOTSTRAP_ADMIN_PASSWORD_FILE"] = admin_password.path

        # Least privilege: only the migration logs in as the owner (DDL) and it needs nothing else; the
        # backends, which serve requests, log in as the application role (rows, no schema) and never see the
        # owner's password.
        owner = _login(database, database.user, secrets.database_password)
        app = _login(database, database.app_user, secrets.database_app_password)
        self.migrate = hardened_service(
            naming,
            ServiceSpec(
                thing="migrate",
                role="migrate",
                image=image,
                uid=UID,
                resources=config,
                networks=[NetworkAttachment(networks.data.name)],
                env={
                    "PAP_ENVIRONMENT": config.environment,
                    "PAP_LOG_LEVEL": config.log_level,
                    "PAP_MIGRATED_MARKER": MIGRATED_MARKER,
                    **owner.env(),
                },
                args=["migrate", "--hold"],
                secrets=[owner.password],
                health=Health(
                    tests=("CMD", "test", "-f", MIGRATED_MARKER), interval="2s", start_period="120s"
                ),
            ),
            parent=self,
            depends_on=depends_on,
        )
        self.service = hardened_service(
            naming,
            ServiceSpec(
                thing="backend",
                role="backend",
                image=image,
                uid=UID,
                resources=config,
                networks=[
                    NetworkAttachment(networks.app.name, (ALIAS,)),
                    NetworkAttachment(networks.data.name),
                ],
                env={**env, **app.env()},
                secrets=[app.password, *files],
                replicas=config.replicas,
                # A new task is healthy before an old one stops: the service never has fewer healthy tasks.
                order="start-first",
                health=Health(start_period="30s"),
                stop_grace_period="30s",  # uvicorn finishes in-flight requests on SIGTERM
            ),
            parent=self,
            depends_on=[*depends_on, self.migrate],
        )
        self.register_outputs({"service": self.service.name, "migrate": self.migrate.name})
