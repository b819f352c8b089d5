"""The operator commands, run as real processes: `serve` (migrate, bootstrap admin, uvicorn without a Server
header, client address from trusted proxies, several workers), `migrate` (and `migrate --hold`, the Swarm
migration service), `create-admin`."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app import __version__
from tests.app.servers import free_port

REPO = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "Bootstrap-admin-pass-1"


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PAP_")}
    env |= {
        "PAP_DATABASE_URL": f"sqlite:///{tmp_path / 'db' / 'pap.db'}",
        "PAP_LOG_LEVEL": "WARNING",
        **extra,
    }
    return env


def run_cli(
    tmp_path: Path, *arguments: str, stdin: str = "", **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *arguments],
        cwd=REPO,
        env=cli_env(tmp_path, **extra),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def serve(tmp_path: Path, workers: int) -> Iterator[str]:
    """`python -m app.cli serve` on a fresh SQLite file with a bootstrap admin; yields its base URL."""
    password_file = tmp_path / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=cli_env(
            tmp_path,
            PAP_BOOTSTRAP_ADMIN_EMAIL=ADMIN_EMAIL,
            PAP_BOOTSTRAP_ADMIN_PASSWORD_FILE=str(password_file),
            PAP_WORKERS=str(workers),
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"serve exited: {process.stderr.read() if process.stderr else ''}")
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("serve did not become healthy within 30 s")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Two workers (multiprocess metrics)."""
    yield from serve(tmp_path_factory.mktemp("served"), workers=2)


@pytest.fixture
def served_one_worker(tmp_path: Path) -> Iterator[str]:
    yield from serve(tmp_path, workers=1)


def test_serve_migrates_bootstraps_and_serves(served: str) -> None:
    health = httpx.get(f"{served}/health")
    assert health.json() == {
        "status": "healthy",
        "database": "healthy",
        "redis": "disabled",
        "version": __version__,
    }
    assert "server" not in health.headers  # no server banner from uvicorn
    assert health.headers["x-frame-options"] == "DENY"
    login = httpx.post(f"{served}/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.text
    me = httpx.get(
        f"{served}/api/v1/users/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert me.json()["role"] == "admin"


def test_serve_takes_the_client_address_from_a_trusted_proxy(served_one_worker: str) -> None:
    # 127.0.0.1 is the trusted proxy (PAP_FORWARDED_ALLOW_IPS default): X-Forwarded-For names the client.
    url = f"{served_one_worker}/api/v1/auth/login"
    for number in range(5):
        body = {"email": f"nobody{number}@example.com", "password": "Wrong-password-1"}
        assert httpx.post(url, json=body, headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 401
    body = {"email": "somebody-else@example.com", "password": "Wrong-password-1"}
    limited = httpx.post(url, json=body, headers={"X-Forwarded-For": "203.0.113.1"})
    assert limited.status_code == 429 and "address" in limited.json()["detail"]
    assert httpx.post(url, json=body, headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 401


def test_serve_metrics_aggregate_workers(served: str) -> None:
    for _ in range(10):
        httpx.get(f"{served}/health/live")
    metrics = httpx.get(f"{served}/metrics")  # development: no token needed
    assert metrics.status_code == 200
    lines = [
        line
        for line in metrics.text.splitlines()
        if line.startswith("pap_http_requests_total{") and "/health/live" in line
    ]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in lines) >= 10


def _hold(tmp_path: Path, **extra: str) -> tuple[subprocess.Popen[str], Path]:
    marker = tmp_path / "run" / "pap-migrated"
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "migrate", "--hold"],
        cwd=REPO,
        env=cli_env(tmp_path, PAP_MIGRATED_MARKER=str(marker), **extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, marker


def _wait_for_marker(process: subprocess.Popen[str], marker: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not marker.exists():
        if process.poll() is not None:
            stderr = process.stderr.read() if process.stderr else ""
            pytest.fail(f"migrate --hold exited {process.returncode}: {stderr}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {marker} within {seconds:.0f} s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)
        pytest.fail("migrate --hold did not stop within 15 s of SIGTERM")


def test_migrate_hold_marks_the_migration_then_idles_until_sigterm(tmp_path: Path) -> None:
    """The Swarm migration service: healthy (the marker) only once the schema is at head, then it stays up
    (a service task that exits would be restarted) and stops cleanly when Swarm stops it."""
    process, marker = _hold(tmp_path)
    try:
        _wait_for_marker(process, marker)
        with sqlite3.connect(tmp_path / "db" / "pap.db") as connection:
            (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        assert revision
        time.sleep(1)
        assert process.poll() is None, "migrate --hold must keep running after the migration"
    finally:
        code = _stop(process)
    assert code == 0


def test_migrate_without_hold_exits_and_writes_no_marker(tmp_path: Path) -> None:
    marker = tmp_path / "run" / "pap-migrated"
    done = run_cli(tmp_path, "migrate", PAP_MIGRATED_MARKER=str(marker))
    assert done.returncode == 0, done.stderr
    assert not marker.exists()


def test_migrate_hold_in_production_needs_only_the_database_login(tmp_path: Path) -> None:
    """The migration service gets the owner's database password and nothing else (least privilege: no JWT
    key, no Redis password, no metrics token), with PAP_ENVIRONMENT=production in prod. (SQLite takes no
    password, so none is given here; the point is what else the command demands.)"""
    process, marker = _hold(tmp_path, PAP_ENVIRONMENT="production", PAP_LOG_LEVEL="INFO")
    try:
        _wait_for_marker(process, marker)
    finally:
        code = _stop(process)
    assert code == 0


def test_create_admin_reads_the_password_from_stdin(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "migrate").returncode == 0
    created = run_cli(tmp_path, "create-admin", "--email", "boss@example.com", stdin="Strong-admin-pass-9\n")
    assert created.returncode == 0, created.stderr
    again = run_cli(tmp_path, "create-admin", "--email", "boss@example.com", stdin="Strong-admin-pass-9\n")
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.parametrize(
    ("password", "rule"),
    [("short1A", "at least 12"), ("onlylowercaseletters", "two kinds"), ("boss@example.com", "email")],
)
def test_create_admin_refuses_weak_passwords(tmp_path: Path, password: str, rule: str) -> None:
    refused = run_cli(tmp_path, "create-admin", "--email", "boss@example.com", stdin=password + "\n")
    assert refused.returncode == 2
    assert rule in refused.stderr
    assert password not in refused.stderr


def test_cli_refuses_unsafe_production_settings_naming_them(tmp_path: Path) -> None:
    # `serve` reads the serving settings; the database commands (migrate, create-admin) need only a login.
    refused = run_cli(tmp_path, "serve", PAP_ENVIRONMENT="production", PAP_ALLOWED_HOSTS="*")
    assert refused.returncode == 2
    assert "PAP_SECRET_KEY" in refused.stderr and "PAP_ALLOWED_HOSTS" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_create_admin_loses_a_race_quietly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two replicas bootstrapping at once: both see no admin, one insert wins on the unique email index, and
    the other reports "already taken" instead of crashing (Swarm restarted the loser once before)."""
    from app import cli
    from app.crud import users as users_crud
    from app.db import make_engine, make_session_factory
    from app.migrate import upgrade_to_head

    engine = make_engine(f"sqlite:///{tmp_path / 'race.db'}", pool_size=1)
    upgrade_to_head(engine)
    monkeypatch.setattr(users_crud, "get_user_by_email", lambda **_: None)  # both look before either inserts
    sessions = make_session_factory(engine)
    with sessions() as first, sessions() as second:
        assert cli.create_admin(first, email="ops@example.com", password="Correct-Horse-42") is True
        assert cli.create_admin(second, email="ops@example.com", password="Correct-Horse-42") is False
    with sessions() as session:
        assert users_crud.count_admins(session=session) == 1
    engine.dispose()
