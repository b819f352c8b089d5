"""pgBackRest's configuration for the database and its two repositories (pure: no resources declared here).

Three hosts, each running `pgbackrest server` (TLS, client certificates of the stack's own CA):
- the database (`database`): archives every WAL segment to both repositories (`archive_command`), serves
  its data directory to the repositories' backups, restores from either;
- repository 1 (`backup`, local: the database's node, the data network): fast restores;
- repository 2 (`backup-offsite`: another node, its own volume and network; or an S3 bucket it writes to).
Each repository host backs the database up into its own repository (pgBackRest 2.45 takes a backup from the
repository's side) and verifies it. Repository indexes are the same on every host, so `--repo=2` means the
off-host repository wherever a command runs. Passphrases and S3 keys are not in these files: each host reads
them from a secret include file (PGBACKREST_CONFIG_INCLUDE_PATH).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from infra.config import BackupConfig

STANZA = "pap"
TLS_PORT = 8432
CONFIG_PATH = "/run/pap/pgbackrest.conf"
INCLUDE_DIR = "/run/secrets/pgbackrest"  # the secret include files: *.conf, 0400, the task's UID
CA_PATH = "/run/pap/pgbackrest-ca.crt"
CERT_PATH = "/run/pap/pgbackrest.crt"
KEY_PATH = "/run/secrets/pgbackrest.key"
REPOSITORY_PATH = "/var/lib/pgbackrest"
DATA_DIR = "/var/lib/postgresql/data"
SOCKET_DIR = "/run/postgresql"
LOCK_DIR = "/tmp/pgbackrest"  # noqa: S108 - the task's private tmpfs
CIPHER = "aes-256-cbc"


@dataclass(frozen=True)
class Repository:
    index: int
    host: str  # the repository service's alias, also its certificate's name
    offsite: bool


LOCAL = Repository(1, "backup", offsite=False)
OFFSITE = Repository(2, "backup-offsite", offsite=True)
REPOSITORIES = (LOCAL, OFFSITE)
DATABASE_HOST = "database"


def _render(sections: Mapping[str, Mapping[str, str | list[str]]]) -> str:
    lines: list[str] = []
    for section, options in sections.items():
        lines.append(f"[{section}]")
        for key, value in options.items():
            lines.extend(f"{key}={item}" for item in (value if isinstance(value, list) else [value]))
        lines.append("")
    return "\n".join(lines)


def _common(console: str) -> dict[str, str | list[str]]:
    return {
        "lock-path": LOCK_DIR,
        "spool-path": LOCK_DIR,
        "log-level-console": console,
        "log-level-stderr": "off",
        "log-level-file": "off",  # the task's stdout is its log (docker service logs)
        "compress-type": "zst",
        "tls-server-address": "*",
        "tls-server-port": str(TLS_PORT),
        "tls-server-ca-file": CA_PATH,
        "tls-server-cert-file": CERT_PATH,
        "tls-server-key-file": KEY_PATH,
    }


def _client_tls(prefix: str) -> dict[str, str | list[str]]:
    return {
        f"{prefix}-type": "tls",
        f"{prefix}-port": str(TLS_PORT),
        f"{prefix}-ca-file": CA_PATH,
        f"{prefix}-cert-file": CERT_PATH,
        f"{prefix}-key-file": KEY_PATH,
    }


def _database_section(superuser: str) -> dict[str, str | list[str]]:
    return {
        "pg1-path": DATA_DIR,
        "pg1-socket-path": SOCKET_DIR,
        "pg1-port": "5432",
        "pg1-user": superuser,
    }


def database_config(superuser: str, config: BackupConfig) -> str:
    """The database host's file: both repositories are remote; only the repositories' certificates may
    connect to its server. Archiving is asynchronous (segments pushed in parallel, ahead of PostgreSQL's
    requests), with a ceiling on the backlog so an unreachable repository cannot fill the data volume."""
    repositories: dict[str, str | list[str]] = {}
    for repository in REPOSITORIES:
        prefix = f"repo{repository.index}-host"
        repositories[prefix] = repository.host
        repositories.update(_client_tls(prefix))
    auth = [f"{repository.host}={STANZA}" for repository in REPOSITORIES]
    return _render(
        {
            # warn: archive-push runs for every segment, and its output lands in PostgreSQL's log.
            "global": {
                **_common("warn"),
                **repositories,
                "archive-async": "y",
                "archive-push-queue-max": f"{config.archive_queue_max_mb}MB",
                "tls-server-auth": auth,
            },
            STANZA: _database_section(superuser),
        }
    )


def repository_config(repository: Repository, config: BackupConfig, superuser: str) -> str:
    """A repository host's file: its own repository (posix on its volume, or S3), the database remote."""
    repo = f"repo{repository.index}"
    storage: dict[str, str | list[str]] = {f"{repo}-path": REPOSITORY_PATH}
    s3 = config.offsite.s3 if repository.offsite else None
    if s3 is not None:
        storage = {
            f"{repo}-type": "s3",
            f"{repo}-path": f"/{STANZA}",
            f"{repo}-s3-bucket": s3.bucket,
            f"{repo}-s3-endpoint": s3.endpoint,
            f"{repo}-s3-region": s3.region,
            f"{repo}-s3-uri-style": s3.uri_style,
        }
    retention: dict[str, str | list[str]] = {
        f"{repo}-cipher-type": CIPHER,
        f"{repo}-retention-full": str(config.retention_full),
        f"{repo}-retention-diff": str(config.retention_diff),
        f"{repo}-bundle": "y",  # small files packed together: fewer files, faster to S3
    }
    database = {"pg1-host": DATABASE_HOST, **_client_tls("pg1-host"), **_database_section(superuser)}
    return _render(
        {
            "global": {
                **_common("info"),
                **storage,
                **retention,
                "start-fast": "y",  # a backup starts with an immediate checkpoint, not the next one
                "tls-server-auth": f"{DATABASE_HOST}={STANZA}",
            },
            STANZA: database,
        }
    )


def secret_include(repository: Repository, passphrase: str, config: BackupConfig) -> str:
    """The repository's secret options: its cipher passphrase (and the S3 access key pair)."""
    repo = f"repo{repository.index}"
    options: dict[str, str | list[str]] = {f"{repo}-cipher-pass": passphrase}
    s3 = config.offsite.s3 if repository.offsite else None
    if s3 is not None:
        options[f"{repo}-s3-key"] = s3.key
        options[f"{repo}-s3-key-secret"] = s3.key_secret
    return _render({"global": options})


def archive_settings(config: BackupConfig) -> dict[str, str]:
    """PostgreSQL's continuous archiving through pgBackRest: every segment to both repositories, a segment
    switched at least every `archiveTimeoutSeconds` while there are writes (the RPO's bound)."""
    return {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": f"pgbackrest --stanza={STANZA} archive-push %p",
        "archive_timeout": f"{config.archive_timeout_seconds}s",
        "max_wal_senders": "3",  # pgBackRest's backups do not stream; pg_basebackup stays possible
    }


def schedule_env(config: BackupConfig, repository: Repository) -> dict[str, str]:
    """The repository service's schedule (pap-repository reads it)."""
    seconds_per_hour = 3600
    return {
        "PGBACKREST_STANZA": STANZA,
        "PAP_REPO": str(repository.index),
        "PAP_FULL_INTERVAL_SECONDS": str(config.full_interval_hours * seconds_per_hour),
        "PAP_DIFF_INTERVAL_SECONDS": str(config.diff_interval_hours * seconds_per_hour),
        "PAP_VERIFY_INTERVAL_SECONDS": str(config.verify_interval_hours * seconds_per_hour),
        # The drill restores into scratch space on the local repository's host only.
        "PAP_DRILL_INTERVAL_SECONDS": str(
            0 if repository.offsite else config.drill_interval_hours * seconds_per_hour
        ),
    }
