"""Backend: the FastAPI service's replicas and the one-shot migration that runs before them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pulumi
import pulumi_docker as docker

from infra.config import BackendConfig
from infra.containers import SECRETS_DIR, ContainerSpec, FileUpload, NetworkAttachment, hardened_container
from infra.credentials import Secrets
from infra.naming import Naming

TYPE = "pap:platform:Backend"
UID = 10001
PORT = 8000
OWNER_PASSWORD_FILE = f"{SECRETS_DIR}/database_password"
APP_PASSWORD_FILE = f"{SECRETS_DIR}/database_app_password"


def replica_alias(index: int) -> str:
    return f"backend-{index}"


@dataclasses.dataclass(frozen=True)
class DatabaseLogin:
    """Whom a container logs in to PostgreSQL as: the URL names the user, the password comes as a file."""

    url: str
    password_file: str
    password: pulumi.Output[str]

    def envs(self) -> dict[str, pulumi.Input[str]]:
        return {"PAP_DATABASE_URL": self.url, "PAP_DATABASE_PASSWORD_FILE": self.password_file}

    def file(self) -> FileUpload:
        return FileUpload(self.password_file, self.password, secret=True)


class MigrationFailedError(RuntimeError):
    """The migration container exited non-zero: the replicas must not start on a half-migrated schema."""


def _require_success(exit_code: int | None) -> str:
    if exit_code not in (None, 0):
        raise MigrationFailedError(
            f"the migrate container exited with {exit_code}; see `docker logs` of the migrate container"
        )
    return str(exit_code or 0)


class Backend(pulumi.ComponentResource):
    """Migrations exactly once per new service image: one `migrate` container, replicas with it off."""

    replicas: list[docker.Container]
    migrate: docker.Container
    aliases: list[str]

    def __init__(
        self,
        name: str,
        naming: Naming,
        config: BackendConfig,
        image: pulumi.Input[str],
        secrets: Secrets,
        owner_database_url: str,
        app_database_url: str,
        redis_url: str,
        allowed_hosts: Sequence[str],
        trusted_proxies: pulumi.Input[str],
        app_network: pulumi.Input[str],
        data_network: pulumi.Input[str],
        depends_on: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        files = [
            FileUpload(f"{SECRETS_DIR}/redis_password", secrets.redis_password, secret=True),
            FileUpload(f"{SECRETS_DIR}/secret_key", secrets.jwt_key, secret=True),
            FileUpload(f"{SECRETS_DIR}/metrics_token", secrets.metrics_token, secret=True),
        ]
        envs: dict[str, pulumi.Input[str]] = {
            "PAP_ENVIRONMENT": config.environment,
            "PAP_DB_POOL_SIZE": str(config.db_pool_size),
            "PAP_REDIS_URL": redis_url,
            "PAP_REDIS_PASSWORD_FILE": f"{SECRETS_DIR}/redis_password",
            "PAP_SECRET_KEY_FILE": f"{SECRETS_DIR}/secret_key",
            "PAP_METRICS_TOKEN_FILE": f"{SECRETS_DIR}/metrics_token",
            "PAP_ALLOWED_HOSTS": ",".join(allowed_hosts),
            "PAP_DOCS_ENABLED": str(config.docs_enabled).lower(),
            "PAP_LOG_LEVEL": config.log_level,
            "PAP_WORKERS": str(config.workers),
            "PAP_PORT": str(PORT),
            "PAP_FORWARDED_ALLOW_IPS": trusted_proxies,
        }
        if config.cors_origins:
            envs["PAP_CORS_ORIGINS"] = ",".join(config.cors_origins)
        if config.bootstrap_admin_email is not None and secrets.admin_password is not None:
            files.append(FileUpload(f"{SECRETS_DIR}/admin_password", secrets.admin_password, secret=True))
            envs["PAP_BOOTSTRAP_ADMIN_EMAIL"] = config.bootstrap_admin_email
            envs["PAP_BOOTSTRAP_ADMIN_PASSWORD_FILE"] = f"{SECRETS_DIR}/admin_password"

        # Least privilege: only the migration logs in as the owner (DDL); the replicas, which serve requests,
        # log in as the application role, which may change rows but not the schema, and never see the owner's
        # password.
        owner = DatabaseLogin(owner_database_url, OWNER_PASSWORD_FILE, secrets.database_password)
        app = DatabaseLogin(app_database_url, APP_PASSWORD_FILE, secrets.database_app_password)
        migrate_spec = ContainerSpec(
            thing="migrate",
            role="migrate",
            image=image,
            uid=UID,
            limits=config.limits,
            networks=[NetworkAttachment(data_network)],
            envs={**envs, **owner.envs(), "PAP_RUN_MIGRATIONS": "true"},
            command=["migrate"],
            files=[owner.file(), *files],
            one_shot=True,
        )
        self.migrate = hardened_container(naming, migrate_spec, parent=self, depends_on=depends_on)
        # `attach` makes the provider wait for the exit but not check its code: this label does, failing the
        # deploy before a replica starts on a schema the migration left behind.
        migration_result = self.migrate.exit_code.apply(_require_success)
        self.aliases = [replica_alias(index) for index in range(1, config.replicas + 1)]
        self.replicas = [
            hardened_container(
                naming,
                dataclasses.replace(
                    migrate_spec,
                    thing=alias,
                    role="backend",
                    networks=[NetworkAttachment(app_network, (alias,)), NetworkAttachment(data_network)],
                    envs={**envs, **app.envs(), "PAP_RUN_MIGRATIONS": "false"},
                    files=[app.file(), *files],
                    command=None,  # the image's `serve`
                    one_shot=False,
                    extra_labels={"pap.migration-exit-code": migration_result},
                ),
                parent=self,
                depends_on=[*depends_on, self.migrate],
            )
            for alias in self.aliases
        ]
        self.register_outputs({"replicas": [replica.name for replica in self.replicas]})
