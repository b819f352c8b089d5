"""How a deploy waits for a Swarm service (the provider's convergeConfig), and what it says when it cannot.

Create: until every desired replica has a task in state `running` (terraform-provider-docker's
replicatedConsoleLogUpdater: one task per slot, on an active node, desired state not terminal). Swarm
reports a task with a healthcheck as `running` only once the container is healthy.

Update: Swarm resets the service's UpdateStatus on every update and sets it again when the update rolls
tasks; `completed` ends the wait, `rollback_completed` / `paused` / `rollback_paused` fail it with Swarm's
message. One deliberate difference from the provider: it also stops waiting as soon as every slot has a
running task, which during a rolling update of several replicas is true before the last slot is updated,
so a rollback Swarm starts later goes unreported; the harness waits for the UpdateStatus instead.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from tests.e2e.resources.common import ApplyError

POLL_SECONDS = 1.0  # the provider polls every 5-10 s; only the cadence differs
# Swarm sets UpdateStatus when its updater picks the service up; the provider waits 7 s before its first
# look for the same reason. Without an UpdateStatus after this, the update rolled no task.
UPDATE_STATUS_GRACE_SECONDS = 15.0
TASK_LINES_PER_SLOT = 3
LOG_LINES = 10

# The provider's numberedStates: the order of Swarm's task state machine.
TASK_STATE_ORDER = {
    state: number
    for number, state in enumerate(
        ["new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running",
         "complete", "shutdown", "failed", "rejected"],
        start=1,
    )
}  # fmt: skip
RUNNING = TASK_STATE_ORDER["running"]


@dataclass(frozen=True)
class Converge:
    delay_seconds: float
    timeout_seconds: float


def _service(api: docker.APIClient, service_id: str) -> dict[str, Any]:
    return dict(api.inspect_service(service_id))


def _replicas(service: Mapping[str, Any], name: str) -> int:
    replicated = (service["Spec"].get("Mode") or {}).get("Replicated")
    if replicated is None or "Replicas" not in replicated:
        raise ApplyError(f"{name}: no replica count (convergeConfig needs a replicated service)")
    return int(replicated["Replicas"])


def _active_nodes(api: docker.APIClient) -> set[str]:
    return {node["ID"] for node in api.nodes() if node["Status"]["State"] != "down"}


def _tasks_by_slot(tasks: list[Mapping[str, Any]], active_nodes: set[str]) -> dict[int, Mapping[str, Any]]:
    """One task per slot: the lowest desired state wins, then the lowest observed state (start-first)."""
    by_slot: dict[int, Mapping[str, Any]] = {}
    for task in tasks:
        desired = TASK_STATE_ORDER.get(task["DesiredState"], 0)
        observed = TASK_STATE_ORDER.get(task["Status"]["State"], 0)
        if not desired or not observed:
            continue
        current = by_slot.get(task.get("Slot", 0))
        if current is not None:
            current_desired = TASK_STATE_ORDER[current["DesiredState"]]
            if current_desired < desired or (
                current_desired == desired and TASK_STATE_ORDER[current["Status"]["State"]] <= observed
            ):
                continue
        if task.get("NodeID") and task["NodeID"] not in active_nodes:
            continue
        by_slot[task.get("Slot", 0)] = task
    return by_slot


def running_replicas(api: docker.APIClient, service_id: str) -> int:
    """Slots whose chosen task is running with a non-terminal desired state (the provider's count)."""
    tasks = api.tasks(filters={"service": service_id, "desired-state": "running"})
    slots = _tasks_by_slot(tasks, _active_nodes(api))
    return sum(
        1
        for task in slots.values()
        if TASK_STATE_ORDER[task["DesiredState"]] <= RUNNING and task["Status"]["State"] == "running"
    )


def task_containers(api: docker.APIClient, service_id: str) -> list[str]:
    tasks = api.tasks(filters={"service": service_id})
    found = [((task["Status"].get("ContainerStatus") or {}).get("ContainerID") or "") for task in tasks]
    return [container_id for container_id in found if container_id]


def describe_tasks(api: docker.APIClient, service_id: str) -> str:
    """Each slot's latest tasks: state, desired state, Swarm's error and message, and failed tasks' logs."""
    tasks = sorted(
        api.tasks(filters={"service": service_id}),
        key=lambda task: (task.get("Slot", 0), task["Status"].get("Timestamp", "")),
        reverse=True,
    )
    lines: list[str] = []
    per_slot: dict[int, int] = {}
    for task in tasks:
        slot = task.get("Slot", 0)
        per_slot[slot] = per_slot.get(slot, 0) + 1
        if per_slot[slot] > TASK_LINES_PER_SLOT:
            continue
        status = task["Status"]
        line = f"  slot {slot} task {task['ID'][:12]}: {status['State']} (desired {task['DesiredState']})"
        if status.get("Err"):
            line += f", error: {status['Err']}"
        if status.get("Message") and status.get("Message") != status.get("Err"):
            line += f", message: {status['Message']}"
        exit_code = (status.get("ContainerStatus") or {}).get("ExitCode")
        if exit_code:
            line += f", exit code {exit_code}"
        lines.append(line)
        container_id = (status.get("ContainerStatus") or {}).get("ContainerID")
        if status["State"] in ("failed", "rejected") and container_id:
            lines += [f"    | {log}" for log in _logs(api, container_id)]
    return "\n".join(lines) or "  (no task at all)"


def _logs(api: docker.APIClient, container_id: str) -> list[str]:
    try:
        return api.logs(container_id, tail=LOG_LINES).decode(errors="replace").splitlines()
    except docker.errors.APIError:
        return []


def wait_created(api: docker.APIClient, service_id: str, name: str, converge: Converge) -> None:
    """Raises ApplyError listing every task's state and error when the replicas do not all run in time."""
    deadline = time.monotonic() + converge.timeout_seconds
    time.sleep(min(converge.delay_seconds, converge.timeout_seconds))
    while True:
        replicas = _replicas(_service(api, service_id), name)
        running = running_replicas(api, service_id)
        if running == replicas:
            return
        if time.monotonic() >= deadline:
            raise ApplyError(
                f"{name}: Service with ID ({service_id}) did not converge after "
                f"{converge.timeout_seconds:g}s: {running}/{replicas} replicas running; tasks:\n"
                + describe_tasks(api, service_id)
            )
        time.sleep(POLL_SECONDS)


def _last_failure(api: docker.APIClient, service_id: str) -> str:
    failed = [
        task
        for task in api.tasks(filters={"service": service_id})
        if task["Status"]["State"] in ("failed", "rejected")
    ]
    if not failed:
        return ""
    task = max(failed, key=lambda item: item["Status"].get("Timestamp", ""))
    return f"task {task['ID'][:12]} {task['Status']['State']}: {task['Status'].get('Err', '')}"


def _rolls_tasks(service: Mapping[str, Any]) -> bool:
    """Whether the last update changed what the tasks run (Swarm then rolls them and sets UpdateStatus)."""
    previous = service.get("PreviousSpec") or {}
    spec = service["Spec"]
    return any(spec.get(key) != previous.get(key) for key in ("TaskTemplate", "EndpointSpec"))


def wait_updated(api: docker.APIClient, service_id: str, name: str, converge: Converge) -> None:
    """Until Swarm completed the update; its rollback or pause is an ApplyError with Swarm's message."""
    started = time.monotonic()
    deadline = started + converge.timeout_seconds
    # Why Swarm rolled back is the message of rollback_started, which can last less than a poll (nothing
    # to roll back when start-first never stopped an old task); the failed task then says it.
    reason = ""
    while True:
        service = _service(api, service_id)
        status = service.get("UpdateStatus") or {}
        state, message = status.get("State", ""), status.get("Message", "")
        if state in ("rollback_started", "paused") and message:
            reason = message
        if state == "completed":
            return
        if state in ("paused", "rollback_paused", "rollback_completed"):
            what = {
                "paused": "service update paused",
                "rollback_paused": "service rollback paused",
                "rollback_completed": "service rollback completed",
            }[state]
            why = reason or _last_failure(api, service_id) or message
            raise ApplyError(f"{name}: {what}: {why}\n{describe_tasks(api, service_id)}")
        # rollback_started: Swarm is restoring the previous spec; the error comes once it is done.
        settled = not state and (
            not _rolls_tasks(service) or time.monotonic() - started > UPDATE_STATUS_GRACE_SECONDS
        )
        if settled and running_replicas(api, service_id) == _replicas(service, name):
            return
        if time.monotonic() >= deadline:
            raise ApplyError(
                f"{name}: Service with ID ({service_id}) did not converge after "
                f"{converge.timeout_seconds:g}s (update state {state or 'none'}: {message}); tasks:\n"
                + describe_tasks(api, service_id)
            )
        time.sleep(POLL_SECONDS)
