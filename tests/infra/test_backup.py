"""Backup: schedule and retention per stack, a named volume, the database's credentials as a pgpass file."""

from __future__ import annotations

import pytest

from infra.plan import PlanRun
from tests.infra.helpers import (
    VOLUME,
    container_spec,
    env,
    inputs,
    mounted,
    named,
    of_type,
    secret_mounts,
    the_service,
)


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        (
            "dev",
            {
                "BACKUP_INTERVAL_SECONDS": "86400",
                "BACKUP_KEEP_COUNT": "7",
                "BACKUP_KEEP_DAYS": "14",
                "RESTORE_DRILL_INTERVAL_SECONDS": "0",
            },
        ),
        (
            "prod",
            {
                "BACKUP_INTERVAL_SECONDS": "21600",
                "BACKUP_KEEP_COUNT": "28",
                "BACKUP_KEEP_DAYS": "30",
                "RESTORE_DRILL_INTERVAL_SECONDS": "604800",
            },
        ),
    ],
)
def test_schedule_and_retention(stack: str, expected: dict[str, str], request: pytest.FixtureRequest) -> None:
    plan: PlanRun = request.getfixturevalue(stack)
    settings = env(the_service(plan, "backup"))
    for key, value in expected.items():
        assert settings[key] == value, key
    assert settings["BACKUP_DIR"] == "/backups"


def test_backup_volume_and_credentials(plan: PlanRun) -> None:
    backup = the_service(plan, "backup")
    volumes = {m["target"]: m for m in container_spec(backup)["mounts"] if m["type"] == "volume"}
    assert volumes["/backups"]["source"] == f"pap-{plan.stack}-backups" == plan.outputs["backupVolume"]
    assert volumes["/backups"]["readOnly"] is False
    assert f"pap-{plan.stack}-backups" in {inputs(v)["name"] for v in of_type(plan, VOLUME)}
    assert plan.outputs["backupService"] == f"pap-{plan.stack}-backup" == inputs(backup)["name"]
    settings = env(backup)
    assert (settings["PGHOST"], settings["PGPORT"], settings["PGDATABASE"], settings["PGUSER"]) == (
        "database",
        "5432",
        "pap",
        "pap",
    )
    pgpass = secret_mounts(backup)[settings["PGPASSFILE"]]
    assert settings["PGPASSFILE"] == "/run/secrets/pgpass"
    # libpq ignores a pgpass file that others may read; the file belongs to the backup user.
    assert (pgpass["fileMode"], pgpass["fileUid"]) == (0o400, "10040")
    database = named(plan, f"pap-{plan.stack}-db")
    owner_password = mounted(plan, database, "/run/secrets/db_password")
    assert mounted(plan, backup, settings["PGPASSFILE"]) == f"database:5432:*:pap:{owner_password}\n"
    assert database.urn in backup.dependencies
