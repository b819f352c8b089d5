"""Backup: scheduled pg_dump into a named volume; retention, checksums, status file, restore drills."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.config import BackupConfig
from infra.credentials import Secrets
from infra.database import Database
from infra.naming import Naming
from infra.networks import Networks
from infra.swarm import (
    DATA_NODE_CONSTRAINT,
    Health,
    NetworkAttachment,
    SecretFile,
    ServiceSpec,
    hardened_service,
    labelled_volume,
    swarm_secret,
)

TYPE = "pap:platform:Backup"
UID = 10040
BACKUP_DIR = "/backups"
SECONDS_PER_HOUR = 3600


def schedule_env(config: BackupConfig) -> dict[str, str]:
    """The backup image's schedule and retention settings (ARCHITECTURE.md, "backup")."""
    return {
        "BACKUP_DIR": BACKUP_DIR,
        "BACKUP_INTERVAL_SECONDS": str(config.interval_hours * SECONDS_PER_HOUR),
        "BACKUP_KEEP_COUNT": str(config.keep_count),
        "BACKUP_KEEP_DAYS": str(config.keep_days),
        "RESTORE_DRILL_INTERVAL_SECONDS": str(config.drill_interval_hours * SECONDS_PER_HOUR),
    }


class Backup(pulumi.ComponentResource):
    service: docker.Service
    volume: docker.Volume

    def __init__(
        self,
        name: str,
        *,
        naming: Naming,
        config: BackupConfig,
        image: pulumi.Input[str],
        database: Database,
        secrets: Secrets,
        networks: Networks,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self.volume = labelled_volume(f"{name}-volume", naming.name("backups"), naming, self)
        pgpass_line = secrets.database_password.value.apply(
            lambda value: f"{database.host}:{database.port}:*:{database.user}:{value}\n"
        )
        pgpass = SecretFile("pgpass", swarm_secret(naming, "pgpass", pgpass_line, parent=self))
        self.service = hardened_service(
            naming,
            ServiceSpec(
                thing="backup",
                role="backup",
                image=image,
                uid=UID,
                resources=config,
                networks=[NetworkAttachment(networks.data.name)],
                env={
                    "PGHOST": database.host,
                    "PGPORT": str(database.port),
                    "PGDATABASE": database.database_name,
                    "PGUSER": database.user,
                    "PGPASSFILE": pgpass.path,
                    **schedule_env(config),
                },
                secrets=[pgpass],
                volumes={BACKUP_DIR: self.volume.name},
                order="stop-first",  # one writer per backups volume
                constraints=[DATA_NODE_CONSTRAINT],
                health=Health(
                    interval="10s", timeout="10s", start_period="120s"
                ),  # the first backup runs at start
            ),
            parent=self,
            depends_on=[database.service],
        )
        self.register_outputs({"service": self.service.name, "volume": self.volume.name})
