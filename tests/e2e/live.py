"""The deployed stack as the checks see it: its edge (URL, ports, CA), its services and task containers, exec.

Services are found by their labels (pap.stack, pap.role), task containers by the same labels, which the
program puts on each service's containerSpec; never by name.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import httpx

STACK_LABEL = "pap.stack"
ROLE_LABEL = "pap.role"
PROXY_HTTPS_PORT = 8443  # inside the proxy task (ARCHITECTURE.md, "Images")
PROXY_HTTP_PORT = 8080
REQUEST_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Edge:
    """The proxy as a host client reaches it: 127.0.0.1, the configured name for SNI and verification."""

    server_name: str
    https_port: int
    http_port: int
    ca_file: Path

    @property
    def url(self) -> str:
        return f"https://{self.server_name}:{self.https_port}"

    def ssl_context(self) -> ssl.SSLContext:
        # Only the stack's CA is trusted: the system store is not loaded.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cafile=str(self.ca_file))
        return context

    @contextlib.contextmanager
    def client(self) -> Iterator[EdgeClient]:
        with httpx.Client(
            base_url=f"https://127.0.0.1:{self.https_port}",
            verify=self.ssl_context(),
            headers={"Host": self._host_header()},
            timeout=REQUEST_TIMEOUT,
        ) as client:
            yield EdgeClient(client, self.server_name)

    def _host_header(self) -> str:
        return self.server_name if self.https_port == 443 else f"{self.server_name}:{self.https_port}"


class EdgeClient:
    """httpx bound to the edge: every request verifies the certificate for the configured server name."""

    def __init__(self, client: httpx.Client, server_name: str) -> None:
        self.http = client
        self.server_name = server_name

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        extensions = {"sni_hostname": self.server_name, **kwargs.pop("extensions", {})}
        return self.http.request(method, path, extensions=extensions, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)


@dataclass
class ExecResult:
    exit_code: int
    output: str


class Stack:
    """The stack's services and their task containers, found by the labels the program sets."""

    def __init__(self, stack: str, api: docker.APIClient | None = None) -> None:
        self.stack = stack
        self.api = api or docker.APIClient(timeout=120)

    def _labels(self, role: str | None) -> list[str]:
        return [f"{STACK_LABEL}={self.stack}", *([f"{ROLE_LABEL}={role}"] if role else [])]

    # ------------------------------------------------------------------------------------------ services

    def services(self, role: str | None = None) -> list[dict[str, Any]]:
        """The stack's services (service labels), optionally of one role, sorted by name."""
        found = self.api.services(filters={"label": self._labels(role)})
        return sorted(found, key=lambda service: service["Spec"]["Name"])

    def service(self, role: str) -> dict[str, Any]:
        found = self.services(role)
        if len(found) != 1:
            raise LookupError(f"expected one {role} service, found {[s['Spec']['Name'] for s in found]}")
        return found[0]

    def tasks(self, role: str) -> list[dict[str, Any]]:
        """The role's tasks Swarm wants running (desired state running), any observed state."""
        service = self.service(role)
        return list(self.api.tasks(filters={"service": service["ID"], "desired-state": "running"}))

    def published_port(self, role: str, target_port: int) -> int:
        """The host port a service publishes for `target_port` (its endpoint spec)."""
        service = self.api.inspect_service(self.service(role)["ID"])
        ports = (service.get("Endpoint") or {}).get("Ports") or service["Spec"]["EndpointSpec"].get("Ports")
        for port in ports or []:
            if port["TargetPort"] == target_port:
                return int(port["PublishedPort"])
        raise LookupError(f"{role} publishes no port for {target_port}: {ports}")

    def scale(self, role: str, replicas: int, timeout: float) -> float:
        """`docker service scale` (the spec at its current version, other replicas); seconds until the
        role has exactly `replicas` running task containers, each healthy."""
        started = time.monotonic()
        service = self.api.inspect_service(self.service(role)["ID"])
        spec = service["Spec"]
        spec["Mode"] = {"Replicated": {"Replicas": replicas}}
        response = self.api._post_json(
            self.api._url("/services/{0}/update", service["ID"]),
            data=spec,
            params={"version": service["Version"]["Index"]},
        )
        self.api._raise_for_status(response)
        self.wait_replicas(role, replicas, timeout - (time.monotonic() - started))
        return time.monotonic() - started

    def wait_replicas(self, role: str, replicas: int, timeout: float) -> list[dict[str, Any]]:
        """Until exactly `replicas` task containers of the role run and are healthy; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            running = self.containers(role)
            healthy = [c for c in running if self.health(c) in ("healthy", "none")]
            if len(running) == replicas and len(healthy) == replicas:
                return running
            if time.monotonic() > deadline:
                states = [(self._name(c), self.health(c)) for c in running]
                raise TimeoutError(f"{role}: not {replicas} healthy tasks within {timeout:.0f}s: {states}")
            time.sleep(POLL_SECONDS)

    # ----------------------------------------------------------------------------------- task containers

    def containers(self, role: str | None = None, running_only: bool = True) -> list[dict[str, Any]]:
        """Task containers (containerSpec labels), optionally of one role, sorted by name. Swarm keeps the
        stopped containers of replaced tasks for a while, so by default only running ones."""
        found = self.api.containers(all=not running_only, filters={"label": self._labels(role)})
        return sorted(found, key=self._name)

    def one(self, role: str) -> dict[str, Any]:
        found = self.containers(role)
        if len(found) != 1:
            raise LookupError(
                f"expected one running {role} task container, found {[self._name(c) for c in found]}"
            )
        return found[0]

    @staticmethod
    def _name(container: Mapping[str, Any]) -> str:
        return str(container["Names"][0].lstrip("/"))

    def inspect(self, container: Mapping[str, Any] | str) -> dict[str, Any]:
        return dict(self.api.inspect_container(container if isinstance(container, str) else container["Id"]))

    def health(self, container: Mapping[str, Any] | str) -> str:
        state = self.inspect(container)["State"]
        if not state.get("Running"):
            return "stopped"
        return str((state.get("Health") or {}).get("Status", "none"))

    def exec(self, container: Mapping[str, Any] | str, command: list[str], user: str = "") -> ExecResult:
        target = container if isinstance(container, str) else container["Id"]
        exec_id = self.api.exec_create(target, command, user=user, stdout=True, stderr=True)["Id"]
        output = self.api.exec_start(exec_id).decode(errors="replace")
        return ExecResult(self.api.exec_inspect(exec_id)["ExitCode"], output)

    def python(self, container: Mapping[str, Any] | str, code: str) -> ExecResult:
        """Runs Python inside a container that has it (the service and its bookworm python3)."""
        return self.exec(container, ["python3", "-c", code])

    def wait_healthy(self, containers: list[dict[str, Any]], timeout: float) -> float:
        """Seconds until every given container reports healthy; raises TimeoutError naming the laggards."""
        start = time.monotonic()
        pending = {c["Id"]: self._name(c) for c in containers}
        while pending:
            for container_id in list(pending):
                if self.health(container_id) == "healthy":
                    del pending[container_id]
            if pending and time.monotonic() - start > timeout:
                raise TimeoutError(f"not healthy within {timeout:.0f}s: {sorted(pending.values())}")
            if pending:
                time.sleep(POLL_SECONDS)
        return time.monotonic() - start


def edge_from_outputs(outputs: Mapping[str, Any], stack: Stack, ca_file: Path) -> Edge:
    """The URL output gives the name and https port; the proxy's endpoint spec gives the http port."""
    url = urlsplit(str(outputs["url"]))
    return Edge(
        server_name=url.hostname or "localhost",
        https_port=url.port or 443,
        http_port=stack.published_port("proxy", PROXY_HTTP_PORT),
        ca_file=ca_file,
    )
