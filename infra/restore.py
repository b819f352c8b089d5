"""Restore the stack's database with pgBackRest: to the latest point or a timestamp, from either repository.

    python -m infra.restore --stack dev                                  # latest, local repository
    python -m infra.restore --stack dev --repo 2                         # latest, off-host repository
    python -m infra.restore --stack dev --target '2026-12-04 10:15:00+00'  # point in time

What it does, on the swarm the Docker environment points at (DOCKER_HOST or the local socket):
1. scales the database service to 0 and waits until its task has stopped (the backends wait and retry);
2. makes sure the data volume exists (a lost volume is created anew, empty, with the stack's labels, so the
   program keeps owning it);
3. runs `pgbackrest restore` (`--delta`: only what differs is rewritten) as a Swarm job with the database
   service's own image, user, networks, files and volume, and prints its log;
4. scales the database back to 1: PostgreSQL replays the archived WAL up to the target, promotes, and the
   service is healthy once it accepts connections.
The program's declared state is untouched: the next `pulumi up` finds the same services and volume.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from infra import pgbackrest
from infra.config import PROJECT
from infra.naming import LABEL_ROLE, Naming

POLL_SECONDS = 1.0


class RestoreError(RuntimeError):
    pass


@dataclass(frozen=True)
class Timings:
    stop_seconds: float
    restore_seconds: float
    recovery_seconds: float

    @property
    def total_seconds(self) -> float:
        return self.stop_seconds + self.restore_seconds + self.recovery_seconds


def restore_arguments(repo: int, target: str | None) -> list[str]:
    """`pgbackrest restore`'s command line: latest (the end of the archive) or a point in time; promoted."""
    arguments = ["pgbackrest", f"--stanza={pgbackrest.STANZA}", f"--repo={repo}", "--delta"]
    if target is not None:
        arguments += ["--type=time", f"--target={target}", "--target-action=promote"]
    return [*arguments, "restore"]


class Restorer:
    def __init__(self, stack: str, api: docker.APIClient | None = None, timeout: float = 1800.0) -> None:
        self.naming = Naming(PROJECT, stack)
        self.api = api or docker.APIClient(timeout=120)
        self.timeout = timeout
        self.database = self.naming.name("db")

    def run(self, repo: int, target: str | None) -> Timings:
        service = self.api.inspect_service(self.database)
        spec = service["Spec"]
        volume = self._data_volume(spec)
        started = time.monotonic()
        self._scale(0)
        stopped = time.monotonic()
        self._ensure_volume(volume)
        try:
            self._job(spec, restore_arguments(repo, target))
        finally:
            restored = time.monotonic()
            self._scale(1)  # on failure too: PostgreSQL on what the volume holds, for an operator to look at
        self._wait(self._promoted, f"{self.database} to finish recovery and accept writes")
        return Timings(stopped - started, restored - stopped, time.monotonic() - restored)

    def _promoted(self) -> bool:
        """PostgreSQL has replayed the WAL to the target and promoted (healthy comes earlier: read-only)."""
        service_label = f"com.docker.swarm.service.name={self.database}"
        containers = self.api.containers(filters={"label": [service_label]})
        if not containers:
            return False
        query = (
            'psql -h /run/postgresql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Atc "SELECT pg_is_in_recovery()"'
        )
        exec_id = self.api.exec_create(containers[0]["Id"], ["sh", "-c", query])["Id"]
        return self.api.exec_start(exec_id).decode(errors="replace").strip() == "f"

    def _data_volume(self, spec: dict[str, Any]) -> str:
        for mount in spec["TaskTemplate"]["ContainerSpec"].get("Mounts", []):
            if mount.get("Type") == "volume" and mount.get("Target") == pgbackrest.DATA_DIR:
                return str(mount["Source"])
        raise RestoreError(f"{self.database} mounts no volume at {pgbackrest.DATA_DIR}")

    def _ensure_volume(self, volume: str) -> None:
        try:
            self.api.inspect_volume(volume)
        except docker.errors.NotFound:
            print(f"restore: volume {volume} is gone; creating it anew (empty)", file=sys.stderr)
            self.api.create_volume(volume, labels=self.naming.labels())

    def _scale(self, replicas: int) -> None:
        service = self.api.inspect_service(self.database)
        spec = service["Spec"]
        spec["Mode"] = {"Replicated": {"Replicas": replicas}}
        response = self.api._post_json(
            self.api._url("/services/{0}/update", service["ID"]),
            data=spec,
            params={"version": service["Version"]["Index"]},
        )
        self.api._raise_for_status(response)
        self._wait(lambda: self._running(replicas), f"{self.database} at {replicas} healthy task(s)")

    def _running(self, replicas: int) -> bool:
        containers = self.api.containers(
            filters={"label": [f"com.docker.swarm.service.name={self.database}"]}
        )
        if replicas == 0:
            return not containers
        healthy = [
            c
            for c in containers
            if (self.api.inspect_container(c["Id"])["State"].get("Health") or {}).get("Status") == "healthy"
        ]
        return len(healthy) == replicas

    def _job(self, database_spec: dict[str, Any], arguments: list[str]) -> None:
        template = copy.deepcopy(database_spec["TaskTemplate"])
        container = template["ContainerSpec"]
        container["Args"] = arguments
        container["Healthcheck"] = {"Test": ["NONE"]}
        container["Labels"] = {**container.get("Labels", {}), LABEL_ROLE: "restore"}
        template["RestartPolicy"] = {"Condition": "none"}
        name = self.naming.name("restore", time.strftime("%Y%m%d%H%M%S"))
        labels = {**self.naming.labels(), LABEL_ROLE: "restore"}
        spec = {
            "Name": name,
            "Labels": labels,
            "TaskTemplate": template,
            "Mode": {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}},
            "EndpointSpec": {"Mode": "dnsrr"},
        }
        response = self.api._post_json(self.api._url("/services/create"), data=spec)
        created = self.api._result(response, json=True)
        try:
            state = self._wait(lambda: self._finished(created["ID"]), f"{name} to finish")
            logs = self.api.service_logs(created["ID"], stdout=True, stderr=True, timestamps=False)
            sys.stderr.write(b"".join(logs).decode(errors="replace"))
            if state != "complete":
                raise RestoreError(f"the restore job {name} ended {state}; its log is above")
        finally:
            self.api.remove_service(created["ID"])
            # Swarm removes the job's container later; until then it holds the volume.
            for container in self.api.containers(
                all=True, filters={"label": [f"com.docker.swarm.service.id={created['ID']}"]}
            ):
                self.api.remove_container(container["Id"], force=True)

    def _finished(self, service_id: str) -> str | None:
        for task in self.api.tasks(filters={"service": service_id}):
            state = task["Status"]["State"]
            if state in ("complete", "failed", "rejected", "shutdown", "orphaned"):
                return str(state)
        return None

    def _wait(self, condition: Any, what: str) -> Any:
        deadline = time.monotonic() + self.timeout
        while not (result := condition()):
            if time.monotonic() > deadline:
                raise RestoreError(f"timed out after {self.timeout:.0f}s waiting for {what}")
            time.sleep(POLL_SECONDS)
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.restore", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--repo", type=int, choices=[r.index for r in pgbackrest.REPOSITORIES], default=1)
    parser.add_argument("--target", help="a timestamp PostgreSQL understands, e.g. '2026-12-04 10:15:00+00'")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds for each step (default 1800)")
    options = parser.parse_args(argv)
    try:
        timings = Restorer(options.stack, timeout=options.timeout).run(options.repo, options.target)
    except (RestoreError, docker.errors.APIError) as error:
        print(f"restore: {error}", file=sys.stderr)
        return 1
    print(
        f"restore: done in {timings.total_seconds:.1f}s (stop {timings.stop_seconds:.1f}s, restore "
        f"{timings.restore_seconds:.1f}s, recovery to healthy {timings.recovery_seconds:.1f}s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
