"""Backups, run inside the backup task: take one, lose the data, restore it, find it all back, drill it."""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e import api
from tests.e2e.conftest import Accounts, Platform
from tests.e2e.database import Database
from tests.e2e.summary import Summary, verify

pytestmark = pytest.mark.e2e
RECOVERY_TIMEOUT = 120.0


def _backup(platform: Platform, *arguments: str) -> tuple[int, str]:
    result = platform.stack.exec(platform.stack.one("backup"), ["pap-backup", *arguments])
    return result.exit_code, result.output


def test_backup_delete_restore_drill(
    platform: Platform, accounts: Accounts, database: Database, summary: Summary
) -> None:
    with platform.edge.client() as client:  # data of our own, besides what earlier checks left
        api.create_deck(client, accounts.presenter, ["Backup me", "And me"], [accounts.viewer_id])
    before = database.snapshot()
    rows_before = sum(count for count, _ in before.values())

    code, output = _backup(platform, "once")
    verify(summary, "backup: pap-backup once", code == 0, output.strip().splitlines()[-1:] or f"rc {code}")

    data_tables = [table for table in before if table != "alembic_version"]
    quoted = ", ".join(f'"{table}"' for table in data_tables)
    database.query(f"TRUNCATE {quoted} CASCADE")  # the accident: every row of every data table gone
    emptied = sum(database.snapshot()[table][0] for table in data_tables)

    # The contract: stop the backends before a restore into the live database. Under Swarm that is the
    # backend service scaled to 0 (a stopped task container would be replaced at once), then back.
    replicas = len(platform.stack.containers("backend"))
    platform.stack.scale("backend", 0, RECOVERY_TIMEOUT)
    try:
        started = time.monotonic()
        code, output = _backup(platform, "restore", "latest")
        restore_seconds = time.monotonic() - started
        after = database.snapshot()
    finally:
        platform.stack.scale("backend", replicas, RECOVERY_TIMEOUT)
    differing = sorted(table for table in before if before[table] != after.get(table))
    verify(
        summary,
        "backup: delete, restore, data back (row counts + checksums)",
        code == 0 and emptied == 0 and rows_before > 0 and not differing,
        f"{rows_before} rows in {len(before)} tables; after delete {emptied}; restore rc {code} in "
        f"{restore_seconds:.1f}s; differing tables: {differing or 'none'}",
    )
    with platform.edge.client() as client:  # the service works on the restored data
        _wait_for(lambda: client.get("/health").status_code == 200, 30)
        me = client.get("/api/v1/users/me", headers=accounts.presenter.auth)
    verify(
        summary, "backup: service serves restored users", me.status_code == 200, f"/users/me {me.status_code}"
    )

    code, output = _backup(platform, "drill")
    last_drill = _status_json(platform).get("last_drill")
    verify(
        summary,
        "backup: restore drill reports success",
        code == 0 and isinstance(last_drill, dict) and not last_drill.get("error"),
        f"rc {code}: {(output.strip().splitlines() or [''])[-1][:100]}",
    )


def _wait_for(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout:.0f}s")
        time.sleep(0.5)


def _status_json(platform: Platform) -> dict[str, object]:
    result = platform.stack.exec(platform.stack.one("backup"), ["cat", "/backups/status.json"])
    return dict(json.loads(result.output)) if result.exit_code == 0 else {}
