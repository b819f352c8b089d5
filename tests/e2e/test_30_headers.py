"""Security headers on success and error answers (200, 404, 502, 504; 429 is in the rate-limit checks)."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.e2e.conftest import Platform
from tests.e2e.headers import header_problems
from tests.e2e.summary import Summary, verify

pytestmark = pytest.mark.e2e
RECOVERY_TIMEOUT = 120.0
BACKEND_PORT = 8000  # ARCHITECTURE.md, "Images": the service listens on 8000


def _check(summary: Summary, status: int, path: str, response: object, api: bool) -> None:
    problems = header_problems(response.headers, api=api)  # type: ignore[attr-defined]
    got = response.status_code  # type: ignore[attr-defined]
    verify(
        summary,
        f"headers: security headers on {status} ({path})",
        got == status and not problems,
        f"status {got}; server={response.headers.get('server')!r}; "  # type: ignore[attr-defined]
        + ("all present" if not problems else "; ".join(problems)),
    )


def test_headers_on_200(platform: Platform, summary: Summary) -> None:
    with platform.edge.client() as client:
        _check(summary, 200, "/health", client.get("/health"), api=False)


def test_headers_on_404(platform: Platform, summary: Summary) -> None:
    with platform.edge.client() as client:
        _check(summary, 404, "/api/v1/no-such-route", client.get("/api/v1/no-such-route"), api=True)


def _refuse_port(pid: int, port: int, action: str) -> None:
    """Adds (-I) or removes (-D) a rule in a container's network namespace that answers connections to `port`
    from other hosts with a TCP reset, exactly what a backend whose server process is gone answers; loopback
    (the container's own healthcheck) is untouched, so nothing restarts."""
    rule = [
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        str(port),
        "!",
        "-i",
        "lo",
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    ]
    subprocess.run(
        ["nsenter", "-t", str(pid), "-n", "iptables", action, *rule], check=True, capture_output=True
    )


def test_headers_on_502_with_every_upstream_refusing(platform: Platform, summary: Summary) -> None:
    """A real 502: every backend replica refuses connections (TCP reset), the proxy has no upstream left."""
    backends = [platform.stack.inspect(c) for c in platform.stack.containers("backend", running_only=True)]
    assert backends, "no running backend"
    pids = [backend["State"]["Pid"] for backend in backends]
    try:
        for pid in pids:
            _refuse_port(pid, BACKEND_PORT, "-I")
        with platform.edge.client() as client:
            started = time.monotonic()
            response = client.get("/health")
            elapsed = time.monotonic() - started
    finally:
        for pid in pids:
            _refuse_port(pid, BACKEND_PORT, "-D")
    summary.fact("502 answered after", f"{elapsed:.2f} s (every backend refusing connections)")
    _check(summary, 502, "/health, every upstream refusing", response, api=False)
    _wait_until_served(platform)


def test_headers_on_504_with_every_backend_stopped(platform: Platform, summary: Summary) -> None:
    """Every replica stopped: their addresses vanish, connecting times out (504); then they return."""
    backends = platform.stack.containers("backend", running_only=True)
    assert backends, "no running backend"
    for backend in backends:
        platform.stack.api.stop(backend["Id"], timeout=10)
    try:
        with platform.edge.client() as client:
            started = time.monotonic()
            response = client.get("/health")
            elapsed = time.monotonic() - started
        summary.fact("504 answered after", f"{elapsed:.1f} s (every backend stopped)")
        _check(summary, 504, "/health, backends stopped", response, api=False)
    finally:
        for backend in backends:
            platform.stack.api.start(backend["Id"])
        platform.stack.wait_healthy(backends, RECOVERY_TIMEOUT)
        _wait_until_served(platform)


def _wait_until_served(platform: Platform) -> None:
    # nginx may still hold the replicas as failed (max_fails/fail_timeout) right after they are healthy.
    deadline = time.monotonic() + 30
    with platform.edge.client() as client:
        while client.get("/health").status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    "the proxy did not serve /health again within 30 s of the backends' return"
                )
            time.sleep(0.5)
