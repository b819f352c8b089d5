"""A second Swarm node: a worker engine joins, backend tasks run and serve on it, its loss is survived.

The worker is a Docker engine in a container of the project's own (tests/e2e/worker.py). The checks run in
order on one worker: its engine refuses services before it joins; it joins and receives backend tasks (the
backend is scaled from its N replicas to 2N through the Engine API, and Swarm's spread puts the N new ones on
the empty node); requests through the proxy are served by tasks on both nodes, counted per task from the
access-log line each request leaves in exactly one task (matched by its X-Request-ID); the worker is killed
under 20 r/s and Swarm reschedules its tasks onto the manager; the node entry is removed. The module's
fixture restores N replicas and removes the worker whatever happened.

Why the Engine API and not an update run of the program: after the rollout checks the platform runs a
release (service build context, overrides) that only tests/e2e/test_85_rollout.py knows; an update run from
here would roll the backend onto another image and JWT key. Changing `Replicas` alone starts no rolling
update, and the restored spec is the one the program declared.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import pytest

from infra.config import PROJECT
from infra.naming import Naming
from tests.e2e import api, check_second_node
from tests.e2e.conftest import STACK, Accounts, Platform
from tests.e2e.database import Database
from tests.e2e.load import Credentials, SteadyLoad, open_credentials, unstored_events
from tests.e2e.resources.common import ApplyError, engine
from tests.e2e.resources.services import create_service
from tests.e2e.summary import Summary, verify, verify_all
from tests.e2e.worker import Worker, wait_for

pytestmark = pytest.mark.e2e
BACKEND = Naming(PROJECT, STACK).name("backend")
NOT_A_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join"'
SPREAD_TIMEOUT = 180.0  # scale -> the worker's tasks healthy (start period and first checks included)
SERVE_SECONDS = 20.0  # load while tasks run on both nodes
KILL_AFTER = 5.0  # seconds of load before the kill
SETTLE_SECONDS = 5.0  # load kept on after every replica runs again
RECOVERY_TIMEOUT = 120.0
RESTORE_TIMEOUT = 120.0
# The manager's dispatcher expects a heartbeat every 5 s and declares a node down after missing it with
# grace (measured 11-15 s here); 30 s leaves room for a loaded machine, not for a missed detection.
MAX_DOWN_SECONDS = 30.0
# Down, then the rescheduled tasks start and pass their health check (measured 17-18 s for a task without
# one); 60 s allows the backend's start period.
MAX_RECOVERY_SECONDS = 60.0
# Only the requests that a worker task held when it died can fail: nginx passes a request whose connection
# to the dead task could not be made on to the next upstream (proxy_next_upstream error timeout), also a
# POST, since nothing was sent. At 20 r/s with answers under 250 ms, at most 5 are in flight at once.
MAX_FAILED = 5
MIN_RATE = 19.0  # the load's pacing keeps 20 r/s unless requests stall past its 32 in-flight slots
LOGIN_WINDOW = 61.0  # the login limit is 5 a minute per client address; stay at 4
LOGINS_PER_WINDOW = 4


@dataclass
class SecondNode:
    """Module state: the worker, the backend's declared replicas, and who the load acts as."""

    worker: Worker
    replicas: int
    credentials: Credentials | None = None
    scaled: bool = False
    skip_reason: str = ""
    worker_tasks: list[str] = field(default_factory=list)  # task IDs the worker ran before its loss

    def require(self) -> None:
        if self.skip_reason:
            pytest.skip(self.skip_reason)


# --- the manager's view of the backend -------------------------------------------------------------------


def _host() -> docker.APIClient:
    return docker.APIClient(timeout=120)


def _backend() -> dict[str, Any]:
    return dict(_host().inspect_service(BACKEND))


def _scale(replicas: int) -> None:
    """`docker service scale`: the current spec with another replica count, at the current version index."""
    service = _backend()
    spec = service["Spec"]
    spec["Mode"]["Replicated"]["Replicas"] = replicas
    engine(
        _host(),
        "POST",
        "/services/{0}/update",
        service["ID"],
        body=spec,
        params={"version": service["Version"]["Index"]},
    )


def _tasks(desired: str = "running") -> list[dict[str, Any]]:
    return list(_host().tasks(filters={"service": BACKEND, "desired-state": desired}))


def _running_by_node(node_ids: set[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Running (healthy: Swarm reports `starting` until the health check passes) tasks per node ID."""
    nodes: dict[str, list[dict[str, Any]]] = {}
    for task in _tasks():
        if task["Status"]["State"] == "running" and (node_ids is None or task["NodeID"] in node_ids):
            nodes.setdefault(task["NodeID"], []).append(task)
    return nodes


def _manager_id() -> str:
    return str(_host().info()["Swarm"]["NodeID"])


def _service_image(service: dict[str, Any]) -> str:
    return str(service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]).split("@")[0]


def _encrypted_networks(service: dict[str, Any]) -> list[str]:
    names = []
    for attachment in service["Spec"]["TaskTemplate"].get("Networks") or []:
        network = _host().inspect_network(attachment["Target"])
        if "encrypted" in (network.get("Options") or {}):
            names.append(str(network["Name"]))
    return names


# --- counting who served -------------------------------------------------------------------------------


def requests_per_task(tasks: list[tuple[str, docker.APIClient, str]], prefix: str) -> dict[str, int]:
    """Access-log lines (JSON, one per request) whose request_id starts with `prefix`, per task.

    `tasks` holds (label, the engine that runs the task, its container ID).
    """
    counts = {}
    for label, node_engine, container_id in tasks:
        logs = node_engine.logs(container_id, stdout=True, stderr=True).decode(errors="replace")
        seen = 0
        for line in logs.splitlines():
            if prefix not in line or "{" not in line:
                continue
            try:
                entry = json.loads(line[line.index("{") :])
            except ValueError:
                continue
            seen += str(entry.get("request_id", "")).startswith(prefix + "-")
        counts[label] = seen
    return counts


def _login(platform: Platform, account: api.Account) -> api.Account:
    """A fresh token (the rollout checks rotated the JWT key), within this client address's login budget."""
    recent = [t for t in platform.login_times if time.monotonic() - t < LOGIN_WINDOW]
    if len(recent) >= LOGINS_PER_WINDOW:
        time.sleep(max(0.0, LOGIN_WINDOW - (time.monotonic() - recent[-LOGINS_PER_WINDOW])))
    with platform.edge.client() as client:
        return api.login(client, account.email, account.password, platform.login_times)


def _load(platform: Platform, state: SecondNode, name: str) -> SteadyLoad:
    assert state.credentials is not None
    return SteadyLoad(
        platform.edge, state.credentials, request_id_prefix=f"e2e-{name}-{uuid.uuid4().hex[:8]}"
    )


# --- the worker ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def second_node(platform: Platform, summary: Summary) -> Iterator[SecondNode]:
    try:
        service = _backend()
    except docker.errors.NotFound:
        pytest.skip(f"no service {BACKEND}: the platform is not deployed on Swarm")
    replicas = int(service["Spec"]["Mode"]["Replicated"]["Replicas"])
    with Worker() as worker:
        state = SecondNode(worker, replicas)
        try:
            yield state
        finally:
            _restore(state, summary)


def _restore(state: SecondNode, summary: Summary) -> None:
    """N replicas again, the node entry and the worker gone, N running on the manager (bounded)."""
    started = time.monotonic()
    if state.scaled:
        _scale(state.replicas)
    state.worker.remove()
    manager = _manager_id()

    def settled() -> bool | None:
        on_manager = _running_by_node().get(manager, [])
        return True if len(on_manager) == state.replicas and len(_tasks()) == state.replicas else None

    try:
        wait_for(f"{state.replicas} {BACKEND} tasks running on the manager", settled, RESTORE_TIMEOUT, 1.0)
        summary.fact(
            "second node: restored",
            f"{state.replicas} replicas on the manager after {time.monotonic() - started:.1f} s",
        )
    except TimeoutError as error:
        summary.fact("second node: restore FAILED", str(error))
        raise


def test_worker_engine_refuses_services_before_joining(second_node: SecondNode, summary: Summary) -> None:
    engine_api = second_node.worker.engine
    try:
        engine_api.create_service(docker.types.TaskTemplate(docker.types.ContainerSpec("sha256:" + "0" * 64)))
        raw = "a service was created"
    except docker.errors.APIError as error:
        raw = str(error.explanation)
    # The harness's own create path (what the program's deploy runs) with the engine's words kept.
    try:
        create_service(
            engine_api,
            BACKEND,
            {"name": BACKEND, "taskSpec": {"containerSpec": {"image": "sha256:" + "0" * 64}}},
        )
        surfaced = "a service was created"
    except ApplyError as error:
        surfaced = str(error)
    verify(
        summary,
        "second node: an engine not in the swarm refuses services, the deploy error says why",
        NOT_A_MANAGER in raw and NOT_A_MANAGER in surfaced,
        f"API: {raw[:100]}; deploy: {surfaced[:60]}...",
    )


def test_worker_joins_and_receives_backend_tasks(
    platform: Platform, accounts: Accounts, second_node: SecondNode, summary: Summary
) -> None:
    worker = second_node.worker
    started = time.monotonic()
    worker.join()
    joined = time.monotonic() - started
    service = _backend()
    started = time.monotonic()
    worker.load_images([_service_image(service)])
    loaded = time.monotonic() - started
    encrypted = _encrypted_networks(service)
    if encrypted:
        passes, detail = check_second_node.encrypted_overlay_between(_host(), worker)
        summary.fact("second node: encrypted overlay between the nodes", f"{passes}: {detail}")
        if not passes:
            second_node.skip_reason = (
                f"{BACKEND}'s networks {encrypted} are encrypted and this kernel passes no ESP traffic "
                f"between nodes ({detail}); deploy the e2e stack with network.encrypted=false to run these"
            )
            summary.record(
                "second node: backend tasks on the worker", True, f"skipped: {second_node.skip_reason}"
            )
            pytest.skip(second_node.skip_reason)
    with platform.edge.client() as client:
        presenter, viewer = _login(platform, accounts.presenter), _login(platform, accounts.viewer)
        deck_id = api.create_deck(client, presenter, ["One", "Two"], [accounts.viewer_id])
        second_node.credentials = open_credentials(client, presenter, viewer, deck_id)
    started = time.monotonic()
    _scale(2 * second_node.replicas)
    second_node.scaled = True
    assert worker.node_id is not None
    nodes = {worker.node_id, _manager_id()}

    def spread() -> dict[str, list[dict[str, Any]]] | None:
        running = _running_by_node(nodes)
        counts = [len(running.get(node, [])) for node in nodes]
        return running if counts == [second_node.replicas] * 2 else None

    try:
        running = wait_for(f"{BACKEND} on both nodes", spread, SPREAD_TIMEOUT, 1.0)
    except TimeoutError:
        running = _running_by_node(nodes)
    spread_seconds = time.monotonic() - started
    on_worker = running.get(worker.node_id, [])
    second_node.worker_tasks = [task["ID"] for task in on_worker]
    verify(
        summary,
        "second node: worker joins, the backend's new tasks run (healthy) on it",
        len(on_worker) == second_node.replicas
        and len(running.get(_manager_id(), [])) == second_node.replicas,
        f"joined (Ready) in {joined:.1f} s, image loaded in {loaded:.1f} s; {second_node.replicas} -> "
        f"{2 * second_node.replicas} replicas: {len(on_worker)} running on the worker, "
        f"{len(running.get(_manager_id(), []))} on the manager, {spread_seconds:.1f} s after the scale",
    )


def test_tasks_on_both_nodes_serve_requests(
    platform: Platform, second_node: SecondNode, database: Database, summary: Summary
) -> None:
    second_node.require()
    worker = second_node.worker
    with _load(platform, second_node, "both-nodes") as load:
        time.sleep(SERVE_SECONDS)
        report = load.stop()
    time.sleep(1)  # the last access-log lines
    tasks = []
    for node_id, running in _running_by_node().items():
        node_engine = worker.engine if node_id == worker.node_id else _host()
        where = "worker" if node_id == worker.node_id else "manager"
        tasks += [
            (f"{where}:{task['ID'][:8]}", node_engine, task["Status"]["ContainerStatus"]["ContainerID"])
            for task in running
        ]
    counts = requests_per_task(tasks, load.request_id_prefix)
    per_node = {
        where: sum(n for label, n in counts.items() if label.startswith(where))
        for where in ("manager", "worker")
    }
    missing = unstored_events(database, report)
    verify_all(
        summary,
        [
            (
                "second node: requests through the proxy succeed with tasks on both nodes",
                report.failed == 0 and not report.unexpected and report.rate >= MIN_RATE,
                str(report),
            ),
            (
                "second node: tasks on both nodes serve (access-log lines by X-Request-ID)",
                per_node["worker"] > 0 and per_node["manager"] > 0 and sum(counts.values()) >= report.ok,
                f"{sum(counts.values())} lines for {report.ok} ok answers; per node {per_node}, "
                f"per task {counts}",
            ),
            (
                "second node: events ingested through worker tasks are stored",
                bool(report.acknowledged) and not missing,
                f"{len(report.acknowledged)} acknowledged, {len(missing)} missing in PostgreSQL",
            ),
        ],
    )


@dataclass
class Recovery:
    down: float | None = None  # the manager marks the node down
    rescheduled: float | None = None  # every desired task is assigned to the manager
    replicas_back: float | None = None  # every desired task runs (healthy) on the manager


def _watch_recovery(worker: Worker, desired: int, killed: float) -> Recovery:
    manager = _manager_id()
    recovery = Recovery()
    while time.monotonic() - killed < RECOVERY_TIMEOUT:
        now = time.monotonic() - killed
        if recovery.down is None and worker.state() == "down":
            recovery.down = now
        tasks = _tasks()
        assigned = [task for task in tasks if task["NodeID"] == manager]
        if recovery.rescheduled is None and len(assigned) >= desired:
            recovery.rescheduled = now
        running = [task for task in assigned if task["Status"]["State"] == "running"]
        if len(running) >= desired and recovery.down is not None:
            recovery.replicas_back = now
            return recovery
        time.sleep(0.2)
    return recovery


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def test_worker_killed_under_load_is_survived(
    platform: Platform, second_node: SecondNode, database: Database, summary: Summary
) -> None:
    second_node.require()
    worker = second_node.worker
    desired = 2 * second_node.replicas
    with _load(platform, second_node, "node-loss") as load:
        time.sleep(KILL_AFTER)
        killed = time.monotonic()
        worker.kill()
        recovery = _watch_recovery(worker, desired, killed)
        time.sleep(SETTLE_SECONDS)
        after = load.report(since=killed)
        report = load.stop()
    missing = unstored_events(database, report)
    summary.fact("second node loss: load", str(report))
    summary.fact(
        "second node loss: timeline after the kill",
        f"node down {_seconds(recovery.down)}, tasks rescheduled onto the manager "
        f"{_seconds(recovery.rescheduled)}, all {desired} running {_seconds(recovery.replicas_back)}",
    )
    verify_all(
        summary,
        [
            (
                f"second node: worker killed under load, <= {MAX_FAILED} failed requests",
                report.failed <= MAX_FAILED and not report.unexpected and report.rate >= MIN_RATE,
                f"{report.failed} failed of {report.sent} ({after.failed} after the kill), "
                f"p99 {report.p99_ms:.0f} ms at {report.rate:.1f} r/s; statuses {report.statuses}",
            ),
            (
                f"second node: the manager marks the lost node down within {MAX_DOWN_SECONDS:.0f} s",
                recovery.down is not None and recovery.down <= MAX_DOWN_SECONDS,
                f"down after {_seconds(recovery.down)}",
            ),
            (
                f"second node: all {desired} replicas run on the manager within {MAX_RECOVERY_SECONDS:.0f} s",
                recovery.replicas_back is not None and recovery.replicas_back <= MAX_RECOVERY_SECONDS,
                f"rescheduled {_seconds(recovery.rescheduled)}, "
                f"running {_seconds(recovery.replicas_back)} after the kill",
            ),
            (
                "second node: no acknowledged event lost with the node",
                bool(report.acknowledged) and not missing,
                f"{len(report.acknowledged)} acknowledged, {len(missing)} missing in PostgreSQL",
            ),
        ],
    )


def test_lost_node_removed_and_backend_back_to_its_replicas(
    second_node: SecondNode, summary: Summary
) -> None:
    second_node.require()
    worker = second_node.worker
    node_id = worker.node_id
    worker.remove_node()  # `docker node rm --force`
    started = time.monotonic()
    _scale(second_node.replicas)
    second_node.scaled = False
    manager = _manager_id()

    def settled() -> bool | None:
        running = _running_by_node().get(manager, [])
        return (
            True if len(running) == second_node.replicas and len(_tasks()) == second_node.replicas else None
        )

    with contextlib.suppress(TimeoutError):
        wait_for(f"{second_node.replicas} {BACKEND} tasks", settled, RESTORE_TIMEOUT, 1.0)
    nodes = {node["ID"] for node in _host().nodes()}
    running = _running_by_node()
    verify(
        summary,
        "second node: node entry removed, the backend back to its replicas on the manager",
        node_id not in nodes and len(running.get(manager, [])) == second_node.replicas and len(running) == 1,
        f"nodes {len(nodes)}; {second_node.replicas} replicas declared, running per node "
        f"{ {('manager' if n == manager else n[:8]): len(t) for n, t in running.items()} } "
        f"after {time.monotonic() - started:.1f} s",
    )
