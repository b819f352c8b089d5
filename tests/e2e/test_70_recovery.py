"""Disaster recovery with pgBackRest on the real engine: archiving to both repositories, point-in-time
recovery, the database volume and the local repository lost under ingestion, a corrupted backup file.

Every restore runs the operator's command (`python -m infra.restore`, README "Backups and restore").
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from infra.config import PROJECT, StackConfig, project_config, validate_stack_config
from infra.naming import Naming
from tests.e2e import api
from tests.e2e.conftest import Accounts, Platform
from tests.e2e.database import Database
from tests.e2e.deploy import E2E_OVERRIDES, REPO_ROOT, merged_config
from tests.e2e.load import SteadyLoad, open_credentials, unstored_events
from tests.e2e.summary import Summary, verify

pytestmark = pytest.mark.e2e
LOCAL, OFFSITE = "backup", "backup-offsite"  # the repositories' roles
FIRST_BACKUP_TIMEOUT = 300.0
RECOVERY_TIMEOUT = 300.0
INGESTION_BEFORE_LOSS = 15.0  # seconds of acknowledged ingestion before the loss


def _stack_config() -> StackConfig:
    config, secret_keys = merged_config("dev", E2E_OVERRIDES)
    return validate_stack_config("dev", project_config(config), frozenset(secret_keys))


def _repository(platform: Platform, role: str, *command: str) -> tuple[int, str]:
    result = platform.stack.exec(platform.stack.one(role), ["pap-repository", *command])
    return result.exit_code, result.output


def _status(platform: Platform, role: str) -> dict[str, Any]:
    code, output = _repository(platform, role, "status")
    return dict(json.loads(output)) if code == 0 else {}


def _archive_max(platform: Platform, role: str) -> str:
    result = platform.stack.exec(platform.stack.one(role), ["pgbackrest", "--output=json", "info"])
    try:
        return str(json.loads(result.output)[0]["archive"][-1]["max"])
    except (ValueError, LookupError):
        return f"unknown ({result.output.strip()[:80]})"


def _summary_line(output: str) -> str:
    """The restore command's own last word (`restore: done in ...` or its error), not pgBackRest's log."""
    lines = [line for line in output.splitlines() if line.startswith(("restore: done", "restore: the"))]
    return (lines or output.strip().splitlines() or [""])[-1][:160]


def _restore(*arguments: str) -> tuple[int, str, float]:
    """The operator's restore command, as the README gives it; its exit code, output and wall time."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "infra.restore", "--stack", "dev", "--timeout", "600", *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def _wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s")
        time.sleep(1)
    return result


def _wait_healthy(platform: Platform) -> None:
    def healthy() -> bool:
        with platform.edge.client() as client:
            return client.get("/health").status_code == 200

    _wait_for(healthy, RECOVERY_TIMEOUT, "the platform healthy through the proxy")


def _kill(platform: Platform, role: str) -> None:
    """The role's task killed (SIGKILL): no shutdown checkpoint, no last archiving."""
    for container in platform.stack.containers(role):
        platform.stack.api.kill(container["Id"])


def _remove(platform: Platform, role: str, volume: str) -> None:
    """The service held at 0, its containers and its volume removed: the data is gone."""
    stack = platform.stack
    stack.scale(role, 0, RECOVERY_TIMEOUT)
    for container in stack.api.containers(all=True, filters={"volume": volume}):
        stack.api.remove_container(container["Id"], force=True)
    stack.api.remove_volume(volume, force=True)


def test_wal_is_archived_to_both_repositories(platform: Platform, summary: Summary) -> None:
    for role in (LOCAL, OFFSITE):  # each repository takes its first full backup when it starts
        _wait_for(
            lambda role=role: _status(platform, role).get("backup", {}).get("last_result") == "ok",
            FIRST_BACKUP_TIMEOUT,
            f"the first backup in {role}",
        )
    # `pgbackrest check`: a WAL switch, then the segment must arrive in every repository.
    check = platform.stack.exec(platform.stack.one("database"), ["pgbackrest", "--stanza=pap", "check"])
    metrics = platform.stack.exec(platform.stack.one(LOCAL), ["cat", "/var/lib/pgbackrest/pap/metrics.prom"])
    verify(
        summary,
        "recovery: WAL archived to the local and the off-host repository; first backups taken",
        check.exit_code == 0 and 'pap_backup_count{repo="1"} ' in metrics.output,
        f"check rc {check.exit_code}: {check.output.strip().splitlines()[-1:]}",
    )


def test_point_in_time_recovery(
    platform: Platform, accounts: Accounts, database: Database, summary: Summary
) -> None:
    with platform.edge.client() as client:
        deck_a = api.create_deck(client, accounts.presenter, ["Kept"], [accounts.viewer_id])
        target = database.query("SELECT now()")[0][0]
        time.sleep(1.5)  # B commits strictly after the target
        deck_b = api.create_deck(client, accounts.presenter, ["Undone"], [accounts.viewer_id])
    check = platform.stack.exec(platform.stack.one("database"), ["pgbackrest", "--stanza=pap", "check"])
    assert check.exit_code == 0, check.output  # B's WAL is archived: the restore could replay it

    code, output, seconds = _restore("--repo", "1", "--target", target)
    _wait_healthy(platform)
    found = {
        row[0]
        for row in database.query(
            f"SELECT id::text FROM presentations WHERE id IN ('{deck_a}', '{deck_b}')"  # noqa: S608 - UUIDs
        )
    }
    verify(
        summary,
        "recovery: point in time (rows A kept, rows B written after the target gone)",
        code == 0 and found == {deck_a},
        f"target {target}; restore rc {code} in {seconds:.1f}s; "
        f"A {'present' if deck_a in found else 'MISSING'}, B {'PRESENT' if deck_b in found else 'absent'}; "
        f"{_summary_line(output)}",
    )


def test_database_volume_and_local_repository_lost_under_ingestion(
    platform: Platform, accounts: Accounts, database: Database, summary: Summary
) -> None:
    """The data node's loss: the database's volume and the local repository together, mid-ingestion.
    The off-host repository alone brings the platform back; the RPO is bounded by archive_timeout."""
    outputs = platform.deployment.outputs
    archive_timeout = _stack_config().backup.archive_timeout_seconds
    with platform.edge.client() as client:
        deck = api.create_deck(client, accounts.presenter, ["Ingest"], [accounts.viewer_id])
        credentials = open_credentials(client, accounts.presenter, accounts.viewer, deck)
    load = SteadyLoad(platform.edge, credentials, request_id_prefix="e2e-recovery").start()
    try:
        time.sleep(INGESTION_BEFORE_LOSS)
        archived = _archive_max(platform, OFFSITE)  # what the off-host repository holds at the loss
        loss = time.monotonic()
        _kill(platform, "database")
        _kill(platform, LOCAL)
        _remove(platform, "database", outputs["databaseVolume"])
        _remove(platform, LOCAL, outputs["backupVolume"])
        code, output, restore_seconds = _restore("--repo", "2")
        _wait_healthy(platform)
        recovered = _wait_for(lambda: load.first_ok("ingest", loss), RECOVERY_TIMEOUT / 2, "ingestion again")
        time.sleep(2)
    finally:
        report = load.stop()
    lost = unstored_events(database, report)
    lost_sent = load.sent_at(lost)
    rpo_seconds = loss - min(lost_sent) if lost_sent else 0.0
    rto_seconds = recovered - loss
    verify(
        summary,
        "recovery: database volume + local repository lost under ingestion, restored from off-host",
        code == 0 and rpo_seconds <= archive_timeout + 5,
        f"RPO {len(lost)} of {len(report.acknowledged)} acknowledged events lost, the last "
        f"{rpo_seconds:.1f}s before the loss (archive_timeout {archive_timeout}s); RTO {rto_seconds:.1f}s "
        f"(restore command {restore_seconds:.1f}s); off-host WAL at the loss {archived}; "
        f"{_summary_line(output)}",
    )

    # The local repository comes back empty (as `pulumi up --refresh` recreates its volume) and starts over
    # with a full backup; archiving to both repositories resumes.
    platform.stack.api.create_volume(outputs["backupVolume"], labels=Naming(PROJECT, "dev").labels())
    platform.stack.scale(LOCAL, 1, RECOVERY_TIMEOUT)
    _wait_for(
        lambda: _status(platform, LOCAL).get("backup", {}).get("last_result") == "ok",
        FIRST_BACKUP_TIMEOUT,
        "a full backup in the new local repository",
    )
    check = platform.stack.exec(platform.stack.one("database"), ["pgbackrest", "--stanza=pap", "check"])
    verify(
        summary,
        "recovery: the lost local repository rebuilt (new full backup), archiving to both again",
        check.exit_code == 0,
        f"check rc {check.exit_code}: {check.output.strip().splitlines()[-1:]}",
    )


def test_restore_drill_and_a_corrupted_backup_file(platform: Platform, summary: Summary) -> None:
    code, output = _repository(platform, LOCAL, "drill")
    verify(
        summary,
        "recovery: restore drill (newest backup + WAL into scratch space, pg_amcheck, row counts)",
        code == 0,
        (output.strip().splitlines() or [f"rc {code}"])[-1][:120],
    )
    # One byte range of the newest backup's largest file overwritten, as a failing disk would.
    corrupt = (
        'set -e; cd /var/lib/pgbackrest/backup/pap; label="$(readlink latest)"; '
        'file="$(find "$label/pg_data" "$label/bundle" -type f 2>/dev/null | xargs ls -S | head -n 1)"; '
        'printf "not what was written" | dd of="$file" bs=1 seek=4096 conv=notrunc 2>/dev/null; echo "$file"'
    )
    corrupted = platform.stack.exec(platform.stack.one(LOCAL), ["sh", "-c", corrupt])
    assert corrupted.exit_code == 0, corrupted.output
    code, output = _repository(platform, LOCAL, "verify")
    status = _status(platform, LOCAL).get("verify", {})
    metrics = platform.stack.exec(platform.stack.one(LOCAL), ["cat", "/var/lib/pgbackrest/pap/metrics.prom"])
    verify(
        summary,
        "recovery: a corrupted backup file is reported by verify (exit 1, status, metric)",
        code == 1
        and status.get("last_result") == "failed"
        and 'pap_verify_last_ok{repo="1"} 0' in metrics.output,
        f"{corrupted.output.strip()}: verify rc {code}; {str(status.get('detail', ''))[:120]}",
    )
    code, output = _repository(platform, LOCAL, "drill")
    verify(
        summary,
        "recovery: the corrupted backup is not restored silently (the drill's restore fails)",
        code != 0 and "drill: restore failed" in output,
        (output.strip().splitlines() or [f"rc {code}"])[-1][:120],
    )
