"""`make bench`: event ingestion through a real uvicorn and analytics over a million events, on loopback;
then the TLS proxy (tests/bench/proxy.py) and the web viewer (tests/bench/web.py).

Starts a throwaway PostgreSQL 15 (durable defaults: fsync and synchronous_commit on) and Redis, serves the
app with the production command (`python -m app.cli serve`, PAP_WORKERS workers, INFO request logs), then:
1. ingestion: wrk posts batches of 100 events (unique event_ids) round-robin over 64 open sessions for a
   fixed time; events/s, p50/p99 per request; every accepted event is counted back in the database;
2. the machine's ceiling: wrk on GET /health/live with the same connections and duration;
3. analytics of a deck with 1,000,000 generated events: cold (first read, builds the slide rollups),
   warm from the cache, and warm with the cache flushed before every read (the SQL path on rollups).
Prints the results and writes BENCHMARKS.md. Bounded: about 10 s per load phase.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import redis
from sqlalchemy import text

from app.core.security import create_access_token
from app.db import make_engine, make_session_factory
from app.migrate import upgrade_to_head
from app.models.users import Role
from tests.app.servers import PG_BIN, PostgresServer, RedisServer, free_port, serving
from tests.bench import dataset
from tests.bench.machine import describe

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SECRET_KEY = secrets.token_urlsafe(48)
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
DURATION_SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
BATCH = 100
INGEST_SESSIONS = 64
ANALYTICS_WARM_READS = 100
ANALYTICS_UNCACHED_READS = 30
TARGET_EVENTS_PER_SECOND = 20_000
TARGET_WARM_P95_MS = 100.0
DECK_PAGES = 30
DECK_IMAGE_READS = 200


class DurablePostgres(PostgresServer):
    """The test server, but with PostgreSQL's durable defaults: the numbers must not rely on fsync=off."""

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c max_connections=200"
        self._run(
            PG_BIN / "pg_ctl", "-D", self.data, "-o", options, "-l", self.directory / "log", "-w", "start"
        )


@dataclass
class WrkResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return (self.requests - self.non_2xx - self.socket_errors) / self.seconds


def wrk(
    url: str,
    script: Path,
    *script_args: str,
    seconds: int = DURATION_SECONDS,
    connections: int = CONNECTIONS,
    threads: int = 2,
    prefix: Sequence[str] = (),  # e.g. nsenter into a container's network namespace (tests/bench/proxy.py)
) -> WrkResult:
    command = [
        *prefix, "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
        "-s", str(script), url,
        *(["--", *script_args] if script_args else []),
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    match = re.search(r"WRK_RESULT (\{.*\})", output)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    raw = json.loads(match.group(1))
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        non_2xx=raw["non_2xx"],
        socket_errors=raw["socket_errors"],
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
    )


@contextmanager
def served(environment: dict[str, str], port: int, log: Path) -> Iterator[str]:
    """The app under `python -m app.cli serve` on 127.0.0.1:port until the block ends."""
    base = f"http://127.0.0.1:{port}"
    with serving(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        environment=os.environ | environment,
        cwd=ROOT,
        log=log,
        ready_url=f"{base}/health/live",
    ):
        yield base


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed_get(client: httpx.Client, path: str, headers: dict[str, str]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.get(path, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} -> {response.status_code}: {response.text[:300]}")
    return elapsed, response


def main() -> int:
    started_at = datetime.now(UTC)
    workdir = Path(tempfile.mkdtemp(prefix="pap-bench-"))
    print(f"bench: starting PostgreSQL and Redis (work dir {workdir})", flush=True)
    postgres = DurablePostgres()
    cache = RedisServer()
    try:
        return run(postgres, cache, workdir, started_at)
    finally:
        cache.close()
        postgres.close()
        shutil.rmtree(workdir, ignore_errors=True)


def run(postgres: PostgresServer, cache: RedisServer, workdir: Path, started_at: datetime) -> int:
    engine = make_engine(postgres.url, pool_size=2)
    upgrade_to_head(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        owner = dataset.create_user(session, "bench-owner@example.com", Role.presenter)
        ingest_deck = dataset.create_deck(session, owner, "Ingestion deck")
        big_deck = dataset.create_deck(session, owner, "A million events")
        ingest_viewers = [
            dataset.create_user(session, f"bench-ingest-{n}@example.com", Role.viewer) for n in range(8)
        ]
    server_version = str(engine.connect().execute(text("SHOW server_version")).scalar_one())

    print("bench: generating 1,000,000 events in SQL", flush=True)
    load_started = time.perf_counter()
    loaded = dataset.load_million_events(engine, big_deck.id)
    load_seconds = time.perf_counter() - load_started
    print(f"bench: loaded {loaded:,} events in {load_seconds:.1f} s", flush=True)

    environment = {
        "PAP_ENVIRONMENT": "development",
        "PAP_SECRET_KEY": SECRET_KEY,
        "PAP_DATABASE_URL": postgres.url,
        "PAP_REDIS_URL": cache.url,
        "PAP_REDIS_PASSWORD": cache.password,
        "PAP_WORKERS": str(WORKERS),
        "PAP_API_RATE_LIMIT": "off",  # one load generator on one address; the limit is per client address
        "PAP_LOG_LEVEL": "INFO",
        "PAP_RUN_MIGRATIONS": "true",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
    }
    port = free_port()
    with (
        served(environment, port, workdir / "server.log") as base,
        httpx.Client(base_url=base, timeout=120) as client,
    ):
        # Open the sessions through the API, as pages do.
        sessions_file = workdir / "sessions.txt"
        lines = []
        for number in range(INGEST_SESSIONS):
            viewer = ingest_viewers[number % len(ingest_viewers)]
            token = create_access_token(secret_key=SECRET_KEY, user_id=viewer.id, role="viewer")
            opened = client.post(
                "/api/v1/sessions",
                json={"presentation_id": str(ingest_deck.id)},
                headers={"Authorization": f"Bearer {token}"},
            )
            opened.raise_for_status()
            lines.append(f"{opened.json()['id']} {opened.json()['ingest_token']}")
        sessions_file.write_text("\n".join(lines) + "\n")

        print("bench: analytics of the 1,000,000-event deck", flush=True)
        owner_token = create_access_token(secret_key=SECRET_KEY, user_id=owner.id, role="presenter")
        owner_headers = {"Authorization": f"Bearer {owner_token}"}
        path = f"/api/v1/analytics/presentations/{big_deck.id}"
        cold_ms, cold = timed_get(client, path, owner_headers)
        warm = [timed_get(client, path, owner_headers) for _ in range(ANALYTICS_WARM_READS)]
        warm_ms = [elapsed for elapsed, _ in warm]
        hits = sum(1 for _, response in warm if response.headers.get("X-Analytics-Cache") == "hit")
        uncached_ms = []
        with redis.Redis.from_url(cache.url, password=cache.password) as redis_client:
            for _ in range(ANALYTICS_UNCACHED_READS):
                redis_client.flushdb()
                elapsed, response = timed_get(client, path, owner_headers)
                assert response.headers.get("X-Analytics-Cache") == "miss"
                uncached_ms.append(elapsed)
        summary = cold.json()

        print("bench: warming up ingestion (3 s)", flush=True)
        wrk(base, HERE / "ingest.lua", str(sessions_file), str(BATCH), secrets.token_hex(3), seconds=3)
        time.sleep(1)  # let the requests still in flight at wrk's deadline land before counting
        with engine.connect() as connection:
            before = int(connection.execute(text("SELECT count(*) FROM events")).scalar_one())
        print(
            f"bench: ingestion, {DURATION_SECONDS} s, {CONNECTIONS} connections, batches of {BATCH}",
            flush=True,
        )
        ingest = wrk(base, HERE / "ingest.lua", str(sessions_file), str(BATCH), secrets.token_hex(3))
        time.sleep(1)
        with engine.connect() as connection:
            after = int(connection.execute(text("SELECT count(*) FROM events")).scalar_one())
        stored = after - before
        expected = (ingest.requests - ingest.non_2xx - ingest.socket_errors) * BATCH
        print(f"bench: GET /health/live, {DURATION_SECONDS} s", flush=True)
        health = wrk(f"{base}/health/live", HERE / "health.lua")
        print(f"bench: a {DECK_PAGES}-page PDF deck: upload and render, then slide images", flush=True)
        decks = deck_bench(client, owner_headers, ingest_deck.id)

    results = {
        **decks,
        "events_per_second": ingest.per_second * BATCH,
        "ingest_requests_per_second": ingest.per_second,
        "ingest_p50_ms": ingest.p50_ms,
        "ingest_p99_ms": ingest.p99_ms,
        "ingest_errors": ingest.non_2xx + ingest.socket_errors,
        "events_stored": stored,
        "events_expected": expected,
        "health_requests_per_second": health.per_second,
        "health_p50_ms": health.p50_ms,
        "health_p99_ms": health.p99_ms,
        "events_in_deck": loaded,
        "load_seconds": load_seconds,
        "analytics_cold_ms": cold_ms,
        "analytics_warm_p50_ms": statistics.median(warm_ms),
        "analytics_warm_p95_ms": percentile(warm_ms, 0.95),
        "analytics_warm_hits": hits,
        "analytics_uncached_p50_ms": statistics.median(uncached_ms),
        "analytics_uncached_p95_ms": percentile(uncached_ms, 0.95),
        "analytics_sessions": summary["sessions"],
        "analytics_completion_rate": summary["completion_rate"],
    }
    machine = describe(PG_BIN, server_version)
    from tests.bench import proxy, web  # here, not at the top: proxy imports this module

    report = render(results, machine, started_at) + proxy.bench() + web.bench()
    (ROOT / "BENCHMARKS.md").write_text(report)
    print(report)
    failures = []
    # wrk stops counting at the deadline while up to one request per connection is still in flight.
    if not expected <= stored <= expected + CONNECTIONS * BATCH:
        failures.append(f"stored {stored} events but {expected} were acknowledged")
    if results["ingest_errors"]:
        failures.append(f"{results['ingest_errors']} ingestion requests failed")
    if failures:
        print("bench: FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


def _deck_pdf(pages: int) -> bytes:
    """A 16:9 deck: a title, body text and a chart-like grid of boxes per page (what slides look like)."""
    import io

    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(960, 540))
    for page in range(pages):
        pdf.setFont("Helvetica-Bold", 36)
        pdf.drawString(60, 460, f"Slide {page + 1}: quarterly results")
        pdf.setFont("Helvetica", 18)
        for line in range(6):
            pdf.drawString(60, 400 - 30 * line, f"Point {line + 1} of slide {page + 1}, with some words")
        for bar in range(8):
            pdf.setFillColorRGB(0.2, 0.4 + bar * 0.05, 0.8)
            pdf.rect(560 + bar * 45, 60, 35, 40 + ((page + 1) * (bar + 3) * 17) % 300, fill=1, stroke=0)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def deck_bench(client: httpx.Client, headers: dict[str, str], deck_id: object) -> dict[str, float]:
    pdf = _deck_pdf(DECK_PAGES)
    started = time.perf_counter()
    uploaded = client.post(
        f"/api/v1/presentations/{deck_id}/deck",
        content=pdf,
        headers={**headers, "Content-Type": "application/pdf"},
    )
    upload_seconds = time.perf_counter() - started
    uploaded.raise_for_status()
    slides = uploaded.json()["slides"]
    client.get(slides[0]["image_url"], headers=headers).raise_for_status()  # warm the connection pool
    served_ms, sizes = [], []
    for number in range(DECK_IMAGE_READS):
        elapsed, response = timed_get(client, slides[number % len(slides)]["image_url"], headers)
        response.raise_for_status()
        served_ms.append(elapsed)
        sizes.append(len(response.content))
    thumbnail = client.get(slides[0]["thumbnail_url"], headers=headers)
    return {
        "deck_pdf_bytes": len(pdf),
        "deck_upload_seconds": upload_seconds,
        "deck_image_p50_ms": statistics.median(served_ms),
        "deck_image_p95_ms": percentile(served_ms, 0.95),
        "deck_image_bytes": statistics.mean(sizes),
        "deck_thumbnail_bytes": len(thumbnail.content),
    }


def _verdict(ok: bool) -> str:
    return "meets the target" if ok else "BELOW the target"


def _table(rows: list[tuple[str, str]]) -> str:
    return "\n".join(["| | |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)])


def render(results: dict[str, float], machine: dict[str, str], started_at: datetime) -> str:
    r = results
    events_ok = r["events_per_second"] >= TARGET_EVENTS_PER_SECOND
    warm_ok = r["analytics_warm_p95_ms"] < TARGET_WARM_P95_MS
    uncached_ok = r["analytics_uncached_p95_ms"] < TARGET_WARM_P95_MS
    ingestion = _table(
        [
            ("events/s", f"**{r['events_per_second']:,.0f}**"),
            (f"requests/s (batches of {BATCH})", f"{r['ingest_requests_per_second']:,.0f}"),
            ("latency per request p50 / p99", f"{r['ingest_p50_ms']:.1f} ms / {r['ingest_p99_ms']:.1f} ms"),
            ("failed requests", f"{r['ingest_errors']:.0f}"),
            (
                "events stored (counted in PostgreSQL) / acknowledged to wrk before its deadline",
                f"{r['events_stored']:,.0f} / {r['events_expected']:,.0f}",
            ),
            (
                "ceiling: `GET /health/live` requests/s (p50 / p99)",
                f"{r['health_requests_per_second']:,.0f} "
                f"({r['health_p50_ms']:.1f} / {r['health_p99_ms']:.1f} ms)",
            ),
        ]
    )
    analytics = _table(
        [
            (
                "cold: first read (ends idle sessions, builds the slide rollups from all events, caches)",
                f"{r['analytics_cold_ms']:,.0f} ms",
            ),
            (
                f"warm, from the Redis cache: p50 / p95 ({ANALYTICS_WARM_READS} reads, "
                f"{r['analytics_warm_hits']:.0f} hits)",
                f"{r['analytics_warm_p50_ms']:.1f} ms / **{r['analytics_warm_p95_ms']:.1f} ms** "
                f"({_verdict(warm_ok)})",
            ),
            (
                f"warm, cache flushed before each read (SQL over the rollups): p50 / p95 "
                f"({ANALYTICS_UNCACHED_READS} reads)",
                f"{r['analytics_uncached_p50_ms']:.1f} ms / **{r['analytics_uncached_p95_ms']:.1f} ms** "
                f"({_verdict(uncached_ok)})",
            ),
        ]
    )
    decks = _table(
        [
            (
                f"upload and render ({r['deck_pdf_bytes'] / 1024:,.0f} KB, {DECK_PAGES} pages, 2 widths)",
                f"{r['deck_upload_seconds']:.2f} s "
                f"({r['deck_upload_seconds'] * 1000 / DECK_PAGES:.0f} ms per page)",
            ),
            (
                f"slide image (1600 px WebP, mean {r['deck_image_bytes'] / 1024:.0f} KB; thumbnail "
                f"{r['deck_thumbnail_bytes'] / 1024:.0f} KB) served p50 / p95 ({DECK_IMAGE_READS} reads)",
                f"{r['deck_image_p50_ms']:.1f} ms / **{r['deck_image_p95_ms']:.1f} ms**",
            ),
        ]
    )
    return f"""# Benchmarks

Measured by `make bench` (`python -m tests.bench.run`) on {started_at:%Y-%m-%d %H:%M} UTC.

## Machine

{_table(list(machine.items()))}

## Setup

- The service runs as in production: `python -m app.cli serve` (uvicorn, {WORKERS} workers, JSON request
  logs at INFO to a file, security headers, request ids, metrics) on 127.0.0.1; PostgreSQL 15 with its
  durable defaults (fsync and synchronous_commit on) and Redis on loopback; the API rate limit is off
  (`PAP_API_RATE_LIMIT=off`) because all load comes from one address.
- Load: `wrk -t2 -c{CONNECTIONS} -d{DURATION_SECONDS}s` on the same 2 cores as the server and the databases.
  Ingestion posts batches of {BATCH} events (every event_id new) round-robin over {INGEST_SESSIONS} open
  sessions with their ingest tokens; PostgreSQL gets one statement per batch (check the session, insert
  with `unnest(...) ON CONFLICT DO NOTHING`, fold the batch into the session row) and a durable commit
  (an acknowledged batch survives a database crash).
- Analytics is measured first, on a quiet machine (ingestion leaves autovacuum work behind for a while).
- The analytics deck: {dataset.SLIDES} slides, {dataset.SESSIONS:,} sessions x {dataset.EVENTS_PER_SESSION}
  events generated in SQL ({r["load_seconds"]:.1f} s to load), sessions ended, rollups not yet built.

## Event ingestion (target >= {TARGET_EVENTS_PER_SECOND:,} events/s: {_verdict(events_ok)})

{ingestion}

## Analytics of a deck with {r["events_in_deck"]:,.0f} events (target: p95 < {TARGET_WARM_P95_MS:.0f} ms warm)

{analytics}

Reads never scan raw events of unchanged sessions: ingestion bumps a per-session version, and a read
rebuilds the per-session, per-slide rollups (`session_slide_stats`) only for sessions whose version moved;
the rest are aggregates over `viewing_sessions` ({r["analytics_sessions"]:,.0f} rows) and the rollups.

## Decks from PDF (after the load phases; sequential requests from one client)

{decks}

Rendering runs in a child process per upload (PDFium through pypdfium2, WebP by Pillow), bounded by
`PAP_DECK_RENDER_MEMORY_MB` and `PAP_DECK_RENDER_TIMEOUT_SECONDS`; images are read from PostgreSQL.
"""


if __name__ == "__main__":
    raise SystemExit(main())
