"""Rate limits at the edge: the 6th login within a minute and a burst over 10 r/s on the API get 429."""

from __future__ import annotations

import concurrent.futures
import time
import uuid

import pytest

from tests.e2e.conftest import Accounts, Platform
from tests.e2e.headers import header_problems
from tests.e2e.summary import Summary, verify

pytestmark = pytest.mark.e2e
LOGIN_WINDOW = 61.0  # seconds: the login limit is 5 a minute
BURST_REQUESTS = 60
BURST_THREADS = 12


def test_sixth_login_within_a_minute_is_429(platform: Platform, accounts: Accounts, summary: Summary) -> None:
    # Logins of earlier checks share the window (same client address): start from a fresh minute.
    if platform.login_times:
        time.sleep(max(0.0, LOGIN_WINDOW - (time.monotonic() - platform.login_times[-1])))
    statuses = []
    last = None
    with platform.edge.client() as client:
        for _ in range(6):
            platform.login_times.append(time.monotonic())
            last = client.post(
                "/api/v1/auth/login",
                json={"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com", "password": "wrong-password"},
            )
            statuses.append(last.status_code)
    verify(
        summary,
        "rate limit: 6th login within a minute -> 429",
        all(status != 429 for status in statuses[:5]) and statuses[5] == 429,
        f"statuses {statuses}",
    )
    assert last is not None
    problems = header_problems(last.headers, api=True)
    verify(
        summary,
        "headers: security headers on 429 (login)",
        last.status_code == 429 and not problems,
        "all present" if not problems else "; ".join(problems),
    )


def test_api_burst_over_10_per_second_gets_429(
    platform: Platform, accounts: Accounts, summary: Summary
) -> None:
    with platform.edge.client() as client:

        def one(_: int) -> int:
            return client.get("/api/v1/users/me", headers=accounts.viewer.auth).status_code

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(BURST_THREADS) as pool:
            statuses = list(pool.map(one, range(BURST_REQUESTS)))
        elapsed = time.monotonic() - started
    rate = BURST_REQUESTS / elapsed
    counts = {status: statuses.count(status) for status in sorted(set(statuses))}
    verify(
        summary,
        "rate limit: API burst over 10 r/s -> 429s",
        rate > 10 and counts.get(429, 0) > 0 and set(counts) <= {200, 429},
        f"{BURST_REQUESTS} requests at {rate:.0f} r/s: {counts}",
    )
    time.sleep(3)  # let the buckets drain so later checks are not limited
