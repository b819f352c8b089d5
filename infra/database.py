"""Database: PostgreSQL 15, non-root and read-only, pinned with its volume, on the data network only."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from infra import pgbackrest
from infra.config import BackupConfig, DatabaseConfig
from infra.credentials import Secrets
from infra.naming import Naming
from infra.networks import Networks
from infra.swarm import (
    DATA_NODE_CONSTRAINT,
    ConfigFile,
    Health,
    NetworkAttachment,
    SecretFile,
    ServiceSpec,
    Tmpfs,
    hardened_service,
    labelled_volume,
)

TYPE = "pap:platform:Database"
UID = 10010
PORT = 5432
ALIAS = "database"
DATA_DIR = pgbackrest.DATA_DIR


@dataclass
class ArchiveFiles:
    """What one pgBackRest host mounts: its config, the CA and its certificate, its key and secrets (made by
    infra/backup.py's Archive, for the database and for each repository)."""

    configs: list[ConfigFile] = field(default_factory=list)
    secrets: list[SecretFile] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def server_settings(database: DatabaseConfig, backup: BackupConfig) -> list[str]:
    """`-c name=value` pairs sized from the limit; max_connections is the stack config's (checked against
    what the backends may open when the config is validated), so scaling the backends never changes it;
    WAL archived continuously through pgBackRest."""
    shared_buffers_mb = max(16, database.limits.memory_mb // 4)
    settings = {
        "shared_buffers": f"{shared_buffers_mb}MB",
        "max_connections": str(database.max_connections),
        "password_encryption": "scram-sha-256",
        "log_connections": "on",
        **pgbackrest.archive_settings(backup),
    }
    return [part for key, value in settings.items() for part in ("-c", f"{key}={value}")]


class Database(pulumi.ComponentResource):
    service: docker.Service
    data_volume: docker.Volume
    host = ALIAS
    port = PORT

    def __init__(
        self,
        name: str,
        *,
        naming: Naming,
        database: DatabaseConfig,
        backup: BackupConfig,
        archive: ArchiveFiles,
        image: pulumi.Input[str],
        secrets: Secrets,
        networks: Networks,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self.database_name = database.name
        self.user = database.user
        self.app_user = database.app_user
        self.data_volume = labelled_volume(f"{name}-data", naming.name("db", "data"), naming, self)
        owner = secrets.database_password.file("db_password")
        app = secrets.database_app_password.file("db_app_password")
        self.service = hardened_service(
            naming,
            ServiceSpec(
                thing="db",
                role="database",
                image=image,
                uid=UID,
                resources=database,
                # The offsite network: the off-host repository reaches the database there, and nothing else.
                networks=[
                    NetworkAttachment(networks.data.name, (ALIAS,)),
                    NetworkAttachment(networks.offsite.name, (ALIAS,)),
                ],
                env={
                    "POSTGRES_USER": database.user,
                    "POSTGRES_DB": database.name,
                    "POSTGRES_PASSWORD_FILE": owner.path,
                    "POSTGRES_APP_USER": database.app_user,
                    "POSTGRES_APP_PASSWORD_FILE": app.path,
                    "PGDATA": DATA_DIR,
                    **archive.env,
                },
                args=server_settings(database, backup),
                secrets=[owner, app, *archive.secrets],
                configs=list(archive.configs),
                tmpfs={"/tmp": Tmpfs(), "/run/postgresql": Tmpfs(size_mb=8)},  # noqa: S108 - private tmpfs
                volumes={DATA_DIR: self.data_volume.name},
                # One PostgreSQL per data directory: the old task stops before the new one starts, on the
                # node that holds the volume.
                order="stop-first",
                constraints=[DATA_NODE_CONSTRAINT],
                health=Health(start_period="60s"),  # the first start runs initdb
                stop_grace_period="60s",  # SIGINT: fast shutdown, a checkpoint before exit
            ),
            parent=self,
        )
        self.register_outputs({"service": self.service.name, "dataVolume": self.data_volume.name})

    def url(self, user: str) -> str:
        """The service's PAP_DATABASE_URL for `user` (the password goes in a file, never in the URL)."""
        return f"postgresql+psycopg://{user}@{self.host}:{self.port}/{self.database_name}"
