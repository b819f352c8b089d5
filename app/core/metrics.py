"""Every Prometheus metric of the service, in one place (other modules import and update these).

With several uvicorn workers, `PROMETHEUS_MULTIPROC_DIR` must name an empty directory (on tmpfs) before the
workers start; `python -m app.cli serve` sets that up. Gauges then carry a multiprocess mode.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_REQUESTS = Counter(
    "pap_http_requests_total",
    "HTTP requests by method, route template and status code",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "pap_http_request_duration_seconds",
    "HTTP request latency by method and route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DB_POOL_CHECKED_OUT = Gauge(
    "pap_db_pool_connections_in_use",
    "Database connections checked out of the pool",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "pap_db_pool_size", "Configured database pool size (per worker)", multiprocess_mode="livemax"
)
DB_POOL_OVERFLOW = Gauge(
    "pap_db_pool_overflow", "Database connections open beyond the pool size", multiprocess_mode="livesum"
)

# Counters for the viewing side (sessions, events) are added here by their owners.

__all__ = ["CONTENT_TYPE_LATEST", "render_metrics"]


def render_metrics() -> bytes:
    """The exposition text: this process's registry, or every worker's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


EVENTS_INGESTED = Counter(
    "pap_events_ingested_total",
    "Viewing events received, by result (accepted = stored, duplicate = retried event_id already stored)",
    ["result"],
)
SESSIONS_OPENED = Counter("pap_viewing_sessions_opened_total", "Viewing sessions opened")
SESSIONS_ENDED = Counter(
    "pap_viewing_sessions_ended_total", "Viewing sessions ended, by reason (session_end or idle)", ["reason"]
)
