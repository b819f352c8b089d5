"""Database: PostgreSQL 15, non-root and read-only, data in a named volume, on the data network only."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.config import BackendConfig, DatabaseConfig
from infra.containers import (
    SECRETS_DIR,
    TMP_TMPFS,
    ContainerSpec,
    FileUpload,
    NetworkAttachment,
    hardened_container,
    labelled_volume,
)
from infra.naming import Naming

TYPE = "pap:platform:Database"
UID = 10010
PORT = 5432
ALIAS = "database"
DATA_DIR = "/var/lib/postgresql/data"
PASSWORD_FILE = f"{SECRETS_DIR}/db_password"
APP_PASSWORD_FILE = f"{SECRETS_DIR}/db_app_password"


def server_settings(database: DatabaseConfig, backend: BackendConfig) -> list[str]:
    """`-c name=value` pairs sized from the container limit and the backends' pools."""
    shared_buffers_mb = max(16, database.limits.memory_mb // 4)
    # Every worker of every replica may hold a full pool plus SQLAlchemy's default overflow of 10; the
    # backup job and the restore drill need a few more.
    connections = max(100, backend.replicas * backend.workers * (backend.db_pool_size + 10) + 10)
    settings = {
        "shared_buffers": f"{shared_buffers_mb}MB",
        "max_connections": str(connections),
        "password_encryption": "scram-sha-256",
        "log_connections": "on",
    }
    return [part for key, value in settings.items() for part in ("-c", f"{key}={value}")]


class Database(pulumi.ComponentResource):
    container: docker.Container
    data_volume: docker.Volume
    host = ALIAS
    port = PORT

    def __init__(
        self,
        name: str,
        naming: Naming,
        database: DatabaseConfig,
        backend: BackendConfig,
        image: pulumi.Input[str],
        password: pulumi.Output[str],
        app_password: pulumi.Output[str],
        data_network: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self.database_name = database.name
        self.user = database.user
        self.app_user = database.app_user
        self.data_volume = labelled_volume(f"{name}-data", naming.name("db", "data"), naming, self)
        self.container = hardened_container(
            naming,
            ContainerSpec(
                thing="db",
                role="database",
                image=image,
                uid=UID,
                limits=database.limits,
                networks=[NetworkAttachment(data_network, (ALIAS,))],
                envs={
                    "POSTGRES_USER": database.user,
                    "POSTGRES_DB": database.name,
                    "POSTGRES_PASSWORD_FILE": PASSWORD_FILE,
                    "POSTGRES_APP_USER": database.app_user,
                    "POSTGRES_APP_PASSWORD_FILE": APP_PASSWORD_FILE,
                    "PGDATA": DATA_DIR,
                },
                command=server_settings(database, backend),
                files=[
                    FileUpload(PASSWORD_FILE, password, secret=True),
                    FileUpload(APP_PASSWORD_FILE, app_password, secret=True),
                ],
                tmpfs={
                    "/tmp": TMP_TMPFS,  # noqa: S108 - a private tmpfs
                    "/run/postgresql": "rw,noexec,nosuid,nodev,size=8m,mode=1777",
                },
                volumes={DATA_DIR: self.data_volume.name},
                start_period="60s",  # the first start runs initdb
            ),
            parent=self,
        )
        self.register_outputs({"container": self.container.name, "dataVolume": self.data_volume.name})

    def url(self, user: str) -> str:
        """The service's PAP_DATABASE_URL for `user` (the password goes in a file, never in the URL)."""
        return f"postgresql+psycopg://{user}@{self.host}:{self.port}/{self.database_name}"
