"""Steady load through the proxy while the platform changes underneath: health, presenter reads, ingestion.

One client address carries it all (the host reaches the proxy through docker-proxy), and both API rate
limits count per client address: nginx `limit_req` on `$binary_remote_addr` (10 r/s, burst 20) and the
service's 20 requests per 2 s. Separate accounts or sessions would not raise that budget. The load keeps its
API share at 7 r/s and makes up the rest of 20 r/s with `GET /health`, which neither limit covers (nginx
limits only `/api/v1/`, the service only its API router), leaving headroom for the checks' own API calls.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import httpx

from tests.e2e import api
from tests.e2e.database import Database
from tests.e2e.live import Edge, EdgeClient

Kind = Literal["health", "read", "ingest"]
# One second of load: 13 health checks, 4 event batches and 3 analytics reads, the API calls spread out.
MIX: tuple[Kind, ...] = tuple(
    "ingest" if slot % 5 == 0 else "read" if slot in (2, 9, 16) else "health" for slot in range(20)
)
RATE = 20.0  # requests a second, all kinds together
MAX_SECONDS = 900.0  # a load nobody stops ends here; every check stops its own long before
BATCH_EVENTS = 5
# Threads, started as needed: enough for every request of a 15 s stall (the client timeout) to leave on
# time. Fewer would queue them, and the queue would leave in one burst when the stall ends, which the
# rate limits answer with 429s the platform did not cause.
WORKERS = int(RATE * 16)
FAILED = "failed"  # >= 500, no answer, timeout
RATE_LIMITED = "429"
UNAUTHORIZED = "401"


@dataclass(frozen=True)
class Credentials:
    """Who the load acts as: a presenter reading their deck's analytics, a viewer's open session."""

    presenter: api.Account
    deck_id: str
    session: api.ViewingSession


@dataclass(frozen=True)
class Outcome:
    sent_at: float  # time.monotonic() when the request left
    kind: Kind
    status: str  # the HTTP status, or "error <exception name>"
    latency_ms: float
    version: str | None = None  # /health's "version"
    acknowledged: tuple[str, ...] = ()  # the event_ids of a batch answered 2xx


def category(status: str) -> str:
    """ok (2xx), failed (>= 500 or no answer), 429, 401, or the unexpected status itself."""
    if not status.isdigit():
        return FAILED
    code = int(status)
    if 200 <= code < 300:
        return "ok"
    if code >= 500:
        return FAILED
    return status


def _percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass(frozen=True)
class LoadReport:
    seconds: float
    sent: int
    ok: int
    failed: int
    rate_limited: int
    unauthorized: int
    unexpected: dict[str, int]  # other 4xx by status
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    not_ok: dict[str, int]  # "<kind> <status>" -> count, for every answer that was not 2xx
    versions: dict[str, int]  # /health "version" -> answers
    acknowledged: frozenset[str]  # event_ids of 2xx batches
    session_ids: tuple[str, ...]  # every session the load ingested into

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        unexpected = f", other {self.unexpected}" if self.unexpected else ""
        not_ok = f" (not 2xx: {self.not_ok})" if self.not_ok else ""
        return (
            f"{self.sent} requests in {self.seconds:.0f} s ({self.rate:.1f} r/s): {self.ok} ok, "
            f"{self.failed} failed, {self.rate_limited} x 429, {self.unauthorized} x 401{unexpected}; "
            f"p50 {self.p50_ms:.0f} ms, p99 {self.p99_ms:.0f} ms; {len(self.acknowledged)} events acked"
            f"{not_ok}"
        )


def summarize(outcomes: Sequence[Outcome], session_ids: Sequence[str], seconds: float) -> LoadReport:
    statuses = Counter(outcome.status for outcome in outcomes)
    categories = Counter(category(outcome.status) for outcome in outcomes)
    latencies = [outcome.latency_ms for outcome in outcomes if category(outcome.status) == "ok"]
    known = {"ok", FAILED, RATE_LIMITED, UNAUTHORIZED}
    return LoadReport(
        seconds=seconds,
        sent=len(outcomes),
        ok=categories["ok"],
        failed=categories[FAILED],
        rate_limited=categories[RATE_LIMITED],
        unauthorized=categories[UNAUTHORIZED],
        unexpected={status: count for status, count in categories.items() if status not in known},
        p50_ms=_percentile(latencies, 0.50),
        p99_ms=_percentile(latencies, 0.99),
        statuses=dict(sorted(statuses.items())),
        not_ok=dict(
            sorted(Counter(f"{o.kind} {o.status}" for o in outcomes if category(o.status) != "ok").items())
        ),
        versions=dict(Counter(o.version for o in outcomes if o.version is not None)),
        acknowledged=frozenset(event_id for outcome in outcomes for event_id in outcome.acknowledged),
        session_ids=tuple(session_ids),
    )


@dataclass
class _Shared:
    lock: threading.Lock = field(default_factory=threading.Lock)
    outcomes: list[Outcome] = field(default_factory=list)
    session_ids: list[str] = field(default_factory=list)


class SteadyLoad:
    """Paced requests from a background thread until `stop()`, `max_seconds` or `rate * max_seconds` sent.

    Each request carries `X-Request-ID: <request_id_prefix>-<n>`, so the tasks' access logs can be matched.
    """

    def __init__(
        self,
        edge: Edge,
        credentials: Credentials,
        *,
        rate: float = RATE,
        max_seconds: float = MAX_SECONDS,
        request_id_prefix: str | None = None,
    ) -> None:
        self.edge = edge
        self.rate = rate
        self.max_seconds = max_seconds
        self.request_id_prefix = request_id_prefix or f"e2e-load-{uuid.uuid4().hex[:8]}"
        self._credentials = credentials
        self._shared = _Shared(session_ids=[credentials.session.id])
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pap-e2e-load", daemon=True)
        self._clients = threading.local()
        self._open_clients: contextlib.ExitStack = contextlib.ExitStack()
        self._clients_lock = threading.Lock()
        self._started = 0.0
        self._ended: float | None = None

    def start(self) -> SteadyLoad:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def swap(self, credentials: Credentials) -> None:
        """Later requests act with these (new tokens after a key rotation, a new session)."""
        with self._shared.lock:
            self._credentials = credentials
            if credentials.session.id not in self._shared.session_ids:
                self._shared.session_ids.append(credentials.session.id)

    def report(self, since: float | None = None) -> LoadReport:
        """What was answered so far (only requests sent at or after `since`, a time.monotonic())."""
        with self._shared.lock:
            outcomes = [o for o in self._shared.outcomes if since is None or o.sent_at >= since]
            sessions = list(self._shared.session_ids)
        end = self._ended or time.monotonic()
        return summarize(outcomes, sessions, end - max(self._started, since or 0.0))

    def first_ok(self, kind: Kind, since: float) -> float | None:
        """When the first request of `kind` sent at or after `since` was answered 2xx (time.monotonic())."""
        with self._shared.lock:
            times = [
                o.sent_at + o.latency_ms / 1000
                for o in self._shared.outcomes
                if o.kind == kind and o.sent_at >= since and category(o.status) == "ok"
            ]
        return min(times, default=None)

    def sent_at(self, event_ids: set[str]) -> list[float]:
        """When the batches that carried these (acknowledged) events were sent."""
        with self._shared.lock:
            return [o.sent_at for o in self._shared.outcomes if event_ids.intersection(o.acknowledged)]

    def stop(self) -> LoadReport:
        """Stops sending, waits for the answers in flight, returns the whole run."""
        self._stopping.set()
        self._thread.join(timeout=120)
        return self.report()

    def __enter__(self) -> SteadyLoad:
        return self.start()

    def __exit__(self, *_: object) -> None:
        if self._thread.is_alive():
            self.stop()

    def _run(self) -> None:
        try:
            with ThreadPoolExecutor(WORKERS, thread_name_prefix="pap-e2e-load") as pool:
                for index in range(int(self.rate * self.max_seconds)):
                    due = self._started + index / self.rate
                    if self._stopping.wait(max(0.0, due - time.monotonic())):
                        break
                    pool.submit(self._one, MIX[index % len(MIX)], index)
        finally:
            self._ended = time.monotonic()
            self._open_clients.close()

    def _client(self) -> EdgeClient:
        client: EdgeClient | None = getattr(self._clients, "client", None)
        if client is None:
            with self._clients_lock:
                client = self._open_clients.enter_context(self.edge.client())
            self._clients.client = client
        return client

    def _one(self, kind: Kind, index: int) -> None:
        with self._shared.lock:
            credentials = self._credentials
        headers = {"X-Request-ID": f"{self.request_id_prefix}-{index}"}
        batch: list[dict[str, object]] = []
        sent_at = time.monotonic()
        version: str | None = None
        try:
            client = self._client()
            if kind == "health":
                response = client.get("/health", headers=headers)
                if response.status_code == 200:
                    version = str(response.json().get("version"))
            elif kind == "read":
                response = client.get(
                    f"{api.API}/analytics/presentations/{credentials.deck_id}",
                    headers={**headers, **credentials.presenter.auth},
                )
            else:
                now = datetime.datetime.now(datetime.UTC)
                batch = [api.event("heartbeat", 0, now) for _ in range(BATCH_EVENTS)]
                response = client.post(
                    f"{api.API}/sessions/{credentials.session.id}/events",
                    headers={**headers, "Authorization": f"Bearer {credentials.session.ingest_token}"},
                    json={"events": batch},
                )
            status = str(response.status_code)
        except (httpx.HTTPError, json.JSONDecodeError, OSError) as error:
            status = f"error {type(error).__name__}"
        acknowledged = tuple(str(item["event_id"]) for item in batch) if category(status) == "ok" else ()
        outcome = Outcome(sent_at, kind, status, (time.monotonic() - sent_at) * 1000, version, acknowledged)
        with self._shared.lock:
            self._shared.outcomes.append(outcome)


def open_credentials(
    client: EdgeClient, presenter: api.Account, viewer: api.Account, deck_id: str
) -> Credentials:
    """A new viewing session on `deck_id` for the viewer (its ingest token is signed with the current key)."""
    return Credentials(presenter, deck_id, api.open_session(client, viewer, deck_id))


def unstored_events(database: Database, report: LoadReport) -> set[str]:
    """Acknowledged event_ids that PostgreSQL does not hold (an empty set is the only good answer)."""
    stored: set[str] = set()
    for session_id in report.session_ids:
        rows = database.query(
            f"SELECT event_id FROM events WHERE session_id = '{uuid.UUID(session_id)}'"  # noqa: S608 - a UUID
        )
        stored.update(row[0] for row in rows)
    return set(report.acknowledged) - stored
