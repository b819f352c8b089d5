"""Removes everything labeled for a stack (`make e2e-down`), and reports what is left (the teardown check).

Order: services first, waiting until their task containers are gone (they hold networks, volumes,
secrets and configs), then any labeled container left, secrets and configs, networks, volumes. Images stay
in the engine's cache.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, fields

import docker
import docker.errors

from tests.e2e import worker

STACK_LABEL = "pap.stack"
E2E_LABEL = "pap.e2e"
SERVICE_ID_LABEL = "com.docker.swarm.service.id"  # Swarm's label on every task container
TASKS_GONE_SECONDS = 60.0  # stop grace periods are 30 s at most (infra/swarm.py)
IN_USE_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class Leftovers:
    services: list[str]
    containers: list[str]
    secrets: list[str]
    configs: list[str]
    networks: list[str]
    volumes: list[str]

    @property
    def empty(self) -> bool:
        return not any(getattr(self, kind.name) for kind in fields(self))

    @property
    def count(self) -> int:
        return sum(len(getattr(self, kind.name)) for kind in fields(self))

    def __str__(self) -> str:
        return " ".join(f"{kind.name}={getattr(self, kind.name)}" for kind in fields(self))


def _filters(stack: str) -> list[dict[str, str]]:
    # The stack's own label, and the harness's label for anything the program left unlabeled.
    return [{"label": f"{STACK_LABEL}={stack}"}, {"label": f"{E2E_LABEL}=1"}]


def leftovers(stack: str, api: docker.APIClient | None = None) -> Leftovers:
    """What still carries the stack's (or the harness's) label; configs also by the `pap-<stack>-` prefix."""
    api = api or docker.APIClient()
    services: set[str] = set()
    containers: set[str] = set()
    secrets: set[str] = set()
    configs: set[str] = {
        c["Spec"]["Name"] for c in api.configs() if c["Spec"]["Name"].startswith(f"pap-{stack}-")
    }
    networks: set[str] = set()
    volumes: set[str] = set()
    for filters in _filters(stack):
        services |= {s["Spec"]["Name"] for s in api.services(filters=filters)}
        containers |= {c["Names"][0].lstrip("/") for c in api.containers(all=True, filters=filters)}
        secrets |= {s["Spec"]["Name"] for s in api.secrets(filters=filters)}
        configs |= {c["Spec"]["Name"] for c in api.configs(filters=filters)}
        networks |= {n["Name"] for n in api.networks(filters=filters)}
        volumes |= {v["Name"] for v in (api.volumes(filters=filters).get("Volumes") or [])}
    return Leftovers(
        sorted(services),
        sorted(containers),
        sorted(secrets),
        sorted(configs),
        sorted(networks),
        sorted(volumes),
    )


def _retry_while_in_use(action: Callable[[], object], marker: str) -> None:
    """The provider's removal retries: a network with endpoints, a volume in use, for a while."""
    deadline = time.monotonic() + IN_USE_RETRY_SECONDS
    while True:
        try:
            action()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as error:
            if marker not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(1)


def _remove_services(api: docker.APIClient, names: list[str]) -> None:
    ids = []
    for name in names:
        with contextlib.suppress(docker.errors.NotFound):
            ids.append(api.inspect_service(name)["ID"])
            api.remove_service(name)
    # Swarm stops and removes the task containers itself, each within its stop grace period.
    deadline = time.monotonic() + TASKS_GONE_SECONDS
    while ids and time.monotonic() < deadline:
        remaining = [c for c in api.containers(all=True) if c["Labels"].get(SERVICE_ID_LABEL) in ids]
        if not remaining:
            return
        time.sleep(1)


def remove_stack(stack: str, api: docker.APIClient | None = None) -> Leftovers:
    """Services, then containers, secrets and configs, networks, volumes; returns what is still there."""
    api = api or docker.APIClient(timeout=120)
    found = leftovers(stack, api)
    _remove_services(api, found.services)
    # NotFound: something else (the harness, a parallel teardown) removed it first.
    for name in leftovers(stack, api).containers:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(name, v=True, force=True)
    for name in found.secrets:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_secret(name)
    for name in found.configs:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_config(name)
    for name in found.networks:
        _retry_while_in_use(functools.partial(api.remove_network, name), "active endpoints")
    for name in found.volumes:
        _retry_while_in_use(functools.partial(api.remove_volume, name, force=True), "in use")
    # The second node's entry outlives its (removed) container in the manager's node list.
    worker.remove_leftover_nodes(api)
    return leftovers(stack, api)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args(argv)
    before = leftovers(args.stack)
    after = remove_stack(args.stack)
    if not after.empty:
        print(f"e2e-down: still present after removal: {after}", file=sys.stderr)
        return 1
    print(f"e2e-down: removed {before.count} object(s) labeled {STACK_LABEL}={args.stack} or {E2E_LABEL}=1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
