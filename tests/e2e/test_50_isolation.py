"""Network isolation: the data tier is reachable only from the tier that needs it; /metrics stays internal."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.e2e.conftest import Platform
from tests.e2e.database import Database
from tests.e2e.summary import Summary, verify

pytestmark = pytest.mark.e2e
DATA_PORTS = {"database": 5432, "cache": 6379}
CONNECT_TIMEOUT = 3


def _data_addresses(platform: Platform, role: str) -> list[str]:
    networks = platform.stack.inspect(platform.stack.one(role))["NetworkSettings"]["Networks"]
    return [settings["IPAddress"] for settings in networks.values() if settings.get("IPAddress")]


def _host_connects(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=CONNECT_TIMEOUT).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize("role", sorted(DATA_PORTS))
def test_data_tier_not_published_on_the_host(platform: Platform, summary: Summary, role: str) -> None:
    container = platform.stack.inspect(platform.stack.one(role))
    published = {
        port: binding for port, binding in (container["NetworkSettings"]["Ports"] or {}).items() if binding
    }
    networks = list(container["NetworkSettings"]["Networks"])
    internal = [platform.stack.api.inspect_network(name)["Internal"] for name in networks]
    verify(
        summary,
        f"isolation: {role} publishes no host port, only internal networks",
        not published and all(internal),
        f"published={published or 'none'}, networks={dict(zip(networks, internal, strict=True))}",
    )
    # Docker gives every bridge, internal ones too, an address on the host: root on the host can still open
    # the container's IP directly. Recorded as a fact, not hidden. (Removing the bridge's host address with
    # inhibit_ipv4 was tried and is worse: the container IPs then follow the host's default route.)
    direct = [
        address for address in _data_addresses(platform, role) if _host_connects(address, DATA_PORTS[role])
    ]
    summary.fact(
        f"host -> {role} container IP (bridge)", "reachable: " + ", ".join(direct) if direct else "no"
    )


@pytest.mark.parametrize("role", sorted(DATA_PORTS))
def test_data_tier_unreachable_from_proxy(platform: Platform, summary: Summary, role: str) -> None:
    proxy = platform.stack.one("proxy")
    port = DATA_PORTS[role]
    attempts = []
    for address in _data_addresses(platform, role):
        result = platform.stack.exec(
            proxy, ["bash", "-c", f"timeout {CONNECT_TIMEOUT} bash -c 'exec 3<>/dev/tcp/{address}/{port}'"]
        )
        attempts.append((address, result.exit_code))
    # The aliases must not even resolve from the proxy's networks.
    alias = {"database": "database", "cache": "cache"}[role]
    resolved = platform.stack.exec(proxy, ["getent", "hosts", alias])
    verify(
        summary,
        f"isolation: {role} unreachable from the proxy container",
        bool(attempts) and all(code != 0 for _, code in attempts) and resolved.exit_code != 0,
        f"tcp {', '.join(f'{a}:{port} rc={c}' for a, c in attempts)}; "
        f"'{alias}' resolves: {resolved.exit_code == 0}",
    )


def _backend_connect_code(role: str, port: int) -> str:
    alias = {"database": "database", "cache": "cache"}[role]
    return (
        "import socket\n"
        f"socket.create_connection(({alias!r}, {port}), timeout={CONNECT_TIMEOUT}).close()\n"
        f"print('connected to {alias}:{port}')"
    )


@pytest.mark.parametrize("role", sorted(DATA_PORTS))
def test_data_tier_reachable_from_backend(platform: Platform, summary: Summary, role: str) -> None:
    backend: dict[str, Any] = platform.stack.containers("backend", running_only=True)[0]
    result = platform.stack.python(backend, _backend_connect_code(role, DATA_PORTS[role]))
    verify(
        summary,
        f"isolation: {role} reachable from a backend",
        result.exit_code == 0,
        result.output.strip()[-120:],
    )


def test_metrics_not_exposed_through_proxy(platform: Platform, summary: Summary) -> None:
    with platform.edge.client() as client:
        outside = client.get("/metrics")
    backend = platform.stack.containers("backend", running_only=True)[0]
    # Positive control: the endpoint exists on the backend (it asks for its bearer token).
    inside = platform.stack.python(
        backend,
        "import urllib.request, urllib.error\n"
        "try:\n    print(urllib.request.urlopen('http://127.0.0.1:8000/metrics', timeout=5).status)\n"
        "except urllib.error.HTTPError as e:\n    print(e.code)",
    )
    verify(
        summary,
        "isolation: /metrics not reachable through the proxy",
        outside.status_code == 404 and inside.output.strip() in ("200", "401"),
        f"through proxy {outside.status_code}; on the backend itself {inside.output.strip()}",
    )


# Logs in exactly as the service does (its URL and password file), then tries DDL in a transaction it rolls
# back, so even a wrongly privileged role leaves nothing behind.
_BACKEND_DATABASE_ROLE_CODE = """
import os, psycopg
url = os.environ["PAP_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
with open(os.environ["PAP_DATABASE_PASSWORD_FILE"], encoding="utf-8") as file:
    password = file.read().rstrip("\\r\\n")
with psycopg.connect(url, password=password, connect_timeout=5) as connection:
    user, superuser = connection.execute(
        "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    users = connection.execute("SELECT count(*) FROM users").fetchone()[0]
    try:
        connection.execute("CREATE TABLE pap_e2e_probe (id int)")
        ddl = "allowed"
    except psycopg.errors.InsufficientPrivilege:
        ddl = "refused"
    connection.rollback()
print(user, "superuser" if superuser else "not-superuser", users, ddl)
"""


def test_backend_database_role_is_dml_only(platform: Platform, summary: Summary, database: Database) -> None:
    backend = platform.stack.containers("backend", running_only=True)[0]
    result = platform.stack.python(backend, _BACKEND_DATABASE_ROLE_CODE)
    fields = result.output.split()
    # The migrations ran as the owner, so the owner owns every table the service uses.
    tables = database.query("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")
    owners = {row[0] for row in tables}
    verify(
        summary,
        "isolation: backends log in to PostgreSQL as a DML-only role (not superuser, CREATE TABLE refused)",
        result.exit_code == 0
        and len(fields) == 4
        and fields[0] != database.user
        and fields[1] == "not-superuser"
        and fields[2].isdigit()
        and fields[3] == "refused"
        and owners == {database.user},
        f"{result.output.strip()[-160:]}; tables owned by {sorted(owners)}",
    )
