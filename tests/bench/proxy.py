"""`make bench`, second part: what the TLS proxy costs, on the dev stack that `make e2e KEEP=1` left running.

The same wrk binary on this host, the same scripts, connections and duration, two paths:
- proxied: to the published https port on 127.0.0.1 (which the engine's docker-proxy forwards), nginx
  terminating TLS and passing to the backend service's virtual IP, which Swarm balances over the tasks;
- direct: plain HTTP to 127.0.0.1:8000 inside each backend task's own network namespace (`nsenter --net`
  with the task container's PID: no container, no image, no proxy and no VIP in between), one wrk per task
  with the connections split evenly, so both paths reach the same backends.

Both API rate limits count per client address (nginx 10 r/s with a burst of 20; the service 20 per 2 s),
and a bench has one address on each path. So:
- reads are `GET /health` (a PostgreSQL round trip and a Redis ping), which neither limit covers: a
  throughput ratio, proxied requests/s over direct requests/s;
- ingestion (batches of 100 events) cannot be driven past 10 requests/s on either path without changing the
  deployed limits; it is paced below them (wrk's `delay()`), and the ratio is one of latency: direct p50
  over proxied p50, the share of a proxied request's time that is the backend's own.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx

from tests.bench.machine import describe
from tests.bench.run import PG_BIN, WrkResult, wrk

HERE = Path(__file__).resolve().parent
STACK = os.environ.get("BENCH_STACK", "dev")
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
DURATION_SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
BACKEND_PORT = 8000  # inside the task (PAP_PORT)
PROXY_HTTPS_PORT = 8443  # the proxy's port inside its task; the engine publishes it on the node
BATCH = 100
INGEST_SESSIONS = 4
INGEST_CONNECTIONS = 2
INGEST_DELAY_MS = 250  # per connection: about 7 requests/s in all, under both limits
GOAL = 0.70
ROUNDS = int(os.environ.get("BENCH_PROXY_ROUNDS", "2"))
SETTLE_SECONDS = 3.0  # the limit windows forget the setup's API calls
NOT_RUNNING = (
    "bench proxy: SKIPPED, the {stack} stack is not running ({why}). It measures the deployed stack that "
    "`make e2e KEEP=1` leaves up; run that first (and `make e2e-down` afterwards)."
)


class StackNotRunningError(RuntimeError):
    pass


@dataclass(frozen=True)
class Target:
    """The deployed stack as the bench reaches it."""

    edge: str  # https://127.0.0.1:<published port>
    backend_pids: list[int]  # one per running backend task (its container's main process)
    admin_email: str
    admin_password: str
    postgres_version: str


def _running_task_containers(client: docker.APIClient, service: str) -> list[dict[str, Any]]:
    tasks = client.tasks(filters={"service": service, "desired-state": "running"})
    running = [task for task in tasks if task["Status"]["State"] == "running"]
    return [client.inspect_container(task["Status"]["ContainerStatus"]["ContainerID"]) for task in running]


def _exec(client: docker.APIClient, container_id: str, command: list[str]) -> str:
    exec_id = client.exec_create(container_id, command, stdout=True, stderr=True)["Id"]
    output = client.exec_start(exec_id).decode(errors="replace")
    if client.exec_inspect(exec_id)["ExitCode"] != 0:
        raise RuntimeError(f"{command[0]} in {container_id[:12]} failed: {output.strip()[:200]}")
    return output


def find_stack(stack: str = STACK) -> Target:
    """The stack's edge, backend tasks and bootstrap admin; StackNotRunningError says what is missing."""
    try:
        client = docker.APIClient(timeout=30)
        proxy = client.inspect_service(f"pap-{stack}-proxy")
        backend = client.inspect_service(f"pap-{stack}-backend")
    except docker.errors.NotFound:
        raise StackNotRunningError(f"no service pap-{stack}-proxy or pap-{stack}-backend") from None
    except (docker.errors.DockerException, OSError) as error:
        raise StackNotRunningError(f"no Docker engine answers: {error}") from None
    published = [
        port["PublishedPort"]
        for port in (
            proxy.get("Endpoint", {}).get("Ports") or proxy["Spec"]["EndpointSpec"].get("Ports") or []
        )
        if port.get("TargetPort") == PROXY_HTTPS_PORT
    ]
    backends = _running_task_containers(client, backend["ID"])
    if not published or not _running_task_containers(client, proxy["ID"]) or not backends:
        raise StackNotRunningError("its proxy or backend service has no running task")
    environment = dict(item.split("=", 1) for item in backends[0]["Config"]["Env"])
    email = environment.get("PAP_BOOTSTRAP_ADMIN_EMAIL", "")
    password_file = environment.get("PAP_BOOTSTRAP_ADMIN_PASSWORD_FILE", "")
    if not (email and password_file):
        raise StackNotRunningError("its backend has no bootstrap admin (PAP_BOOTSTRAP_ADMIN_*)")
    databases = _running_task_containers(client, f"pap-{stack}-db")
    version = _exec(client, databases[0]["Id"], ["postgres", "--version"]).strip() if databases else "?"
    return Target(
        edge=f"https://127.0.0.1:{published[0]}",
        backend_pids=[int(container["State"]["Pid"]) for container in backends],
        admin_email=email,
        admin_password=_exec(client, backends[0]["Id"], ["cat", password_file]).strip(),
        postgres_version=f"{version} (the stack's database task)",
    )


def _verify() -> str | bool:
    """The stack's CA as the e2e run wrote it (tests/e2e/conftest.py); without it, no verification."""
    ca = HERE.parents[1] / "var" / "e2e" / "ca.pem"
    return str(ca) if ca.is_file() else False


def open_sessions(target: Target, sessions_file: Path) -> None:
    """As the bootstrap admin, through the proxy: a 20-slide deck and INGEST_SESSIONS sessions on it."""
    with httpx.Client(base_url=target.edge, verify=_verify(), timeout=30) as client:
        login = client.post(
            "/api/v1/auth/login", json={"email": target.admin_email, "password": target.admin_password}
        )
        login.raise_for_status()
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        deck = client.post(
            "/api/v1/presentations",
            headers=auth,
            json={
                "title": f"bench proxy {secrets.token_hex(4)}",
                "slides": [{"title": f"Slide {n}", "content": "bench"} for n in range(20)],
                "audience": "named",
                "viewer_ids": [],
            },
        )
        deck.raise_for_status()
        lines = []
        for _ in range(INGEST_SESSIONS):
            opened = client.post(
                "/api/v1/sessions", headers=auth, json={"presentation_id": deck.json()["id"]}
            )
            opened.raise_for_status()
            lines.append(f"{opened.json()['id']} {opened.json()['ingest_token']}")
    sessions_file.write_text("\n".join(lines) + "\n")


def _paced_script(workdir: Path) -> Path:
    """ingest.lua with a pause before each request on a connection (wrk calls `delay()` when defined)."""
    script = workdir / "ingest-paced.lua"
    script.write_text(
        f"dofile({json.dumps(str(HERE / 'ingest.lua'))})\nfunction delay() return {INGEST_DELAY_MS} end\n"
    )
    return script


def _wrk(url: str, script: Path, *script_args: str, **options: Any) -> WrkResult:
    """tests.bench.run.wrk, its failure saying what wrk said (a stack removed mid-run refuses connections)."""
    try:
        return wrk(url, script, *script_args, **options)
    except subprocess.CalledProcessError as error:
        said = (error.stderr or error.stdout or "").strip()[:300]
        raise RuntimeError(f"wrk {url}: {said} (is the {STACK} stack still up?)") from None


def _in_task(pid: int) -> list[str]:
    return ["nsenter", f"--net=/proc/{pid}/ns/net", "--"]


def _in_parallel(results: list[WrkResult]) -> WrkResult:
    """wrk runs at the same time: requests add up over the longest run; latency is the worst run's."""
    return WrkResult(
        requests=sum(r.requests for r in results),
        seconds=max(r.seconds for r in results),
        non_2xx=sum(r.non_2xx for r in results),
        socket_errors=sum(r.socket_errors for r in results),
        p50_ms=max(r.p50_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
    )


def _in_sequence(results: list[WrkResult]) -> WrkResult:
    """wrk runs one after the other: requests and time add up; latency is the median run's p50, worst p99."""
    return WrkResult(
        requests=sum(r.requests for r in results),
        seconds=sum(r.seconds for r in results),
        non_2xx=sum(r.non_2xx for r in results),
        socket_errors=sum(r.socket_errors for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
    )


def _direct_to_every_task(pids: list[int], path: str, script: Path) -> WrkResult:
    """One wrk per backend task at once, inside its network namespace, the connections split evenly."""
    share = max(1, CONNECTIONS // len(pids))
    with ThreadPoolExecutor(len(pids)) as pool:
        runs = pool.map(
            lambda pid: _wrk(
                f"http://127.0.0.1:{BACKEND_PORT}{path}",
                script,
                connections=share,
                threads=1,
                prefix=_in_task(pid),
            ),
            pids,
        )
        return _in_parallel(list(runs))


@dataclass(frozen=True)
class ProxyBench:
    tasks: int
    reads_proxied: WrkResult
    reads_direct: WrkResult
    ingest_proxied: WrkResult
    ingest_direct: WrkResult

    @property
    def reads_ratio(self) -> float:
        return self.reads_proxied.per_second / self.reads_direct.per_second

    @property
    def ingest_ratio(self) -> float:
        return self.ingest_direct.p50_ms / self.ingest_proxied.p50_ms

    @property
    def errors(self) -> int:
        runs = (self.reads_proxied, self.reads_direct, self.ingest_proxied, self.ingest_direct)
        return sum(run.non_2xx + run.socket_errors for run in runs)


def measure(target: Target) -> ProxyBench:
    """ROUNDS rounds, each path once per round in turn, so that other work on the machine (it has 2
    cores) weighs on both paths alike."""
    workdir = Path(tempfile.mkdtemp(prefix="pap-bench-proxy-"))
    runs: dict[str, list[WrkResult]] = {
        name: [] for name in ("reads_proxied", "reads_direct", "ingest_proxied", "ingest_direct")
    }
    try:
        sessions = workdir / "sessions.txt"
        open_sessions(target, sessions)
        paced = _paced_script(workdir)
        health = HERE / "health.lua"
        ingest = (str(sessions), str(BATCH))
        tasks = len(target.backend_pids)
        for number in range(1, ROUNDS + 1):
            print(
                f"bench proxy: round {number}/{ROUNDS}, GET /health proxied, then direct to {tasks} task(s)",
                flush=True,
            )
            runs["reads_proxied"].append(_wrk(f"{target.edge}/health", health))
            runs["reads_direct"].append(_direct_to_every_task(target.backend_pids, "/health", health))
            time.sleep(SETTLE_SECONDS)  # the limits' windows forget the setup's and the last round's calls
            print(
                f"bench proxy: round {number}/{ROUNDS}, ingestion paced, proxied, then direct to one task",
                flush=True,
            )
            runs["ingest_proxied"].append(
                _wrk(
                    target.edge,
                    paced,
                    *ingest,
                    secrets.token_hex(3),
                    connections=INGEST_CONNECTIONS,
                    threads=1,
                )
            )
            time.sleep(SETTLE_SECONDS)
            # One task only: every direct client is 127.0.0.1, one shared budget in the service's limiter.
            runs["ingest_direct"].append(
                _wrk(
                    f"http://127.0.0.1:{BACKEND_PORT}",
                    paced,
                    *ingest,
                    secrets.token_hex(3),
                    connections=INGEST_CONNECTIONS,
                    threads=1,
                    prefix=_in_task(target.backend_pids[0]),
                )
            )
            time.sleep(SETTLE_SECONDS)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return ProxyBench(tasks, **{name: _in_sequence(results) for name, results in runs.items()})


def _verdict(ratio: float) -> str:
    return "meets the goal" if ratio >= GOAL else "BELOW the goal"


def _run_line(result: WrkResult) -> str:
    errors = result.non_2xx + result.socket_errors
    return f"{result.per_second:,.1f} r/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms" + (
        f", {errors} errors" if errors else ""
    )


def render(bench: ProxyBench) -> str:
    rows = [
        (
            f"reads `GET /health`, {CONNECTIONS} connections: proxied (TLS, nginx, VIP over "
            f"{bench.tasks} tasks)",
            _run_line(bench.reads_proxied),
        ),
        (
            f"reads: direct to the {bench.tasks} tasks (one wrk each, in its netns)",
            _run_line(bench.reads_direct),
        ),
        (
            "**reads: proxied / direct requests/s**",
            f"**{bench.reads_ratio:.0%}** ({_verdict(bench.reads_ratio)} >= {GOAL:.0%})",
        ),
        (
            f"ingestion, batches of {BATCH}, paced under the API limit: proxied",
            _run_line(bench.ingest_proxied),
        ),
        ("ingestion, paced: direct to one task", _run_line(bench.ingest_direct)),
        (
            "**ingestion: direct p50 / proxied p50** (throughput is capped by the limit on both paths)",
            f"**{bench.ingest_ratio:.0%}** ({_verdict(bench.ingest_ratio)} >= {GOAL:.0%})",
        ),
    ]
    table = "\n".join(["| | |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)])
    return f"""
## Through the TLS proxy vs straight to the backends (the deployed {STACK} stack)

wrk on this host, {ROUNDS} rounds of {DURATION_SECONDS} s per path, the paths in turn. Proxied: the published
port on 127.0.0.1 (the engine's docker-proxy), TLS at nginx, the backend service's virtual IP. Direct:
`nsenter --net` into each backend task's network namespace, plain HTTP to 127.0.0.1:{BACKEND_PORT}.
Ingestion is paced ({INGEST_CONNECTIONS} connections, {INGEST_DELAY_MS} ms pause each) because both API
rate limits count per client address and a bench has one.

{table}
"""


def bench() -> str:
    """Runs the comparison if the stack is up; the BENCHMARKS.md section (or why it is missing)."""
    try:
        target = find_stack()
    except StackNotRunningError as error:
        message = NOT_RUNNING.format(stack=STACK, why=error)
        print(message, flush=True)
        return f"\n## Through the TLS proxy vs straight to the backends\n\nNot measured: {message}\n"
    if shutil.which("nsenter") is None or shutil.which("wrk") is None:
        raise RuntimeError(
            "bench proxy needs nsenter (util-linux) and wrk: run tools/ensure-packages.sh --bench"
        )
    section = render(measure(target))
    print(section, flush=True)
    return section


def main() -> int:
    try:
        target = find_stack()
    except StackNotRunningError as error:
        print(NOT_RUNNING.format(stack=STACK, why=error), file=sys.stderr)
        return 2
    machine = describe(PG_BIN, target.postgres_version)
    print("\n".join(f"{name}: {value}" for name, value in machine.items()))
    result = measure(target)
    print(render(result))
    return 1 if result.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
