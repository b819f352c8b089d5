"""Backup: scheduled pg_dump into a named volume; retention, checksums, status file, restore drills."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.config import BackupConfig
from infra.containers import (
    SECRETS_DIR,
    ContainerSpec,
    FileUpload,
    NetworkAttachment,
    hardened_container,
    labelled_volume,
)
from infra.naming import Naming

TYPE = "pap:platform:Backup"
UID = 10040
BACKUP_DIR = "/backups"
PGPASS_FILE = f"{SECRETS_DIR}/pgpass"
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
    container: docker.Container
    volume: docker.Volume

    def __init__(
        self,
        name: str,
        naming: Naming,
        config: BackupConfig,
        image: pulumi.Input[str],
        database_host: str,
        database_port: int,
        database_name: str,
        database_user: str,
        password: pulumi.Output[str],
        data_network: pulumi.Input[str],
        database: docker.Container,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self.volume = labelled_volume(f"{name}-volume", naming.name("backups"), naming, self)
        pgpass = password.apply(lambda value: f"{database_host}:{database_port}:*:{database_user}:{value}\n")
        self.container = hardened_container(
            naming,
            ContainerSpec(
                thing="backup",
                role="backup",
                image=image,
                uid=UID,
                limits=config.limits,
                networks=[NetworkAttachment(data_network)],
                envs={
                    "PGHOST": database_host,
                    "PGPORT": str(database_port),
                    "PGDATABASE": database_name,
                    "PGUSER": database_user,
                    "PGPASSFILE": PGPASS_FILE,
                    **schedule_env(config),
                },
                files=[FileUpload(PGPASS_FILE, pgpass, secret=True)],
                volumes={BACKUP_DIR: self.volume.name},
                start_period="120s",  # the first backup runs at start
            ),
            parent=self,
            depends_on=[database],
        )
        self.register_outputs({"container": self.container.name, "volume": self.volume.name})
