"""`make bench` (last): pgBackRest full backup and restore of a generated ~1 GB database, on this machine.

The same pgBackRest (Debian's 2.45) and the same repository options as the stack's (infra/pgbackrest.py:
zstd, bundles, AES-256-CBC, an immediate checkpoint), a posix repository on the local disk, no TLS hop:
the numbers are pgBackRest's and the disk's, the floor of what the stack's restore takes. Prints the database
size, backup and restore seconds and MB/s, the repository's size, and the seconds until the restored server
accepts connections; every row is counted back.

    python -m tests.bench.backup [--gb 1.0]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from infra import pgbackrest
from tests.app.servers import PG_BIN, PG_USER, _unprivileged_prefix, free_port
from tests.bench.machine import describe

ROW_BYTES = 120  # one generated row on disk, tuple header and the two indexes included (measured)


def _run(prefix: list[str], *command: object, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [*prefix, *(str(part) for part in command)], capture_output=True, text=True, timeout=3600, env=env
    )
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result.stdout


def _size_mb(path: Path) -> float:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file()) / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=1.0, help="size of the generated database")
    options = parser.parse_args()
    if shutil.which("pgbackrest") is None:
        raise SystemExit("pgbackrest is not installed (tools/ensure-packages.sh --bench installs it)")
    prefix = _unprivileged_prefix()
    root = Path(tempfile.mkdtemp(prefix="pap-bench-backup-"))
    if prefix:
        shutil.chown(root, PG_USER, PG_USER)
    data, restored, repo, socket = root / "data", root / "restored", root / "repo", root
    port = free_port()
    config = root / "pgbackrest.conf"
    config.write_text(
        "[global]\n"
        f"repo1-path={repo}\nrepo1-cipher-type={pgbackrest.CIPHER}\nrepo1-cipher-pass=bench-only-passphrase\n"
        f"repo1-bundle=y\ncompress-type=zst\nstart-fast=y\nlock-path={root}/lock\nspool-path={root}/spool\n"
        f"log-path={root}\nlog-level-file=off\nlog-level-console=warn\n"
        f"[{pgbackrest.STANZA}]\npg1-path={data}\npg1-port={port}\npg1-socket-path={socket}\npg1-user=postgres\n"
    )
    env = {"PGBACKREST_CONFIG": str(config), "PGBACKREST_STANZA": pgbackrest.STANZA, "PATH": "/usr/bin:/bin"}
    if prefix:
        shutil.chown(config, PG_USER, PG_USER)
    server_options = (
        f"-p {port} -k {socket} -c listen_addresses='' -c archive_mode=on -c wal_level=replica "
        f"-c max_wal_size=4GB -c archive_command='pgbackrest archive-push %p'"
    )
    psql = [PG_BIN / "psql", "-h", socket, "-p", port, "-U", "postgres", "-d", "postgres", "-Atqc"]
    rows = int(options.gb * 1024**3 / ROW_BYTES)
    try:
        _run(prefix, PG_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--data-checksums")
        _run(
            prefix,
            PG_BIN / "pg_ctl",
            "-D",
            data,
            "-o",
            server_options,
            "-l",
            root / "log",
            "-w",
            "start",
            env=env,
        )
        _run(prefix, "pgbackrest", "stanza-create", env=env)
        started = time.monotonic()
        generate = (
            "CREATE TABLE events AS SELECT g AS id, md5(g::text) AS payload, now() - g * interval '1 second' "
            "AS at FROM generate_series(1, %d) g; ALTER TABLE events ADD PRIMARY KEY (id); "
            "CREATE INDEX ON events (at)"
        )
        _run(prefix, *psql, generate % rows, env=env)
        generated = time.monotonic() - started
        size_mb = int(_run(prefix, *psql, "SELECT pg_database_size('postgres')", env=env)) / 1024 / 1024

        started = time.monotonic()
        _run(prefix, "pgbackrest", "--type=full", "backup", env=env)
        backup_seconds = time.monotonic() - started
        repo_mb = _size_mb(repo / "backup")
        _run(prefix, PG_BIN / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")

        started = time.monotonic()
        _run(prefix, "pgbackrest", f"--pg1-path={restored}", "--type=immediate", "--target-action=promote",
             "restore", env=env)  # fmt: skip
        restore_seconds = time.monotonic() - started
        started = time.monotonic()
        restored_options = f"-p {port} -k {socket} -c listen_addresses='' -c archive_mode=off"
        _run(prefix, PG_BIN / "pg_ctl", "-D", restored, "-o", restored_options, "-l", root / "restored.log",
             "-w", "-t", "600", "start", env=env)  # fmt: skip
        ready_seconds = time.monotonic() - started
        counted = int(_run(prefix, *psql, "SELECT count(*) FROM events", env=env))
        _run(prefix, PG_BIN / "pg_ctl", "-D", restored, "-m", "fast", "-w", "stop")
    finally:
        subprocess.run(
            [*prefix, PG_BIN / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)
    version = subprocess.run([PG_BIN / "postgres", "--version"], capture_output=True, text=True).stdout
    for key, value in describe(PG_BIN, version.strip()).items():
        print(f"{key}: {value}")
    print(f"pgBackRest backup/restore of a generated database ({rows:,} rows, generated in {generated:.0f}s)")
    print(f"  database size     {size_mb:8.0f} MB")
    print(
        f"  full backup       {backup_seconds:8.1f} s  ({size_mb / backup_seconds:.0f} MB/s), "
        f"repository {repo_mb:.0f} MB"
    )
    print(f"  restore           {restore_seconds:8.1f} s  ({size_mb / restore_seconds:.0f} MB/s)")
    print(f"  server ready      {ready_seconds:8.1f} s  after the restore (recovery to the backup's end)")
    print(f"  rows counted back {counted:,} of {rows:,}{'' if counted == rows else '  MISMATCH'}")


if __name__ == "__main__":
    main()
