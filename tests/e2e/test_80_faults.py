"""Faults under load: a backend replica killed, Redis stopped, PostgreSQL restarted."""

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


def test_backend_replica_killed_under_load(platform: Platform, summary: Summary) -> None:
    backends = platform.stack.containers("backend", running_only=True)
    assert len(backends) >= 2, "the e2e stack runs 2 backend replicas"
    victim = platform.stack.inspect(backends[0])
    restarts_before = victim["RestartCount"]
    thread, result = _in_background(lambda: _steady_load(platform, STEADY_RATE, STEADY_SECONDS, "/health"))
    time.sleep(KILL_AFTER)
    # kill -9 of the replica's main process from the host: a crash, not a `docker stop`, so the
    # on-failure restart policy applies.
    os.kill(victim["State"]["Pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    # Measured while the load runs: first the engine's restart, then the healthcheck passing again.
    while platform.stack.inspect(backends[0])["RestartCount"] == restarts_before:
        if time.monotonic() - killed_at > RECOVERY_TIMEOUT:
            break
        time.sleep(0.2)
    platform.stack.wait_healthy([backends[0]], RECOVERY_TIMEOUT)
    recovery = time.monotonic() - killed_at
    thread.join(STEADY_SECONDS + 60)
    counts = result[0]
    total = sum(counts.values())
    failed = total - counts.get("200", 0)
    restarts_after = platform.stack.inspect(backends[0])["RestartCount"]
    summary.fact("fault kill -9: requests", f"{total} at {STEADY_RATE} r/s, statuses {dict(counts)}")
    verify(
        summary,
        "fault: kill -9 a backend, proxy keeps answering",
        total > 0 and failed <= MAX_FAILED_SHARE * total,
        f"{failed}/{total} non-2xx during {STEADY_SECONDS}s at {STEADY_RATE} r/s",
    )
    verify(
        summary,
        "fault: killed replica restarted (on-failure) and healthy",
        restarts_after == restarts_before + 1,
        f"restart count {restarts_before} -> {restarts_after}, healthy again {recovery:.1f}s after the kill",
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
    cache = platform.stack.one("cache")
    platform.stack.api.stop(cache["Id"], timeout=10)
    try:
        with platform.edge.client() as client:
            me = _timed(client, "/api/v1/users/me", accounts.viewer.auth)
            decks = _timed(client, "/api/v1/presentations", accounts.presenter.auth)
            health = _timed(client, "/health")
    finally:
        platform.stack.api.start(cache["Id"])
    body = health[2].json() if health[2] is not None and health[0] in ("200", "503") else {}
    started = time.monotonic()
    platform.stack.wait_healthy([cache], RECOVERY_TIMEOUT)
    recovered = _wait_for_status(platform, "/health", 200, RECOVERY_TIMEOUT)
    verify_all(
        summary,
        [
            (
                "fault: Redis stopped, API keeps serving",
                me[0] == "200" and decks[0] == "200" and max(me[1], decks[1]) <= MAX_DEGRADED_SECONDS,
                f"/users/me {me[0]} in {me[1]:.1f}s, /presentations {decks[0]} in {decks[1]:.1f}s "
                f"(limit {MAX_DEGRADED_SECONDS:.0f}s)",
            ),
            (
                "fault: Redis stopped, /health 503 naming redis",
                health[0] == "503"
                and health[1] <= MAX_DEGRADED_SECONDS
                and body.get("redis") == "unhealthy"
                and body.get("database") == "healthy",
                f"{health[0]} in {health[1]:.1f}s {body}",
            ),
            (
                "fault: Redis back, /health 200 again",
                recovered,
                f"{time.monotonic() - started:.1f}s after start",
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
        restart_started = time.monotonic()
        platform.stack.api.restart(platform.stack.one("database")["Id"], timeout=30)
        platform.stack.wait_healthy([platform.stack.one("database")], RECOVERY_TIMEOUT)
        restart_seconds = time.monotonic() - restart_started
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
        "fault: PostgreSQL restarted under ingestion, no acknowledged event lost",
        bool(acknowledged) and not lost and bool(result) and result[0]["unsent batches"] == 0,
        f"acknowledged {len(acknowledged)}, stored {len(stored)}, lost {len(lost)}; db down->healthy "
        f"{restart_seconds:.1f}s; {failed_attempts} failed attempts (retried)",
    )
