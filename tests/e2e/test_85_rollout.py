"""Rollouts under steady load: a new version, a bad one Swarm rolls back, a JWT key rotation, scaling.

Each check is an update run of the program (`deploy` again with the session's mocks: `pulumi up`) while
tests/e2e/load.py sends 20 r/s through the proxy. They change the running platform, so they run in this
order, after the faults and before the second node and the teardown, and they leave 2 healthy backend
replicas of the last good release (the version variant, with the rotated JWT key). Secret files and
`docker inspect` are checked in test_40_hardening.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest
from pulumi.runtime import settings as runtime_settings

from infra import images
from infra.config import PROJECT
from infra.naming import Naming
from tests.e2e import api, variants
from tests.e2e.conftest import STACK, Accounts, Platform
from tests.e2e.database import Database
from tests.e2e.deploy import E2E_OVERRIDES, deploy
from tests.e2e.load import Credentials, LoadReport, SteadyLoad, open_credentials, unstored_events
from tests.e2e.resources.common import ApplyError
from tests.e2e.summary import Summary, verify_all

pytestmark = pytest.mark.e2e
NAMING = Naming(PROJECT, STACK)
BACKEND = NAMING.name("backend")
SETTLE_SECONDS = 5.0  # load kept on after a deploy returns: answers from the new tasks only
SPREAD_REQUESTS = 400
SPREAD_CONCURRENCY = 16  # more than nginx keeps idle per worker, so it opens connections to the new tasks
LOGIN_WINDOW = 61.0  # the login limit is 5 a minute per client address; this module stays at 4
LOGINS_PER_WINDOW = 4
FAILED_RUN_IDLE_SECONDS = 120.0
MIN_RATE = 19.0  # requests/s the load must have kept up (it paces 20)


@dataclass
class Release:
    """What the platform runs: the service build context and the stack config overrides of its deploy."""

    context: Path
    overrides: dict[str, dict[str, Any]]
    version: str

    def but(self, **overrides: dict[str, Any]) -> Release:
        merged = {key: dict(value) for key, value in self.overrides.items()}
        for key, patch in overrides.items():
            merged[key] = {**merged.get(key, {}), **patch}
        return Release(self.context, merged, self.version)


@dataclass
class Rollout:
    """Module state: the last good release, and who the load acts as (new tokens after the rotation)."""

    good: Release
    presenter: api.Account
    viewer: api.Account
    deck_id: str
    image_ids: dict[str, str] = field(default_factory=dict)  # version -> image ID


@pytest.fixture(scope="module")
def rollout(platform: Platform, accounts: Accounts) -> Rollout:
    with platform.edge.client() as client:
        deck_id = api.create_deck(client, accounts.presenter, ["One", "Two"], [accounts.viewer_id])
    overrides = {key: dict(value) for key, value in E2E_OVERRIDES.items()}
    good = Release(variants.SOURCE, overrides, variants.source_version())
    state = Rollout(good, accounts.presenter, accounts.viewer, deck_id)
    state.image_ids[good.version] = _service_image(_backend_service())
    return state


# --- the engine's view -----------------------------------------------------------------------------------


def _docker() -> docker.APIClient:
    return docker.APIClient(timeout=120)


def _backend_service() -> dict[str, Any]:
    return dict(_docker().inspect_service(BACKEND))


def _service_image(service: Mapping[str, Any]) -> str:
    return str(service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]).split("@")[0]


def _running_tasks(service_name: str) -> list[dict[str, Any]]:
    tasks = _docker().tasks(filters={"service": service_name, "desired-state": "running"})
    return [task for task in tasks if task["Status"]["State"] == "running"]


@dataclass(frozen=True)
class TaskView:
    task_id: str
    container_id: str
    image: str  # the image ID the container runs
    health: str


def _backend_tasks() -> list[TaskView]:
    views = []
    for task in _running_tasks(BACKEND):
        container_id = task["Status"]["ContainerStatus"]["ContainerID"]
        container = _docker().inspect_container(container_id)
        views.append(
            TaskView(
                task_id=task["ID"],
                container_id=container_id,
                image=container["Image"],
                health=(container["State"].get("Health") or {}).get("Status", "none"),
            )
        )
    return views


def _short(tasks: list[TaskView]) -> list[str]:
    return sorted({task.image[7:19] for task in tasks})


def _wait_for_healthy_backends(replicas: int, image_id: str, timeout: float = 120.0) -> list[TaskView]:
    """The running backend tasks once `replicas` of them run `image_id`, healthy (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = _backend_tasks()
        settled = len(tasks) == replicas and all(t.image == image_id and t.health == "healthy" for t in tasks)
        if settled or time.monotonic() > deadline:
            return tasks
        time.sleep(1)


def _built_image(context: Path) -> str:
    """The ID of the image the program builds from `context` (its tag is the context digest, infra/images)."""
    tag = f"{NAMING.name('service')}:{images.context_digest(context)[:12]}"
    return str(_docker().inspect_image(tag)["Id"])


def _swarm_time(text: str) -> datetime.datetime:
    # RFC 3339 with nanoseconds; fromisoformat takes at most microseconds.
    trimmed = re.sub(r"(\.\d{6})\d*", r"\1", text).replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(trimmed)


def _update_status(service: Mapping[str, Any]) -> str:
    """The backend's last Swarm update: its state and how long Swarm took, from its own timestamps."""
    status = service.get("UpdateStatus") or {}
    if not status:
        return "no update status"
    started, completed = status.get("StartedAt"), status.get("CompletedAt")
    took = ""
    if started and completed:
        took = f", {(_swarm_time(completed) - _swarm_time(started)).total_seconds():.1f} s in Swarm"
    return f"{status.get('State')}{took}"


def _database_task() -> tuple[str, str]:
    """The running database task's ID and its max_connections argument (a change restarts PostgreSQL)."""
    (service,) = _docker().services(filters={"label": [f"pap.stack={STACK}", "pap.role=database"]})
    running = [str(task["ID"]) for task in _running_tasks(service["ID"])]
    arguments = service["Spec"]["TaskTemplate"]["ContainerSpec"].get("Args") or []
    connections = next((a.split("=", 1)[1] for a in arguments if a.startswith("max_connections=")), "?")
    return ",".join(running) or "none running", connections


def _jwt_secret_names() -> set[str]:
    secrets = _docker().secrets(filters={"label": f"pap.stack={STACK}"})
    return {s["Spec"]["Name"] for s in secrets if s["Spec"]["Name"].startswith(NAMING.name("jwt-key") + "-")}


def _mounted_secret_names(service: Mapping[str, Any]) -> set[str]:
    mounted = service["Spec"]["TaskTemplate"]["ContainerSpec"].get("Secrets") or []
    return {str(item["SecretName"]) for item in mounted}


# --- through the proxy -----------------------------------------------------------------------------------


def _redeploy(platform: Platform, release: Release) -> float:
    """An update run (`pulumi up`) of `release`; seconds from its start until the program returned."""
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(images, "SERVICE_CONTEXT", release.context)
        deploy(STACK, platform.deployment.mocks, release.overrides)
    return time.monotonic() - started


def _after_failed_run(platform: Platform) -> None:
    """What the next run needs after one that raised: its last registrations finished, and the SDK's
    record of the failed run's outputs gone. Left in place, the next run awaits them and raises this
    run's error again (tests/e2e/runtime.py should clear them per run, as pulumi.runtime.test does)."""
    platform.deployment.mocks.wait_idle(FAILED_RUN_IDLE_SECONDS)
    runtime_settings.SETTINGS.outputs.clear()
    runtime_settings.SETTINGS.rpc_manager.clear()


def _versions_now(platform: Platform, requests: int = 12) -> Counter[str]:
    """/health "version" over fresh connections (the proxy balances them over every task)."""
    seen: Counter[str] = Counter()
    for _ in range(requests):
        with platform.edge.client() as client:
            response = client.get("/health")
        seen[
            str(response.json().get("version")) if response.status_code == 200 else f"{response.status_code}"
        ] += 1
    return seen


def _login(platform: Platform, account: api.Account) -> api.Account:
    """A fresh token for `account`, waiting first if this client address used its login budget."""
    recent = [t for t in platform.login_times if time.monotonic() - t < LOGIN_WINDOW]
    if len(recent) >= LOGINS_PER_WINDOW:
        time.sleep(max(0.0, LOGIN_WINDOW - (time.monotonic() - recent[-LOGINS_PER_WINDOW])))
    with platform.edge.client() as client:
        return api.login(client, account.email, account.password, platform.login_times)


def _credentials(platform: Platform, state: Rollout) -> Credentials:
    with platform.edge.client() as client:
        return open_credentials(client, state.presenter, state.viewer, state.deck_id)


def _load(platform: Platform, state: Rollout, name: str) -> SteadyLoad:
    return SteadyLoad(
        platform.edge, _credentials(platform, state), request_id_prefix=f"e2e-{name}-{uuid.uuid4().hex[:8]}"
    )


def _load_checks(name: str, report: LoadReport, missing: set[str]) -> list[tuple[str, bool, object]]:
    return [
        (
            f"rollout: {name}, 0 failed requests under steady load",
            report.failed == 0 and not report.unexpected and report.rate >= MIN_RATE,
            str(report),
        ),
        (
            f"rollout: {name}, every acknowledged event stored",
            bool(report.acknowledged) and not missing,
            f"{len(report.acknowledged)} acknowledged, {len(missing)} missing in PostgreSQL",
        ),
    ]


# --- the checks ------------------------------------------------------------------------------------------


def test_rolling_deploy_of_a_new_version(
    platform: Platform, rollout: Rollout, database: Database, summary: Summary
) -> None:
    version = f"{variants.source_version()}+e2e.rolling"
    release = Release(variants.with_version(version), rollout.good.overrides, version)
    replicas = int(release.overrides["backend"]["replicas"])
    with _load(platform, rollout, "rolling") as load:
        time.sleep(SETTLE_SECONDS)
        seconds = _redeploy(platform, release)
        image_id = _built_image(release.context)
        tasks = _wait_for_healthy_backends(replicas, image_id)
        time.sleep(SETTLE_SECONDS)
        versions = _versions_now(platform)
        report = load.stop()
    missing = unstored_events(database, report)
    service = _backend_service()
    rolled = (
        len(tasks) == replicas
        and all(t.image == image_id and t.health == "healthy" for t in tasks)
        and image_id != rollout.image_ids[rollout.good.version]
    )
    summary.fact("rollout rolling deploy: versions answered by /health during it", report.versions)
    verify_all(
        summary,
        [
            *_load_checks("rolling deploy", report, missing),
            (
                "rollout: rolling deploy, /health reports the new version at the end",
                set(versions) == {version},
                f"{dict(versions)}",
            ),
            (
                "rollout: rolling deploy, every backend task runs the new image",
                rolled and _service_image(service) == image_id,
                f"{len(tasks)} tasks on {_short(tasks)} (new {image_id[7:19]}); "
                f"rollout {seconds:.1f} s from the update run's start to the update completed "
                f"(Swarm: {_update_status(service)})",
            ),
        ],
    )
    rollout.good = release
    rollout.image_ids[version] = image_id


def test_bad_deploy_is_rolled_back_by_swarm(
    platform: Platform, rollout: Rollout, database: Database, summary: Summary
) -> None:
    good_image = rollout.image_ids[rollout.good.version]
    version = f"{variants.source_version()}+e2e.unhealthy"
    release = Release(variants.with_failing_healthcheck(version), rollout.good.overrides, version)
    replicas = int(release.overrides["backend"]["replicas"])
    error: ApplyError | None = None
    with _load(platform, rollout, "bad") as load:
        time.sleep(SETTLE_SECONDS)
        started = time.monotonic()
        try:
            _redeploy(platform, release)
        except ApplyError as raised:
            error = raised
            _after_failed_run(platform)
        seconds = time.monotonic() - started
        tasks = _wait_for_healthy_backends(replicas, good_image)
        time.sleep(SETTLE_SECONDS)
        versions = _versions_now(platform)
        report = load.stop()
    missing = unstored_events(database, report)
    service = _backend_service()
    message = str(error or "").splitlines()[0] if error else ""
    verify_all(
        summary,
        [
            *_load_checks("bad deploy", report, missing),
            (
                "rollout: bad deploy (failing health check) rolled back by Swarm, the deploy fails",
                error is not None and "rollback" in message.lower(),
                f"{type(error).__name__ if error else 'no error'}: {message[:160]} "
                f"({seconds:.1f} s; Swarm: {_update_status(service)})",
            ),
            (
                "rollout: bad deploy, the previous image serves at the end, the bad one never did",
                len(tasks) == replicas
                and all(t.image == good_image and t.health == "healthy" for t in tasks)
                and _service_image(service) == good_image
                and set(versions) == {rollout.good.version}
                and version not in report.versions,
                f"{len(tasks)} tasks on {_short(tasks)} (previous {good_image[7:19]}); "
                f"/health at the end {dict(versions)}, during the deploy {report.versions}",
            ),
        ],
    )


def test_jwt_key_rotation_under_load(
    platform: Platform, rollout: Rollout, database: Database, summary: Summary
) -> None:
    image_id = rollout.image_ids[rollout.good.version]
    generation = int(rollout.good.overrides.get("rotation", {}).get("jwtKey", 0)) + 1
    rotated = rollout.good.but(rotation={"jwtKey": generation})
    replicas = int(rotated.overrides["backend"]["replicas"])
    secrets_before = _jwt_secret_names()
    tasks_before = {t.task_id for t in _backend_tasks()}
    with _load(platform, rollout, "rotation") as load:
        time.sleep(SETTLE_SECONDS)
        seconds = _redeploy(platform, rotated)
        tasks = _wait_for_healthy_backends(replicas, image_id)
        # Tokens signed with the old key are now refused (401): log in again, open a new session.
        presenter, viewer = _login(platform, rollout.presenter), _login(platform, rollout.viewer)
        rollout.presenter, rollout.viewer = presenter, viewer
        load.swap(_credentials(platform, rollout))
        swapped_at = time.monotonic()
        time.sleep(3 * SETTLE_SECONDS)
        after = load.report(since=swapped_at)
        report = load.stop()
    rollout.good = rotated
    missing = unstored_events(database, report)
    secrets_after = _jwt_secret_names()
    service = _backend_service()
    rolled = (
        len(tasks) == replicas
        and all(t.health == "healthy" and t.image == image_id for t in tasks)
        and not tasks_before & {t.task_id for t in tasks}
    )
    new_secret = secrets_after - secrets_before
    verify_all(
        summary,
        [
            *_load_checks("JWT key rotation", report, missing),
            (
                "rollout: JWT key rotation, only old-key tokens refused (401), none after re-login",
                after.unauthorized == 0 and after.ok == after.sent and after.sent > 0,
                f"{report.unauthorized} x 401 with old-key tokens before re-login; after it {after}",
            ),
            (
                "rollout: JWT key rotation, new secret name, backend rolled onto it, old secret gone",
                len(secrets_before) == 1
                and len(new_secret) == 1
                and not secrets_before & secrets_after
                and new_secret <= _mounted_secret_names(service)
                and rolled,
                f"{sorted(secrets_before)} -> {sorted(secrets_after)}; {len(tasks)} new tasks "
                f"({_update_status(service)}); deploy {seconds:.1f} s",
            ),
        ],
    )


def _spread_probe(platform: Platform, prefix: str) -> None:
    """SPREAD_REQUESTS GET /health at SPREAD_CONCURRENCY, each with its own X-Request-ID."""
    local = threading.local()
    clients: list[Any] = []
    lock = threading.Lock()

    def one(index: int) -> int:
        client = getattr(local, "client", None)
        if client is None:
            context = platform.edge.client()
            client = context.__enter__()
            local.client = client
            with lock:
                clients.append(context)
        return int(client.get("/health", headers={"X-Request-ID": f"{prefix}-{index}"}).status_code)

    try:
        with ThreadPoolExecutor(SPREAD_CONCURRENCY) as pool:
            statuses = Counter(pool.map(one, range(SPREAD_REQUESTS)))
    finally:
        for context in clients:
            context.__exit__(None, None, None)
    assert set(statuses) == {200}, f"spread probe statuses {dict(statuses)}"


def _requests_per_task(
    tasks: list[TaskView], prefix: str, since: datetime.datetime | None = None
) -> dict[str, int]:
    """Access-log lines (JSON, one per request) whose request_id starts with `prefix`, per task."""
    counts = {}
    for task in tasks:
        raw = _docker().logs(task.container_id, stdout=True, stderr=True, since=since)
        logs = raw.decode(errors="replace")
        seen = 0
        for line in logs.splitlines():
            if prefix not in line:
                continue
            try:
                entry = json.loads(line[line.index("{") :])
            except ValueError:
                continue
            seen += str(entry.get("request_id", "")).startswith(prefix + "-")
        counts[task.task_id[:12]] = seen
    return counts


def test_scale_backend_to_4_spreads_requests_then_back_to_2(
    platform: Platform, rollout: Rollout, database: Database, summary: Summary
) -> None:
    image_id = rollout.image_ids[rollout.good.version]
    scaled = rollout.good.but(backend={"replicas": 4})
    probe = f"e2e-spread-{uuid.uuid4().hex[:8]}"
    database_before = _database_task()
    with _load(platform, rollout, "scale") as load:
        time.sleep(SETTLE_SECONDS)
        up_seconds = _redeploy(platform, scaled)
        four = _wait_for_healthy_backends(4, image_id)
        database_four = _database_task()
        scaled_at, scaled_wall = time.monotonic(), datetime.datetime.now(datetime.UTC)
        time.sleep(SETTLE_SECONDS)
        _spread_probe(platform, probe)
        time.sleep(1)  # the last access-log lines
        probe_counts = _requests_per_task(four, probe)
        load_counts = _requests_per_task(four, load.request_id_prefix, since=scaled_wall)
        during = load.report(since=scaled_at)
        down_seconds = _redeploy(platform, rollout.good)
        two = _wait_for_healthy_backends(2, image_id)
        time.sleep(SETTLE_SECONDS)
        report = load.stop()
    missing = unstored_events(database, report)
    database_after = _database_task()
    healthy_four = len(four) == 4 and all(t.health == "healthy" and t.image == image_id for t in four)
    verify_all(
        summary,
        [
            *_load_checks("scale 2 -> 4 -> 2", report, missing),
            (
                "rollout: scale 2 -> 4, requests spread over all 4 tasks",
                healthy_four and len(probe_counts) == 4 and all(probe_counts.values()),
                f"{SPREAD_REQUESTS} requests ({SPREAD_CONCURRENCY} at once) per task {probe_counts}; "
                f"the steady load's {during.sent} since the scale per task {load_counts}; "
                f"up {up_seconds:.1f} s",
            ),
            (
                "rollout: scaling the backend leaves PostgreSQL running (no restart)",
                database_after[0] == database_before[0],
                f"database task {database_before[0][:12]} -> {database_after[0][:12]}, max_connections "
                f"{database_before[1]} -> {database_after[1]} (at 4 replicas: {database_four[1]})",
            ),
            (
                "rollout: scale back 4 -> 2, 2 healthy tasks",
                len(two) == 2 and all(t.health == "healthy" and t.image == image_id for t in two),
                f"{len(two)} tasks ({[t.health for t in two]}); down {down_seconds:.1f} s",
            ),
        ],
    )
