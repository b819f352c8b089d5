"""The deployed stack as the checks see it: its edge (URL, ports, CA), its containers by role, exec."""

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
PART_LABEL = "pap.part"
PROXY_HTTPS_PORT = 8443  # inside the proxy container (ARCHITECTURE.md, "Images")
PROXY_HTTP_PORT = 8080
REQUEST_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


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
    """The stack's containers, found by the labels the program sets (never by name)."""

    def __init__(self, stack: str, api: docker.APIClient | None = None) -> None:
        self.stack = stack
        self.api = api or docker.APIClient(timeout=120)

    def containers(self, role: str | None = None, running_only: bool = False) -> list[dict[str, Any]]:
        """Service containers (not the never-started seeds), optionally of one role, sorted by name."""
        filters: dict[str, Any] = {"label": [f"{STACK_LABEL}={self.stack}"]}
        if role:
            filters["label"].append(f"{ROLE_LABEL}={role}")
        found = self.api.containers(all=not running_only, filters=filters)
        services = [c for c in found if c["Labels"].get(PART_LABEL, "service") != "seed"]
        return sorted(services, key=lambda c: c["Names"][0])

    def one(self, role: str) -> dict[str, Any]:
        found = self.containers(role)
        if len(found) != 1:
            raise LookupError(f"expected exactly one {role} container, found {[c['Names'] for c in found]}")
        return found[0]

    def inspect(self, container: Mapping[str, Any] | str) -> dict[str, Any]:
        return self.api.inspect_container(container if isinstance(container, str) else container["Id"])

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
        pending = {c["Id"]: c["Names"][0] for c in containers}
        while pending:
            for container_id in list(pending):
                state = self.api.inspect_container(container_id)["State"]
                if (state.get("Health") or {}).get("Status") == "healthy":
                    del pending[container_id]
            if pending and time.monotonic() - start > timeout:
                raise TimeoutError(f"not healthy within {timeout:.0f}s: {sorted(pending.values())}")
            if pending:
                time.sleep(0.5)
        return time.monotonic() - start


def edge_from_outputs(outputs: Mapping[str, Any], stack: Stack, ca_file: Path) -> Edge:
    """The URL output gives the name and https port; the proxy's published 8080 gives the http port."""
    url = urlsplit(str(outputs["url"]))
    proxy = stack.inspect(stack.one("proxy"))
    bindings = proxy["HostConfig"]["PortBindings"]
    http_port = int(bindings[f"{PROXY_HTTP_PORT}/tcp"][0]["HostPort"])
    https_port = url.port or 443
    return Edge(
        server_name=url.hostname or "localhost", https_port=https_port, http_port=http_port, ca_file=ca_file
    )
