"""Security headers on success and error answers (200, 404, 502, 504, no backend; 429: rate-limit checks)."""

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


def _block_port(pid: int, port: int, action: str, target: list[str]) -> None:
    """Adds (-I) or removes (-D) a rule in a task container's network namespace for connections to `port`
    from other hosts; loopback (the task's own healthcheck) is untouched, so Swarm replaces nothing."""
    rule = ["INPUT", "-p", "tcp", "--dport", str(port), "!", "-i", "lo", "-j", *target]
    subprocess.run(
        ["nsenter", "-t", str(pid), "-n", "iptables", action, *rule], check=True, capture_output=True
    )


# A backend whose server process is gone answers a connection with a TCP reset; an address that vanished
# (a task whose network endpoint is gone) answers nothing at all.
REFUSING = ["REJECT", "--reject-with", "tcp-reset"]
SILENT = ["DROP"]


def _every_backend_blocked(platform: Platform, target: list[str]) -> tuple[object, float]:
    backends = [platform.stack.inspect(c) for c in platform.stack.containers("backend")]
    assert backends, "no running backend task"
    pids = [backend["State"]["Pid"] for backend in backends]
    try:
        for pid in pids:
            _block_port(pid, BACKEND_PORT, "-I", target)
        with platform.edge.client() as client:
            started = time.monotonic()
            response = client.get("/health")
            elapsed = time.monotonic() - started
    finally:
        for pid in pids:
            _block_port(pid, BACKEND_PORT, "-D", target)
    return response, elapsed


def test_headers_on_502_with_every_upstream_refusing(platform: Platform, summary: Summary) -> None:
    """A real 502: every backend task refuses connections (TCP reset), the proxy has no upstream left."""
    response, elapsed = _every_backend_blocked(platform, REFUSING)
    summary.fact("502 answered after", f"{elapsed:.2f} s (every backend refusing connections)")
    _check(summary, 502, "/health, every upstream refusing", response, api=False)
    _wait_until_served(platform)


def test_headers_on_504_with_every_upstream_silent(platform: Platform, summary: Summary) -> None:
    """A real 504: every backend task's address answers nothing, connecting times out."""
    response, elapsed = _every_backend_blocked(platform, SILENT)
    summary.fact("504 answered after", f"{elapsed:.1f} s (every backend silent)")
    _check(summary, 504, "/health, every upstream silent", response, api=False)
    _wait_until_served(platform)


def test_headers_with_every_backend_task_gone(platform: Platform, summary: Summary) -> None:
    """The backend service scaled to 0 (stopping a task container would only make Swarm start another):
    whatever error the edge answers carries the headers; then the replicas come back."""
    replicas = len(platform.stack.containers("backend"))
    platform.stack.scale("backend", 0, RECOVERY_TIMEOUT)
    try:
        with platform.edge.client() as client:
            started = time.monotonic()
            response = client.get("/health")
            elapsed = time.monotonic() - started
    finally:
        back = platform.stack.scale("backend", replicas, RECOVERY_TIMEOUT)
        _wait_until_served(platform)
    summary.fact(
        "no backend task: answered", f"{response.status_code} after {elapsed:.1f} s; back in {back:.1f} s"
    )
    problems = header_problems(response.headers, api=False)
    verify(
        summary,
        "headers: security headers with no backend task (scaled to 0)",
        response.status_code in (502, 503, 504) and not problems,
        f"status {response.status_code} in {elapsed:.1f}s; "
        + ("all present" if not problems else "; ".join(problems)),
    )


def _wait_until_served(platform: Platform) -> None:
    # nginx may still hold the tasks as failed (max_fails/fail_timeout) right after they are healthy.
    deadline = time.monotonic() + 30
    with platform.edge.client() as client:
        while client.get("/health").status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    "the proxy did not serve /health again within 30 s of the backends' return"
                )
            time.sleep(0.5)
