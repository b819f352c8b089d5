"""Network isolation: the data tier is reachable only from the tier that needs it, never from the proxy or the
web frontend; the frontend publishes nothing and sits on the internal app network only; /metrics stays
internal; the edge answers on loopback and on no other address of this machine."""

from __future__ import annotations

import socket
import subprocess
from typing import Any

import pytest

from tests.e2e.conftest import Platform
from tests.e2e.database import Database
from tests.e2e.summary import Summary, verify

pytestmark = pytest.mark.e2e
DATA_PORTS = {"database": 5432, "cache": 6379}
CONNECT_TIMEOUT = 3
# Overlay task addresses (10.x) exist only inside Swarm's network namespaces: a packet to one from the host,
# or from a container whose route to it is the default one, leaves this machine. These checks therefore send
# nothing to such an address: they ask the kernel which route a packet WOULD take (`ip route get`, in the
# network namespace of the sender, which transmits nothing) and what the sender's interfaces are.
PROBES: dict[str, tuple[bytes, tuple[bytes, ...]]] = {
    "database": (b"\x00\x00\x00\x08\x04\xd2\x16\x2f", (b"S", b"N")),
    "cache": (b"PING\r\n", (b"+PONG", b"-NOAUTH", b"-ERR")),
}
ALIASES = {"database": "database", "cache": "cache"}


def _speaks(role: str, answer: bytes) -> bool:
    return answer.startswith(PROBES[role][1])


def _overlay_addresses(platform: Platform, role: str) -> list[str]:
    """The task container's addresses on its overlay networks."""
    networks = platform.stack.inspect(platform.stack.one(role))["NetworkSettings"]["Networks"]
    return [settings["IPAddress"] for settings in networks.values() if settings.get("IPAddress")]


def _route(pid: int | None, address: str) -> str:
    """The route the kernel would pick for `address` in the network namespace of `pid` (None: the host's)."""
    prefix = ["nsenter", "-t", str(pid), "-n"] if pid else []
    result = subprocess.run(
        [*prefix, "ip", "-o", "route", "get", address],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    return (result.stdout or result.stderr).strip()


def _directly_attached(route: str) -> bool:
    # `10.0.45.3 dev eth1 src 10.0.45.5` (on-link) versus `10.0.45.3 via 172.30.0.1 dev eth2` (default route).
    return " via " not in route and "unreachable" not in route


def _host_connects(address: str, port: int) -> bool:
    """Loopback and this machine's own addresses only (the edge checks)."""
    try:
        with socket.create_connection((address, port), timeout=CONNECT_TIMEOUT):
            return True
    except OSError:
        return False


UNPUBLISHED = (*sorted(DATA_PORTS), "web", "backup", "backup-offsite")  # every service but the proxy
EDGE_TIER = ("proxy", "web")  # what serves the outside: neither may reach the data tier


@pytest.mark.parametrize("role", UNPUBLISHED)
def test_data_tier_and_web_not_published_on_the_host(platform: Platform, summary: Summary, role: str) -> None:
    service = platform.stack.api.inspect_service(platform.stack.service(role)["ID"])
    declared = (service["Spec"].get("EndpointSpec") or {}).get("Ports") or []
    container = platform.stack.inspect(platform.stack.one(role))
    published = {
        port: binding for port, binding in (container["NetworkSettings"]["Ports"] or {}).items() if binding
    }
    attachments = [network["Target"] for network in service["Spec"]["TaskTemplate"].get("Networks") or []]
    inspected = [platform.stack.api.inspect_network(network_id) for network_id in attachments]
    internal = {network["Name"]: network["Internal"] for network in inspected}
    verify(
        summary,
        f"isolation: {role} publishes no port, only internal networks",
        not declared and not published and bool(internal) and all(internal.values()),
        f"endpoint ports={declared or 'none'}, task ports={published or 'none'}, networks={internal}",
    )
    routes = {address: _route(None, address) for address in _overlay_addresses(platform, role)}
    on_link = [address for address, route in routes.items() if _directly_attached(route)]
    verify(
        summary,
        f"isolation: the host has no interface on the {role}'s overlay",
        bool(routes) and not on_link,
        "; ".join(f"{address}: {route}" for address, route in routes.items()),
    )


@pytest.mark.parametrize("sender", EDGE_TIER)
@pytest.mark.parametrize("role", sorted(DATA_PORTS))
def test_data_tier_unreachable_from_proxy_and_web(
    platform: Platform, summary: Summary, role: str, sender: str
) -> None:
    task = platform.stack.containers(sender)[0]
    pid = platform.stack.inspect(task)["State"]["Pid"]
    task_networks = set(platform.stack.inspect(task)["NetworkSettings"]["Networks"])
    routes = {address: _route(pid, address) for address in _overlay_addresses(platform, role)}
    on_link = [address for address, route in routes.items() if _directly_attached(route)]
    # The aliases must not even resolve from the sender's networks.
    alias = ALIASES[role]
    resolved = platform.stack.exec(task, ["getent", "hosts", alias])
    data_network = f"pap-{platform.stack.stack}-data"
    verify(
        summary,
        f"isolation: {role} unreachable from the {sender} task",
        bool(routes) and not on_link and resolved.exit_code != 0 and data_network not in task_networks,
        f"{sender} on {sorted(task_networks)}; routes from its namespace: "
        + "; ".join(f"{address}: {route}" for address, route in routes.items())
        + f"; '{alias}' resolves: {resolved.exit_code == 0}",
    )


def _backend_probe_code(role: str, port: int) -> str:
    return (
        "import socket\n"
        f"with socket.create_connection(({ALIASES[role]!r}, {port}), timeout={CONNECT_TIMEOUT}) as c:\n"
        f"    c.sendall({PROBES[role][0]!r})\n"
        "    print(repr(c.recv(16)))"
    )


@pytest.mark.parametrize("role", sorted(DATA_PORTS))
def test_data_tier_reachable_from_backend(platform: Platform, summary: Summary, role: str) -> None:
    backend: dict[str, Any] = platform.stack.containers("backend")[0]
    result = platform.stack.python(backend, _backend_probe_code(role, DATA_PORTS[role]))
    answer = result.output.strip()
    verify(
        summary,
        f"isolation: {role} reachable from a backend (it answers its protocol)",
        result.exit_code == 0 and any(answer.startswith(repr(prefix)[:-1]) for prefix in PROBES[role][1]),
        f"{ALIASES[role]}:{DATA_PORTS[role]} answered {answer[-60:]}",
    )


def test_metrics_not_exposed_through_proxy(platform: Platform, summary: Summary) -> None:
    with platform.edge.client() as client:
        outside = client.get("/metrics")
    backend = platform.stack.containers("backend")[0]
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
    backend = platform.stack.containers("backend")[0]
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


def _other_addresses() -> list[str]:
    """This machine's own IPv4 addresses besides loopback: docker0's, the primary one (`hostname -I`)."""
    found = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=True).stdout.split()
    return sorted({address for address in found if ":" not in address and not address.startswith("127.")})


def test_edge_answers_on_loopback_only(platform: Platform, summary: Summary) -> None:
    """Swarm binds host-mode ports where docker_gwbridge's host_binding_ipv4 says (dev: 127.0.0.1)."""
    ports = [platform.edge.https_port, platform.edge.http_port]
    loopback = {port: _host_connects("127.0.0.1", port) for port in ports}
    elsewhere = {
        f"{address}:{port}": _host_connects(address, port) for address in _other_addresses() for port in ports
    }
    others = ", ".join(
        f"{target} {'open' if is_open else 'refused'}" for target, is_open in elsewhere.items()
    )
    bindings = platform.stack.inspect(platform.stack.one("proxy"))["NetworkSettings"]["Ports"] or {}
    host_ips = sorted({binding["HostIp"] for items in bindings.values() for binding in items or []})
    verify(
        summary,
        "isolation: edge ports answer on 127.0.0.1 only (not docker0, not the host's own addresses)",
        all(loopback.values()) and bool(elsewhere) and not any(elsewhere.values()),
        f"127.0.0.1 {ports}: {'open' if all(loopback.values()) else loopback}; {others}; bound on {host_ips}",
    )
