"""Faults under load: a backend task killed, Redis gone (its service scaled to 0), PostgreSQL's task killed.

Swarm replaces a task whose container dies, so "stopping" something means scaling its service to 0, and a
crash is a `kill -9` of the task's main process: the task fails and the restart policy starts a new one.
"""

from __future__ import annotations

import datetime
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import docker.errors
import httpx
import pytest

from tests.e2e import api
from tests.e2e.conftest import Accounts, Platform
from tests.e2e.database import Database
from tests.e2e.summary import Summary, verify, verify_all

pytestmark = pytest.mark.e2e
STEADY_RATE = 20  # requests a second
STEADY_SECONDS = 20
KILL_AFTER = 5.0
RECOVERY_TIMEOUT = 120.0
MAX_FAILED_SHARE = 0.02  # "a tiny number or zero"
MAX_DEGRADED_SECONDS = 5.0  # an answer slower than this while Redis is down is not "keeps serving"


def _steady_load(platform: Platform, rate: int, seconds: float, path: str) -> Counter[str]:
    """GETs `path` at `rate` r/s for `seconds` (paced, bounded); counts statuses ("error" for no answer)."""
    counts: Counter[str] = Counter()
    with platform.edge.client() as client:
        started = time.monotonic()
        for index in range(int(rate * seconds)):
            time.sleep(max(0.0, started + index / rate - time.monotonic()))
            try:
                counts[str(client.get(path).status_code)] += 1
            except Exception as error:  # timeouts or resets count as failures, never abort the load
                counts[f"error {type(error).__name__}"] += 1
    return counts


def _in_background(work: Callable[[], Counter[str]]) -> tuple[threading.Thread, list[Counter[str]]]:
    result: list[Counter[str]] = []
    thread = threading.Thread(target=lambda: result.append(work()), daemon=True)
    thread.start()
    return thread, result


TASK_NAME_LABEL = "com.docker.swarm.task.name"  # "<service>.<slot>.<task id>" on every task container


def _slot(container: dict[str, Any]) -> str:
    return str(container["Labels"][TASK_NAME_LABEL].split(".")[-2])


def _kill_task(platform: Platform, role: str) -> tuple[dict[str, Any], float]:
    """kill -9 of the role's (first) task's main process from the host: a crash, not a stop."""
    victim = platform.stack.inspect(platform.stack.containers(role)[0])
    os.kill(victim["State"]["Pid"], signal.SIGKILL)
    return victim, time.monotonic()


def _replacement(platform: Platform, role: str, victim: dict[str, Any], timeout: float) -> dict[str, Any]:
    """The new task container Swarm started in the victim's slot, once it is healthy."""
    deadline = time.monotonic() + timeout
    slot = victim["Config"]["Labels"][TASK_NAME_LABEL].split(".")[-2]
    while time.monotonic() < deadline:
        for container in platform.stack.containers(role):
            if container["Id"] != victim["Id"] and _slot(container) == slot:
                platform.stack.wait_healthy([container], max(1.0, deadline - time.monotonic()))
                return container
        time.sleep(0.2)
    raise TimeoutError(f"no new {role} task in slot {slot} within {timeout:.0f}s")


def _task_state(platform: Platform, container: dict[str, Any]) -> str:
    try:
        task = platform.stack.api.inspect_task(container["Config"]["Labels"]["com.docker.swarm.task.id"])
    except docker.errors.NotFound:
        return "gone from Swarm's task history"
    exit_code = (task["Status"].get("ContainerStatus") or {}).get("ExitCode")
    return f"{task['Status']['State']} (exit {exit_code})"


def test_backend_replica_killed_under_load(platform: Platform, summary: Summary) -> None:
    assert len(platform.stack.containers("backend")) >= 2, "the e2e stack runs 2 backend replicas"
    thread, result = _in_background(lambda: _steady_load(platform, STEADY_RATE, STEADY_SECONDS, "/health"))
    time.sleep(KILL_AFTER)
    victim, killed_at = _kill_task(platform, "backend")
    # Measured while the load runs: Swarm's replacement task, healthy (its restart delay included).
    replacement = _replacement(platform, "backend", victim, RECOVERY_TIMEOUT)
    recovery = time.monotonic() - killed_at
    thread.join(STEADY_SECONDS + 60)
    counts = result[0]
    total = sum(counts.values())
    failed = total - counts.get("200", 0)
    victim_state = _task_state(platform, victim)
    running = len(platform.stack.containers("backend"))
    summary.fact("fault kill -9: requests", f"{total} at {STEADY_RATE} r/s, statuses {dict(counts)}")
    verify(
        summary,
        "fault: kill -9 a backend task, proxy keeps answering",
        total > 0 and failed <= MAX_FAILED_SHARE * total,
        f"{failed}/{total} non-2xx during {STEADY_SECONDS}s at {STEADY_RATE} r/s",
    )
    verify(
        summary,
        "fault: killed task replaced by Swarm (restart policy) and healthy",
        victim_state.startswith("failed") and replacement["Id"] != victim["Id"] and running >= 2,
        f"killed task {victim_state}; new task in slot {_slot(replacement)} healthy {recovery:.1f}s "
        f"after the kill; {running} backend tasks running",
    )


def _timed(client: Any, path: str, headers: dict[str, str] | None = None) -> tuple[str, float, Any]:
    """(status or error name, seconds, response or None): a hang shows as a timeout with its duration."""
    started = time.monotonic()
    try:
        response = client.get(path, headers=headers or {})
    except httpx.TransportError as error:
        return f"error {type(error).__name__}", time.monotonic() - started, None
    return str(response.status_code), time.monotonic() - started, response


def test_redis_stopped_api_serves_and_health_names_it(
    platform: Platform, accounts: Accounts, summary: Summary
) -> None:
    platform.stack.scale("cache", 0, RECOVERY_TIMEOUT)  # a stopped task container would be replaced at once
    try:
        with platform.edge.client() as client:
            me = _timed(client, "/api/v1/users/me", accounts.viewer.auth)
            decks = _timed(client, "/api/v1/presentations", accounts.presenter.auth)
            health = _timed(client, "/health")
    finally:
        started = time.monotonic()
        platform.stack.scale("cache", 1, RECOVERY_TIMEOUT)
    body = health[2].json() if health[2] is not None and health[0] in ("200", "503") else {}
    recovered = _wait_for_status(platform, "/health", 200, RECOVERY_TIMEOUT)
    verify_all(
        summary,
        [
            (
                "fault: Redis gone (scaled to 0), API keeps serving",
                me[0] == "200" and decks[0] == "200" and max(me[1], decks[1]) <= MAX_DEGRADED_SECONDS,
                f"/users/me {me[0]} in {me[1]:.1f}s, /presentations {decks[0]} in {decks[1]:.1f}s "
                f"(limit {MAX_DEGRADED_SECONDS:.0f}s)",
            ),
            (
                "fault: Redis gone, /health 503 naming redis",
                health[0] == "503"
                and health[1] <= MAX_DEGRADED_SECONDS
                and body.get("redis") == "unhealthy"
                and body.get("database") == "healthy",
                f"{health[0]} in {health[1]:.1f}s {body}",
            ),
            (
                "fault: Redis back (scaled to 1), /health 200 again",
                recovered,
                f"{time.monotonic() - started:.1f}s after the scale-up",
            ),
        ],
    )


def _wait_for_status(platform: Platform, path: str, status: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    with platform.edge.client() as client:
        while time.monotonic() < deadline:
            try:
                if client.get(path).status_code == status:
                    return True
            except httpx.TransportError:  # the proxy may reset while upstreams recover
                pass
            time.sleep(0.5)
    return False


BATCH_EVENTS = 10
BATCH_INTERVAL = 0.3  # about 3 batches a second: under the API rate limit, so every failure is the fault's
INGEST_SECONDS = 25.0
RESTART_AFTER = 4.0
RETRY_LIMIT = 60


def test_postgres_restart_loses_no_acknowledged_event(
    platform: Platform, accounts: Accounts, database: Database, summary: Summary
) -> None:
    acknowledged: set[str] = set()
    attempts: Counter[str] = Counter()
    with platform.edge.client() as client:
        deck_id = api.create_deck(client, accounts.presenter, ["One", "Two"], [accounts.viewer_id])
        session = api.open_session(client, accounts.viewer, deck_id)

        def ingest() -> Counter[str]:
            pending: list[list[dict[str, object]]] = []
            started = time.monotonic()
            while time.monotonic() - started < INGEST_SECONDS or (
                pending and attempts["retry"] < RETRY_LIMIT
            ):
                now = datetime.datetime.now(datetime.UTC)
                if time.monotonic() - started < INGEST_SECONDS:
                    pending.append([api.event("heartbeat", 0, now) for _ in range(BATCH_EVENTS)])
                batch = pending.pop(0)
                try:
                    response = api.post_events(client, session, batch)
                    status = str(response.status_code)
                except Exception as error:  # a reset or timeout: not acknowledged, retried like a page would
                    status = f"error {type(error).__name__}"
                attempts[status] += 1
                if status == "200":
                    acknowledged.update(str(item["event_id"]) for item in batch)
                else:
                    attempts["retry"] += 1
                    pending.insert(0, batch)
                time.sleep(BATCH_INTERVAL)
            return Counter({"unsent batches": len(pending)})

        thread, result = _in_background(ingest)
        time.sleep(RESTART_AFTER)
        # A crash of PostgreSQL's task; a clean stop (exit 0) would not be restarted under `on-failure`.
        victim, killed_at = _kill_task(platform, "database")
        _replacement(platform, "database", victim, RECOVERY_TIMEOUT)
        restart_seconds = time.monotonic() - killed_at
        thread.join(INGEST_SECONDS + RETRY_LIMIT * (BATCH_INTERVAL + 16) + 10)
    stored = {
        row[0]
        for row in database.query(f"SELECT event_id FROM events WHERE session_id = '{uuid.UUID(session.id)}'")  # noqa: S608
    }
    lost = acknowledged - stored
    failed_attempts = sum(count for status, count in attempts.items() if status not in ("200", "retry"))
    summary.fact("fault postgres restart: ingest attempts", dict(attempts))
    verify(
        summary,
        "fault: PostgreSQL task killed under ingestion, no acknowledged event lost",
        bool(acknowledged) and not lost and bool(result) and result[0]["unsent batches"] == 0,
        f"acknowledged {len(acknowledged)}, stored {len(stored)}, lost {len(lost)}; "
        f"db killed->new task healthy {restart_seconds:.1f}s; {failed_attempts} failed attempts (retried)",
    )
