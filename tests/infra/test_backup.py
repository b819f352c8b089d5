"""Backup: schedule and retention per stack, a named volume, the database's credentials as a pgpass file."""

from __future__ import annotations

import pytest

from infra.plan import PlanRun
from tests.infra.helpers import VOLUME, by_role, envs, inputs, named, of_type, seed_of, uploads


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
    (backup,) = by_role(plan, "backup")
    settings = envs(backup)
    for key, value in expected.items():
        assert settings[key] == value, key
    assert settings["BACKUP_DIR"] == "/backups"


def test_backup_volume_and_credentials(plan: PlanRun) -> None:
    (backup,) = by_role(plan, "backup")
    volumes = {v["containerPath"]: v["volumeName"] for v in inputs(backup)["volumes"]}
    assert volumes["/backups"] == f"pap-{plan.stack}-backups" == plan.outputs["backupVolume"]
    assert f"pap-{plan.stack}-backups" in {inputs(v)["name"] for v in of_type(plan, VOLUME)}
    settings = envs(backup)
    assert (settings["PGHOST"], settings["PGPORT"], settings["PGDATABASE"], settings["PGUSER"]) == (
        "database",
        "5432",
        "pap",
        "pap",
    )
    pgpass = uploads(seed_of(plan, backup))[settings["PGPASSFILE"]]
    assert pgpass["permissions"] == "0440"
    database_password = uploads(seed_of(plan, named(plan, f"pap-{plan.stack}-db")))[
        "/run/pap/secrets/db_password"
    ]
    assert pgpass["content"] == f"database:5432:*:pap:{database_password['content']}\n"
    assert named(plan, f"pap-{plan.stack}-db").urn in backup.dependencies
